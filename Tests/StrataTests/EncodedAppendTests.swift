import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 16: an appender of encoded records (the JSON ingest's) frames them straight into raw
/// memory (`RawPayload`, `EncodedPartitionBuffers`) that its compressor reads in place, instead of
/// `PayloadBuilder`s. The stored bytes must not change: a store written through the raw buffers is
/// block for block, byte for byte, the store written through `PayloadBuilder`s — for records of
/// every framing length (one-byte and longer LEB128 prefixes), records that overflow a buffer and
/// make it grow, keyed and round-robin records, late ones, and blocks cut by size, by seals and
/// at the end.
@Suite struct EncodedAppendTests {
    /// Appends 6 000 seeded records through a base `StreamAppender` of a new JSON stream, with
    /// raw buffers or `PayloadBuilder`s, and returns the store's image.
    private static func image(rawBuffers: Bool, blockBytes: Int, seed: UInt64) throws -> [String] {
        try withStore { store in
            let stream = try store.jsonStream("encoded", interval: .seconds(1), partitions: 3)
            var limits = StreamAppender.Limits()
            limits.blockBytes = blockBytes
            limits.commitBytes = 8 * blockBytes
            limits.maxPendingBytes = 64 * blockBytes
            var random = SplitMix64(seed: seed)
            do {
                let appender = try StreamAppender(
                    store: store.log, descriptor: stream.descriptor, lateDescriptor: try stream.lateDescriptorForAppending(),
                    timing: .eventTime(allowedLateness: .milliseconds(300)), limits: limits,
                    takesEncodedRecords: rawBuffers)
                var newest: Int64 = 0
                for index in 0..<6_000 {
                    let size: Int
                    switch random.next(upTo: 20) {
                    case 0: size = 0
                    case 1..<3: size = 128 + random.next(upTo: 400)  // a two-byte length
                    case 3: size = min(blockBytes + random.next(upTo: blockBytes), 20_000)  // past a small buffer's room
                    case 4 where index % 97 == 0: size = 16_384 + random.next(upTo: 4_000)  // a three-byte length
                    default: size = random.next(upTo: 128)
                    }
                    let filler = UInt8(truncatingIfNeeded: random.next())
                    let record = (0..<size).map { $0 % 5 == 0 ? UInt8(truncatingIfNeeded: random.next()) : filler }
                    // Times move on about 2 ms a record and wander back up to 500 ms: some are late.
                    let time = max(0, Int64(index) * 2 - Int64(random.next(upTo: 500)))
                    newest = max(newest, time)
                    let keyHash: UInt64? = random.next(upTo: 4) == 0 ? nil : random.next()
                    try record.withUnsafeBytes {
                        _ = try appender.appendEncoded($0, keyHash: keyHash,
                                                       eventTime: Timestamp(nanoseconds: time * 1_000_000))
                    }
                    if index == 3_000 { try appender.flush() }
                }
                #expect(newest > 0)
                #expect(appender.lateRecords > 0, "no late record exercised the late side stream")
                try appender.sealAll()
            }
            return try ParallelJSONIngestTests.image(of: store)
        }
    }

    @Test(arguments: [(1 << 10, UInt64(7)), (4 << 10, UInt64(8)), (256 << 10, UInt64(9))])
    func rawBuffersStoreTheBytesOfPayloadBuilders(blockBytes: Int, seed: UInt64) throws {
        let builders = try Self.image(rawBuffers: false, blockBytes: blockBytes, seed: seed)
        let raw = try Self.image(rawBuffers: true, blockBytes: blockBytes, seed: seed)
        #expect(builders.count > 10, "too few rows: \(builders.count)")
        #expect(raw.count == builders.count)
        // The first row that differs, cut short: a whole image is megabytes of text.
        if let row = (0..<min(raw.count, builders.count)).first(where: { raw[$0] != builders[$0] }) {
            Issue.record("row \(row) differs: raw \(raw[row].prefix(120))…, builders \(builders[row].prefix(120))…")
        }
    }

    /// A raw block's payload goes back to the compressor once the block is compressed, and the
    /// appender fills the same memory again: no allocation per block.
    @Test(arguments: [1, 3])
    func compressedRawBlocksGiveBackTheirPayloads(parallelism: Int) throws {
        try withStore { store in
            let stream = try store.jsonStream("views", interval: .seconds(1), partitions: 2)
            let compressor = BlockCompressor(parallelism: parallelism, maxSpareBuffers: 12)
            var payloads: [RawPayload] = []
            var batch = AppendBatch()
            for index in 0..<12 {
                let payload = compressor.takeRawPayload(capacity: 8 << 10)
                let buffers = EncodedPartitionBuffers(payloads: [payload])
                let line = Array("{\"n\":\(index)}".utf8)
                for _ in 0..<100 {
                    line.withUnsafeBytes { buffers.appendFraming($0, partition: 0) }
                    buffers.fills[0].records += 1
                }
                let taken = buffers.take(0, replacingWith: RawPayload(capacity: 1))
                #expect(taken === payload)
                #expect(taken.recordCount == 100)
                payloads.append(taken)
                batch.blocks.append(PendingBlock(stream: stream.descriptor, interval: Interval(0),
                                                 partition: PartitionIndex(UInt32(index % 2)), rawBuffer: taken))
            }
            try store.log.submit(consume batch, chain: nil, compressor: compressor).wait()
            var reused: [RawPayload] = []
            for _ in 0..<12 {
                let payload = compressor.takeRawPayload(capacity: 1)
                #expect(payload.count == 0 && payload.recordCount == 0)
                reused.append(payload)
            }
            let given = Set(payloads.map(ObjectIdentifier.init))
            #expect(Set(reused.map(ObjectIdentifier.init)) == given)
            // And the blocks hold the records framed as a `PayloadBuilder` frames them.
            var expected = PayloadBuilder(capacity: 0)
            for _ in 0..<100 { Array("{\"n\":0}".utf8).withUnsafeBytes { expected.append(encoded: $0) } }
            var codec = BlockCodec()
            var first: [UInt8]?
            try store.log.forEachBlock(of: stream.descriptor, fromInterval: Interval(0)) { key, bytes in
                if key.partition.rawValue == 0 && key.chunk.rawValue == 0 {
                    first = try codec.withVerifiedPayload(bytes) { _, payload in Array(payload) }
                }
                return true
            }
            #expect(first == expected.writer.bytes)
        }
    }

    @Test func aRawPayloadGrowsKeepingItsBytes() {
        let payload = RawPayload(capacity: 4)
        payload.base.storeBytes(of: UInt32(0x0403_0201).littleEndian, as: UInt32.self)
        payload.count = 4
        payload.grow(toAtLeast: 5, keeping: 4)
        #expect(payload.capacity >= 8)
        #expect(Array(payload.bytes) == [1, 2, 3, 4])
    }
}
