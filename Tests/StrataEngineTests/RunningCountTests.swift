import StrataTestSupport
import Testing

@testable import Strata

@Suite struct RunningCountTests {
    /// pageViews → (url, 1) → runningReduce(+) → save: the seeds' running count per url.
    @Test func runningCountPerURL() throws {
        let directory = try TemporaryDirectory()
        let store = try Store(at: directory.appending("s"))
        let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 3)
        let appender = try views.explicitAppender()
        let urls = ["/a", "/b", "/c", "/d", "/e"]
        var expected: [String: Int64] = [:]
        var expectedPerInterval: [[String: Int64]] = []
        for t in 0..<6 {
            var updates: [String: Int64] = [:]
            for i in 0..<(20 + t * 7) {
                let url = urls[(i * i + t) % urls.count]
                try appender.append(KeyValue(url, Int64(i % 3)), interval: Interval(UInt64(t)))
                expected[url, default: 0] += 1
                updates[url] = expected[url]
            }
            expectedPerInterval.append(updates)
        }
        try appender.seal(through: Interval(5))

        let program = try Program(name: "counts", store: store) { p in
            p.read(views).map { KeyValue($0.key, Int64(1)) }.runningReduce(+).save(as: "urlCounts")
        }
        try program.runUntilCaughtUp()
        let counts = try store.stream(named: "urlCounts", of: KeyValue<String, Int64>.self)
        #expect(try counts.newestSealedInterval() == Interval(5))
        for t in 0..<6 {
            let records = try counts.read(Interval(UInt64(t))).records
            #expect(Dictionary(uniqueKeysWithValues: records.map { ($0.key, $0.value) }) == expectedPerInterval[t])
            #expect(records.count == expectedPerInterval[t].count)
        }
        // Run again: nothing new, nothing changes.
        #expect(try program.runUntilCaughtUp().intervals == 0)
    }
}
