import Foundation
import Strata
import StrataSQL
import StrataTestSupport
import Testing

/// The examples of docs/sql.md, run on the store they describe: each ```sql block (with the flags
/// after `sql`) must print exactly the ```text block that follows it.
@Suite struct SQLDocExampleTests {
    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/sql.md").path

    /// The fenced blocks of the page: (info string, body).
    static func blocks(_ text: String) -> [(String, String)] {
        var result: [(String, String)] = []
        var info: String?
        var body: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if let open = info {
                    result.append((open, body.joined(separator: "\n") + "\n"))
                    info = nil
                } else {
                    info = String(line.dropFirst(3))
                    body = []
                }
            } else if info != nil {
                body.append(line)
            }
        }
        return result
    }

    /// The page's generator, run here in Swift.
    static func views() -> String {
        let users = ["ana", "bo", "cy", "di"]
        var lines = ""
        for t in 0..<20 {
            for k in 0..<(3 + t % 3) {
                let n = t * 7 + k
                lines += #"{"ts":\#(1_795_508_400 + t),"url":"/page/\#((n * 5) % 6)","user":"\#(users[n % 4])","ms":\#(20 + (n * 37) % 300)}"#
                    + "\n"
            }
        }
        return lines
    }

    @Test func examplesPrintWhatThePageShows() throws {
        let text = try String(contentsOfFile: Self.page, encoding: .utf8)
        let directory = try TemporaryDirectory(prefix: "strata-sql-doc")
        let path = directory.appending("store")
        let ingest = try strata(["ingest", "pageViews", "--store", path, "--time-field", "ts", "--time-unit", "s",
                                 "--key-field", "user", "--partitions", "2"], stdin: Self.views())
        try #require(ingest.status == 0, "\(ingest.stderr)")
        #expect(ingest.stderr.contains("79 accepted"))
        // The page's running count, as a program.
        do {
            let store = try Store.open(at: path)
            let views = try store.stream(named: "pageViews", of: JSONRecord.self)
            let program = try Program(name: "totals", store: store) { p in
                p.read(views).map { record -> KeyValue<String, Int64> in
                    let object = try JSONSerialization.jsonObject(with: Data(record.bytes)) as? [String: Any]
                    return KeyValue(object?["url"] as? String ?? "", 1)
                }.runningReduce(+).save(as: "urlTotals")
            }
            _ = try program.runUntilCaughtUp()
        }
        let blocks = Self.blocks(text)
        var ran = 0
        for (index, (info, body)) in blocks.enumerated() {
            if info.hasPrefix("console"), body.contains("strata sql --continuous") {
                let line = try #require(body.split(separator: "\n").first)
                let query = String(line.split(separator: "\"", maxSplits: 1)[1].dropLast())
                let run = try strata(["sql", "--continuous", "--into", "urlCounts", "--until-caught-up", "--store", path, query])
                #expect(run.stderr == body.split(separator: "\n").dropFirst().joined(separator: "\n") + "\n")
                continue
            }
            guard info.hasPrefix("sql") else { continue }
            let flags = info.dropFirst(3).split(separator: " ").map(String.init)
            let expected = try #require(index + 1 < blocks.count ? blocks[index + 1] : nil)
            #expect(expected.0 == "text", "a sql block is followed by its output")
            let run = try strata(["sql", "--store", path] + flags + [body])
            #expect(run.status == 0, "\(body): \(run.stderr)")
            #expect(run.stdout == expected.1, "\(body)")
            ran += 1
        }
        #expect(ran >= 10)
    }
}
