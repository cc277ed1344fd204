import Foundation
import Strata
import StrataSQL
import StrataTestSupport
import Testing

/// `strata sql --csv` equals `sqlite3 -csv -header` over the same records imported into plain
/// tables (fields by `json_extract`), row for row.
@Suite struct SQLEquivalenceTests {
    static let b = Int(SQLFixture.base)

    /// Queries run by both, each with a deterministic order.
    static let queries: [String] = [
        // Filters, missing fields, escapes, nested values, booleans and reals.
        "SELECT interval, partition, url, user, ms, kind, score, ok, ref FROM pageViews "
            + "WHERE (kind = 'click' OR kind IS NULL) AND ms > 20 ORDER BY interval, partition, ts, url, user",
        "SELECT url, count(*) AS n FROM pageViews WHERE url LIKE '%\"%' GROUP BY url ORDER BY url",
        // Group by, aggregates, HAVING.
        "SELECT url, count(*) AS n, sum(ms), min(ms), max(ms), round(avg(score), 6) FROM pageViews "
            + "GROUP BY url HAVING count(*) > 3 ORDER BY n DESC, url",
        "SELECT interval, time, count(*) AS n FROM pageViews GROUP BY interval ORDER BY interval",
        // Interval, time and partition bounds (pushed down by strata, plain comparisons in sqlite3).
        "SELECT interval, partition, count(*) FROM pageViews WHERE interval BETWEEN \(b + 3) AND \(b + 7) "
            + "AND partition = 2 GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT interval, count(*) FROM pageViews WHERE interval > \(b + 25) OR interval < \(b + 2) GROUP BY 1 ORDER BY 1",
        "SELECT time, count(*) FROM pageViews WHERE time >= '\(SQLFixture.time(10))' AND time < '\(SQLFixture.time(14))' "
            + "GROUP BY time ORDER BY time",
        "SELECT count(*) FROM pageViews WHERE time = '\(SQLFixture.time(20))'",
        // Joins of two streams.
        "SELECT p.interval, p.user, count(*) AS views, count(DISTINCT c.button) AS buttons FROM pageViews p "
            + "JOIN clicks c ON c.user = p.user AND c.interval = p.interval GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT c.user, c.button, (SELECT count(*) FROM pageViews p WHERE p.user = c.user) AS views FROM clicks c "
            + "WHERE c.interval <= \(b + 5) ORDER BY c.interval, c.partition, c.ts",
        // Window functions.
        "SELECT interval, url, n, rank() OVER (PARTITION BY interval ORDER BY n DESC, url) AS r, "
            + "sum(n) OVER (PARTITION BY url ORDER BY interval ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS last5 "
            + "FROM (SELECT interval, url, count(*) AS n FROM pageViews GROUP BY 1, 2) ORDER BY interval, r",
        "SELECT user, ts, ms, lag(ms) OVER (PARTITION BY user ORDER BY ts, url) AS previous FROM pageViews "
            + "WHERE interval < \(b + 6) ORDER BY user, ts, url",
        // Grouped by the table itself (every column the query uses is a group column): no sort in SQLite.
        "SELECT url, count(*) FROM pageViews GROUP BY url ORDER BY 2 DESC, url",
        "SELECT num, typeof(num), count(*) FROM pageViews GROUP BY num ORDER BY 3 DESC, 1",
        "SELECT DISTINCT kind, ok FROM pageViews ORDER BY 1, 2",
        "SELECT ref, score, count(*) FROM pageViews GROUP BY ref, score ORDER BY 3 DESC, 1, 2",
        "SELECT count(*) FROM (SELECT DISTINCT num FROM pageViews)",
        "SELECT p.user, count(*) FROM pageViews p JOIN (SELECT DISTINCT user FROM clicks) c USING (user) GROUP BY 1 ORDER BY 1",
        // The whole record.
        "SELECT record FROM pageViews WHERE interval = \(b + 1) ORDER BY partition, ts, record",
    ]

    @Test(arguments: queries.indices)
    func strataEqualsSQLite(_ index: Int) throws {
        let fixture = try Self.fixture()
        let query = Self.queries[index]
        let reference = try runProcess("/usr/bin/env", ["sqlite3", "-csv", "-header", try fixture.referenceDatabase(), query])
        try #require(reference.status == 0, "sqlite3: \(reference.stderr)")
        let ours = try strata(["sql", "--csv", "--store", fixture.path, query])
        #expect(ours.status == 0, "strata: \(ours.stderr)")
        #expect(ours.stdout == reference.stdout, "query: \(query)")
        #expect(reference.stdout.split(separator: "\n").count > 1, "the query returns rows: \(query)")
    }

