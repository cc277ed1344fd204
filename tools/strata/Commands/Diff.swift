import ArgumentParser
import Strata

/// `strata diff A B [--from T1] [--to T2]`: compares two streams interval by interval and lists
/// every interval that differs; exit 0 when they hold the same records, 1 when they differ, 2 on error.
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two streams interval by interval and list every interval that differs.",
        discussion: """
            Records are compared as stored, partition by partition, in every interval that holds records in \
            either stream, within --from/--to when given (times as in docs/cli.md, "Times"; read on A). Each \
            differing interval prints one line; with --records, the records only A holds (- lines) and only B \
            holds (+ lines) follow it. A summary ends the output. \
            Exit status: 0 identical, 1 different, 2 error (unknown stream, corrupt block), 64 usage.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The first stream.", completion: .custom(completeStreamNames))
    var first: String

    @Argument(help: "The second stream.", completion: .custom(completeStreamNames))
    var second: String

    @OptionGroup var range: RangeOptions

    @Flag(help: "After each differing interval, print the records only one stream holds.")
    var records = false

    @Flag(help: "Print one JSON object per differing interval, then one with the summary.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    @Flag(help: "Show progress on standard error even when it is not a terminal.")
    var progress = false

    func run() throws {
        do {
            try compare()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            // `diff` reserves exit status 1 for "different".
            printError("Error: \(describeError(error))")
            throw ExitCode(2)
        }
    }

    private func compare() throws {
        let store = try options.openStoreForReading()
        let info = try store.info(of: first)
        var limit: ClosedRange<Interval>?
        if range.from != nil || range.to != nil {
            limit = try range.intervals(in: info)
        }
        let showProgress = progress || standardErrorIsTerminal
        var lastShown = ContinuousClock.now
        var progressShown = false
        let comparison = try store.compare(first, second, in: limit) { soFar in
            guard showProgress, ContinuousClock.now - lastShown >= .seconds(1) else { return }
            lastShown = ContinuousClock.now
            let text = "\(soFar.intervalsCompared) intervals compared"
            if standardErrorIsTerminal {
                writeError("\r" + text)
                progressShown = true
            } else {
                printError(text)
            }
        }
        if progressShown { printError("") }
        let length = info.descriptor.intervalLength
        let recordPrinter = records ? try RecordDiffer(store: store, first: first, second: second) : nil
        var out = OutputBuffer()
        for d in comparison.differences {
            let lines = try recordPrinter.map { printer throws in
                try d.interval.map { interval throws in try printer.differences(in: interval) } ?? ([], [])
            } ?? ([], [])
            if json {
                var object: [String: JSONValue] = [
                    "interval": .interval(d.interval),
                    "time": display.json(d.interval, length: length),
                    "partition": d.partition.map { .unsigned(UInt64($0.rawValue)) } ?? .null,
                    "reason": .string(d.reason),
                ]
                if records {
                    object["onlyInFirst"] = .array(lines.0.map { .string($0) })
                    object["onlyInSecond"] = .array(lines.1.map { .string($0) })
                }
                out.append(JSONValue.object(object).text + "\n")
            } else {
                var line = ""
                if let interval = d.interval {
                    line = "interval \(interval) (\(display.time(of: interval, length: length)))"
                    if let partition = d.partition { line += " partition \(partition)" }
                    line += ": "
                }
                out.append(line + d.reason + "\n")
                for record in lines.0 { out.append("- " + record + "\n") }
                for record in lines.1 { out.append("+ " + record + "\n") }
            }
            try out.flushIfFull()
        }
        if json {
            out.append(JSONValue.object([
                "first": .string(first),
                "second": .string(second),
                "identical": .bool(comparison.isIdentical),
                "firstRecords": .unsigned(comparison.firstRecords),
                "secondRecords": .unsigned(comparison.secondRecords),
                "intervalsCompared": .unsigned(comparison.intervalsCompared),
                "differingIntervals": .unsigned(UInt64(comparison.differences.count)),
                "from": .interval(comparison.range?.lowerBound),
                "to": .interval(comparison.range?.upperBound),
            ]).text + "\n")
        } else {
            let verdict = comparison.isIdentical
                ? "identical: \(comparison.intervalsCompared) intervals with records compared"
                : "different: \(comparison.differences.count) of \(comparison.intervalsCompared) intervals with records differ"
            out.append(verdict + "\n")
            out.append("\(first): \(comparison.firstRecords) records in \(text(comparison.firstRange, length)); "
                       + "\(second): \(comparison.secondRecords) records in \(text(comparison.secondRange, length))\n")
        }
        try out.flush()
        if !comparison.isIdentical { throw ExitCode(1) }
    }

    /// `intervals 100–103 (2025-11-23T12:00:00Z–2025-11-23T12:00:03Z)`, or `no readable intervals`.
    private func text(_ range: ClosedRange<Interval>?, _ length: IntervalLength) -> String {
        guard let range else { return "no readable intervals" }
        return "intervals \(range.lowerBound)–\(range.upperBound) ("
            + "\(display.time(of: range.lowerBound, length: length))–\(display.time(of: range.upperBound, length: length)))"
    }
}

/// The records of one interval that only one of two streams holds, as JSON text: an ordered
/// multiset difference (a record held twice in A and once in B is once in A's list).
struct RecordDiffer {
    private let read: (Interval) throws -> ([String], [String])

    init(store: Store, first: String, second: String) throws {
        let type = try store.info(of: first).descriptor.recordType
        guard let printable = PrintableRecordTypes.type(named: type) else {
            throw UnprintableRecordType(stream: first, recordType: type)
        }
        read = try Self.reader(printable, store, first, second)
    }

    private static func reader<Record: JSONPrintable>(_: Record.Type, _ store: Store, _ first: String, _ second: String)
        throws -> (Interval) throws -> ([String], [String])
    {
        let a = try store.stream(named: first, of: Record.self), b = try store.stream(named: second, of: Record.self)
        func lines(_ stream: StoredStream<Record>, _ interval: Interval) throws -> [String] {
            // An interval not readable in one stream counts as empty there, as in the comparison.
            let frontier = try stream.frontier()
            guard let first = frontier.firstReadable, let last = frontier.sealedThrough,
                  first <= interval, interval <= last else { return [] }
            let batch = try stream.read(interval)
            return batch.partitions.flatMap { $0 }.map { record in
                var bytes: [UInt8] = []
                record.appendJSON(to: &bytes)
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        return { interval in
            let left = try lines(a, interval), right = try lines(b, interval)
            var counts: [String: Int] = [:]
            for line in right { counts[line, default: 0] += 1 }
            var onlyLeft: [String] = []
            for line in left {
                if let n = counts[line], n > 0 { counts[line] = n - 1 } else { onlyLeft.append(line) }
            }
            counts = [:]
            for line in left { counts[line, default: 0] += 1 }
            var onlyRight: [String] = []
            for line in right {
                if let n = counts[line], n > 0 { counts[line] = n - 1 } else { onlyRight.append(line) }
            }
            return (onlyLeft, onlyRight)
        }
    }

    /// Records only the first stream holds, and records only the second holds, in stream order.
    func differences(in interval: Interval) throws -> ([String], [String]) { try read(interval) }
}
