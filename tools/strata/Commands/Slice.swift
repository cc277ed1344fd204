import ArgumentParser
import Strata
import StrataCluster

/// `strata slice STREAM --from T1 --to T2`: the records of a range of intervals, or their top K.
struct SliceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slice",
        abstract: "Print the records of a range of sealed intervals, or the top K of a key/value stream.",
        discussion: """
            --from and --to are read as described in docs/cli.md ("Times"): interval indices, beginning and end \
            are included, times make the half-open range [T1, T2); a missing --from is beginning, a missing --to \
            is end. Records print as strata cat prints them; with --top K, the K \
            key/value records with the largest values (ties: smallest key first), or with --by key the largest \
            keys, as a table, or with --json as {"key":K,"value":V} lines; --combine sum|max|min|last first \
            combines each key's values over the range (last: the value of its latest record). A range outside retention or before the \
            stream began is an error (exit 1).
            """)

    @OptionGroup var options: StoreArguments

    @OptionGroup(title: "Cluster (read the stream from NATS JetStream)") var cluster: NATSArguments

    @Argument(help: "The stream's name.", completion: .custom(completeStreamNames))
    var stream: String

    @OptionGroup var range: RangeOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Print only the top K key/value records.", valueName: "K"))
    var top: Int?

    @Option(help: "What --top ranks by: value (largest first, ties by key) or key (largest first).")
    var by: TopKOrder = .byValue

    @Option(help: ArgumentHelp(
        "With --top: first combine each key's values over the range: sum, max, min or last (default: rank records as they are).",
        valueName: "how"))
    var combine: CombineArgument?

    @Option(help: ArgumentHelp(
        "Only the records whose key field (--key-field at ingest) has this value; reads only its partition.",
        valueName: "K"))
    var key: String?

    @Flag(help: #"JSON lines: {"interval":T,"partition":P,"record":R,"time":"START"}, or {"key":K,"value":V} with --top."#)
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    @Flag(help: "Show progress (the interval being printed) on standard error even when it is not a terminal.")
    var progress = false

    mutating func validate() throws {
        if key != nil && top != nil { throw ValidationError("--key and --top exclude each other") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
        if combine != nil && top == nil { throw ValidationError("--combine goes with --top") }
    }

    func run() throws {
        let store = cluster.isEnabled
            ? try ClusterRead.store(restoring: [stream], options: options, cluster: cluster)
            : try options.openStoreForReading()
        let descriptor = try store.info(of: stream).descriptor
        guard let type = PrintableRecordTypes.type(named: descriptor.recordType) else {
            throw UnprintableRecordType(stream: stream, recordType: descriptor.recordType)
        }
        try run(type, store: store)
    }

    private func run<Record: JSONPrintable>(_ type: Record.Type, store: Store) throws {
        let stored = try store.stream(named: stream, of: Record.self)
        let intervals = try range.intervals(in: try store.info(of: stream))
        // Checks the range now: sealed, not before the stream began, retained.
        _ = try stored.slice(from: intervals.lowerBound, through: intervals.upperBound)
        if let top {
            guard let rankable = Record.self as? any RankablePair.Type else {
                throw CommandUsageError(SliceCommand.self, "--top needs a stream of KeyValue records with ordered keys and values; "
                                      + "stream \(stream) holds \(stored.descriptor.readableRecordType)")
            }
            try rankable.printTop(top, by: by, combine: combine, of: stored.name, in: intervals, store: store, json: json)
            return
        }
        var printer = RecordLinePrinter(json: json, display: display, length: stored.descriptor.intervalLength)
        if let key, Record.self != JSONRecord.self {
            guard let selectable = Record.self as? any KeySelectable.Type else {
                throw CommandUsageError(SliceCommand.self, "--key needs a JSON stream with a key field or a KeyValue "
                                        + "stream; stream \(stream) holds \(stored.descriptor.readableRecordType)")
            }
            try selectable.printRecords(of: stream, in: store, range: intervals, key: key, command: SliceCommand.self,
                                        printer: &printer)
            try printer.finish()
            return
        }
        var filter = try key.map { key throws in try JSONKeyFilter(key: key, stream: stored.descriptor) }
        var current: Interval?
        let showProgress = progress || standardErrorIsTerminal
        var lastShown = ContinuousClock.now
        var progressShown = false
        // In (interval, partition, …) order, as `cat` prints: one partition at a time would reorder.
        try stored.forEach(in: intervals, partition: filter?.partition) { interval, partition, record in
            if showProgress, current != interval, ContinuousClock.now - lastShown >= .seconds(1) {
                lastShown = ContinuousClock.now
                let text = "interval \(interval) of \(intervals.lowerBound)–\(intervals.upperBound)"
                if standardErrorIsTerminal {
                    writeError("\r" + text)
                    progressShown = true
                } else {
                    printError(text)
                }
            }
            current = interval
            if filter != nil, let json = record as? JSONRecord, !(filter?.matches(json) ?? true) { return }
            try printer.print(interval, partition, record)
        }
        if progressShown { printError("") }
        try printer.finish()
    }
}

extension TopKOrder: ExpressibleByArgument {}

/// A key/value record type whose keys and values are ordered: what `slice --top` ranks.
protocol RankablePair: JSONPrintable {
    /// Prints the top `k` records of `stream` in `range`.
    static func printTop(_ k: Int, by order: TopKOrder, combine: CombineArgument?, of stream: String,
                         in range: ClosedRange<Interval>, store: Store, json: Bool) throws
}

/// `--combine`: how `slice --top` combines each key's values before ranking.
enum CombineArgument: String, ExpressibleByArgument, CaseIterable {
    case sum, max, min, last
}

/// A value type `--combine sum` can add.
protocol SummableValue {
    /// The sum, wrapping on overflow for integers.
    func adding(_ other: Self) -> Self
}

extension Int: SummableValue { func adding(_ other: Int) -> Int { self &+ other } }
extension Int64: SummableValue { func adding(_ other: Int64) -> Int64 { self &+ other } }
extension Int32: SummableValue { func adding(_ other: Int32) -> Int32 { self &+ other } }
extension UInt: SummableValue { func adding(_ other: UInt) -> UInt { self &+ other } }
extension UInt64: SummableValue { func adding(_ other: UInt64) -> UInt64 { self &+ other } }
extension UInt32: SummableValue { func adding(_ other: UInt32) -> UInt32 { self &+ other } }
extension Double: SummableValue { func adding(_ other: Double) -> Double { self + other } }
extension Float: SummableValue { func adding(_ other: Float) -> Float { self + other } }

/// `a + b` when both are of the summable type `S`.
private func sum<S: SummableValue>(_ a: S, _ b: Any) -> Any? { (b as? S).map { a.adding($0) } }

extension KeyValue: RankablePair where Key: JSONPrintable & Comparable & Hashable, Value: JSONPrintable & Comparable {
    static func printTop(_ k: Int, by order: TopKOrder, combine: CombineArgument?, of stream: String,
                         in range: ClosedRange<Interval>, store: Store, json: Bool) throws {
        let stored = try store.stream(named: stream, of: Self.self)
        var dataset = try stored.slice(from: range.lowerBound, through: range.upperBound)
        switch combine {
        case nil: break
        case .max: dataset = try dataset.reduceByKey { Swift.max($0, $1) }
        case .min: dataset = try dataset.reduceByKey { Swift.min($0, $1) }
        case .last: dataset = try dataset.reduceByKey { _, later in later }
        case .sum:
            guard Value.self is any SummableValue.Type else {
                throw CommandUsageError(SliceCommand.self, "--combine sum needs numeric values; stream \(stream) holds \(Self.recordTypeName)")
            }
            dataset = try dataset.reduceByKey { a, b in
                guard let summable = a as? any SummableValue, let total = sum(summable, b) as? Value else { return a }
                return total
            }
        }
        let top = try dataset.topK(k) { order.ranksBefore($0, $1) }
        var out = OutputBuffer()
        if json {
            for record in top {
                record.appendJSON(to: &out.bytes)
                out.bytes.append(0x0A)
            }
        } else {
            var table = Table(header: ["RANK", "KEY", "VALUE"])
            for (rank, record) in top.enumerated() {
                table.append([String(rank + 1), String(describing: record.key), String(describing: record.value)])
            }
            out.append(table.text + "\n")
        }
        try out.flush()
    }
}
