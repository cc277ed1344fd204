import StrataTestSupport
import Testing

@testable import Strata

/// `Store.compare`: identical streams, the first difference, different settings.
@Suite struct StreamComparisonTests {
    typealias Counts = KeyValue<String, Int64>

    /// Writes `records[t]` into interval `t`, in appends of `chunk` records sealed each time (so
    /// that the chunking differs with `chunk`), and seals through the last interval.
    func write(_ name: String, _ records: [[Counts]], in store: Store, partitions: Int = 2, chunk: Int = 1_000)
        throws -> StoredStream<Counts>
    {
        let stream = try store.stream(name, of: Counts.self, interval: .seconds(1), partitions: partitions)
        let appender = try stream.explicitAppender()
        for (t, interval) in records.enumerated() {
            for (i, record) in interval.enumerated() {
                try appender.append(record, interval: Interval(UInt64(t)))
                if (i + 1) % chunk == 0 { try appender.flush() }
            }
        }
        try appender.seal(through: Interval(UInt64(records.count - 1)))
        return stream
    }

    static let records: [[Counts]] = (0..<6).map { t in (0..<50).map { Counts("/k\($0 % 7)", Int64(t * 100 + $0)) } }

    @Test func streamsWithTheSameRecordsAreIdenticalWhateverTheirChunking() throws {
        try withStore { store in
            _ = try write("a", Self.records, in: store)
            _ = try write("b", Self.records, in: store, chunk: 7)
            let result = try store.compare("a", "b")
            #expect(result.isIdentical)
            #expect(result.firstRecords == 300 && result.secondRecords == 300)
            #expect(result.intervalsCompared == 6)
        }
    }

    @Test func theFirstDifferingIntervalAndPartitionIsReported() throws {
        try withStore { store in
            var changed = Self.records
            changed[3][10].value = -1
            let a = try write("a", Self.records, in: store)
            _ = try write("b", changed, in: store)
            let result = try store.compare("a", "b")
            let partition = try a.read(Interval(3)).partitions.firstIndex { $0.contains(Self.records[3][10]) }
            #expect(result.firstDifference == StreamDifference(interval: Interval(3), partition: partition.map {
                PartitionIndex(UInt32($0)) }, reason: "records differ"))

            var shorter = Self.records
            shorter[4].removeLast()
            _ = try write("c", shorter, in: store)
            let counts = try store.compare("a", "c")
            #expect(counts.firstDifference?.interval == Interval(4))
            #expect(counts.firstDifference?.reason == "50 records in a, 49 in c")
            #expect(counts.secondRecords == 299)
        }
    }

    @Test func differentRecordTypesDifferAtOnceAndUnknownStreamsThrow() throws {
        try withStore { store in
            _ = try write("a", Self.records, in: store)
            _ = try store.stream("n", of: Int64.self, interval: .seconds(1), partitions: 2)
            let result = try store.compare("a", "n")
            #expect(result.firstDifference?.interval == nil)
            #expect(result.firstDifference?.reason.hasPrefix("record types differ") == true)
            #expect(throws: StorageError.unknownStream("nope")) { try store.compare("a", "nope") }
        }
    }
}
