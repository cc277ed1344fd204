import ArgumentParser
import Foundation
import Strata

/// `strata describe STREAM`: a stream's settings, frontier and totals.
struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a stream's settings, what is sealed and retained, and its totals.")

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stream's name.", completion: .custom(completeStreamNames))
    var stream: String

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

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
                "type": .string(d.readableRecordType),
                "interval": .string(d.intervalLength.description),
                "intervalNanoseconds": .unsigned(d.intervalLength.rawValue),
                "partitions": .unsigned(UInt64(d.partitions)),
                "retention": Streams.retention(d.retention),
                "timeField": .optional(d.timeField),
                "timeUnit": .optional(d.timeUnit?.rawValue),
                "keyField": .optional(d.keyField),
                "keyPlacement": .optional(d.keyPlacement?.description),
                "lateRecordsOf": .optional(d.lateRecordsOf),
                "sealedThrough": .interval(f.sealedThrough),
                "firstInterval": .interval(f.firstInterval),
                "firstReadable": .interval(f.firstReadable),
                "retainedFrom": .unsigned(f.retainedFrom.rawValue),
                "sealedThroughTime": display.json(f.sealedThrough, length: d.intervalLength),
                "firstReadableTime": display.json(f.firstReadable, length: d.intervalLength),
                "lateRecords": .unsigned(f.lateRecords),
            ]
            if let stats { object["stats"] = Stats.object(stats) }
            out.append(JSONValue.object(object).text + "\n")
        } else {
            var rows: [(String, String)] = [
                ("stream", d.name),
                ("id", d.id.description),
                ("type", d.readableRecordType),
                ("interval", d.intervalLength.description),
                ("partitions", String(d.partitions)),
                ("retention", d.retention.description),
            ]
            if d.recordType == JSONRecord.recordTypeName {
                rows.append(("time", d.timeField.map { "field \($0) (\(d.timeUnit?.rawValue ?? "ms"))" } ?? "arrival"))
                rows.append(("key", d.keyField.map { "field \($0), placed by \(d.keyPlacement ?? .fieldBytes)" } ?? "none (round-robin)"))
            }
            if let of = d.lateRecordsOf { rows.append(("late records of", of)) }
            rows += [
                ("sealed through", describe(f.sealedThrough, d, end: true)),
                ("first interval", describe(f.firstInterval, d, end: false)),
                ("first readable", describe(f.firstReadable, d, end: false)),
                ("retained", Self.retained(f, d)),
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

    /// The readable range: `1763899200–1763899203 (4 intervals)`, or `nothing sealed yet`.
    private static func retained(_ f: StreamFrontier, _ d: StreamDescriptor) -> String {
        guard let first = f.firstReadable, let last = f.sealedThrough else { return "nothing sealed yet" }
        let count = last.rawValue - first.rawValue + 1
        return "\(first)–\(last) (\(count) interval\(count == 1 ? "" : "s"))"
    }

    /// An interval with the time it starts (or, with `end`, ends), e.g.
    /// `1763900002 (ends 2025-11-23T12:13:23Z)`; `-` for none.
    private func describe(_ interval: Interval?, _ d: StreamDescriptor, end: Bool) -> String {
        guard let interval else { return "-" }
        let time = end ? display.endTime(of: interval, length: d.intervalLength)
            : display.time(of: interval, length: d.intervalLength)
        return "\(interval) (\(end ? "ends" : "starts") \(time))"
    }
}
