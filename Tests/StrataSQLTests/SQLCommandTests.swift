import Foundation
import Strata
import StrataSQL
import StrataTestSupport
import Testing

/// `strata sql`: output formats, where the query comes from, errors and exit codes.
@Suite struct SQLCommandTests {
    /// Four page views in intervals 100, 100, 101, 103 (as the CLI tests' fixture), one partition.
    static func makeStore() throws -> (TemporaryDirectory, String) {
        let directory = try TemporaryDirectory(prefix: "strata-sql-cli")
        let path = directory.appending("store")
        let run = try strata(["ingest", "views", "--store", path, "--time-field", "ts", "--time-unit", "s",
                              "--key-field", "user", "--partitions", "1"],
                             stdin: """
                                 {"ts":100,"user":"alice","page":"/a"}
                                 {"ts":100,"user":"bob","page":"/b"}
                                 {"ts":101,"user":"alice","page":"/c","n":2.5}
                                 {"ts":103,"user":"carol","page":"/d"}

                                 """)
        guard run.status == 0 else { throw FixtureError(description: run.stderr) }
        return (directory, path)
    }

    @Test func formats() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let query = "SELECT interval, time, user, n FROM views WHERE interval <= 101 ORDER BY interval, user"
        let table = try strata(["sql", "--store", path, query])
        #expect(table.status == 0)
        #expect(table.stdout == """
            interval  time                  user   n
            100       1970-01-01T00:01:40Z  alice  NULL
            100       1970-01-01T00:01:40Z  bob    NULL
            101       1970-01-01T00:01:41Z  alice  2.5

            """)
        let json = try strata(["sql", "--json", "--store", path, query])
        #expect(json.stdout == """
            {"interval":100,"n":null,"time":"1970-01-01T00:01:40Z","user":"alice"}
            {"interval":100,"n":null,"time":"1970-01-01T00:01:40Z","user":"bob"}
            {"interval":101,"n":2.5,"time":"1970-01-01T00:01:41Z","user":"alice"}

            """)
        let csv = try strata(["sql", "--csv", "--store", path, query])
        #expect(csv.stdout == """
            interval,time,user,n
            100,1970-01-01T00:01:40Z,alice,
            100,1970-01-01T00:01:40Z,bob,
            101,1970-01-01T00:01:41Z,alice,2.5

            """)
        #expect(table.stderr == "" && json.stderr == "" && csv.stderr == "")
    }

    @Test func queryFromFileOrStandardInputWithSeveralStatements() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let sql = """
            -- per interval
            SELECT interval, count(*) AS n FROM views GROUP BY interval ORDER BY interval;
            SELECT count(DISTINCT user) AS users FROM views;
            """
        let file = directory.appending("q.sql")
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        let expected = """
            interval  n
            100       2
            101       1
            103       1
            users
            3

            """
        let fromFile = try strata(["sql", "-f", file, "--store", path])
        #expect(fromFile.status == 0)
        #expect(fromFile.stdout == expected)
        let fromStdin = try strata(["sql", "--store", path], stdin: sql)
        #expect(fromStdin.stdout == expected)
    }

    @Test func errorsNameWhatAndWhere() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let syntax = try strata(["sql", "--store", path, "SELECT user,\n  count(* FROM views"])
        #expect(syntax.status == 1)
        #expect(syntax.stderr.contains("SQL error at line 2, column"))
        #expect(syntax.stderr.contains("near \"FROM\": syntax error"))
        #expect(syntax.stdout == "")

        let unknown = try strata(["sql", "--store", path, "SELECT * FROM nosuch"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "Error: no stream or table named nosuch (streams: views)\n")

        let column = try strata(["sql", "--store", path, "SELECT nosuch FROM views"])
        #expect(column.status == 1)
        #expect(column.stderr.contains("no such column: nosuch"))

        let badTime = try strata(["sql", "--store", path, "SELECT * FROM views WHERE time > 'yesterday'"])
        #expect(badTime.status == 1)
        #expect(badTime.stderr.contains("invalid time \"yesterday\""))

        let unsealed = try strata(["sql", "--store", path, "SELECT * FROM slice('views', 100, 200)"])
        #expect(unsealed.status == 1)
        #expect(unsealed.stderr.contains("not sealed"))

        let both = try strata(["sql", "--json", "--csv", "--store", path, "SELECT 1"])
        #expect(both.status == 64)
        #expect(!syntax.crashed && !unknown.crashed && !badTime.crashed && !unsealed.crashed)
    }

    /// Streams are found ignoring case, as SQL names are; case-exact names win.
    @Test func streamNamesIgnoreCase() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let run = try strata(["sql", "--csv", "--store", path, "SELECT count(*) AS n FROM VIEWS"])
        #expect(run.stdout == "n\n4\n")
    }
}

extension ProcessResult {
    var crashed: Bool {
        ["Fatal error", "Stack dump", "Backtrace", "Segmentation fault"].contains { stderr.contains($0) }
    }
}
