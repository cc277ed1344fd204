import ArgumentParser
import Foundation
import Strata
import Synchronization

/// The signal that asked `strata ingest` to stop (0: none), set by its SIGINT/SIGTERM handler.
private let interruptSignal = Atomic<Int32>(0)

/// `strata ingest STREAM`: appends standard input to a JSON stream.
struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append lines from standard input to a JSON stream.",
        discussion: """
            Creates the store and the stream when they do not exist. For a new stream the settings below \
            default to 1s intervals, 4 partitions, arrival time, round-robin; an existing stream keeps its \
            settings, and the ones given must match them. With --format jsonl (the default) every line must be \
            one JSON object; with --format lines every line of text is stored as {"line":"TEXT"}. Malformed \
            lines are reported as 'line N: reason' on standard error and skipped. Exit status 1 when any line \
            was rejected. The input's position is committed with the records: with --source NAME a rerun on \
            the same input skips what is committed (exactly once after any interruption); without it, an \
            interruption (Ctrl-C, SIGTERM, full disk, error) prints the byte offset to feed again from \
            (docs/durability.md). Only one writer appends to a stream at a time.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The stream's name (A–Z a–z 0–9 . _ -).")
    var stream: String

    @Option(help: ArgumentHelp("The length of each interval: 100ms, 1s, 1m, 1h … (new stream: 1s).",
                               valueName: "length"))
    var interval: IntervalLengthArgument?

    @Option(help: ArgumentHelp("Partitions per interval, 1–4096 (new stream: 4).", valueName: "n"))
    var partitions: Int?

    @Option(help: ArgumentHelp(
        "The top-level field holding event time (a number in --time-unit, or ISO 8601 text). Default: arrival time.",
        valueName: "field"))
    var timeField: String?

    @Option(help: ArgumentHelp(
        "The top-level field whose value chooses the partition. Default: round-robin.", valueName: "field"))
    var keyField: String?

    @Option(help: "The unit of a numeric time field (new stream: ms).")
    var timeUnit: TimeUnitArgument?

    @Option(help: ArgumentHelp(
        "How far event time may run behind the largest time seen before an interval is sealed: 0, 500ms, 2s …",
        valueName: "duration"))
    var lateness = DurationArgument.zero

    @Option(help: "How standard input is read.")
    var format: InputFormat = .jsonl

    @Flag(help: "Stop at the first malformed line (exit status 1).")
    var failFast = false

    @Flag(inversion: .prefixedNo, help: "At the end of input, seal every interval that received records.")
    var sealAtEnd = true

    @Option(help: ArgumentHelp(
        "Name the input: its position is committed with the records, and a rerun with the same name on the same "
            + "input skips what is already committed.", valueName: "name"))
    var source: String?

    @Option(help: ArgumentHelp(
        "Seal every open interval once no line has arrived for this long (event time; like Flink's idleness): "
            + "30s, 5m …", valueName: "duration"))
    var idleSeal: DurationArgument?

    @Option(help: ArgumentHelp("Input bytes between commits (each commit carries the input's position).",
                               valueName: "bytes"))
    var commitBytes = 4 << 20

    @Option(help: "What each commit survives (see docs/durability.md).")
    var durability: DurabilityArgument = .group

    @Flag(help: "Show progress on standard error even when it is not a terminal.")
    var progress = false

    mutating func validate() throws {
        if let partitions, !(1...4096).contains(partitions) {
            throw ValidationError("--partitions must be 1 to 4096, not \(partitions)")
        }
        if format == .lines, let timeField {
            throw ValidationError(
                "--time-field \(timeField) cannot be used with --format lines: its records have only the field \"line\"")
        }
        if let source, !StreamDescriptor.isValidName(source) {
            throw ValidationError("--source \(source): use 1–200 characters of A–Z a–z 0–9 . _ -")
        }
        guard commitBytes >= 1 else { throw ValidationError("--commit-bytes must be at least 1, not \(commitBytes)") }
    }

    /// Opens the stream: an existing one with its own settings (the flags given must match them),
    /// or a new one with the flags and the defaults.
    private func openStream(_ store: Store) throws -> StoredStream<JSONRecord> {
        let name = stream
        guard let existing = try store.streams().first(where: { $0.descriptor.name == name })?.descriptor else {
            return try store.jsonStream(
                stream, interval: interval?.length ?? .seconds(1), partitions: partitions ?? 4, timeField: timeField,
                keyField: keyField, timeUnit: (timeUnit ?? .ms).unit)
        }
        func mismatch(_ setting: String, _ given: String, _ actual: String) -> StorageError {
            .streamMismatch(stream: stream, reason: "\(setting) is \(actual), not \(given) as given; omit \(setting) to "
                + "take the stream's")
        }
        guard existing.recordType == JSONRecord.recordTypeName else {
            throw StorageError.streamMismatch(stream: stream, reason: "it holds \(existing.recordType), not JSON lines")
        }
        if let interval, interval.length != existing.intervalLength {
            throw mismatch("--interval", "\(interval.length)", "\(existing.intervalLength)")
        }
        if let partitions, UInt32(partitions) != existing.partitions {
            throw mismatch("--partitions", "\(partitions)", "\(existing.partitions)")
        }
        if let timeField, timeField != existing.timeField {
            throw mismatch("--time-field", timeField, existing.timeField ?? "unset (arrival time)")
        }
        if let keyField, keyField != existing.keyField {
            throw mismatch("--key-field", keyField, existing.keyField ?? "unset (round-robin)")
        }
        if let timeUnit, existing.timeField == nil || timeUnit.unit.rawValue != existing.timeUnit {
            throw mismatch("--time-unit", timeUnit.rawValue, existing.timeUnit ?? "unset (arrival time)")
        }
        if format == .lines, let field = existing.timeField {
            throw ValidationError(
                "stream \(stream) takes event time from field \(field); --format lines records have only the field \"line\"")
        }
        let unit = existing.timeUnit.flatMap(TimeUnit.init(rawValue:)) ?? .milliseconds
        return try store.jsonStream(
            stream, interval: existing.intervalLength, partitions: Int(existing.partitions), timeField: existing.timeField,
            keyField: existing.keyField, timeUnit: unit, retention: existing.retention)
    }

    func run() throws {
        let store = try Store(at: options.path, options: Strata.StoreOptions(durability: durability.durability))
        let stream = try openStream(store)

        var ingestOptions = JSONIngestOptions()
        ingestOptions.allowedLateness = lateness.duration
        ingestOptions.failFast = failFast
        ingestOptions.sealAtEnd = sealAtEnd
        ingestOptions.source = source.map(IngestSource.named) ?? .unnamed
        ingestOptions.commitBytes = commitBytes
        ingestOptions.idleSeal = idleSeal?.duration
        let ingestor = try JSONLinesIngestor(stream: stream, options: ingestOptions)
        if let earlier = ingestor.interruptedUnnamedRun {
            printError("note: an earlier ingest into \(self.stream) from unnamed input"
                + (earlier.processID.map { " (pid \($0))" } ?? "") + " was interrupted after committing lines 1–"
                + "\(earlier.position.lines) (bytes 0–\(earlier.position.bytes)) of its input; the rest of that input, "
                + "from byte \(earlier.position.bytes), is not in the stream")
        }
        installInterruptHandlers()

        if isatty(0) != 0 { printError("reading \(format.rawValue) from standard input; end it with Ctrl-D") }
        let start = ContinuousClock.now
        let showProgress = progress || standardErrorIsTerminal
        var progressShown = false
        let report = { (summary: IngestSummary) in
            guard showProgress else { return }
            let rate = Double(summary.lines) / max(seconds(since: start), 1e-9)
            let text = "\(summary.lines) lines, \(summary.accepted) accepted, \(summary.rejected) rejected, "
                + "\(Int(rate)) lines/s"
            if standardErrorIsTerminal {
                writeError("\r" + text)
                progressShown = true
            } else {
                printError(text)
            }
        }
        let stop = { interruptSignal.load(ordering: .relaxed) != 0 }

        var stoppedBy: IngestError?
        let summary: IngestSummary
        do {
            let skipped = try ingestor.skipCommittedInput(fileDescriptor: 0)
            if let source, skipped.lines > 0 {
                printError("source \(source): skipped \(skipped.lines) lines (\(skipped.bytes) bytes) already committed")
            }
            do {
                switch format {
                case .jsonl: try ingestor.ingest(fileDescriptor: 0, stop: stop, progress: report)
                case .lines:
                    try ingestTextLines(into: ingestor, maxLineBytes: ingestOptions.maxLineBytes, stop: stop,
                                        progress: report)
                }
            } catch let error as IngestError {
                guard case .malformedLine = error else { throw error }
                stoppedBy = error  // --fail-fast: keep what came before the line, then fail
            }
            summary = ingestor.summary.interrupted ? try ingestor.stop() : try ingestor.finish()
        } catch {
            if progressShown { printError("") }
            printError("Error: \(error)")
            printResumeAdvice(ingestor)
            throw ExitCode.failure
        }
        let elapsed = seconds(since: start)
        if progressShown { printError("") }

        if stoppedBy == nil {
            for rejection in summary.rejections { printError(rejection.description) }
            if summary.rejected > summary.rejections.count {
                printError("… and \(summary.rejected - summary.rejections.count) more rejected lines")
            }
        }
        var counts = "\(summary.accepted) accepted, \(summary.rejected) rejected, \(summary.late) late"
        if summary.blank > 0 { counts += ", \(summary.blank) blank" }
        printError("ingested \(summary.lines) lines into \(self.stream): \(counts)")
        let intervals = summary.intervals.map { "\($0.lowerBound)–\($0.upperBound)" } ?? "none"
        printError("intervals \(intervals), sealed through \(summary.sealedThrough.map(\.description) ?? "none")")
        printError(String(format: "%.3f s, %.0f records/s", elapsed, Double(summary.accepted) / max(elapsed, 1e-9)))

        let signal = interruptSignal.load(ordering: .relaxed)
        if summary.interrupted && signal != 0 {
            printError("interrupted by \(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)")")
            printResumeAdvice(ingestor)
            throw ExitCode(128 + signal)
        }
        if let stoppedBy {
            printResumeAdvice(ingestor)
            throw stoppedBy
        }
        if summary.rejected > 0 { throw ExitCode.failure }
    }

    /// Says on standard error what of the input is committed and how to feed the rest.
    private func printResumeAdvice(_ ingestor: JSONLinesIngestor) {
        let committed = ingestor.committedPosition
        printError("committed: lines 1–\(committed.lines) (bytes 0–\(committed.bytes)) of the input are in \(stream); "
            + "line \(committed.lines + 1), at byte \(committed.bytes), and after are not")
        if let source {
            printError("to resume: run the same command on the same input (--source \(source) skips what is committed)")
        } else {
            printError("to resume: feed the input from byte \(committed.bytes), e.g. "
                + "tail -c +\(committed.bytes + 1) FILE | strata ingest \(stream) …")
        }
    }
}

/// Makes SIGINT and SIGTERM ask the ingest to stop (reads are interrupted: no `SA_RESTART`).
private func installInterruptHandlers() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { signal in interruptSignal.store(signal, ordering: .relaxed) }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGINT, &action, nil)
    sigaction(SIGTERM, &action, nil)
    // A parent may have started this process with them blocked (the mask is inherited).
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGINT)
    sigaddset(&unblock, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
}

private func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Reads standard input as text and ingests each line as the JSON record `{"line":"TEXT"}`.
///
/// A trailing carriage return is dropped; empty lines become `{"line":""}`. A line longer than
/// `maxLineBytes` is cut there, so the ingestor rejects it as too long without it being held whole.
private func ingestTextLines(into ingestor: JSONLinesIngestor, maxLineBytes: Int, stop: () -> Bool,
                             progress: (IngestSummary) -> Void) throws {
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var pending: [UInt8] = []  // the start of a line that continues in the next read
    var pendingBytes = 0  // the input bytes of that start (it is cut at maxLineBytes + 1)
    var record: [UInt8] = []
    var nextProgress = 1 << 20

    func ingest(_ text: UnsafeRawBufferPointer, inputBytes: Int) throws {
        var text = text
        if text.last == 0x0D { text = UnsafeRawBufferPointer(rebasing: text.dropLast()) }
        record.removeAll(keepingCapacity: true)
        record.append(contentsOf: #"{"line":"#.utf8)
        appendJSONStringLiteral(text, to: &record)
        record.append(0x7D)
        try record.withUnsafeBytes { _ = try ingestor.ingest(line: $0, inputBytes: inputBytes) }
    }

    func keep(_ piece: UnsafeRawBufferPointer) {
        pendingBytes += piece.count
        let room = max(0, maxLineBytes + 1 - pending.count)
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece.prefix(room)))
    }

    while true {
        guard !stop(), try ingestor.waitForInput(fileDescriptor: 0, stop: stop) else {
            // Interrupted: the unfinished line is read again by the next run.
            ingestor.markInterrupted()
            return
        }
        let n = buffer.withUnsafeMutableBytes { raw in read(0, raw.baseAddress, raw.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw IngestError.readFailed(errno: errno)
        }
        if n == 0 { break }
        try buffer.withUnsafeBytes { raw in
            let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
            var start = 0
            while start < n {
                guard let end = chunk[start...].firstIndex(of: 0x0A) else {
                    keep(UnsafeRawBufferPointer(rebasing: chunk[start...]))
                    break
                }
                let line = UnsafeRawBufferPointer(rebasing: chunk[start..<end])
                if pending.isEmpty {
                    try ingest(line, inputBytes: line.count + 1)
                } else {
                    keep(line)
                    let bytes = pendingBytes + 1
                    try pending.withUnsafeBytes { try ingest($0, inputBytes: bytes) }
                    pending.removeAll(keepingCapacity: true)
                    pendingBytes = 0
                }
                start = end + 1
            }
        }
        if ingestor.summary.lines >= nextProgress {
            progress(ingestor.summary)
            nextProgress = ingestor.summary.lines + (1 << 20)
        }
    }
    if !pending.isEmpty {
        let bytes = pendingBytes
        try pending.withUnsafeBytes { try ingest($0, inputBytes: bytes) }
    }
}
