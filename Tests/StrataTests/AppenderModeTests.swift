import PropertyBased
import Synchronization
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// A key that counts its encodings, to check how often an appender encodes it.
private struct CountedKey: RecordCodable, Hashable {
    static let encodings = Atomic<Int>(0)
    var name: String
    init(_ name: String) { self.name = name }
    func encode(to writer: inout BinaryWriter) {
        Self.encodings.add(1, ordering: .relaxed)
        writer.write(name)
    }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) { name = try reader.read() }
}

/// A keyed record whose encoding does not start with its key (`encodeAfterPartitionKey` keeps
/// its default `false`): the value comes first.
private struct ValueFirst: KeyedRecord, Equatable {
    var key: String
    var value: Int64
    var partitionKey: String { key }
    func encode(to writer: inout BinaryWriter) {
        writer.write(value)
        writer.write(key)
    }
    init(key: String, value: Int64) {
        self.key = key
        self.value = value
    }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        value = try reader.read()
        key = try reader.read()
    }
}

/// The XXH64 of a value's encoding modulo `partitions`: the partition a keyed record must be in.
private func expectedPartition<Key: RecordCodable>(_ key: Key, partitions: Int) -> Int {
    var writer = BinaryWriter()
    key.encode(to: &writer)
    return Int(writer.bytes.withUnsafeBytes { XXH64.hash($0) } % UInt64(partitions))
}

