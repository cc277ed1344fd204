import ArgumentParser
import Strata

/// `strata tail [-f] STREAM`: re-emits a stream's records from an interval on, at full speed or
/// at the original pace, and follows new intervals as they are sealed.
struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a stream's records from an interval on; with -f, follow new intervals as they are sealed.",
        discussion: """
            Starts at --from (default: the newest sealed interval) and prints through --to, or through the newest \
            sealed interval. Times are read as described in docs/cli.md ("Times"). With --pace, intervals are \
            printed one interval length apart (divided by --speed). With -f, waits for the stream to be created \
            and for its first seal when needed (give up after --timeout), then keeps printing intervals as they \
            are sealed until interrupted. Records print as strata cat prints them.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stream's name.", completion: .custom(completeStreamNames))
    var stream: String

    @Flag(name: [.customShort("f"), .long], help: "Keep following new intervals as they are sealed.")
    var follow = false

    @OptionGroup var range: RangeOptions

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "With -f: give up (exit 1) when the stream does not exist or has nothing sealed after this long: 30s, 5m.",
        valueName: "duration"))
    var timeout: DurationArgument?

    @Option(help: ArgumentHelp(
        "Only the records whose key field (--key-field at ingest) has this value.", valueName: "K"))
    var key: String?

    @Flag(help: "Print intervals at the pace they were made: one interval length apart.")
    var pace = false

    @Option(parsing: .unconditional, help: ArgumentHelp("With --pace: how many times faster than the original (0.5 is slower).", valueName: "x"))
    var speed: Double?

    @Flag(help: #"Print each record as {"interval":T,"partition":P,"record":R,"time":"START"}."#)
    var json = false

    @Flag(help: ArgumentHelp(#"After the sealed intervals, print the committed records of unsealed ones (JSON: "sealed":false)."#))
    var unsealed = false

    @OptionGroup var display: TimeDisplayOptions

    mutating func validate() throws {
        if unsealed && follow {
            throw ValidationError("--unsealed shows what open intervals hold now; it does not go with --follow")
        }
        if unsealed && key != nil { throw ValidationError("--key does not go with --unsealed") }
        if let speed {
            guard pace else { throw ValidationError("--speed goes with --pace") }
            guard ReEmitPace.speeds.contains(speed) else {
                throw ValidationError("--speed must be a number from 0.001 to 1000000, not \(speed)")
            }
        }
        if range.to != nil && follow { throw ValidationError("--to and --follow exclude each other") }
        if range.to != nil && range.from == nil { throw ValidationError("--to needs --from") }
        if timeout != nil && !follow { throw ValidationError("--timeout goes with -f (--follow)") }
    }

    func run() throws {
        let store = try options.openStoreForReading()
        let stream = self.stream, follow = self.follow, timeout = timeout?.duration
        // A follower waits for the stream to exist and to have a sealed interval, as `tail -F` waits for a file.
        let info: StreamInfo = try { () throws -> StreamInfo in
            guard follow else { return try store.info(of: stream) }
            let box = ResultBox<StreamInfo>()
            try runToCompletion { box.value = try await store.waitForStream(named: stream, timeout: timeout) }
            guard let info = box.value else { throw TimeTravelError.timedOut(stream: stream, waitingFor: "the stream", after: .zero) }
            return info
        }()
        let descriptor = info.descriptor
        guard let type = PrintableRecordTypes.type(named: descriptor.recordType) else {
            throw UnprintableRecordType(stream: stream, recordType: descriptor.recordType)
        }
        try run(type, store: store, timeout: timeout)
    }

    private func run<Record: JSONPrintable>(_ type: Record.Type, store: Store, timeout: Duration?) throws {
        let stored = try store.stream(named: stream, of: Record.self)
        var waited = false
        if follow, try stored.frontier().firstReadable == nil {
            try runToCompletion { _ = try await stored.waitForReadableInterval(timeout: timeout) }
            waited = true
        }
        let info = try store.info(of: stream)
        let frontier = info.frontier
        var start: Interval
        var through: Interval?
        if let from = range.from {
            if let to = range.to {
                let intervals = try range.reading.intervals(from: from, to: to, in: info)
                (start, through) = (intervals.lowerBound, intervals.upperBound)
            } else {
                start = try range.reading.interval(from, in: info)
            }
        } else if waited, let first = frontier.firstReadable {
            // Waited for the first seal: everything sealed since is new, so print it all.
            start = first
        } else if let newest = frontier.sealedThrough {
            start = newest
        } else if unsealed {
            try printUnsealed(stored, from: Interval(0), through: nil)
            return
        } else {
            throw TimeTravelError.nothingReadable(stream: stream, bound: "the newest sealed interval")
        }
        var filter: JSONKeyFilter?
        var keyTest: (@Sendable (Any) -> Bool)?
        if let key {
            if Record.self == JSONRecord.self {
                filter = try JSONKeyFilter(key: key, stream: stored.descriptor)
            } else if let selectable = Record.self as? any KeySelectable.Type {
                keyTest = try selectable.keyTest(key, command: Tail.self)
            } else {
                throw CommandUsageError(Tail.self, "--key needs a JSON stream with a key field or a KeyValue stream; "
                                        + "stream \(stream) holds \(stored.descriptor.readableRecordType)")
            }
        }
        try emit(stored, from: start, through: through, filter: filter, keyTest: keyTest)
        if unsealed { try printUnsealed(stored, from: start, through: through) }
    }

    /// Prints the committed records of the unsealed intervals from `start` on, marked as such.
    private func printUnsealed<Record: JSONPrintable>(_ stored: StoredStream<Record>, from start: Interval,
                                                      through: Interval?) throws {
        var printer = RecordLinePrinter(json: json, display: display, length: stored.descriptor.intervalLength)
        var count = 0
        try stored.forEachUnsealed(in: start...(through ?? Interval(UInt64.max))) { interval, partition, record in
            count += 1
            try printer.print(interval, partition, record, sealed: false)
        }
        try printer.finish()
        if count > 0 { printError("\(count) records of unsealed intervals: not sealed yet, they may still change") }
    }

    private func emit<Record: JSONPrintable>(_ stored: StoredStream<Record>, from start: Interval, through: Interval?,
                                              filter: JSONKeyFilter?, keyTest: (@Sendable (Any) -> Bool)?) throws {
        let pace: ReEmitPace = self.pace ? .original(speed: speed ?? 1) : .fullSpeed
        let follow = self.follow, json = self.json, display = self.display
        let length = stored.descriptor.intervalLength
        try runToCompletion {
            var printer = RecordLinePrinter(json: json, display: display, length: length)
            var filter = filter
            for try await batch in stored.reEmit(from: start, through: through, pace: pace, follow: follow) {
                for (p, records) in batch.partitions.enumerated() {
                    let partition = PartitionIndex(UInt32(p))
                    if let filter, filter.partition != partition { continue }
                    for record in records {
                        if filter != nil, let json = record as? JSONRecord, !(filter?.matches(json) ?? true) { continue }
                        if let keyTest, !keyTest(record) { continue }
                        try printer.print(batch.interval, partition, record)
                    }
                }
                // Followers and paced readers see each interval as it is emitted.
                if follow || pace != .fullSpeed { try printer.finish() }
            }
            try printer.finish()
        }
    }
}

/// A value handed from a task to the thread that waits for it with `runToCompletion`.
final class ResultBox<Value>: @unchecked Sendable {
    // Written by the task before `runToCompletion` returns, read after: its semaphore orders the two.
    var value: Value?
}
