import Glibc
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 16: an appender's blocks are compressed beside it by up to
/// `StreamAppender.Limits.compressionParallelism` threads per commit batch. The store written must
/// not depend on that number: every block (key and bytes) and every seal row is the same as when
/// one thread compresses the blocks in order. Checked for typed appends by event time and for JSON
/// lines, with small blocks and batches so that each batch holds many blocks.
@Suite struct ParallelCompressionTests {
    private typealias Record = KeyValue<UInt64, Bytes>

    /// Limits that cut a block every 1 KiB and a commit batch every 16 KiB (about 16 blocks).
    private static func limits(parallelism: Int) -> StreamAppender.Limits {
        var limits = StreamAppender.Limits()
        limits.blockBytes = 1 << 10
        limits.commitBytes = 16 << 10
        limits.maxPendingBytes = 64 << 10
        limits.compressionParallelism = parallelism
        return limits
    }

    /// Appends 20 000 seeded records (values of 0–199 bytes, some repetitive, some not) over 40
    /// intervals of event time into a new store, seals them, and returns the store's image.
    private static func typedImage(parallelism: Int) throws -> [String] {
        try withStore { store in
            let stream = try store.stream("typed", of: Record.self, interval: .seconds(1), partitions: 3)
            var random = SplitMix64(seed: 16)
            do {
                let appender = try stream.eventTimeAppender(allowedLateness: .seconds(1),
                                                            limits: limits(parallelism: parallelism))
                for index in 0..<20_000 {
                    let size = random.next(upTo: 200)
                    let filler = UInt8(truncatingIfNeeded: random.next())
                    let value = (0..<size).map { $0 % 3 == 0 ? UInt8(truncatingIfNeeded: random.next()) : filler }
                    // Times wander behind the newest by up to 500 ms: never late with 1 s lateness.
                    let time = Int64(index) * 2 + Int64(random.next(upTo: 500))
                    try appender.append(Record(UInt64(random.next(upTo: 5_000)), Bytes(value)),
                                        eventTime: Timestamp(milliseconds: time))
                }
                try appender.sealAll()
            }
            return try ParallelJSONIngestTests.image(of: store)
        }
    }

    /// Ingests 20 000 generated JSON lines into a new store and returns its image.
    private static func jsonImage(parallelism: Int) throws -> [String] {
        try withStore { store in
            let stream = try store.jsonStream("json", interval: .seconds(1), partitions: 4, timeField: "ts",
                                              keyField: "url")
            var options = JSONIngestOptions()
            options.appenderLimits = limits(parallelism: parallelism)
            let ingestor = try JSONLinesIngestor(stream: stream, options: options)
            var random = SplitMix64(seed: 61)
            for index in 0..<20_000 {
                let url = "/p/\(random.next(upTo: 300))", user = random.next(upTo: 100_000)
                let line = "{\"ts\":\(index * 3),\"url\":\"\(url)\",\"user\":\(user)}"
                let rejection = try line.utf8CString.withUnsafeBytes { bytes in
                    try ingestor.ingest(line: UnsafeRawBufferPointer(rebasing: bytes.dropLast()))
                }
                #expect(rejection == nil)
            }
            _ = try ingestor.finish()
            return try ParallelJSONIngestTests.image(of: store)
        }
    }

    @Test(arguments: [2, 3, 8])
    func typedStoreIsByteIdenticalToOneCompressingThread(parallelism: Int) throws {
        let sequential = try Self.typedImage(parallelism: 1)
        let parallel = try Self.typedImage(parallelism: parallelism)
        #expect(sequential.count > 200, "too few blocks to exercise the batches: \(sequential.count) rows")
        #expect(parallel == sequential)
    }

    @Test(arguments: [2, 5])
    func jsonStoreIsByteIdenticalToOneCompressingThread(parallelism: Int) throws {
        let sequential = try Self.jsonImage(parallelism: 1)
        let parallel = try Self.jsonImage(parallelism: parallelism)
        #expect(sequential.count > 200, "too few blocks to exercise the batches: \(sequential.count) rows")
        #expect(parallel == sequential)
    }
}
