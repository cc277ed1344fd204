import ArgumentParser
import Foundation
import Strata

/// `strata ingest STREAM`: appends standard input to a JSON stream.
struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append lines from standard input to a JSON stream.",
        discussion: """
            Creates the store and the stream when they do not exist; the settings below apply to a new stream \
            and must match an existing one. With --format jsonl (the default) every line must be one JSON \
            object; with --format lines every line of text is stored as {"line":"TEXT"}. Malformed lines are \
            reported as 'line N: reason' on standard error and skipped. Exit status 1 when any line was \
            rejected.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The stream's name (A–Z a–z 0–9 . _ -).")
    var stream: String

    @Option(help: ArgumentHelp("The length of each interval: 100ms, 1s, 1m, 1h …", valueName: "length"))
    var interval = IntervalLengthArgument(.seconds(1))

    @Option(help: ArgumentHelp("Partitions per interval (1–4096).", valueName: "n"))
    var partitions = 4

    @Option(help: ArgumentHelp(
        "The top-level field holding event time (a number in --time-unit, or ISO 8601 text). Default: arrival time.",
        valueName: "field"))
    var timeField: String?

    @Option(help: ArgumentHelp(
        "The top-level field whose value chooses the partition. Default: round-robin.", valueName: "field"))
    var keyField: String?

    @Option(help: "The unit of a numeric time field.")
    var timeUnit: TimeUnitArgument = .ms

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

    @Option(help: "What each commit survives (see docs/durability.md).")
    var durability: DurabilityArgument = .group

    @Flag(help: "Show progress on standard error even when it is not a terminal.")
    var progress = false

    mutating func validate() throws {
        guard (1...4096).contains(partitions) else {
            throw ValidationError("--partitions must be 1 to 4096, not \(partitions)")
        }
        if format == .lines, let timeField {
            throw ValidationError(
                "--time-field \(timeField) cannot be used with --format lines: its records have only the field \"line\"")
        }
    }

    func run() throws {
        let store = try Store(at: options.path, options: Strata.StoreOptions(durability: durability.durability))
        let stream = try store.jsonStream(
            self.stream, interval: interval.length, partitions: partitions, timeField: timeField, keyField: keyField,
            timeUnit: timeUnit.unit)

        var ingestOptions = JSONIngestOptions()
        ingestOptions.allowedLateness = lateness.duration
        ingestOptions.failFast = failFast
        ingestOptions.sealAtEnd = sealAtEnd
        let ingestor = try JSONLinesIngestor(stream: stream, options: ingestOptions)

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

        var stoppedBy: IngestError?
        do {
            switch format {
            case .jsonl: try ingestor.ingest(fileDescriptor: 0, progress: report)
            case .lines: try ingestTextLines(into: ingestor, maxLineBytes: ingestOptions.maxLineBytes, progress: report)
            }
        } catch let error as IngestError {
            guard case .malformedLine = error else { throw error }
            stoppedBy = error  // --fail-fast: keep what came before the line, then fail
        }
        let summary = try ingestor.finish()
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

        if let stoppedBy { throw stoppedBy }
        if summary.rejected > 0 { throw ExitCode.failure }
    }
}

private func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Reads standard input as text and ingests each line as the JSON record `{"line":"TEXT"}`.
///
/// A trailing carriage return is dropped; empty lines become `{"line":""}`. A line longer than
/// `maxLineBytes` is cut there, so the ingestor rejects it as too long without it being held whole.
private func ingestTextLines(into ingestor: JSONLinesIngestor, maxLineBytes: Int,
                             progress: (IngestSummary) -> Void) throws {
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var pending: [UInt8] = []  // the start of a line that continues in the next read
    var record: [UInt8] = []
    var nextProgress = 1 << 20

    func ingest(_ text: UnsafeRawBufferPointer) throws {
        var text = text
        if text.last == 0x0D { text = UnsafeRawBufferPointer(rebasing: text.dropLast()) }
        record.removeAll(keepingCapacity: true)
        record.append(contentsOf: #"{"line":"#.utf8)
        appendJSONStringLiteral(text, to: &record)
        record.append(0x7D)
        try record.withUnsafeBytes { _ = try ingestor.ingest(line: $0) }
    }

    func keep(_ piece: UnsafeRawBufferPointer) {
        let room = max(0, maxLineBytes + 1 - pending.count)
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece.prefix(room)))
    }

    while true {
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
                    try ingest(line)
                } else {
                    keep(line)
                    try pending.withUnsafeBytes { try ingest($0) }
                    pending.removeAll(keepingCapacity: true)
                }
                start = end + 1
            }
        }
        if ingestor.summary.lines >= nextProgress {
            progress(ingestor.summary)
            nextProgress = ingestor.summary.lines + (1 << 20)
        }
    }
    if !pending.isEmpty { try pending.withUnsafeBytes { try ingest($0) } }
}
