import Foundation
import Strata
import StrataSQL
import StrataTestSupport

/// A store with two JSON streams in 1 s intervals from `SQLFixture.base`: `pageViews` (4
/// partitions by user; fields ts, url, user, ms, kind — sometimes missing —, score, ok, ref, and
/// an escaped url now and then) and `clicks` (2 partitions; ts, user, button).
final class SQLFixture: Sendable {
    /// 2026-11-24T08:20:00Z, in seconds.
    static let base: UInt64 = 1_795_508_400
    let directory: TemporaryDirectory
    let store: Store
    let intervals: Int
    var path: String { directory.appending("store") }

    init(intervals: Int = 30, perInterval: Int = 24) throws {
        self.intervals = intervals
        directory = try TemporaryDirectory(prefix: "strata-sql")
        store = try Store(at: directory.appending("store"))
        let views = try store.jsonStream("pageViews", interval: .seconds(1), partitions: 4, timeField: "ts",
                                         keyField: "user", timeUnit: .milliseconds)
        try Self.ingest(Self.pageViewLines(intervals: intervals, perInterval: perInterval), into: views)
        let clicks = try store.jsonStream("clicks", interval: .seconds(1), partitions: 2, timeField: "ts",
                                          keyField: "user", timeUnit: .milliseconds)
        try Self.ingest(Self.clickLines(intervals: intervals), into: clicks)
    }

    static func ingest(_ lines: [String], into stream: StoredStream<JSONRecord>) throws {
        let ingestor = try JSONLinesIngestor(stream: stream)
        for line in lines {
            var line = line
            let rejection = try line.withUTF8 { try ingestor.ingest(line: UnsafeRawBufferPointer($0)) }
            if let rejection { throw FixtureError(description: rejection.description) }
        }
        _ = try ingestor.finish()
    }

    /// Deterministic page views: interval t holds `perInterval` records.
    static func pageViewLines(intervals: Int, perInterval: Int) -> [String] {
        var lines: [String] = []
        for t in 0..<intervals {
            for k in 0..<perInterval {
                let n = t * perInterval + k
                let ts = (Int(base) + t) * 1000 + (k * 37) % 1000
                let url = n % 23 == 5 ? #"/p\"q\u00e9"# : "/page/\((n * 7) % 9)"
                var fields = [#""ts":\#(ts)"#, #""url":"\#(url)""#, #""user":"u\#((n * 5) % 11)""#, #""ms":\#((n * 13) % 97)"#]
                if n % 4 != 3 { fields.append(#""kind":"\#(n % 3 == 0 ? "click" : "view")""#) }
                if n % 5 == 0 { fields.append(#""score":\#(Double(n % 17) / 4)"#) }
                if n % 6 == 0 { fields.append(#""ok":\#(n % 12 == 0)"#) }
                if n % 10 == 0 { fields.append(#""ref": {"site": "s\#(n % 3)", "depth": [1, 2]}"#) }
                // 2 and 2.0 are one value to SQLite's GROUP BY and DISTINCT.
                fields.append(#""num":\#(n % 7 == 0 ? "2.0" : n % 7 == 1 ? "2" : n % 5 == 0 ? "\"2\"" : String(n % 3))"#)
                lines.append("{" + fields.joined(separator: ", ") + "}")
            }
        }
        return lines
    }

    static func clickLines(intervals: Int) -> [String] {
        var lines: [String] = []
        for t in 0..<intervals {
            for k in 0..<(t % 4 + 2) {
                let ts = (Int(base) + t) * 1000 + k * 100
                lines.append(#"{"ts":\#(ts),"user":"u\#((t + k) % 11)","button":"b\#(k % 3)"}"#)
            }
        }
        return lines
    }

    /// ISO 8601 UTC text of the start of interval `base + offset`, by Foundation (independently of the SQL layer).
    static func time(_ offset: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(Int(base) + offset)))
    }

    /// A SQLite database file holding the same records as plain tables, built with the `sqlite3`
    /// binary: the fixed columns from the store's own reader, the fields by `json_extract`.
    func referenceDatabase() throws -> String {
        let database = directory.appending("reference.sqlite")
        if FileManager.default.fileExists(atPath: database) { return database }
        var script = "BEGIN;\n"
        for (name, fields) in [("pageViews", ["ts", "url", "user", "ms", "kind", "score", "ok", "ref", "num"]),
                               ("clicks", ["ts", "user", "button"])] {
            script += "CREATE TABLE raw_\(name)(interval INTEGER, time TEXT, partition INTEGER, record TEXT);\n"
            let stream = try store.stream(named: name, of: JSONRecord.self)
            guard let last = try stream.newestSealedInterval() else { continue }
            for batch in try stream.read(Interval(Self.base)...last) {
                let offset = Int(batch.interval.rawValue - Self.base)
                for (p, records) in batch.partitions.enumerated() {
                    for record in records {
                        let text = record.text.replacingOccurrences(of: "'", with: "''")
                        script += "INSERT INTO raw_\(name) VALUES (\(batch.interval.rawValue), '\(Self.time(offset))', \(p), '\(text)');\n"
                    }
                }
            }
            let columns = fields.map { "json_extract(record, '$.\($0)') AS \($0)" }.joined(separator: ", ")
            script += "CREATE TABLE \(name) AS SELECT interval, time, partition, \(columns), record FROM raw_\(name);\n"
        }
        script += "COMMIT;\n"
        let scriptPath = directory.appending("reference.sql")
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let result = try runProcess("/usr/bin/env", ["sqlite3", database, ".read \(scriptPath)"])
        guard result.status == 0 else { throw FixtureError(description: "sqlite3 import failed: \(result.stderr)") }
        return database
    }
}

struct FixtureError: Error, CustomStringConvertible { var description: String }

/// Runs the built `strata` binary.
func strata(_ arguments: [String], stdin: String = "") throws -> ProcessResult {
    try runProcess(builtProductsDirectory() + "/strata", arguments, stdin: stdin)
}
