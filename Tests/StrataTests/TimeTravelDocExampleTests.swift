import Foundation
import StrataTestSupport
import Testing

@testable import Strata

/// The example of docs/time-travel.md runs as written, and the doc shows exactly this copy.
@Suite struct TimeTravelDocExampleTests {
    @Test func exampleRunsAsWritten() async throws {
        let directory = try TemporaryDirectory()
        let store = try Store(at: directory.appending("counts.strata"), options: StoreOptions(durability: .noSync))
        let made = try store.stream("urlCounts", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 4)
        let appender = try made.explicitAppender()
        // 20:59:00–21:09:59 UTC on 2026-11-23: /a every second, /b every other, /c every third.
        for t in UInt64(1_795_467_540)..<1_795_468_200 {
            for (url, every) in [("/a", 1 as UInt64), ("/b", 2), ("/c", 3)] where t % every == 0 {
                try appender.append(KeyValue(url, Int64(t % 10)), interval: Interval(t))
            }
        }
        try await appender.seal(through: Interval(1_795_468_199))
        var printed: [String] = []
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }

        // --- verbatim from docs/time-travel.md, Example ---
        let counts = try store.stream(named: "urlCounts", of: KeyValue<String, Int64>.self)
        let top = try counts.slice("21:00", "21:05").topK(10)                // value descending, ties by key
        let perURL = try counts.slice("21:00", "21:05").reduceByKey(+).collect() // one KeyValue per url
        let sameRange = try counts.slice("22:00", "22:05", zone: "Europe/Paris", on: "2026-11-23")
        let byIndex = try counts.slice(from: Interval(1_795_467_600), through: Interval(1_795_467_899))
        let busiest = try byIndex.map { KeyValue($0.key, 1 as Int64) }.reduceByKey(+).topK(3)
        for try await batch in counts.reEmit(from: Interval(1_795_467_600), through: Interval(1_795_467_602),
                                             pace: .original(speed: 10)) {
            print(batch.interval, batch.count)
        }
        // --- end of the verbatim copy ---

        #expect(top.count == 10 && top.allSatisfy { $0.value == 9 })
        #expect(top.map(\.key) == Array(repeating: "/a", count: 10))  // /c has ten 9s too; ties go to the smaller key
        #expect(perURL.sorted { $0.key < $1.key }.map(\.key) == ["/a", "/b", "/c"])
        #expect(try sameRange.count() == byIndex.count())
        #expect(busiest == [KeyValue("/a", 300), KeyValue("/b", 150), KeyValue("/c", 100)])
        #expect(printed == ["1795467600 3", "1795467601 1", "1795467602 2"])
    }

    @Test func theDocShowsThisTestsCopy() throws {
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        guard let start = source.range(of: "// --- verbatim from docs/time-travel.md, Example ---\n"),
              let end = source.range(of: "        // --- end of the verbatim copy ---", range: start.upperBound..<source.endIndex)
        else { Issue.record("markers not found"); return }
        let copy = source[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }.joined(separator: "\n")
        let doc = try String(contentsOfFile: docsPath("time-travel.md"), encoding: .utf8)
        guard let example = doc.range(of: "## Example\n\n```swift\n"),
              let close = doc.range(of: "```", range: example.upperBound..<doc.endIndex)
        else { Issue.record("no example block in docs/time-travel.md"); return }
        #expect(String(doc[example.upperBound..<close.lowerBound]) == copy)
    }
}

/// The path of a file in the package's `docs/` directory, found from this source file.
func docsPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs").appendingPathComponent(name).path
}
