import ArgumentParser
import Strata
import StrataCluster

/// `strata cat STREAM`: prints the records of sealed intervals: the whole retained stream, one
/// interval, or a range; optionally one partition or one key.
struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the records of a stream: all it retains, one interval, or a range.",
        discussion: """
            Without --interval, --from or --to, prints every readable interval (beginning to end). Times are \
            read as described in docs/cli.md ("Times"). Records print in (interval, partition, chunk, sequence) \
            order, one per line: a JSON stream's records as stored; KeyValue records as {"key":K,"value":V}; \
            scalar records as JSON values. With --json each line is \
            {"interval":T,"partition":P,"record":R,"time":"START"}.
            """)

    @OptionGroup var options: StoreArguments

    @OptionGroup(title: "Cluster (read the stream from NATS JetStream)") var cluster: NATSArguments

    @Argument(help: "The stream's name.", completion: .custom(completeStreamNames))
    var stream: String

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "One interval: an index, or a time it contains (21:00:05, -1m, end …).", valueName: "T"))
    var interval: TimeArgument?

    @OptionGroup var range: RangeOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Only this partition.", valueName: "P"))
    var partition: PartitionArgument?

    @Option(help: ArgumentHelp(
        "Only the records with this key: a JSON stream's key field (--key-field at ingest; reads only its partition), or a KeyValue stream's key.",
        valueName: "K"))
    var key: String?

    @Flag(help: #"Print each record as {"interval":T,"partition":P,"record":R,"time":"START"}."#)
    var json = false

    @Flag(help: ArgumentHelp(#"Also print the committed records of intervals that are not sealed yet (JSON: "sealed":false); the range then takes interval indexes, beginning or end."#))
    var unsealed = false

    @OptionGroup var display: TimeDisplayOptions

    mutating func validate() throws {
        if unsealed && key != nil { throw ValidationError("--key does not go with --unsealed") }
        try interval?.validate("--interval")
        if interval != nil && (range.from != nil || range.to != nil) {
            throw ValidationError("give either --interval or --from/--to, not both")
        }
        if key != nil && partition != nil { throw ValidationError("--key chooses the partition: leave out --partition") }
    }

    func run() throws {
        let store = cluster.isEnabled
            ? try ClusterRead.store(restoring: [stream], options: options, cluster: cluster)
            : try options.openStoreForReading()
        let info = try store.info(of: stream)
        if unsealed {
            try printWithUnsealed(store, info)
            return
        }
        let intervals: ClosedRange<Interval>
        if let interval {
            let t = try range.reading.interval(interval, in: info)
            intervals = t...t
        } else {
            // The whole retained stream of a stream with nothing readable is empty, not an error.
            if range.from == nil, range.to == nil, info.frontier.firstReadable == nil { return }
            intervals = try range.intervals(in: info)
        }
        let descriptor = info.descriptor
        if descriptor.recordType == JSONRecord.recordTypeName {
            // Named directly so that the hot loop is specialized for JSON records.
            let stored = try store.stream(named: stream, of: JSONRecord.self)
            if let key {
                var printer = RecordLinePrinter(json: json, display: display, length: descriptor.intervalLength)
                try stored.forEach(in: intervals, key: key) { try printer.print($0, $1, $2) }
                try printer.finish()
            } else {
                try print(stored, intervals, store: store)
            }
        } else if let type = PrintableRecordTypes.type(named: descriptor.recordType) {
            try print(type, store: store, intervals)
        } else {
            throw UnprintableRecordType(stream: stream, recordType: descriptor.recordType)
        }
    }

    /// `--unsealed`: the sealed intervals of the range as usual, then the committed records of the
    /// range's unsealed intervals, marked.
    private func printWithUnsealed(_ store: Store, _ info: StreamInfo) throws {
        let lower = try unsealedBound(interval ?? range.from, "--from", default: Interval(0))
        let upper = try unsealedBound(interval ?? range.to, "--to", default: Interval(UInt64.max))
        guard lower <= upper else { throw ValidationError("--from \(lower) is after --to \(upper)") }
        let descriptor = info.descriptor
        if descriptor.recordType == JSONRecord.recordTypeName {
            try printWithUnsealed(try store.stream(named: stream, of: JSONRecord.self), info, lower...upper)
        } else if let type = PrintableRecordTypes.type(named: descriptor.recordType) {
            try printWithUnsealed(type, store: store, info, lower...upper)
        } else {
            throw UnprintableRecordType(stream: stream, recordType: descriptor.recordType)
        }
    }

    private func printWithUnsealed<Record: JSONPrintable>(_ type: Record.Type, store: Store, _ info: StreamInfo,
                                                          _ range: ClosedRange<Interval>) throws {
        try printWithUnsealed(try store.stream(named: stream, of: Record.self), info, range)
    }

    private func printWithUnsealed<Record: JSONPrintable>(_ stored: StoredStream<Record>, _ info: StreamInfo,
                                                          _ range: ClosedRange<Interval>) throws {
        var printer = RecordLinePrinter(json: json, display: display, length: stored.descriptor.intervalLength)
        if let first = info.frontier.firstReadable, let last = info.frontier.sealedThrough,
           range.lowerBound <= last, first <= range.upperBound {
            let sealed = max(first, range.lowerBound)...min(last, range.upperBound)
            try stored.forEach(in: sealed, partition: partition?.partition) { try printer.print($0, $1, $2) }
        }
        var count = 0
        var intervals: [Interval] = []
        try stored.forEachUnsealed(in: range, partition: partition?.partition) { interval, partition, record in
            if intervals.last != interval { intervals.append(interval) }
            count += 1
            try printer.print(interval, partition, record, sealed: false)
        }
        try printer.finish()
        if count > 0 {
            let list = intervals.count == 1
                ? "interval \(intervals[0]) is" : "intervals \(intervals.map(\.description).joined(separator: ", ")) are"
            printError("\(count) records of unsealed intervals: \(list) not sealed yet and may still change")
        }
    }

    /// An interval bound for `--unsealed`: an index, beginning or end (times need a sealed interval to resolve against).
    private func unsealedBound(_ argument: TimeArgument?, _ option: String, default value: Interval) throws -> Interval {
        guard let argument else { return value }
        switch argument.parsed {
        case .success(.interval(let interval)): return interval
        case .success(.beginning): return Interval(0)
        case .success(.end): return Interval(UInt64.max)
        default: throw ValidationError("with --unsealed, \(option) takes an interval index, beginning or end (not \(argument.text))")
        }
    }

    private func print<Record: JSONPrintable>(_ type: Record.Type, store: Store, _ range: ClosedRange<Interval>) throws {
        try print(try store.stream(named: stream, of: Record.self), range, store: store)
    }

    private func print<Record: JSONPrintable>(_ stored: StoredStream<Record>, _ range: ClosedRange<Interval>,
                                              store: Store) throws {
        var printer = RecordLinePrinter(json: json, display: display, length: stored.descriptor.intervalLength)
        if let key {
            guard let selectable = Record.self as? any KeySelectable.Type else {
                throw CommandUsageError(Cat.self, "--key needs a JSON stream with a key field or a KeyValue stream; "
                                        + "stream \(stream) holds \(stored.descriptor.readableRecordType)")
            }
            try selectable.printRecords(of: stream, in: store, range: range, key: key, command: Cat.self,
                                        printer: &printer)
        } else {
            try stored.forEach(in: range, partition: partition?.partition) { try printer.print($0, $1, $2) }
        }
        try printer.finish()
    }
}

/// Prints records one per line as `cat`, `slice` and `tail` do: the record's JSON, or with
/// `--json` `{"interval":T,"partition":P,"record":R,"time":"START"}`.
struct RecordLinePrinter {
    var json: Bool
    var display: TimeDisplayOptions
    var length: IntervalLength
    private var out = OutputBuffer()
    private var current: (Interval, PartitionIndex)?
    private var currentSealed = true
    private var affixes: (prefix: [UInt8], suffix: [UInt8]) = ([], [])

    init(json: Bool, display: TimeDisplayOptions, length: IntervalLength) {
        self.json = json
        self.display = display
        self.length = length
    }

    /// Appends one record's line, writing once a megabyte has gathered. A record of an interval
    /// that is not sealed (`sealed: false`) gets `"sealed":false` in its JSON line.
    @inline(__always)
    mutating func print<Record: JSONPrintable>(_ interval: Interval, _ partition: PartitionIndex, _ record: Record,
                                               sealed: Bool = true) throws {
        if json {
            if current?.0 != interval || current?.1 != partition || currentSealed != sealed {
                current = (interval, partition)
                currentSealed = sealed
                affixes = jsonRecordAffixes(interval, partition, time: display.time(of: interval, length: length))
                if !sealed {
                    affixes.suffix.removeLast()  // }
                    affixes.suffix.append(contentsOf: #","sealed":false}"#.utf8)
                }
            }
            out.bytes.append(contentsOf: affixes.prefix)
            record.appendJSON(to: &out.bytes)
            out.bytes.append(contentsOf: affixes.suffix)
        } else {
            record.appendJSON(to: &out.bytes)
        }
        out.bytes.append(0x0A)
        try out.flushIfFull()
    }

    /// Writes what is gathered.
    mutating func finish() throws { try out.flush() }
}

/// `cat` does not know how to print a stream's record type.
struct UnprintableRecordType: Error, CustomStringConvertible {
    var stream: String
    var recordType: String
    var description: String {
        "stream \(stream) holds records of type \(recordType), which strata cat cannot print; "
            + "it prints \(PrintableRecordTypes.summary)"
    }
}
