import Dispatch
import Foundation
import StrataTestSupport
import Testing

/// Issue 10: a damaged store never crashes a command.
///
/// A small store is damaged in every way of a fixed set — each page zeroed in turn, and a seeded
/// sample of 2 000 single-bit flips anywhere in `data.mdb` — and `streams`, `describe`, `cat`, `stats`
/// and `verify` run on every damaged copy. Every run must end with exit status 0 and exactly the
/// output of the undamaged store, or with exit status 65; never a signal, never another status.
///
/// Thousands of runs as separate processes would take many minutes, so the runs go through the
/// hidden `strata test-batch`, which runs the real command lines one after another in one process;
/// a run that ends the whole process (an LMDB assertion, the last-resort signal handler) is
/// recorded from its exit status and message, and the batch goes on after it. `verify` runs there
/// with `--in-child` (its checks in-process); the isolated `verify`, `cat` and `streams` also run as
/// real processes on every zeroed page and the first flips.
@Suite struct StoreDamageTests {
    static let flips = 2_000
    static let seed: UInt64 = 0x5354_5241_5441_0010

    /// One damage: a page zeroed, or one bit flipped.
    enum Damage: CustomStringConvertible {
        case zeroPage(Int)
        case flip(offset: Int, bit: Int)

        func apply(to bytes: inout [UInt8], pageSize: Int) {
            switch self {
            case .zeroPage(let page):
                for i in page * pageSize..<min(bytes.count, (page + 1) * pageSize) { bytes[i] = 0 }
            case .flip(let offset, let bit): bytes[offset] ^= UInt8(1) << UInt8(bit)
            }
        }

        var description: String {
            switch self {
            case .zeroPage(let page): "page \(page) zeroed"
            case .flip(let offset, let bit): "bit \(bit) of byte \(offset) flipped"
            }
        }
    }


    /// What went wrong on one damaged copy, if anything.
    struct Failure: CustomStringConvertible {
        var damage: String
        var command: String
        var what: String
        var description: String { "\(damage): \(command): \(what)" }
    }

    /// The store: one JSON stream, 3 partitions, 11 intervals, 301 records. Committed with fsync,
    /// one commit at a time, so that its bytes, and so the damaged positions, are the same every run.
    static func makeStore(at path: String) throws {
        var input = ""
        for i in 0...300 { input += "{\"ts\":\(100 + i / 30),\"user\":\"u\(i % 7)\",\"page\":\"/p\(i)\"}\n" }
        let run = try strata(["ingest", "views", "--store", path, "--time-field", "ts", "--time-unit", "s",
                              "--key-field", "user", "--partitions", "3", "--durability", "fsync"], stdin: input)
        guard run.status == 0 else { throw FixtureError(run: run) }
    }

    static let commands: [[String]] = [
        ["streams", "--store", "{store}"],
        ["describe", "views", "--store", "{store}"],
        ["cat", "views", "--from", "100", "--to", "110", "--store", "{store}"],
        ["stats", "--store", "{store}"],
        ["verify", "--in-child", "--store", "{store}"],
    ]

    /// The runs block for a minute or more: they go on threads of their own, never on the
    /// cooperative pool (two threads here), so that the other tests' tasks keep running.
    @Test func everyCommandEndsWithSameOutputOrExitSixtyFive() async throws {
        let outcome = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Outcome, any Error>) in
            let thread = Thread {
                do {
                    continuation.resume(returning: try Self.runEveryDamage())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
        #expect(outcome.errors == [])
        let examples = outcome.failures.prefix(20).joined(separator: "\n")
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) runs broke the rule, e.g.:\n\(examples)")
        print("store damage: \(outcome.copies) damaged copies × \(Self.commands.count) commands; runs that ended "
              + "their process with exit 65: \(outcome.ends)")
    }

    struct Outcome: Sendable {
        var copies: Int
        var errors: [String]
        var failures: [String]
        var ends: [String: Int]
    }

