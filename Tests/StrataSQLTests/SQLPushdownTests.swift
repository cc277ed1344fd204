import Foundation
import Strata
import StrataSQL
import StrataTestSupport
import Testing

/// Constraints on `interval`, `time` and `partition` limit the blocks read.
@Suite struct SQLPushdownTests {
    static let base = SQLFixture.base
    static let intervals = 200

    /// A JSON stream `ticks` of 200 one-second intervals, 2 partitions, 6 records per interval.
    static func makeStore() throws -> (TemporaryDirectory, Store) {
        let directory = try TemporaryDirectory(prefix: "strata-sql-pushdown")
        let store = try Store(at: directory.appending("store"))
        let ticks = try store.jsonStream("ticks", interval: .seconds(1), partitions: 2, timeField: "ts",
                                         keyField: "k", timeUnit: .seconds)
        var lines: [String] = []
        for t in 0..<intervals {
            for k in 0..<6 { lines.append(#"{"ts":\#(Int(base) + t),"k":"k\#(k)","v":\#(t * 6 + k)}"#) }
        }
        try SQLFixture.ingest(lines, into: ticks)
        return (directory, store)
    }

    @Test func aQueryOverOnePercentOfIntervalsReadsAtMostTwoPercentOfBlocks() throws {
        let (directory, store) = try Self.makeStore()
        defer { _ = directory }
        let all = try SQLConnection(store: store)
        let total = try all.rows("SELECT count(*) FROM ticks")
        #expect(total.rows == [[.integer(Int64(Self.intervals * 6))]])
        let blocks = all.blocksRead
        #expect(blocks >= Self.intervals * 2)

        let b = Int(Self.base)
        let queries = [
            "SELECT count(*), sum(v) FROM ticks WHERE interval BETWEEN \(b + 100) AND \(b + 101)",
            "SELECT count(*), sum(v) FROM ticks WHERE interval >= \(b + 100) AND interval < \(b + 102)",
            "SELECT count(*), sum(v) FROM ticks WHERE time >= '\(SQLFixture.time(100))' AND time < '\(SQLFixture.time(102))'",
            "SELECT count(*), sum(v) FROM ticks WHERE time BETWEEN '\(SQLFixture.time(100))' AND '\(SQLFixture.time(101))'",
            // Bare times of day are on the day of the newest sealed interval.
            "SELECT count(*), sum(v) FROM ticks WHERE time >= '\(SQLFixture.time(100).dropFirst(11).prefix(8))' "
                + "AND time < '\(SQLFixture.time(102).dropFirst(11).prefix(8))'",
            "SELECT count(*), sum(v) FROM ticks WHERE interval IN (\(b + 100), \(b + 101))",
        ]
        let expectedSum = (600..<612).reduce(0, +)
        for query in queries {
            let connection = try SQLConnection(store: store)
            let result = try connection.rows(query)
            #expect(result.rows == [[.integer(12), .integer(Int64(expectedSum))]], "\(query)")
            #expect(connection.blocksRead * 50 <= blocks, "\(query): \(connection.blocksRead) of \(blocks) blocks")
            #expect(connection.blocksRead > 0)
        }
        // One partition of all intervals reads half the blocks.
        let one = try SQLConnection(store: store)
        let partition = try one.rows("SELECT count(*) FROM ticks WHERE partition = 1")
        #expect(partition.rows.first?.first != .integer(0))
        #expect(one.blocksRead * 2 <= blocks + 2)
        // Bounds that no interval meets read nothing.
        let none = try SQLConnection(store: store)
        #expect(try none.rows("SELECT count(*) FROM ticks WHERE interval > \(b + 1000)").rows == [[.integer(0)]])
        #expect(try none.rows("SELECT count(*) FROM ticks WHERE time = '\(SQLFixture.time(5).dropLast()).5Z'").rows
                == [[.integer(0)]])
        #expect(none.blocksRead == 0)
    }

    /// Exact bounds whatever the comparison: the pushed-down scan equals a full scan filtered by SQLite.
    @Test(arguments: ["=", "<", "<=", ">", ">="])
    func timeBoundsMatchAFullScan(_ op: String) throws {
        let (directory, store) = try Self.makeStore()
        defer { _ = directory }
        let sql = try SQLConnection(store: store)
        for offset in [0, 57, 199] {
            let pushed = try sql.rows("SELECT count(*), min(interval), max(interval) FROM ticks WHERE time \(op) '\(SQLFixture.time(offset))'")
            let full = try sql.rows(
                "SELECT count(*), min(interval), max(interval) FROM ticks WHERE +interval \(op) \(Int(Self.base) + offset)")
            #expect(pushed == full, "time \(op) \(offset)")
        }
    }

    /// The relative forms `slice` accepts (`-1h`, `now`), read against the system clock once per
    /// query, are pushed down like absolute times: records of two hours ago and of the last minute,
    /// and `time >= '-1h'` reads only the recent blocks.
    @Test func relativeTimesArePushedDown() throws {
        let directory = try TemporaryDirectory(prefix: "strata-sql-relative")
        defer { _ = directory }
        let store = try Store(at: directory.appending("store"))
        let stream = try store.jsonStream("recent", interval: .seconds(1), partitions: 1, timeField: "ts",
                                          timeUnit: .seconds)
        let now = Int(Date().timeIntervalSince1970)
        var lines: [String] = []
        for t in 0..<3 { lines.append(#"{"ts":\#(now - 7_200 + t),"age":"old"}"#) }
        for t in 0..<3 { lines.append(#"{"ts":\#(now - 60 + t),"age":"new"}"#) }
        try SQLFixture.ingest(lines, into: stream)
        let all = try SQLConnection(store: store)
        #expect(try all.rows("SELECT count(*) FROM recent").rows == [[.integer(6)]])
        let blocks = all.blocksRead
        #expect(blocks == 6)

        let recent = try SQLConnection(store: store)
        #expect(try recent.rows("SELECT age, count(*) FROM recent WHERE time >= '-1h' GROUP BY age").rows
                == [[.text("new"), .integer(3)]])
        #expect(recent.blocksRead == 3)
        let old = try SQLConnection(store: store)
        #expect(try old.rows("SELECT age, count(*) FROM recent WHERE time < '-1h' GROUP BY age").rows
                == [[.text("old"), .integer(3)]])
        #expect(old.blocksRead == 3)
        let upToNow = try SQLConnection(store: store)
        #expect(try upToNow.rows("SELECT count(*) FROM recent WHERE time <= 'now'").rows == [[.integer(6)]])
        let window = try SQLConnection(store: store)
        #expect(try window.rows("SELECT count(*) FROM recent WHERE time BETWEEN '-3h' AND '-1h'").rows == [[.integer(3)]])
        #expect(window.blocksRead == 3)
    }

    /// Progress reports each interval of a scan; an interruption from the progress callback stops the query.
    @Test func progressAndInterruption() throws {
        let (directory, store) = try Self.makeStore()
        defer { _ = directory }
        let sql = try SQLConnection(store: store)
        var reports: [SQLScanProgress] = []
        sql.progress = { reports.append($0) }
        _ = try sql.rows("SELECT count(*) FROM ticks")
        #expect(reports.count == Self.intervals)
        #expect(reports.last?.intervals == Self.intervals)

        let interruption = sql.interruption
        sql.progress = { if $0.intervalsRead == 10 { interruption.interrupt() } }
        #expect {
            try sql.rows("SELECT count(*) FROM ticks")
        } throws: { error in
            if case SQLError.interrupted = error { return true }
            return false
        }
        sql.progress = nil
        #expect(try sql.rows("SELECT count(*) FROM ticks").rows == [[.integer(1200)]])
    }
}
