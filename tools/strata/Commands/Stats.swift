import ArgumentParser
import Foundation
import Strata

/// `strata stats [STREAM]`: totals per stream from the seal records, and the store's size.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show intervals, records, bytes and compression per stream, and the store's size.",
        discussion: "Totals cover readable sealed intervals; they come from the seal records, so no block is read.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "One stream (default: every stream).")
    var stream: String?

    @Flag(help: "Print one JSON object per stream, then one with the store's size.")
    var json = false

    func run() throws {
        let store = try options.openStoreForReading()
        let all = try store.stats(of: stream)
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
