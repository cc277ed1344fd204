import Synchronization
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// `print`: the first records of every interval, with a header, in partition order.
@Suite struct PrintTests {
    @Test func printShowsTheFirstRecordsOfEachIntervalInPartitionOrder() throws {
        let fixture = try EngineFixtureA()
        let (numbers, layout) = try fixture.input("numbers", [[1, 2, 3], [], [4, 5, 6, 7, 8]], partitions: 2)
        let printed = Mutex<[String]>([])
        try fixture.run { p in
            p.read(numbers).map { $0 * 10 }.print(3) { text in printed.withLock { $0.append(text) } }
        }
        let texts = printed.withLock { $0 }
        let rule = "-------------------------------------------\n"
        // Interval 1 has no records: no vertex interval runs for it.
        #expect(texts.count == 2)
        let first = layout[0].joined().map { String($0 * 10) }
        #expect(texts.first == rule + "Interval 0\n" + rule + first.joined(separator: "\n") + "\n\n")
        let third = layout[2].joined().prefix(3).map { String($0 * 10) }
        #expect(texts.last == rule + "Interval 2\n" + rule + third.joined(separator: "\n") + "\n...\n\n")
    }
}
