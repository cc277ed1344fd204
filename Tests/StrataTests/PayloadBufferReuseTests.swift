import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 16: a block's payload buffer goes back to its appender's compressor once the block is
/// compressed, and the appender fills it again. The buffer must come back as the same storage:
/// when the batch was captured by the compressor's work while that work compressed a copy, every
/// payload was shared at the time it was recycled, so emptying it allocated a new buffer whose
/// pages the appender then faulted in again (a quarter of the JSON ingest's page faults).
@Suite struct PayloadBufferReuseTests {
    /// Submits `count` raw blocks through a compressor and returns the storage addresses of their
    /// payloads and of the buffers the compressor hands out afterwards.
    private static func addresses(parallelism: Int, count: Int) throws -> (payloads: Set<UInt>, reused: Set<UInt>) {
        try withStore { store in
            let stream = try store.jsonStream("views", interval: .seconds(1), partitions: 2)
            let compressor = BlockCompressor(parallelism: parallelism, maxSpareBuffers: count)
            var payloads = Set<UInt>()
            var batch = AppendBatch()
            for index in 0..<count {
                var builder = PayloadBuilder(capacity: 8 << 10)
                let line = Array("{\"n\":\(index)}".utf8)
                for _ in 0..<100 { line.withUnsafeBytes { builder.append(encoded: $0) } }
                let records = builder.recordCount
                let payload = builder.takeBytes(replacingWith: [])
                payloads.insert(payload.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) })
                batch.blocks.append(PendingBlock(stream: stream.descriptor, interval: Interval(0),
                                                 partition: PartitionIndex(UInt32(index % 2)),
                                                 rawPayload: payload, recordCount: records))
            }
            try store.log.submit(consume batch, chain: nil, compressor: compressor).wait()
            var reused = Set<UInt>()
            for _ in 0..<count {
                let buffer = compressor.takeBuffer(capacity: 1)
                #expect(buffer.isEmpty)
                reused.insert(buffer.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) })
            }
            return (payloads, reused)
        }
    }

    @Test(arguments: [1, 3])
    func compressedBlocksGiveBackTheirOwnPayloadStorage(parallelism: Int) throws {
        let (payloads, reused) = try Self.addresses(parallelism: parallelism, count: 12)
        #expect(payloads.count == 12)
        #expect(reused == payloads)
    }

    @Test func sparePayloadBuffersAreBounded() {
        let compressor = BlockCompressor(parallelism: 1, maxSpareBuffers: 2)
        for _ in 0..<5 {
            var buffer: [UInt8] = []
            buffer.reserveCapacity(64)
            buffer.append(1)
            compressor.recycle(buffer)
        }
        var kept = 0
        for _ in 0..<5 where compressor.takeBuffer(capacity: 0).capacity >= 64 { kept += 1 }
        #expect(kept == 2)
    }
}
