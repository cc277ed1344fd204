import Foundation
import Strata
import StrataSQL
import StrataTestSupport
import Testing

// A verbatim copy of docs/sql.md's "Record types of your own" example (the test checks the copy).
struct PageView: SQLRecord {
    var url: String
    var user: Int64
    var seconds: Double

    static var sqlColumns: [String] { ["url", "user", "seconds"] }
    func sqlValues(into values: inout [SQLValue]) {
        values.append(.text(url))
        values.append(.integer(user))
        values.append(.real(seconds))
    }

    init(url: String, user: Int64, seconds: Double) {
        self.url = url
        self.user = user
        self.seconds = seconds
    }
    func encode(to writer: inout BinaryWriter) {
        writer.write(string: url)
        writer.write(littleEndian: user)
        writer.write(littleEndian: seconds.bitPattern)
    }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        url = try reader.readString()
        user = try reader.read(littleEndian: Int64.self)
        seconds = Double(bitPattern: try reader.read(littleEndian: UInt64.self))
    }
}

/// Streams of user record types are tables through `SQLRecord`.
@Suite struct SQLRecordTests {
    /// The example's statements, as on the page.
    static func example(store: Store) throws -> SQLResult {
        let typed = try store.stream("typedViews", of: PageView.self, interval: .seconds(1), partitions: 2)
        let appender = try typed.explicitAppender()
        for (t, view) in [(0, PageView(url: "/a", user: 1, seconds: 2.5)), (0, PageView(url: "/b", user: 2, seconds: 0.5)),
                          (1, PageView(url: "/a", user: 3, seconds: 4.0))] {
            try appender.append(view, interval: Interval(UInt64(t)))
        }
        try appender.seal(through: Interval(1))

        let sql = try SQLConnection(store: store)
        sql.register(PageView.self)
        let slow = try sql.rows("SELECT url, count(*) AS n, sum(seconds) AS s FROM typedViews WHERE seconds > 1 GROUP BY url")
        return slow
    }

    @Test func aRegisteredRecordTypeIsATableAsThePageShows() throws {
        let directory = try TemporaryDirectory(prefix: "strata-sql-record")
        let store = try Store(at: directory.appending("store"))
        let slow = try Self.example(store: store)
        #expect(slow.rows == [[.text("/a"), .integer(2), .real(6.5)]])

        // Every column, the fixed ones first; `record` of slice() is a JSON object of the columns.
        let sql = try SQLConnection(store: store)
        sql.register(PageView.self)
        let all = try sql.rows("SELECT * FROM typedViews ORDER BY interval, user")
        #expect(all.columns == ["interval", "time", "partition", "url", "user", "seconds"])
        #expect(all.rows.map { Array($0[3...]) } == [[.text("/a"), .integer(1), .real(2.5)], [.text("/b"), .integer(2), .real(0.5)],
                                                       [.text("/a"), .integer(3), .real(4.0)]])
        let sliced = try sql.rows("SELECT record FROM slice('typedViews', 1, 1)")
        #expect(sliced.rows == [[.text(#"{"url":"/a","user":3,"seconds":4.0}"#)]])

        // Unregistered, the type is an error that names it; the command line cannot know it.
        #expect(throws: SQLError.self) { try store.sql("SELECT * FROM typedViews") }
        let cli = try strata(["sql", "--store", directory.appending("store"), "SELECT * FROM typedViews"])
        #expect(cli.status == 1)
        #expect(cli.stderr.contains(PageView.recordTypeName) && cli.stderr.contains("SQL cannot read as columns"), "\(cli.stderr)")

        // The page holds this file's copy of the example, verbatim.
        let page = try String(contentsOfFile: SQLDocExampleTests.page, encoding: .utf8)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let type = try #require(Self.between(source, "// A verbatim copy", "/// Streams of user record types"))
        let typeBody = type.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n")
        #expect(page.contains(typeBody.trimmingCharacters(in: .newlines)))
        let statements = try #require(Self.between(source, "        let typed = try store", "        return slow"))
        let unindented = statements.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }.joined(separator: "\n")
        #expect(page.contains(unindented.trimmingCharacters(in: .newlines)), "\(unindented)")
    }

    /// The text of `source` from `start` (included) to `end` (excluded).
    static func between(_ source: String, _ start: String, _ end: String) -> String? {
        guard let a = source.range(of: start), let b = source.range(of: end, range: a.upperBound..<source.endIndex) else {
            return nil
        }
        return String(source[a.lowerBound..<b.lowerBound])
    }
}