@Suite struct AppenderModeTests {
    @Test func eachModeAppendsThroughItsOwnTypeAndTheyCommitTogetherAcrossRecordTypes() throws {
        try withStore { store in
            // The example of docs/appenders.md, with its input made concrete.
            let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 4)
            let offsets = try store.stream("views.offsets", of: UInt64.self, interval: .seconds(1), partitions: 1)
            let clicks = try store.jsonStream("clicks", interval: .seconds(1), partitions: 1)
            var holding = StreamAppender.Limits()
            holding.holdsCommitsUntilFlush = true
            let records = try views.eventTimeAppender(allowedLateness: .seconds(2), limits: holding)
            let positions = try offsets.explicitAppender(limits: holding)
            let arrivals = try clicks.arrivalAppender(clock: ArrivalClock { Timestamp(nanoseconds: 5_500_000_000) },
                                                      limits: holding)
            let sequence: UInt64 = 0
            for (i, url) in ["/a", "/b", "/a", "/c"].enumerated() {
                try records.append(KeyValue(url, Int64(i)), eventTime: Timestamp(nanoseconds: Int64(i) * 1_000_000))
                try positions.append(UInt64(i + 1) * 100, interval: Interval(sequence))
                try arrivals.append(JSONRecord(bytes: Array("{\"i\":\(i)}".utf8)))
            }
            try positions.sealWithoutWaiting(through: Interval(sequence))
            try records.sealWithoutWaiting(through: Interval(0))
            try arrivals.sealWithoutWaiting(through: Interval(5))
            // Held: nothing of any of the three is in the store before the joint commit.
            #expect(try offsets.newestSealedInterval() == nil)
            #expect(try views.newestSealedInterval() == nil)
            #expect(try clicks.newestSealedInterval() == nil)

            let heterogeneous: [StreamAppender] = [positions, arrivals]
            try records.flush(together: heterogeneous)
            #expect(try offsets.read(Interval(0)).records == [100, 200, 300, 400])
            #expect(try views.read(Interval(0)).records.count == 4)
            #expect(try clicks.read(Interval(5)).records.map(\.text) == ["{\"i\":0}", "{\"i\":1}", "{\"i\":2}", "{\"i\":3}"])
            #expect(try store.verify().isClean)
        }
    }

    @Test func everyModeAppendsASequence() throws {
        try withStore { store in
            let stream = try store.stream("s", of: Int64.self, interval: .seconds(1), partitions: 2)
            do {
                let explicit = try stream.explicitAppender()
                try explicit.append(contentsOf: [1, 2, 3], interval: Interval(0))
                try explicit.seal(through: Interval(0))
            }
            do {
                let eventTime = try stream.eventTimeAppender(allowedLateness: .zero)
                let pairs: [(Int64, Timestamp)] = [(4, Timestamp(nanoseconds: 1_000_000_000)),
                                                   (5, Timestamp(nanoseconds: 2_000_000_000))]
                try eventTime.append(contentsOf: pairs)
                try eventTime.sealAll()
            }
            let arrival = try stream.arrivalAppender(clock: ArrivalClock { Timestamp(nanoseconds: 3_000_000_000) })
            try arrival.append(contentsOf: [6, 7])
            try arrival.sealAll()
            let all = try stream.read(Interval(0)...Interval(3)).map { $0.records.sorted() }
            #expect(all == [[1, 2, 3], [4], [5], [6, 7]])
        }
    }

    @Test func aJointCommitAcrossRecordTypesRefusesAnotherStoreBeforeCommittingAnything() throws {
        try withStore { store in
            try withStore { other in
                var holding = StreamAppender.Limits()
                holding.holdsCommitsUntilFlush = true
                let numbers = try store.stream("n", of: Int64.self, interval: .seconds(1), partitions: 1)
                    .explicitAppender(limits: holding)
                let texts = try other.stream("t", of: String.self, interval: .seconds(1), partitions: 1)
                    .explicitAppender(limits: holding)
                try numbers.append(1, interval: Interval(0))
                try texts.append("x", interval: Interval(0))
                #expect(throws: StorageError.misuse("stream t is in another store than n")) {
                    try numbers.flush(together: [texts])
                }
            }
        }
    }

    @Test func aKeyValueKeyIsEncodedOncePerAppend() throws {
        try withStore { store in
            let stream = try store.stream("k", of: KeyValue<CountedKey, Int64>.self, interval: .seconds(1), partitions: 4)
            let appender = try stream.explicitAppender()
            let keys = (0..<37).map { CountedKey("key-\($0)") }
            let before = CountedKey.encodings.load(ordering: .relaxed)
            for i in 0..<1_000 { try appender.append(KeyValue(keys[i % keys.count], Int64(i)), interval: Interval(3)) }
            // Once per record (to route it; its bytes are then framed as they are), not twice.
            #expect(CountedKey.encodings.load(ordering: .relaxed) - before == 1_000)
            try appender.seal(through: Interval(3))
            let batch = try stream.read(Interval(3))
            #expect(batch.records.count == 1_000)
            for (p, records) in batch.partitions.enumerated() {
                for record in records { #expect(expectedPartition(record.key, partitions: 4) == p) }
            }
        }
    }

    /// Whatever the record's layout, the stored bytes are `encode(to:)`'s and every record is in
    /// the partition of its key's hash: checked against an in-memory model of the partitions.
    @Test func keyedAppendsStoreEachRecordsOwnEncodingInItsKeysPartition() async {
        let pairs = zip(Gen.int(in: 0...40), Gen.int64(in: -1_000...1_000)).array(of: 0...60)
        await propertyCheck(count: 12, input: pairs, Gen.int(in: 1...5)) { pairs, partitions in
            try withStore { store in
                let leading = try store.stream("leading", of: KeyValue<String, Int64>.self, interval: .seconds(1),
                                               partitions: partitions).explicitAppender()
                let valueFirst = try store.stream("valueFirst", of: ValueFirst.self, interval: .seconds(1),
                                                  partitions: partitions).explicitAppender()
                let byClosure = try store.stream("byClosure", of: ValueFirst.self, interval: .seconds(1),
                                                 partitions: partitions).explicitAppender { $0.key }
                var model: [[KeyValue<String, Int64>]] = Array(repeating: [], count: partitions)
                for (k, v) in pairs {
                    let key = "k\(k)" + String(repeating: "x", count: k * 7)  // some keys over 127 bytes
                    try leading.append(KeyValue(key, v), interval: Interval(0))
                    try valueFirst.append(ValueFirst(key: key, value: v), interval: Interval(0))
                    try byClosure.append(ValueFirst(key: key, value: v), interval: Interval(0))
                    model[expectedPartition(key, partitions: partitions)].append(KeyValue(key, v))
                }
                for appender in [leading, valueFirst, byClosure] as [StreamAppender] {
                    try appender.seal(through: Interval(0))
                }
                #expect(try store.stream(named: "leading", of: KeyValue<String, Int64>.self).read(Interval(0)).partitions
                        == model)
                for name in ["valueFirst", "byClosure"] {
                    let stored = try store.stream(named: name, of: ValueFirst.self).read(Interval(0)).partitions
                    #expect(stored.map { $0.map { KeyValue($0.key, $0.value) } } == model)
                }
            }
        }
    }

    @Test func framingAKeyAndItsRemainderGivesTheRecordsEncoding() {
        var whole = PayloadBuilder(capacity: 0)
        var split = PayloadBuilder(capacity: 0)
        var fallback = PayloadBuilder(capacity: 0)
        for length in [0, 1, 126, 127, 128, 300] {
            let record = KeyValue(String(repeating: "u", count: length), Int64(length))
            whole.append(record)
            var key = BinaryWriter()
            record.key.encode(to: &key)
            key.bytes.withUnsafeBytes { split.append(record, leadingKey: $0, remainder: { $0.encodeAfterPartitionKey(to: &$1) }) }
            // A remainder that declines makes the builder encode the record whole.
            key.bytes.withUnsafeBytes { fallback.append(record, leadingKey: $0, remainder: { _, _ in false }) }
        }
        #expect(split.writer.bytes == whole.writer.bytes && split.recordCount == whole.recordCount)
        #expect(fallback.writer.bytes == whole.writer.bytes && fallback.recordCount == whole.recordCount)
    }
}
