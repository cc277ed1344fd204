import StrataTestSupport
import Testing

@testable import Strata

/// The README's Example, verbatim but for the store path: it must compile and run as written.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleRunsAsWritten() throws {
        let directory = try TemporaryDirectory()
        var printed: [String] = []
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }
        // --- verbatim from README.md, Example ---
        let store = try Store(at: directory.appending("counts.strata"))
        let counts = try store.stream("urlCounts", of: KeyValue<String, Int64>.self,
                                      interval: .seconds(1), partitions: 4)
        let appender = try counts.explicitAppender()               // keyed by the KeyValue's key
        try appender.append(KeyValue("/home", 3), interval: Interval(100))
        try appender.append(KeyValue("/cart", 1), interval: Interval(100))
        try appender.seal(through: Interval(100))                  // atomic and durable
        let batch = try counts.read(Interval(100))
        for record in batch.records { print(record.key, record.value) }
        // --- end of the verbatim copy ---
        #expect(printed.sorted() == ["/cart 1", "/home 3"])
    }
}
