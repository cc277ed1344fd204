import Strata
import StrataTestSupport
import Testing

/// The `Strata` additions the receiver relies on: appenders that hold their commits until a flush,
/// and `flush(together:)`, which commits several appenders in one transaction.
@Suite struct CommitTogetherTests {
    private func makeStore() throws -> (TemporaryDirectory, Store) {
        let directory = try TemporaryDirectory(prefix: "strata-together")
        return (directory, try Store(at: directory.appending("store")))
    }

    @Test func anAppenderHoldingCommitsWritesNothingBeforeItsFlush() throws {
        let (directory, store) = try makeStore()
        _ = directory
        var limits = StreamAppender.Limits()
        limits.holdsCommitsUntilFlush = true
        limits.blockBytes = 4096
        limits.commitBytes = 8192
        let stream = try store.stream("held", of: KeyValue<UInt64, Bytes>.self, interval: .seconds(1), partitions: 2)
        let appender = try stream.explicitAppender(limits: limits)
        for n in 0..<2000 { try appender.append(KeyValue(UInt64(n), Bytes(Array(repeating: 7, count: 64))), interval: Interval(5)) }
        try appender.sealWithoutWaiting(through: Interval(5))
        // Far past the commit size, and sealed, but nothing is committed yet.
        #expect(try store.verify().unsealedBlocks == 0)
        #expect(try stream.newestSealedInterval() == nil)
        try appender.flush()
        #expect(try stream.newestSealedInterval() == Interval(5))
        #expect(try stream.read(Interval(5)).count == 2000)
    }

    @Test func flushTogetherCommitsSeveralStreamsAtOnce() throws {
        let (directory, store) = try makeStore()
        _ = directory
        var limits = StreamAppender.Limits()
        limits.holdsCommitsUntilFlush = true
        let data = try store.jsonStream("data", interval: .seconds(1), partitions: 1)
        let marks = try store.jsonStream("marks", interval: .seconds(1), partitions: 1)
        let records = try data.explicitAppender(limits: limits)
        let positions = try marks.explicitAppender(limits: limits)
        try records.append(JSONRecord(bytes: Array("{\"n\":1}".utf8)), interval: Interval(3))
        try records.sealWithoutWaiting(through: Interval(3))
        try positions.append(JSONRecord(bytes: Array("{\"offset\":8}".utf8)), interval: Interval(0))
        try positions.sealWithoutWaiting(through: Interval(0))
        #expect(try data.newestSealedInterval() == nil && marks.newestSealedInterval() == nil)
        try records.flush(together: [positions])
        #expect(try data.read(Interval(3)).records.map(\.text) == ["{\"n\":1}"])
        #expect(try marks.read(Interval(0)).records.map(\.text) == ["{\"offset\":8}"])
    }

    @Test func anAppenderHoldingCommitsDropsWhatWasNotFlushed() throws {
        let (directory, store) = try makeStore()
        _ = directory
        var limits = StreamAppender.Limits()
        limits.holdsCommitsUntilFlush = true
        let data = try store.jsonStream("dropped", interval: .seconds(1), partitions: 1)
        do {
            let appender = try data.explicitAppender(limits: limits)
            try appender.append(JSONRecord(bytes: Array("{}".utf8)), interval: Interval(1))
        }
        #expect(try store.verify().unsealedBlocks == 0)
    }

    @Test func flushTogetherRefusesAnotherStore() throws {
        let (first, store) = try makeStore()
        let (second, other) = try makeStore()
        _ = (first, second)
        let a = try store.jsonStream("a", interval: .seconds(1), partitions: 1).explicitAppender()
        let b = try other.jsonStream("b", interval: .seconds(1), partitions: 1).explicitAppender()
        #expect(throws: StorageError.self) { try a.flush(together: [b]) }
    }
}
