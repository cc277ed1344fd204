import Foundation
import Strata
import StrataSQL
import StrataTestSupport
import Testing

/// Continuous SQL: each interval's rows equal the ad hoc query over that interval, in a defined
/// order, exactly once, across restarts and SIGKILL.
@Suite struct ContinuousQueryTests {
    /// The rows of an ad hoc query as the continuous query encodes them: JSON objects keyed by column.
    static func encoded(_ result: SQLResult) -> [String] {
        result.rows.map { row in
            var bytes: [UInt8] = [0x7B]
            for (i, value) in row.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                SQLValue.text(result.columns[i]).appendJSON(to: &bytes)
                bytes.append(0x3A)
                value.appendJSON(to: &bytes)
            }
            bytes.append(0x7D)
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The records of `stream`'s interval `t`, as text, in stored order.
    static func output(_ store: Store, _ stream: String, _ t: Interval) throws -> [String] {
        try store.stream(named: stream, of: JSONRecord.self).read(t).partitions.flatMap { $0.map(\.text) }
    }

    @Test func eachIntervalEqualsTheAdHocQueryOverIt() throws {
        let fixture = try SQLFixture(intervals: 10)
        let store = fixture.store
        let grouped = "SELECT url, count(*) AS n, sum(ms) AS total, max(score) AS best FROM pageViews GROUP BY url"
        let ordered = "SELECT user, count(*) AS n FROM pageViews WHERE kind IS NOT NULL GROUP BY user ORDER BY n DESC, user LIMIT 3"
        for (query, output) in [(grouped, "urlTotals"), (ordered, "topUsers")] {
            let summary = try ContinuousQuery.program(store: store, query: query, into: output).runUntilCaughtUp()
            #expect(summary.intervals > 0)
        }
        let windowed = "SELECT url, count(*) AS n FROM input GROUP BY url"
        _ = try ContinuousQuery.program(store: store, query: windowed, into: "urlWindow", stream: "pageViews", window: 3)
            .runUntilCaughtUp()
        let base = Int(SQLFixture.base)
        for offset in 0..<10 {
            let t = Interval(UInt64(base + offset))
            let adHoc = try store.sql(grouped.replacingOccurrences(of: "GROUP BY", with: "WHERE interval = \(t) GROUP BY"))
            #expect(try Self.output(store, "urlTotals", t) == Self.encoded(adHoc).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            let top = try store.sql(ordered.replacingOccurrences(of: "GROUP BY", with: "AND interval = \(t) GROUP BY"))
            #expect(try Self.output(store, "topUsers", t) == Self.encoded(top), "ORDER BY is kept at \(offset)")
            let window = try store.sql("SELECT url, count(*) AS n FROM pageViews WHERE interval BETWEEN \(max(base, base + offset - 2)) "
                                       + "AND \(t) GROUP BY url")
            #expect(try Self.output(store, "urlWindow", t) == Self.encoded(window).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) },
                    "window at \(offset)")
        }
        // The output is a JSON stream like any other: SQL reads it back.
        let total = try store.sql("SELECT sum(n) FROM urlTotals")
        #expect(total.rows == [[.integer(240)]])
    }