    /// `state(stream, t)` equals the count per url of the intervals through t, in sqlite3.
    @Test func stateAsOfEqualsCountsThroughThatInterval() throws {
        let fixture = try Self.fixture()
        let views = try fixture.store.stream(named: "pageViews", of: JSONRecord.self)
        let program = try Program(name: "sqlcounts", store: fixture.store, snapshotEvery: 4) { p in
            p.read(views).map { record -> KeyValue<String, Int64> in
                let object = try JSONSerialization.jsonObject(with: Data(record.bytes)) as? [String: Any]
                return KeyValue(object?["url"] as? String ?? "", 1)
            }.runningReduce(+).save(as: "urlCounts")
        }
        _ = try program.runUntilCaughtUp()
        let database = try fixture.referenceDatabase()
        for t in [0, 5, 9, 29] {
            let reference = try runProcess("/usr/bin/env", [
                "sqlite3", "-csv", "-header", database,
                "SELECT url AS key, count(*) AS value FROM pageViews WHERE interval <= \(Self.b + t) GROUP BY url ORDER BY key",
            ])
            let ours = try strata(["sql", "--csv", "--store", fixture.path,
                                   "SELECT key, value FROM state('urlCounts', \(Self.b + t)) ORDER BY key"])
            #expect(ours.status == 0, "\(ours.stderr)")
            #expect(ours.stdout == reference.stdout, "as of \(t)")
        }
        // The running count's output is a KeyValue<String, Int64> stream: a table with key and value,
        // holding each url's count as of every interval it changed in.
        let emitted = try fixture.store.stream(named: "urlCounts", of: KeyValue<String, Int64>.self)
            .read(Interval(UInt64(Self.b))...Interval(UInt64(Self.b + 29))).flatMap { $0.partitions.joined() }
        let table = try fixture.store.sql("SELECT count(*), sum(value), max(interval) FROM urlCounts")
        #expect(table.rows == [[.integer(Int64(emitted.count)), .integer(emitted.reduce(0) { $0 + $1.value }),
                                .integer(Int64(Self.b + 29))]])
        let last = try fixture.store.sql("SELECT key, max(value) FROM urlCounts GROUP BY key ORDER BY key")
        let state = try fixture.store.sql("SELECT key, value FROM state('urlCounts', \(Self.b + 29)) ORDER BY key")
        #expect(last.rows == state.rows)
        // A time form as the as-of: the interval containing it.
        let byTime = try fixture.store.sql("SELECT sum(value) FROM state('urlCounts', '\(SQLFixture.time(9))')")
        #expect(byTime.rows == [[.integer(10 * 24)]])
    }

    /// `slice(stream, from, to)` holds the records of the range as `strata slice` reads it.
    @Test func sliceTableFunctionReadsTheRange() throws {
        let fixture = try Self.fixture()
        let from = SQLFixture.time(3), to = SQLFixture.time(6)
        let result = try fixture.store.sql(
            "SELECT interval, count(*), count(DISTINCT partition) FROM slice('pageViews', '\(from)', '\(to)') GROUP BY 1 ORDER BY 1")
        #expect(result.rows == (3..<6).map { [.integer(Int64(Self.b + $0)), .integer(24), .integer(4)] })
        let byIndex = try fixture.store.sql(
            "SELECT count(*) FROM slice('pageViews', '\(Self.b + 3)', '\(Self.b + 6)') WHERE json_extract(record, '$.url') IS NOT NULL")
        #expect(byIndex.rows == [[.integer(4 * 24)]])
        #expect(throws: SQLError.self) { try fixture.store.sql("SELECT * FROM slice('pageViews', '\(Self.b)', '\(Self.b + 1000)')") }
    }

    /// A group-by over columns the query only groups by runs without SQLite's sorter.
    @Test func groupingByTheTableSkipsTheSorter() throws {
        let fixture = try Self.fixture()
        let sql = try SQLConnection(store: fixture.store)
        var plan: [String] = []
        try sql.execute("EXPLAIN QUERY PLAN SELECT url, count(*) FROM pageViews GROUP BY url") { row in plan.append(row.text(3) ?? "") }
        #expect(!plan.joined().contains("TEMP B-TREE"), "\(plan)")
        #expect(plan.joined().contains(";G"), "\(plan)")
        plan = []
        try sql.execute("EXPLAIN QUERY PLAN SELECT url, sum(ms) FROM pageViews GROUP BY url") { row in plan.append(row.text(3) ?? "") }
        #expect(plan.joined().contains("TEMP B-TREE"), "other used columns need SQLite's own grouping: \(plan)")
        // Interruption reaches the grouping pass, which runs inside one SQLite callback.
        let interruption = sql.interruption
        sql.progress = { if $0.intervalsRead == 3 { interruption.interrupt() } }
        #expect(throws: SQLError.self) { try sql.rows("SELECT url, count(*) FROM pageViews GROUP BY url") }
    }

    /// One fixture for the suite's tests (built once: the store and the reference database).
    static func fixture() throws -> SQLFixture {
        try shared.withLock { value in
            if let value { return value }
            let made = try SQLFixture()
            _ = try made.referenceDatabase()
            value = made
            return made
        }
    }

    static let shared = Mutex<SQLFixture?>(nil)
}

import Synchronization
