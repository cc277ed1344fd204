import ArgumentParser
import Foundation
import Strata

/// `strata stats [STREAM] [--per-interval]`: totals per stream (or per interval of one) from the
/// seal records, and the store's size.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show intervals, records, bytes and compression per stream (or per interval), and the store's size.",
        discussion: """
            Totals cover readable sealed intervals; they come from the seal records, so no block is read. \
            With --per-interval (one stream): one row per interval that holds records, within --from/--to \
            (times as in docs/cli.md, "Times").
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "One stream (default: every user stream).", completion: .custom(completeStreamNames))
    var stream: String?

    @Flag(help: "One row per interval with records: records, bytes and ratio (needs STREAM).")
    var perInterval = false

    @OptionGroup var range: RangeOptions

    @Flag(help: "List the internal streams too (late side streams, program streams).")
    var all = false

    @Flag(help: "Print one JSON object per stream (or interval), then one with the store's size.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    func validate() throws {
        if perInterval && stream == nil { throw ValidationError("--per-interval needs a STREAM") }
        if !perInterval && (range.from != nil || range.to != nil) {
            throw ValidationError("--from/--to go with --per-interval")
        }
    }

    func run() throws {
        let store = try options.openStoreForReading()
        if perInterval, let stream {
            try printIntervals(of: stream, store)
            return
        }
        var all = try store.stats(of: stream)
        if stream == nil && !self.all {
            let user = Set(try store.streams().filter { !$0.descriptor.isInternal }.map(\.descriptor.name))
            all = all.filter { user.contains($0.name) }
        }
        var out = OutputBuffer()
        if json {
            for stats in all { out.append(Self.object(stats).text + "\n") }
            out.append(JSONValue.object(["storeUsedBytes": .unsigned(UInt64(store.usedBytes))]).text + "\n")
        } else {
            var table = Table(header: ["STREAM", "INTERVALS", "RECORDS", "RAW BYTES", "STORED BYTES", "RATIO", "LATE"])
            for s in all {
                table.append([s.name, String(s.intervals), String(s.records), String(s.rawBytes), String(s.storedBytes),
                              String(format: "%.2f", s.compressionRatio), String(s.lateRecords)])
            }
            out.append(table.text + "\n")
            out.append("store: \(store.usedBytes) bytes used\n")
        }
        try out.flush()
    }

    private func printIntervals(of stream: String, _ store: Store) throws {
        let info = try store.info(of: stream)
        let length = info.descriptor.intervalLength
        var limit: ClosedRange<Interval>?
        if info.frontier.firstReadable != nil { limit = try range.intervals(in: info) }
        let rows = info.frontier.firstReadable == nil ? [] : try store.intervalStats(of: stream, in: limit)
        var out = OutputBuffer()
        if json {
            for s in rows {
                out.append(JSONValue.object([
                    "stream": .string(stream), "interval": .unsigned(s.interval.rawValue),
                    "time": .string(display.time(of: s.interval, length: length)), "records": .unsigned(s.records),
                    "rawBytes": .unsigned(s.rawBytes), "storedBytes": .unsigned(s.storedBytes),
                    "compressionRatio": .double(s.compressionRatio),
                ]).text + "\n")
                try out.flushIfFull()
            }
        } else {
            var table = Table(header: ["INTERVAL", "TIME", "RECORDS", "RAW BYTES", "STORED BYTES", "RATIO"])
            for s in rows {
                table.append([String(s.interval.rawValue), display.time(of: s.interval, length: length), String(s.records),
                              String(s.rawBytes), String(s.storedBytes), String(format: "%.2f", s.compressionRatio)])
            }
            out.append(table.text + "\n")
        }
        try out.flush()
    }

    /// The `--json` object of one stream's totals.
    static func object(_ s: StreamStats) -> JSONValue {
        .object([
            "stream": .string(s.name),
            "firstInterval": .interval(s.firstInterval),
            "newestSealed": .interval(s.newestSealed),
            "intervals": .unsigned(s.intervals),
            "nonEmptyIntervals": .unsigned(s.nonEmptyIntervals),
            "records": .unsigned(s.records),
            "rawBytes": .unsigned(s.rawBytes),
            "storedBytes": .unsigned(s.storedBytes),
            "compressionRatio": .double(s.compressionRatio),
            "lateRecords": .unsigned(s.lateRecords),
        ])
    }
}
