import ArgumentParser
import Foundation
import Strata
import StrataCluster
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
            (docs/durability.md). Only one writer appends to a stream at a time. With --nats (cluster mode) the \
            sealed intervals are also published to JetStream as they are sealed, and the command exits 0 only \
            once every sealed interval is stored on a quorum of the stream's replicas (docs/cluster.md).
            """)

    @OptionGroup var options: StoreArguments

    @OptionGroup(title: "Cluster (replicate to NATS JetStream)") var cluster: NATSArguments

    @Argument(help: "The stream's name (A–Z a–z 0–9 . _ -).")
    var stream: String

    @Option(parsing: .unconditional, help: ArgumentHelp("The length of each interval: 100ms, 1s, 1m, 1h … (new stream: 1s).",
                               valueName: "length"))
    var interval: IntervalLengthArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Partitions per interval, 1–4096 (new stream: 4).", valueName: "n"))
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

    @Option(parsing: .unconditional, help: ArgumentHelp(
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

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Seal every open interval once no line has arrived for this long (event time; like Flink's idleness): "
            + "30s, 5m …", valueName: "duration"))
    var idleSeal: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Input bytes between commits (each commit carries the input's position).",
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
        // An empty field name is in no record: every line would be rejected, by a stream that keeps the setting.
        if timeField == "" { throw ValidationError("--time-field needs a field name, not an empty one") }
        if keyField == "" { throw ValidationError("--key-field needs a field name, not an empty one") }
        if format == .lines, let timeField {
            throw ValidationError(
                "--time-field \(timeField) cannot be used with --format lines: its records have only the field \"line\"")
        }
        if let source, !StreamDescriptor.isValidName(source) {
            throw ValidationError("--source \(source): use 1–200 characters of A–Z a–z 0–9 . _ -")
        }
        guard commitBytes >= 1 else { throw ValidationError("--commit-bytes must be at least 1, not \(commitBytes)") }
        try DurationArgument.validateIdleSeal(idleSeal)
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
        if let timeUnit, existing.timeField == nil || timeUnit.unit != existing.timeUnit {
            throw mismatch("--time-unit", timeUnit.rawValue, existing.timeUnit?.rawValue ?? "unset (arrival time)")
        }
        if format == .lines, let field = existing.timeField {
            throw ValidationError(
                "stream \(stream) takes event time from field \(field); --format lines records have only the field \"line\"")
        }
        let unit = existing.timeUnit ?? .milliseconds
        return try store.jsonStream(
            stream, interval: existing.intervalLength, partitions: Int(existing.partitions), timeField: existing.timeField,
            keyField: existing.keyField, timeUnit: unit, retention: existing.retention)
    }

    func run() throws {
        // Cluster mode: connect first, so that a refused node writes nothing, not even locally.
        let clusterOptions = cluster.isEnabled ? try cluster.clusterOptions() : nil
        let jetStream = try clusterOptions.map { try NATSConnection($0.connectionOptions).jetStream() }
        let store = try options.createOrOpenStore(durability: durability.durability)
        let stream = try openStream(store)
        let replicator = try clusterOptions.flatMap { options in
            try jetStream.map { try ClusterReplicator(store: store, jetStream: $0, options: options) }
        }
        replicator?.start(streams: [self.stream])

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
                case .lines: try ingestor.ingestTextLines(fileDescriptor: 0, stop: stop, progress: report)
                }
            } catch {
                guard case .malformedLine = error else { throw error }
                stoppedBy = error  // --fail-fast: keep what came before the line, then fail
            }
            summary = ingestor.summary.interrupted ? try ingestor.stop() : try ingestor.finish()
        } catch {
            if progressShown { printError("") }
            printError("Error: \(describeError(error))")
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
        if let replicator { try replicate(replicator) }

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

    /// Cluster mode: publishes what is sealed and not yet in JetStream, and waits for the acknowledgements.
    private func replicate(_ replicator: ClusterReplicator) throws {
        replicator.stop()
        do {
            var streams = [stream]
            if (try? replicator.store.info(of: stream + ".late"))?.frontier.sealedThrough != nil { streams.append(stream + ".late") }
            for name in streams {
                let report = try replicator.replicate(stream: name)
                printError("replicated \(name) through \(report.replicatedThrough.map(\.description) ?? "none") "
                           + "(\(replicator.options.replicas) replicas)")
            }
        } catch {
            printError("Error: \(error)")
            printError("the records are committed in the local store; to publish them: strata cluster replicate --store "
                       + "\(options.path) --nats \(replicator.options.urls.joined(separator: ",")) \(stream)")
            throw ExitCode.failure
        }
    }

    /// Says on standard error what of the input is committed and how to feed the rest.
    private func printResumeAdvice(_ ingestor: JSONLinesIngestor) {
        let committed = ingestor.committedPosition
        if committed.lines == 0 {
            printError("committed: nothing of the input is in \(stream)")
        } else {
            printError("committed: lines 1–\(committed.lines) (bytes 0–\(committed.bytes)) of the input are in \(stream); "
                + "line \(committed.lines + 1), at byte \(committed.bytes), and after are not")
        }
        if let source {
            printError("to resume: run the same command on the same input (--source \(source) skips what is committed)")
        } else if committed.lines == 0 {
            printError("to resume: feed the whole input again")
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
