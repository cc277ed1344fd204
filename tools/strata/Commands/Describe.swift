import ArgumentParser
import Foundation
import Strata

/// `strata describe STREAM`: a stream's settings, frontier and totals.
struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a stream's settings, what is sealed and retained, and its totals.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The stream's name.")
    var stream: String

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let store = try options.openStoreForReading()
        let info = try store.info(of: stream)
        let stats = try store.stats(of: stream).first
        let d = info.descriptor, f = info.frontier
        var out = OutputBuffer()
        if json {
            var object: [String: JSONValue] = [
                "name": .string(d.name),
                "id": .unsigned(UInt64(d.id.rawValue)),
                "type": .string(d.recordType),
                "interval": .string(d.intervalLength.description),
                "intervalNanoseconds": .unsigned(d.intervalLength.rawValue),
                "partitions": .unsigned(UInt64(d.partitions)),
                "retention": Streams.retention(d.retention),
                "timeField": .optional(d.timeField),
                "timeUnit": .optional(d.timeUnit),
                "keyField": .optional(d.keyField),
                "lateRecordsOf": .optional(d.lateRecordsOf),
                "sealedThrough": .interval(f.sealedThrough),
                "firstInterval": .interval(f.firstInterval),
                "firstReadable": .interval(f.firstReadable),
                "retainedFrom": .unsigned(f.retainedFrom.rawValue),
                "lateRecords": .unsigned(f.lateRecords),
            ]
            if let stats { object["stats"] = Stats.object(stats) }
            out.append(JSONValue.object(object).text + "\n")
        } else {
            var rows: [(String, String)] = [
                ("stream", d.name),
                ("id", d.id.description),
                ("type", d.recordType),
                ("interval", d.intervalLength.description),
                ("partitions", String(d.partitions)),
                ("retention", d.retention.description),
            ]
            if d.recordType == JSONRecord.recordTypeName {
                rows.append(("time", d.timeField.map { "field \($0) (\(d.timeUnit ?? "ms"))" } ?? "arrival"))
                rows.append(("key", d.keyField.map { "field \($0)" } ?? "none (round-robin)"))
            }
            if let of = d.lateRecordsOf { rows.append(("late records of", of)) }
            rows += [
                ("sealed through", Self.describe(f.sealedThrough, d, end: true)),
                ("first interval", Self.describe(f.firstInterval, d, end: false)),
                ("first readable", Self.describe(f.firstReadable, d, end: false)),
                ("retained from", f.retainedFrom.description),
                ("late records", String(f.lateRecords)),
            ]
            if let stats {
                rows += [
                    ("intervals", "\(stats.intervals) (\(stats.nonEmptyIntervals) with records)"),
                    ("records", String(stats.records)),
                    ("raw bytes", String(stats.rawBytes)),
                    ("stored bytes", String(stats.storedBytes)),
                    ("compression", String(format: "%.2fx", stats.compressionRatio)),
                ]
            }
            let width = rows.map(\.0.count).max() ?? 0
            for (name, value) in rows {
                out.append(name + String(repeating: " ", count: width - name.count + 2) + value + "\n")
            }
        }
        try out.flush()
    }

    /// An interval with the UTC time it starts (or, with `end`, ends), e.g.
    /// `1763900002 (ends 2025-11-23T12:13:23Z)`; `-` for none.
    private static func describe(_ interval: Interval?, _ d: StreamDescriptor, end: Bool) -> String {
        guard let interval else { return "-" }
        let instant = d.intervalLength.start(of: end ? interval.next : interval)
        let date = Date(timeIntervalSince1970: Double(instant.rawValue) / 1e9)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var time = formatter.string(from: date)
        time = time.replacingOccurrences(of: ".000Z", with: "Z")
        return "\(interval) (\(end ? "ends" : "starts") \(time))"
    }
}