    /// `--running`: interval t's rows are the groups seen in t, with aggregates over every interval through t.
    @Test func runningAggregatesMergeEveryIntervalSoFar() throws {
        let fixture = try SQLFixture(intervals: 8)
        let store = fixture.store
        let query = "SELECT url, kind, count(*) AS n, sum(ms) AS total, min(ms) AS low, max(user) AS top FROM pageViews GROUP BY url, kind"
        _ = try ContinuousQuery.program(store: store, query: query, into: "running", running: true).runUntilCaughtUp()
        let base = Int(SQLFixture.base)
        for offset in 0..<8 {
            let t = base + offset
            let expected = try store.sql("""
                SELECT url, kind, count(*) AS n, sum(ms) AS total, min(ms) AS low, max(user) AS top FROM pageViews
                WHERE interval <= \(t) AND (url, kind IS NULL, ifnull(kind, '')) IN
                  (SELECT url, kind IS NULL, ifnull(kind, '') FROM pageViews WHERE interval = \(t)) GROUP BY url, kind
                """)
            let sorted = { (rows: [String]) in rows.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
            #expect(sorted(try Self.output(store, "running", Interval(UInt64(t)))) == sorted(Self.encoded(expected)),
                    "interval \(offset)")
            // The whole running result as of t is the output's state.
            let groups = try store.sql("SELECT count(*) FROM (SELECT DISTINCT url, kind FROM pageViews WHERE interval <= \(t))")
            #expect(try store.sql("SELECT count(*) FROM state('running.state', \(t))").rows == groups.rows)
        }
        for refused in ["SELECT url, avg(ms) FROM pageViews GROUP BY url",
                        "SELECT url, count(*) FROM pageViews GROUP BY url HAVING count(*) > 1",
                        "SELECT url FROM pageViews"] {
            #expect(throws: SQLError.self, "\(refused)") {
                try ContinuousQuery.program(store: store, query: refused, into: "refused", running: true)
            }
        }
    }

    @Test func queriesThatCannotRunContinuouslyAreRefused() throws {
        let fixture = try SQLFixture(intervals: 2)
        #expect(throws: SQLError.self) {
            try ContinuousQuery.program(store: fixture.store, query: "SELECT * FROM pageViews JOIN clicks USING (user)", into: "x")
        }
        #expect(throws: SQLError.self) {
            try ContinuousQuery.program(store: fixture.store, query: "SELECT url, FROM pageViews", into: "x")
        }
    }

    /// JSON lines of `intervals` one-second intervals, 3 records each, keys k0…k4.
    static func eventLines(intervals: Int) -> String {
        var lines = ""
        for t in 0..<intervals {
            for k in 0..<3 { lines += #"{"ts":\#(1_000 + t),"k":"k\#((t + k) % 5)","v":\#(t * 3 + k)}"# + "\n" }
        }
        return lines
    }

    static func makeStore(intervals: Int) throws -> (TemporaryDirectory, String) {
        let directory = try TemporaryDirectory(prefix: "strata-sql-continuous")
        let path = directory.appending("store")
        let run = try strata(["ingest", "events", "--store", path, "--time-field", "ts", "--time-unit", "s",
                              "--key-field", "k", "--partitions", "3"], stdin: eventLines(intervals: intervals))
        guard run.status == 0 else { throw FixtureError(description: run.stderr) }
        return (directory, path)
    }

    static let query = "SELECT k, count(*) AS n, sum(v) AS total FROM events GROUP BY k"

    /// Killed with SIGKILL mid-run and rerun, the output is byte-identical to an uninterrupted run
    /// in another process, each interval exactly once; a third run finds nothing to do.
    @Test func sigkillAndRerunGiveTheSameBytes() throws {
        let intervals = 300
        let (directory, path) = try Self.makeStore(intervals: intervals)
        let (referenceDirectory, referencePath) = try Self.makeStore(intervals: intervals)
        defer { _ = (directory, referenceDirectory) }

        let child = Process()
        child.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
        child.arguments = ["sql", "--continuous", "--into", "counts", "--store", path, Self.query]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        // Wait (60 s at most) until the child has committed some output, then kill it.
        let store = try Store.open(at: path)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? store.info(of: "counts").frontier.sealedThrough) != nil { break }
            usleep(2_000)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(try store.info(of: "counts").frontier.sealedThrough != nil)

        let rerun = try strata(["sql", "--continuous", "--into", "counts", "--until-caught-up", "--store", path, Self.query])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let reference = try strata(["sql", "--continuous", "--into", "counts", "--until-caught-up", "--store", referencePath,
                                    Self.query])
        #expect(reference.stderr == "sql.counts: caught up through interval \(1_000 + intervals - 1) "
                + "(\(2 * intervals) vertex interval(s) run)\n")
        let again = try strata(["sql", "--continuous", "--into", "counts", "--until-caught-up", "--store", path, Self.query])
        #expect(again.stderr == "sql.counts: caught up through interval \(1_000 + intervals - 1) (0 vertex interval(s) run)\n")

        let range = ["--from", "1000", "--to", String(1_000 + intervals - 1)]
        let ours = try strata(["cat", "counts", "--store", path] + range)
        let theirs = try strata(["cat", "counts", "--store", referencePath] + range)
        #expect(ours.status == 0 && !ours.stdout.isEmpty)
        #expect(ours.stdout == theirs.stdout)
        // Each interval exactly once: the totals add up to every event's v.
        let sum = try strata(["sql", "--csv", "--store", path, "SELECT sum(n), sum(total), count(DISTINCT interval) FROM counts"])
        let events = intervals * 3
        #expect(sum.stdout == "sum(n),sum(total),\"count(DISTINCT interval)\"\n\(events),\(events * (events - 1) / 2),\(intervals)\n")
    }
}

/// `strata serve --program FILE.sql` runs a continuous query beside ingest.
@Suite struct ServeProgramTests {
    @Test func serveRunsAContinuousQueryBesideIngest() throws {
        let (directory, path) = try ContinuousQueryTests.makeStore(intervals: 5)
        defer { _ = directory }
        let watched = directory.appending("incoming")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        var more = ""
        for t in 5..<12 { more += #"{"ts":\#(1_000 + t),"k":"k\#(t % 5)","v":\#(t)}"# + "\n" }
        try more.write(toFile: watched + "/more.jsonl", atomically: true, encoding: .utf8)
        let program = directory.appending("perKey.sql")
        try "SELECT k, count(*) AS n FROM events GROUP BY k".write(toFile: program, atomically: true, encoding: .utf8)

        let serve = try strata(["serve", "--store", path, "--watch", watched, "--watch-stream", "events", "--once",
                                "--program", program])
        #expect(serve.status == 0, "\(serve.stderr)")
        let totals = try strata(["sql", "--csv", "--store", path,
                                 "SELECT count(DISTINCT interval) AS intervals, sum(n) AS events FROM perKey"])
        #expect(totals.stdout == "intervals,events\n12,22\n")

        let missing = try strata(["serve", "--store", path, "--watch", watched, "--watch-stream", "events", "--once",
                                  "--program", directory.appending("nosuch.sql")])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read the SQL program"))
    }
}