    static func runEveryDamage() throws -> Outcome {
        let dir = try TemporaryDirectory(prefix: "strata-damage")
        let reference = dir.appending("reference")
        try Self.makeStore(at: reference)
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: reference + "/data.mdb")))
        // The page size is in the first meta page (LMDB: page header 16 bytes, then mm_dbs[0].md_pad).
        let pageSize = original.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 40, as: UInt32.self))) }
        guard pageSize >= 512 && original.count % pageSize == 0 else { throw BatchError(text: "page size \(pageSize)") }

        var damages: [Damage] = (0..<original.count / pageSize).map { .zeroPage($0) }
        var random = SplitMix64(seed: Self.seed)
        for _ in 0..<Self.flips {
            let offset = Int(random.next() % UInt64(original.count))
            damages.append(.flip(offset: offset, bit: Int(random.next() % 8)))
        }

        // Two workers, each over half the damages in chunks, so that few copies exist at once.
        let halves = [Array(damages.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)),
                      Array(damages.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))]
        let failures = LockedValue<[Failure]>([])
        let ends = LockedValue<[String: Int]>([:])
        let errors = LockedValue<[String]>([])
        let done = DispatchGroup()
        for worker in 0..<2 {
            done.enter()
            Thread {
                defer { done.leave() }
            do {
                let workDir = dir.appending("worker\(worker)")
                try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
                let (found, processEnds) = try Self.runBatches(halves[worker], original: original, pageSize: pageSize,
                                                               reference: reference, in: workDir)
                failures.withLock { $0 += found }
                ends.withLock { all in for (key, count) in processEnds { all[key, default: 0] += count } }
            } catch {
                errors.withLock { $0.append("worker \(worker): \(error)") }
            }
            }.start()
        }
        done.wait()
        return Outcome(copies: damages.count, errors: errors.withLock { $0 },
                       failures: failures.withLock { $0 }.map(\.description), ends: ends.withLock { $0 })
    }

    /// Runs every command on every damage, in chunks; returns the failures and how many runs ended
    /// the batch process, by kind.
    static func runBatches(_ damages: [Damage], original: [UInt8], pageSize: Int, reference: String,
                           in workDir: String) throws -> ([Failure], [String: Int]) {
        var failures: [Failure] = []
        var ends: [String: Int] = [:]
        let commandFile = workDir + "/commands"
        try Data(commands.map { $0.joined(separator: "\t") }.joined(separator: "\n").utf8)
            .write(to: URL(fileURLWithPath: commandFile))
        let chunkSize = 200
        let processCommands = [["verify", "--store"], ["cat", "views", "--from", "100", "--to", "110", "--store"]]
        let referenceOutputs = try processCommands.map { try strata($0 + [reference]).stdout }
        for chunkStart in stride(from: 0, to: damages.count, by: chunkSize) {
            let chunk = Array(damages[chunkStart..<min(damages.count, chunkStart + chunkSize)])
            var stores = [reference]
            for (index, damage) in chunk.enumerated() {
                let store = workDir + "/copy\(index)"
                try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
                var bytes = original
                damage.apply(to: &bytes, pageSize: pageSize)
                try Data(bytes).write(to: URL(fileURLWithPath: store + "/data.mdb"))
                stores.append(store)
            }
            try Data(stores.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: workDir + "/stores"))
            let out = workDir + "/out"
            try? FileManager.default.removeItem(atPath: out)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

            var start = (store: 1, command: 0)
            var restarts = 0
            while start.store < stores.count {
                let run = try strata(["test-batch", "--commands", commandFile, "--stores", workDir + "/stores",
                                      "--out", out, "--start", "\(start.store),\(start.command)"])
                if run.status == 0 && run.stdout.isEmpty { break }
                // The batch process ended inside a run: the run after the last result.
                let results = (try? String(contentsOfFile: out + "/results", encoding: .utf8)) ?? ""
                let last = results.split(separator: "\n").last.map { $0.split(separator: " ").compactMap { Int($0) } }
                var crashed = start
                if let last, last.count >= 2, (last[0], last[1]) >= (start.store, start.command) {
                    crashed = last[1] + 1 < commands.count ? (last[0], last[1] + 1) : (last[0] + 1, 0)
                }
                let message = (try? String(contentsOfFile: out + "/run.err", encoding: .utf8)) ?? ""
                let damage = chunk[crashed.store - 1].description
                let command = commands[crashed.command][0]
                if run.status == 65 && message.contains("LMDB's internal check failed") {
                    ends["LMDB assertion", default: 0] += 1
                } else if run.status == 65 && message.contains("strata stopped on SIG") {
                    let signal = message.dropFirst("Error: strata stopped on ".count).prefix { $0 != ":" }
                    ends["last-resort handler, \(signal)", default: 0] += 1
                } else {
                    failures.append(Failure(damage: damage, command: command,
                                            what: "the process ended with status \(run.status): \(message.prefix(300))"
                                                + run.stderr.prefix(300)))
                }
                start = crashed.command + 1 < commands.count ? (crashed.store, crashed.command + 1) : (crashed.store + 1, 0)
                restarts += 1
                guard restarts <= chunk.count * commands.count else { throw BatchError(text: "no progress") }
            }
            let results = try String(contentsOfFile: out + "/results", encoding: .utf8)
            for line in results.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 4, let s = Int(fields[0]), let c = Int(fields[1]), let status = Int32(fields[2]) else {
                    throw BatchError(text: "bad result line \(line)")
                }
                let ok = (status == 0 && fields[3] == "same") || status == 65
                if !ok {
                    failures.append(Failure(damage: chunk[s - 1].description, command: commands[c][0],
                                            what: "exit \(status), output \(fields[3])"))
                }
            }
            // Real processes, the isolated verify included, on the first copies of every chunk.
            for (index, damage) in chunk.prefix(4).enumerated() {
                let store = stores[index + 1]
                for (c, command) in processCommands.enumerated() {
                    let run = try strata(command + [store])
                    let ok = (run.status == 0 && run.stdout == referenceOutputs[c]) || run.status == 65
                    if !ok || run.crashed {
                        failures.append(Failure(damage: damage.description, command: command[0] + " (process)",
                                                what: "exit \(run.status): \(run.stderr.prefix(300))"))
                    }
                }
            }
            for store in stores.dropFirst() { try FileManager.default.removeItem(atPath: store) }
        }
        return (failures, ends)
    }

    struct BatchError: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }
}

/// A value behind a lock, for the two workers.
final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
