import StrataTestSupport
import Testing

@testable import Strata

/// The example of docs/operators.md compiles and runs as written (but for the inputs it names).
@Suite struct OperatorsDocExampleTests {
    @Test func operatorsExampleRuns() throws {
        let directory = try TemporaryDirectory()
        let store = try Store(at: directory.appending("doc"))
        let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
        let events = try store.stream("events", of: KeyValue<UInt64, UInt8>.self, interval: .seconds(1), partitions: 2)
        let viewAppender = try views.explicitAppender()
        let eventAppender = try events.explicitAppender()
        for t in 0..<8 {
            for i in 0..<10 { try viewAppender.append(KeyValue("/p\(i % 3)", Int64(i)), interval: Interval(UInt64(t))) }
            for user in 0..<4 where (user + t) % 3 != 0 {
                try eventAppender.append(KeyValue(UInt64(user), UInt8(t == 5 && user == 1 ? 9 : 1)), interval: Interval(UInt64(t)))
            }
        }
        try viewAppender.seal(through: Interval(7))
        try eventAppender.seal(through: Interval(7))

        // --- docs/operators.md, Example (with `$0.key` for the url) ---
        let program = try Program(name: "counts", store: store) { p in
            let ones = p.read(views).map { KeyValue($0.key, Int64(1)) }
            ones.runningReduce(+).save(as: "urlCounts")                         // running count per url
            ones.reduceByKeyAndWindow(+, inverse: -, length: 5, slide: 1).save(as: "lastFive")
            p.read(events).track(initialize: { _, _ in Int64(1) }, update: { _, _, ev in ev == 9 ? nil : 1 },
                                 timeout: 30).activeCount.save(as: "activeSessions")
        }
        try program.runUntilCaughtUp()
        // --- end ---

        let counts = try store.stream(named: "urlCounts", of: KeyValue<String, Int64>.self)
        let last = try counts.read(Interval(7)).records
        #expect(Set(last.map(\.key)) == ["/p0", "/p1", "/p2"])
        #expect(last.map(\.value).reduce(0, +) == 80)
        let window = try store.stream(named: "lastFive", of: KeyValue<String, Int64>.self).read(Interval(7)).records
        #expect(window.map(\.value).reduce(0, +) == 50)
        let active = try store.stream(named: "activeSessions", of: Int64.self).read(Interval(7)).records
        #expect(active.count == 1)
    }
}
