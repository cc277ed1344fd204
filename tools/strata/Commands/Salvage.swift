import ArgumentParser
import Foundation
import Strata

/// `strata salvage STORE --into NEW`: copies every block and row that still verifies into a new
/// store and reports what was lost; exit 0 when nothing was lost, 65 when something was.
///
/// The copy runs in a child process (this binary again, with `--in-child`) that writes each step to
/// a journal file. When damage makes liblmdb fault or abort in the child, the parent reads the
/// journal, marks the interval being read as lost, and starts a new child that resumes after it.
struct Salvage: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy everything of a damaged store that still verifies into a new store.",
        discussion: """
            Streams come from the catalog rows that verify, intervals from the seal rows, and each block is \\
            copied only when its checksum, decompression and framing verify; a copied interval's seal counts \\
            what was kept. The blocks of intervals not sealed yet that verify are copied (still unsealed), then \\
            the stream's source rows that verify (ingest positions: a resumed ingest goes on where it would \\
            have). Then one line per stream says what was copied and lost. Not copied: the progress, \\
            snapshots and states of programs (run them again). \\
            Exit status 0 when nothing was lost, 65 when something was.
            """)

    @Argument(help: ArgumentHelp("The damaged store's directory.", valueName: "store"))
    var store: String

    @Option(help: ArgumentHelp("The new store's directory; it must not exist yet.", valueName: "path"))
    var into: String

    @Option(name: .customLong("journal"), help: .hidden)
    var journal: String?

    @Option(name: .customLong("skip"), help: .hidden)
    var skip: [String] = []

    @Flag(name: .customLong("in-child"), help: .hidden)
    var inChild = false

    func validate() throws {
        if store.isEmpty || into.isEmpty { throw ValidationError("salvage needs a store and --into PATH") }
        if !inChild && FileManager.default.fileExists(atPath: into) {
            throw ValidationError("--into \(into) exists; salvage writes into a new directory")
        }
    }

    func run() throws {
        if inChild { return try copy() }
        let scratch = FileManager.default.temporaryDirectory.path + "/strata-salvage-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var skips: [String] = []
        var crashes: [(stream: String, interval: String, reason: String)] = []
        while true {
            try? FileManager.default.removeItem(atPath: scratch)
            var arguments = ["salvage", store, "--into", into, "--journal", scratch, "--in-child"]
            for entry in skips { arguments += ["--skip", entry] }
            let ending = try ChildProcess.run(arguments)
            let events = Self.events(in: scratch)
            if case .exited(let status) = ending, status == 0 || status == 65 {
                return try report(events + crashes.map { ["lost", $0.stream, $0.interval, $0.reason] })
            }
            // The child stopped on an error it printed (no store at the path, a full disk, …): not
            // damage, so nothing to skip; its exit status is the command's.
            if case .exited(let status) = ending, events.last?.first == "failed" {
                if events.contains(where: { $0.first == "attempt" }) {
                    printError("salvage of \(store) stopped before the end; what was copied is in \(into)")
                }
                throw ExitCode(status)
            }
            // The child ended inside an interval: the last one it started.
            guard let last = events.last(where: { $0.first == "attempt" }), last.count == 3,
                  !skips.contains(last[1] + "\t" + last[2]) else {
                let how = if case .signaled(let signal) = ending { ChildProcess.name(of: signal) } else { "its exit" }
                printError("Error: salvage of \(store) ended with \(how) outside any interval (the catalog or a "
                           + "frontier is damaged beyond what can be read); what was copied is in \(into)")
                throw ExitCode.corruptDataFound
            }
            let why = if case .signaled(let signal) = ending { ChildProcess.name(of: signal) } else { "an LMDB assertion" }
            skips.append(last[1] + "\t" + last[2])
            crashes.append((last[1], last[2], "reading it ended the copy with \(why)"))
            guard skips.count <= 10_000 else { throw ExitCode.corruptDataFound }
        }
    }

    /// The child: copies, writing every event to the journal as it happens.
    private func copy() throws {
        guard let journal else { throw ValidationError("--in-child needs --journal") }
        let fd = open(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot write \(journal)") }
        defer { close(fd) }
        func log(_ fields: [String]) {
            var line = fields.map { $0.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ") }
                .joined(separator: "\t") + "\n"
            line.withUTF8 { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
        }
        let source: Store, destination: Store
        do {
            source = try Store.openForReading(at: store)
            destination = try StoreArguments.createOrOpenStore(at: into)
        } catch {
            log(["failed", "store", "\(error)"])
            throw error
        }
        let skipping: [(String, Interval)] = skip.compactMap { entry in
            let parts = entry.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let raw = UInt64(parts[1]) else { return nil }
            return (String(parts[0]), Interval(raw))
        }
        do {
            try salvage(source, into: destination, skipping: skipping, log: log)
        } catch {
            log(["failed", "store", "\(error)"])
            throw error
        }
    }

    private func salvage(_ source: Store, into destination: Store, skipping: [(String, Interval)],
                         log: ([String]) -> Void) throws {
        try source.salvage(into: destination, skipping: skipping) { event in
            switch event {
            case .attempt(let stream, let interval): log(["attempt", stream, "\(interval.rawValue)"])
            case .copied(let stream, let interval, let blocks, let records, let lostBlocks, let lostPartitions, let lostRecords):
                log(["copied", stream, "\(interval.rawValue)", "\(blocks)", "\(records)", "\(lostBlocks)",
                     "\(lostPartitions)", "\(lostRecords)"])
            case .copiedUnsealed(let stream, let interval, let blocks, let records, let lostBlocks, let lostPartitions):
                log(["unsealed", stream, "\(interval.rawValue)", "\(blocks)", "\(records)", "\(lostBlocks)",
                     "\(lostPartitions)"])
            case .intervalLost(let stream, let interval, let reason):
                // Skipped intervals are reported by the parent, with the signal that ended the copy.
                if !skipping.contains(where: { $0.0 == stream && $0.1 == interval }) {
                    log(["lost", stream, "\(interval.rawValue)", reason])
                }
            case .note(let stream, let text): log(["note", stream, text])
            }
        }
    }

    private static func events(in journal: String) -> [[String]] {
        guard let text = try? String(contentsOfFile: journal, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    /// One line per stream, in name order, then the exit status.
    private func report(_ events: [[String]]) throws {
        struct Totals {
            var intervals: UInt64 = 0, blocks: UInt64 = 0, records: UInt64 = 0
            var lostIntervals: [String] = [], lostBlocks: UInt64 = 0, lostPartitions: UInt64 = 0, lostRecords: UInt64 = 0
            var unsealedIntervals: UInt64 = 0, unsealedBlocks: UInt64 = 0, unsealedRecords: UInt64 = 0
            var notes: [String] = []
        }
        var totals: [String: Totals] = [:]  // lookup only; printed in name order
        for event in events where event.count >= 2 {
            var t = totals[event[1], default: Totals()]
            switch event[0] {
            case "copied" where event.count == 8:
                t.intervals += 1
                t.blocks += UInt64(event[3]) ?? 0
                t.records += UInt64(event[4]) ?? 0
                t.lostBlocks += UInt64(event[5]) ?? 0
                t.lostPartitions += UInt64(event[6]) ?? 0
                t.lostRecords += UInt64(event[7]) ?? 0
            case "unsealed" where event.count == 7:
                t.unsealedIntervals += 1
                t.unsealedBlocks += UInt64(event[3]) ?? 0
                t.unsealedRecords += UInt64(event[4]) ?? 0
                t.lostBlocks += UInt64(event[5]) ?? 0
                t.lostPartitions += UInt64(event[6]) ?? 0
            case "lost" where event.count >= 3:
                t.lostIntervals.append(event[2] + (event.count > 3 ? " (" + event[3] + ")" : ""))
            case "note" where event.count >= 3: t.notes.append(event[2])
            case "failed" where event.count >= 3: t.notes.append("the copy stopped: " + event[2])
            default: break
            }
            totals[event[1]] = t
        }
        var out = OutputBuffer()
        var lostAnything = false
        for name in totals.keys.sorted() {
            guard let t = totals[name] else { continue }
            var line = "\(name): copied \(t.intervals) intervals, \(t.blocks) blocks, \(t.records) records"
            if t.unsealedIntervals > 0 {
                line += " (and, not sealed yet, \(t.unsealedIntervals) intervals, \(t.unsealedBlocks) blocks, "
                    + "\(t.unsealedRecords) records)"
            }
            let lost = !t.lostIntervals.isEmpty || t.lostBlocks > 0 || t.lostRecords > 0 || !t.notes.isEmpty
            if t.intervals == 0 && t.unsealedIntervals == 0 && t.lostIntervals.isEmpty && t.lostBlocks == 0
                && !t.notes.isEmpty {
                lostAnything = true
                line = "\(name): not copied"
            } else if lost {
                lostAnything = true
                line += "; lost \(t.lostIntervals.count) intervals, \(t.lostBlocks) blocks in \(t.lostPartitions) "
                    + "partitions, \(t.lostRecords) records"
            } else {
                line += "; nothing lost"
            }
            out.append(line + "\n")
            for interval in t.lostIntervals { out.append("  lost interval \(interval)\n") }
            for note in t.notes { out.append("  \(note)\n") }
        }
        if totals.isEmpty { out.append("no streams found\n") }
        try out.flush()
        if lostAnything { throw ExitCode.corruptDataFound }
    }
}
