import PropertyBased
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// Seal rows are summed from the counts blocks carry (`SealTally`) when the committer counted
/// every unsealed block of a stream, and read back from block headers otherwise. Either way a seal
/// row must be what the blocks on disk say: checked against a walk of the block headers and
/// against an in-memory count of the records appended, over random sequences of appends (small
/// blocks, several commits per interval), flushes, seals, new appenders and reopened stores.
@Suite struct SealTallyTests {
    typealias Record = KeyValue<Int64, String>

    /// Operation codes: 0–5 append, 6 flush, 7 seal, 8 a new appender, 9 the store reopened.
    static let operations = Gen.int(in: 0...59_999).array(of: 1...40)

    @Test func sealRowsMatchTheBlocksOnDisk() async {
        await propertyCheck(count: 12, input: Self.operations) { codes in
            try Self.check(codes)
        }
    }

    @Test func anEarlierWritersBlocksAreCountedWhenTheIntervalIsSealed() throws {
        // Blocks of interval 0 committed and not sealed, then the store closed: the next store
        // counts none of them, so its seal must read them back and add the new ones.
        try Self.check([30 * 149, 6, 9, 30 * 39, 7])
        // The same with a new appender in the same store: the count goes on across writers.
        try Self.check([30 * 149, 6, 8, 30 * 39, 7])
    }

    static func check(_ codes: [Int]) throws {
        let directory = try TemporaryDirectory(prefix: "strata-seal-tally")
        let path = directory.appending("store")
        var limits = StreamAppender.Limits()
        limits.blockBytes = 512
        limits.commitBytes = 2_048
        var store: Store? = try Store(at: path, options: StoreOptions(durability: .noSync))
        var stream = try #require(store).stream("s", of: Record.self, interval: .seconds(1), partitions: 3)
        var appender: ExplicitAppender<Record>? = try stream.explicitAppender(limits: limits) { $0.key }
        var expected: [UInt64: UInt64] = [:]  // interval → records appended; lookup only
        var sealed: UInt64? = nil
        var sequence: Int64 = 0
        for code in codes {
            switch code % 10 {
            case 0...5:
                let interval = (sealed.map { $0 + 1 } ?? 0) + UInt64(code / 10 % 3)
                let count = code / 30 % 200 + 1
                for _ in 0..<count {
                    sequence += 1
                    let text = String(repeating: "x", count: Int(sequence % 90))
                    try appender?.append(Record(sequence % 17, text), interval: Interval(interval))
                }
                expected[interval, default: 0] += UInt64(count)
            case 6:
                try appender?.flush()
            case 7:
                let through = (sealed.map { $0 + 1 } ?? 0) + UInt64(code / 10 % 2)
                try appender?.seal(through: Interval(through))
                sealed = through
            case 8:
                try appender?.flush()
                appender = nil
                appender = try stream.explicitAppender(limits: limits) { $0.key }
            default:
                try appender?.flush()
                appender = nil
                store = nil
                store = try Store(at: path, options: StoreOptions(durability: .noSync))
                stream = try #require(store).stream(named: "s", of: Record.self)
                appender = try stream.explicitAppender(limits: limits) { $0.key }
            }
        }
        let last = expected.keys.max() ?? 0
        try appender?.seal(through: Interval(max(last, sealed ?? 0)))
        appender = nil

        let log = try #require(store).logStore
        let rows = try log.sealRecords(of: stream.descriptor, in: Interval(0)...Interval(max(last, sealed ?? 0)))
        let walked = try walkedRows(log, stream.descriptor)
        #expect(rows.map(\.0) == walked.map(\.0), "sealed intervals with blocks")
        for ((interval, row), (_, fromHeaders)) in zip(rows, walked) {
            #expect(row == fromHeaders, "interval \(interval): seal row \(row), block headers \(fromHeaders)")
            #expect(row.records == expected[interval.rawValue] ?? 0, "interval \(interval): records")
        }
        #expect(Set(rows.map(\.0.rawValue)) == Set(expected.filter { $0.value > 0 }.keys))
        #expect(try #require(store).verify().isClean)
    }

    /// Seal rows recomputed from the block headers on disk, per interval in order.
    static func walkedRows(_ log: LogStore, _ descriptor: StreamDescriptor) throws -> [(Interval, SealRecord)] {
        var rows: [(Interval, SealRecord)] = []
        try log.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, block in
            let header = try BlockHeader(parsing: block)
            if rows.last?.0 != key.interval {
                rows.append((key.interval, SealRecord(chunks: [UInt32](repeating: 0, count: Int(descriptor.partitions)),
                                                      records: 0, rawBytes: 0, storedBytes: 0)))
            }
            let p = Int(key.partition.rawValue)
            #expect(rows[rows.count - 1].1.chunks[p] == key.chunk.rawValue, "chunks of \(key.interval) in order")
            rows[rows.count - 1].1.chunks[p] += 1
            rows[rows.count - 1].1.records += UInt64(header.recordCount)
            rows[rows.count - 1].1.rawBytes += UInt64(header.rawLength)
            rows[rows.count - 1].1.storedBytes += UInt64(block.count)
            return true
        }
        return rows
    }
}
