import ArgumentParser
import Strata

/// `strata cat STREAM`: prints the records of sealed intervals.
struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the records of one sealed interval, or of a range of them.",
        discussion: """
            Records print in (interval, partition, chunk, sequence) order, one per line: a JSON stream's records \
            as stored; KeyValue records as {"key":K,"value":V}; scalar records as JSON values. With --json each \
            line is {"interval":T,"partition":P,"record":R}.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The stream's name.")
    var stream: String

    @Option(help: ArgumentHelp("One interval (its index).", valueName: "T"))
    var interval: IntervalArgument?

    @Option(help: ArgumentHelp("The first interval of a range (with --to).", valueName: "T1"))
    var from: IntervalArgument?

    @Option(help: ArgumentHelp("The last interval of a range, included (with --from).", valueName: "T2"))
    var to: IntervalArgument?

    @Option(help: ArgumentHelp("Only this partition.", valueName: "P"))
    var partition: PartitionArgument?

    @Flag(help: #"Print each record as {"interval":T,"partition":P,"record":R}."#)
    var json = false

    @Flag(help: ArgumentHelp(#"Also print the committed records of intervals of the range that are not sealed (JSON: "sealed":false)."#))
    var unsealed = false

    mutating func validate() throws {
        switch (interval, from, to) {
        case (.some, nil, nil): break
        case (nil, .some(let first), .some(let last)):
            guard first.interval <= last.interval else {
                throw ValidationError("--from \(first.interval) is after --to \(last.interval)")
            }
        case (.some, _, _): throw ValidationError("give either --interval or --from and --to, not both")
        case (nil, nil, nil): throw ValidationError("give the interval to print: --interval T, or --from T1 --to T2")
        default: throw ValidationError("--from and --to go together")
        }
    }

    /// The intervals asked for.
    var range: ClosedRange<Interval> {
        if let interval { return interval.interval...interval.interval }
        let first = from?.interval ?? Interval(0)
        return first...(to?.interval ?? first)
    }

    func run() throws {
        let store = try options.openStoreForReading()
        let descriptor = try store.info(of: stream).descriptor
        if descriptor.recordType == JSONRecord.recordTypeName {
            // Named directly so that the hot loop is specialized for JSON records.
            try print(JSONRecord.self, from: store)
        } else if let type = PrintableRecordTypes.type(named: descriptor.recordType) {
            try print(type, from: store)
        } else {
            throw UnprintableRecordType(stream: stream, recordType: descriptor.recordType)
        }
    }

    private func print<Record: JSONPrintable>(_ type: Record.Type, from store: Store) throws {
        let stored = try store.stream(named: stream, of: Record.self)
        var out = OutputBuffer()
        if unsealed {
            // The sealed part as usual, then what is committed after the frontier.
            let sealed = try stored.newestSealedInterval()
            if let sealed, range.lowerBound <= sealed {
                try print(stored, range.lowerBound...min(sealed, range.upperBound), to: &out)
            }
            try printUnsealed(stored, range, to: &out)
            try out.flush()
            return
        }
        try print(stored, range, to: &out)
        try out.flush()
    }

    /// Prints the committed records of the unsealed intervals of `range`, marked as such.
    private func printUnsealed<Record: JSONPrintable>(_ stored: StoredStream<Record>, _ range: ClosedRange<Interval>,
                                                      to out: inout OutputBuffer) throws {
        var count = 0
        var intervals: [Interval] = []
        var prefix: [UInt8] = []
        var current: (Interval, PartitionIndex)?
        try stored.forEachUnsealed(in: range, partition: partition?.partition) { interval, partition, record in
            if intervals.last != interval { intervals.append(interval) }
            count += 1
            if json {
                if current?.0 != interval || current?.1 != partition {
                    current = (interval, partition)
                    prefix = Array(#"{"interval":"#.utf8)
                    appendDecimal(interval.rawValue, to: &prefix)
                    prefix.append(contentsOf: #","partition":"#.utf8)
                    appendDecimal(UInt64(partition.rawValue), to: &prefix)
                    prefix.append(contentsOf: #","record":"#.utf8)
                }
                out.bytes.append(contentsOf: prefix)
                record.appendJSON(to: &out.bytes)
                out.bytes.append(contentsOf: #","sealed":false}"#.utf8)
            } else {
                record.appendJSON(to: &out.bytes)
            }
            out.bytes.append(0x0A)
            try out.flushIfFull()
        }
        if count > 0 {
            let list = intervals.count == 1 ? "interval \(intervals[0]) is" : "intervals \(intervals.map(\.description).joined(separator: ", ")) are"
            try out.flush()
            printError("\(count) records of unsealed intervals: \(list) not sealed yet and may still change")
        }
    }

    private func print<Record: JSONPrintable>(_ stored: StoredStream<Record>, _ range: ClosedRange<Interval>,
                                              to out: inout OutputBuffer) throws {
        if json {
            var current: (Interval, PartitionIndex)?
            var prefix: [UInt8] = []
            try stored.forEach(in: range, partition: partition?.partition) { interval, partition, record in
                if current?.0 != interval || current?.1 != partition {
                    current = (interval, partition)
                    prefix = Array(#"{"interval":"#.utf8)
                    appendDecimal(interval.rawValue, to: &prefix)
                    prefix.append(contentsOf: #","partition":"#.utf8)
                    appendDecimal(UInt64(partition.rawValue), to: &prefix)
                    prefix.append(contentsOf: #","record":"#.utf8)
                }
                out.bytes.append(contentsOf: prefix)
                record.appendJSON(to: &out.bytes)
                out.bytes.append(0x7D)  // }
                out.bytes.append(0x0A)
                try out.flushIfFull()
            }
        } else {
            try stored.forEach(in: range, partition: partition?.partition) { _, _, record in
                record.appendJSON(to: &out.bytes)
                out.bytes.append(0x0A)
                try out.flushIfFull()
            }
        }
    }
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
