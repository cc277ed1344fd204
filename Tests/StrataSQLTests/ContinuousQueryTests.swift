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
        // DStream.sql with the query as text, in a program of one's own, gives the same rows.
        let views = try store.stream(named: "pageViews", of: JSONRecord.self)
        _ = try Program(name: "textQuery", store: store) { p in
            try p.read(views).sql(grouped).save(as: "urlTotalsToo")
            // window(pageViews, 3) as SQL: the same as window: 3.
            try p.read(views).sql("SELECT url, count(*) AS n FROM window(pageViews, 3) GROUP BY url").save(as: "urlWindowToo")
        }.runUntilCaughtUp()
        for offset in 0..<10 {
            let t = Interval(UInt64(base + offset))
            #expect(try Self.output(store, "urlTotalsToo", t) == Self.output(store, "urlTotals", t))
            #expect(try Self.output(store, "urlWindowToo", t) == Self.output(store, "urlWindow", t))
        }
        // The output is a JSON stream like any other: SQL reads it back.
        let total = try store.sql("SELECT sum(n) FROM urlTotals")
        #expect(total.rows == [[.integer(240)]])
    }

    /// The `partition` column is the partition a record was stored in, and a query may join two
    /// streams: each interval's rows equal the ad hoc query restricted to that interval.
    @Test func partitionColumnAndJoinsOfTwoStreamsEqualTheAdHocQuery() throws {
        let fixture = try SQLFixture(intervals: 8)
        let store = fixture.store
        // Continuous query, ad hoc query with T for the interval.
        let cases: [(String, String, String)] = [
            ("perPartition", "SELECT partition, count(*) AS n, min(url) AS first FROM pageViews GROUP BY partition",
             "SELECT partition, count(*) AS n, min(url) AS first FROM pageViews WHERE interval = T GROUP BY partition"),
            ("userButtons",
             "SELECT p.user, c.button, count(*) AS n, sum(p.ms) AS ms FROM pageViews p JOIN clicks c ON p.user = c.user "
                + "GROUP BY p.user, c.button",
             "SELECT p.user, c.button, count(*) AS n, sum(p.ms) AS ms FROM pageViews p JOIN clicks c ON p.user = c.user "
                + "WHERE p.interval = T AND c.interval = T GROUP BY p.user, c.button"),
            ("clickedUsers",
             "SELECT user, count(*) AS n, max(pageViews.partition) AS p FROM pageViews JOIN clicks USING (user) GROUP BY user "
                + "ORDER BY n DESC, user",
             "SELECT user, count(*) AS n, max(pageViews.partition) AS p FROM pageViews JOIN clicks USING (user) "
                + "WHERE pageViews.interval = T AND clicks.interval = T GROUP BY user ORDER BY n DESC, user"),
        ]
        for (output, query, _) in cases {
            _ = try ContinuousQuery.program(store: store, query: query, into: output).runUntilCaughtUp()
        }
        let sorted = { (rows: [String]) in rows.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
        var joinedRows = 0
        for offset in 0..<8 {
            let t = Interval(SQLFixture.base + UInt64(offset))
            for (output, query, adHoc) in cases {
                let expected = Self.encoded(try store.sql(adHoc.replacingOccurrences(of: "= T", with: "= \(t)")))
                let ordered = query.contains("ORDER BY")
                #expect(try Self.output(store, output, t) == (ordered ? expected : sorted(expected)), "\(output) at \(offset)")
                if output == "userButtons" { joinedRows += expected.count }
            }
        }
        #expect(joinedRows > 8, "the join matches rows")
        // The output (one partition) names all four partitions of the input.
        #expect(try store.sql("SELECT count(DISTINCT partition) FROM perPartition").rows == [[.integer(1)]])
        #expect(try store.sql("SELECT count(DISTINCT json_extract(record, '$.partition')) FROM perPartition").rows == [[.integer(4)]])
        // A running join: as of the last interval, its state holds every user seen in a match so far.
        let running = "SELECT p.user, count(*) AS n FROM pageViews p JOIN clicks c USING (user) GROUP BY p.user"
        _ = try ContinuousQuery.program(store: store, query: running, into: "runningJoin", running: true).runUntilCaughtUp()
        let last = SQLFixture.base + 7
        let users = try store.sql("SELECT count(DISTINCT p.user), count(*) FROM pageViews p JOIN clicks c "
                                  + "ON p.user = c.user AND p.interval = c.interval")
        let state = try store.sql("SELECT count(*), sum(json_extract(value, '$[0]')) FROM state('runningJoin.state', \(last))")
        #expect(state.rows == users.rows)
        #expect(throws: SQLError.self) {
            try ContinuousQuery.program(store: store, query: "SELECT count(*) FROM pageViews, clicks, perPartition", into: "three")
        }
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

    /// A query changed under the same `--into` is refused, naming the program and how to start
    /// fresh (exit 1, nothing written); the same query laid out again resumes; a new `--into` starts fresh.
    @Test func aChangedQueryUnderTheSameIntoIsRefused() throws {
        let (directory, path) = try Self.makeStore(intervals: 4)
        defer { _ = directory }
        let first = try strata(["sql", "--continuous", "--into", "counts", "--until-caught-up", "--store", path, Self.query])
        #expect(first.status == 0, "\(first.stderr)")
        let more = try strata(["ingest", "events", "--store", path, "--time-field", "ts", "--time-unit", "s",
                               "--key-field", "k", "--partitions", "3"],
                              stdin: #"{"ts":1004,"k":"k1","v":100}"# + "\n" + #"{"ts":1005,"k":"k2","v":101}"# + "\n")
        #expect(more.status == 0, "\(more.stderr)")
        let before = try strata(["cat", "counts", "--store", path, "--from", "1000", "--to", "1010"])

        let changed = "SELECT k, count(*) AS n, max(v) AS total FROM events GROUP BY k"
        for refused in [["--into", "counts", changed], ["--into", "counts", "--window", "2", Self.query],
                        ["--into", "counts", "--running", Self.query]] {
            let run = try strata(["sql", "--continuous", "--until-caught-up", "--store", path] + refused)
            #expect(run.status == 1)
            #expect(run.stderr.contains("program sql.counts last ran another query"), "\(run.stderr)")
            #expect(run.stderr.contains("give this one another --into to start fresh"), "\(run.stderr)")
        }
        #expect(try strata(["cat", "counts", "--store", path, "--from", "1000", "--to", "1010"]).stdout == before.stdout)

        let relaidOut = "SELECT k,  count(*) AS n,\n\tsum(v) AS total\n FROM events   GROUP BY k  "
        let resumed = try strata(["sql", "--continuous", "--into", "counts", "--until-caught-up", "--store", path, relaidOut])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.hasPrefix("sql.counts: caught up through interval 1005"), "\(resumed.stderr)")
        let fresh = try strata(["sql", "--continuous", "--into", "maxima", "--until-caught-up", "--store", path, changed])
        #expect(fresh.status == 0, "\(fresh.stderr)")
        let sums = try strata(["sql", "--csv", "--store", path, "SELECT count(DISTINCT interval) FROM counts"])
        #expect(sums.stdout.hasSuffix("\n6\n"), "\(sums.stdout)")
    }

    /// `window(events, 3)` in the FROM clause writes the same bytes as `--window 3`; windows of
    /// different lengths are refused; ad hoc, `window(…)` is refused with a pointer to `slice`.
    @Test func windowSyntaxEqualsTheWindowOption() throws {
        let (directory, path) = try Self.makeStore(intervals: 6)
        defer { _ = directory }
        let option = try strata(["sql", "--continuous", "--into", "byOption", "--until-caught-up", "--window", "3",
                                 "--store", path, Self.query])
        #expect(option.status == 0, "\(option.stderr)")
        let syntax = try strata(["sql", "--continuous", "--into", "bySyntax", "--until-caught-up", "--store", path,
                                 "SELECT k, count(*) AS n, sum(v) AS total FROM WINDOW ( events,3 ) e GROUP BY e.k"])
        #expect(syntax.status == 0, "\(syntax.stderr)")
        let range = ["--from", "1000", "--to", "1005"]
        let ours = try strata(["cat", "bySyntax", "--store", path] + range)
        let theirs = try strata(["cat", "byOption", "--store", path] + range)
        #expect(ours.status == 0 && ours.stdout.split(separator: "\n").count >= 6)
        #expect(ours.stdout == theirs.stdout)
        // Interval 1005's window holds intervals 1003–1005: 9 events.
        let last = try strata(["sql", "--csv", "--store", path, "SELECT sum(n) FROM bySyntax WHERE interval = 1005"])
        #expect(last.stdout == "sum(n)\n9\n", "\(last.stdout)")

        let mixed = try strata(["sql", "--continuous", "--into", "mixed", "--until-caught-up", "--window", "2",
                                "--store", path, "SELECT count(*) AS n FROM window(events, 3)"])
        #expect(mixed.status == 1)
        #expect(mixed.stderr.contains("differ"), "\(mixed.stderr)")
        let adHoc = try strata(["sql", "--store", path, "SELECT count(*) FROM window(events, 3)"])
        #expect(adHoc.status == 1)
        #expect(adHoc.stderr.contains("continuous query") && adHoc.stderr.contains("slice('STREAM', FROM, TO)"),
                "\(adHoc.stderr)")
    }

    /// What counts as a `window(…)` call: not strings, comments, `WINDOW w AS (…)` or `OVER`.
    @Test func windowCallsAreFoundOnlyAsTables() throws {
        let text = #"SELECT 'window(a, 2)', count(*) OVER w FROM window("page views", 4) -- window(b, 1)"#
            + "\nWINDOW w AS (ORDER BY interval)"
        let calls = WindowSyntax.calls(in: text)
        #expect(calls.map(\.length) == [4])
        #expect(calls.map(\.replacement) == [#""page views""#])
        let rewritten = try WindowSyntax.rewrite(text)
        #expect(rewritten.window == 4)
        #expect(rewritten.sql.contains(#"FROM "page views" --"#))
        #expect(try WindowSyntax.rewrite("SELECT 1 FROM events", window: 2).window == 2)
        #expect(throws: SQLError.self) { try WindowSyntax.rewrite("SELECT 1 FROM window(events, 0)") }
    }

    /// The definition a query gives its vertex: whitespace outside strings, identifiers and
    /// comments does not count; inside them it does.
    @Test func queryDefinitionsIgnoreLayoutOnly() throws {
        let one = try IntervalQuery("SELECT k, count(*) AS n FROM input WHERE k <> 'a  b' GROUP BY k")
        let laidOut = try IntervalQuery("  SELECT k,\n count(*)   AS n\tFROM input\nWHERE k <> 'a  b'\nGROUP BY k\n")
        let other = try IntervalQuery("SELECT k, count(*) AS n FROM input WHERE k <> 'a b' GROUP BY k")
        #expect(one.definition == laidOut.definition)
        #expect(one.definition != other.definition)
        #expect(try IntervalQuery("SELECT k FROM input", streamName: "events").definition
                != IntervalQuery("SELECT k FROM input", streamName: "clicks").definition)
    }

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
