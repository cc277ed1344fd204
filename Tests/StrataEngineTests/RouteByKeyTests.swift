import Testing

@testable import StrataEngine
@testable import StrataStorage

/// `routeByKey` writes each pair's key once (hashed, then written as the start of its frame; an
/// integer key as its little-endian bytes, without a writer): the partitions and frames must be
/// exactly those of `stablePartition` and a whole-pair `append`, which the stored format pins.
@Suite struct RouteByKeyTests {
    /// Routes `pairs` to 5 partitions and compares every partition's frames with the reference.
    func expectSameFrames<Key: RecordCodable, Value: RecordCodable>(_ pairs: ContiguousArray<KeyValue<Key, Value>>) {
        let descriptor = StreamDescriptor(id: StreamID(rawValue: 1), name: "exchange", recordType: "t",
                                          intervalLength: .seconds(1), partitions: 5)
        var writers = (0..<5).map {
            PartitionWriter(descriptor: descriptor, interval: Interval(rawValue: 0), partition: PartitionIndex($0))
        }
        routeByKey(pairs, into: &writers)
        var expected = (0..<5).map { _ in PayloadBuilder(capacity: 0) }
        var scratch = BinaryWriter()
        for pair in pairs {
            expected[Int(stablePartition(of: pair.key, among: 5, scratch: &scratch))].append(pair)
        }
        for partition in 0..<5 {
            #expect(writers[partition].builder.recordCount == expected[partition].recordCount, "partition \(partition)")
            #expect(writers[partition].builder.writer.bytes == expected[partition].writer.bytes, "partition \(partition)")
        }
    }

    @Test func integerAndStringKeysRouteAndFrameAsWholePairs() {
        var state: UInt64 = 0x5EED
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 20
        }
        let count = 3_000
        expectSameFrames(ContiguousArray((0..<count).map { _ in KeyValue(next() % 500, UInt8(truncatingIfNeeded: next())) }))
        expectSameFrames(ContiguousArray((0..<count).map { _ in KeyValue(Int64(bitPattern: next()) - (1 << 40), next()) }))
        expectSameFrames(ContiguousArray((0..<count).map { _ in KeyValue(Int(next() % 700) - 350, Int64(1)) }))
        expectSameFrames(ContiguousArray((0..<count).map { _ in KeyValue(UInt32(truncatingIfNeeded: next()), Int64?.none) }))
        expectSameFrames(ContiguousArray((0..<count).map { _ in KeyValue(Int32(truncatingIfNeeded: next()), "v") }))
        // Strings of 0 to 40 bytes, and a key type routed through its encoding (a pair).
        expectSameFrames(ContiguousArray((0..<count).map { _ in
            KeyValue(String(repeating: "é", count: Int(next() % 20)) + String(next() % 97), Int64(2))
        }))
        expectSameFrames(ContiguousArray((0..<count).map { _ in KeyValue(KeyValue(next() % 9, "k"), Int64(3)) }))
    }
}
