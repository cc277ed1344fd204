import PropertyBased
@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// `PartitionReader.read` decodes every block of an (interval, partition) straight into one array
/// (`BlockDecoder.decodeAppending`), or appends a block decoded ahead (`appendDecoded`). These
/// compare it with the path it replaced — each block decoded into an array of its own, the
/// arrays concatenated — and with the records appended, for the decoder built here (specialized)
/// and in the engine (unspecialized), with and without blocks decoded ahead; and a rejected
/// record's error names the same record as before.
@Suite struct PartitionReaderTests {
    typealias Pair = KeyValue<String, Int64>

    /// A key of every shape the decoder meets: empty, short ASCII, longer than 16 bytes, and
    /// non-ASCII UTF-8 (validated by the standard library).
    @Sendable static func pair(_ code: Int64) -> Pair {
        let key: String
        switch code % 5 {
        case 0: key = ""
        case 1: key = "/p/\(code % 97)"
        case 2: key = "/products/a-long-page-name/\(code)"
        case 3: key = "é\(code % 13)ключ"
        default: key = "u\(code % 7)"
        }
        return Pair(key, code - 500)
    }

    /// 1–4 intervals of 0–400 pairs.
    static var intervals: Generator<[[Pair]], Int64ArrayGenA.ArrayShrink> {
        Gen.int64(in: 0...999).array(of: 0...400).array(of: 1...4).map { $0.map { $0.map(pair) } }
    }

    /// A store whose stream `in` holds `intervals[t]` in interval `t`, round robin over
    /// `partitions`, in blocks of `blockBytes` raw bytes (several chunks per partition).
    static func input(_ intervals: [[Pair]], partitions: Int, blockBytes: Int) throws
        -> (fixture: EngineFixtureA, stream: StoredStream<Pair>)
    {
        let fixture = try EngineFixtureA()
        let stream = try fixture.store.stream("in", of: Pair.self, interval: .seconds(1), partitions: partitions)
        var limits = StreamAppender.Limits()
        limits.blockBytes = blockBytes
        let appender = try stream.explicitAppender(limits: limits)
        for (t, records) in intervals.enumerated() {
            for record in records { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(UInt64(intervals.count - 1)))
        return (fixture, stream)
    }

    /// The former read: each block decoded into an array of its own, the arrays concatenated.
    static func perBlock<Record: RecordCodable>(_ log: LogStore, _ descriptor: StreamDescriptor, _ interval: Interval,
                                                _ partition: PartitionIndex) throws -> [Record] {
        var codec = BlockCodec()
        var records: [Record] = []
        let location = StoreLocation(stream: descriptor.name, interval: interval, partition: partition)
        _ = try log.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { _, _, block in
            let decoded: ContiguousArray<Record> = try PartitionReader.decode(block, codec: &codec, location: location,
                                                                             recordsBefore: records.count)
            records.append(contentsOf: decoded)
        }
        return records
    }

    /// Every partition of every interval reads as the per-block path does, whichever decoder and
    /// however many blocks were decoded ahead; together the partitions hold the interval's records.
    @Test func readsAsBlockByBlock() async {
        await propertyCheck(count: 25, input: Self.intervals, Gen.int(in: 1...4), Gen.int(in: 0...12)) {
            intervals, partitions, aheadBlocks in
            let (fixture, stream) = try Self.input(intervals, partitions: partitions, blockBytes: 200)
            let log = fixture.store.log
            let descriptor = stream.descriptor
            var codec = BlockCodec()
            for (t, records) in intervals.enumerated() {
                let interval = Interval(UInt64(t))
                // Some blocks (a prefix of the heaviest-first plan) decoded ahead, the rest by the read.
                let ahead = DecodedAhead(log: log, decoders: [.reading(descriptor, decoder: BlockDecoder<Pair>(), log: log)])
                for _ in 0..<aheadBlocks where ahead.decodeNext(of: interval, codec: &codec) {}
                var all: [Pair] = []
                for p in 0..<partitions {
                    let partition = PartitionIndex(UInt32(p))
                    let model: [Pair] = try Self.perBlock(log, descriptor, interval, partition)
                    let specialized = try PartitionReader.read(log, descriptor, interval, partition, codec: &codec,
                                                               decoder: BlockDecoder<Pair>())
                    let unspecialized: ContiguousArray<Pair> = try PartitionReader.read(log, descriptor, interval, partition,
                                                                                        codec: &codec)
                    let withAhead = try DecodedAhead.$current.withValue(ahead) {
                        try PartitionReader.read(log, descriptor, interval, partition, codec: &codec,
                                                 decoder: BlockDecoder<Pair>())
                    }
                    #expect(Array(specialized) == model)
                    #expect(Array(unspecialized) == model)
                    #expect(Array(withAhead) == model)
                    all += model
                }
                #expect(ahead.count == 0, "every block decoded ahead was taken")
                #expect(multiset(all) == multiset(records))
            }
        }
    }

    /// A `Pair` whose decoding rejects negative values: reads a `Pair` stream.
    struct NonNegative: RecordCodable, Equatable {
        static var recordTypeName: String { Pair.recordTypeName }
        var pair: Pair

        func encode(to writer: inout BinaryWriter) { pair.encode(to: &writer) }

        init(from reader: inout BinaryReader) throws(RecordDecodingError) {
            let at = reader.offset
            pair = try reader.read()
            guard pair.value >= 0 else { throw .invalidValue(offset: at, what: "negative value") }
        }
    }

    /// The first rejected record of a partition is named by its index in the partition, as
    /// before, by both decoders; a partition without one reads in full.
    @Test func rejectedRecordIsNamedAsBefore() async {
        await propertyCheck(count: 25, input: Self.intervals, Gen.int(in: 1...3)) { intervals, partitions in
            let (fixture, stream) = try Self.input(intervals, partitions: partitions, blockBytes: 150)
            let log = fixture.store.log
            let descriptor = stream.descriptor
            var codec = BlockCodec()
            for t in intervals.indices {
                let interval = Interval(UInt64(t))
                for p in 0..<partitions {
                    let partition = PartitionIndex(UInt32(p))
                    let stored: [Pair] = try Self.perBlock(log, descriptor, interval, partition)
                    let expected = Result { () throws -> [NonNegative] in try Self.perBlock(log, descriptor, interval, partition) }
                    let readers: [() throws -> ContiguousArray<NonNegative>] = [
                        { try PartitionReader.read(log, descriptor, interval, partition, codec: &codec, decoder: BlockDecoder()) },
                        { try PartitionReader.read(log, descriptor, interval, partition, codec: &codec) },
                    ]
                    for read in readers {
                        let result = Result { try read() }
                        switch (result, expected) {
                        case (.success(let records), .success(let model)):
                            #expect(Array(records) == model)
                            #expect(stored.allSatisfy { $0.value >= 0 })
                        case (.failure(let error), .failure(let before)):
                            guard case StorageError.recordRejected(let location, let record, let type, _) = error else {
                                Issue.record("unexpected error \(error)")
                                continue
                            }
                            #expect("\(error)" == "\(before)")
                            #expect(record == stored.firstIndex { $0.value < 0 })
                            #expect(location == StoreLocation(stream: "in", interval: interval, partition: partition))
                            #expect(type == Pair.recordTypeName)
                        default:
                            Issue.record("the read and the per-block path disagree at \(t), \(p)")
                        }
                    }
                }
            }
        }
    }
}
