import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// Persisted bytes are part of the format: where a block is compressed (the appender's thread, an
// engine task, once the committer) and how a seal row is counted (from the block headers on disk,
// or from the counts a batch carries) must not change a byte. The digest below was computed by
// the code path before compression moved off the committer (main at 28d0151): the same input
// must give the same blocks, seal rows and progress marks.

@Suite struct BlockBytesFixtureTests {
    /// XXH64 of every stream's blocks (key and bytes), seal rows and the program's progress marks,
    /// written by the code path of main at 28d0151.
    static let expectedDigest: UInt64 = 0xce99_c728_ed01_cea6

    @Test func sameInputGivesTheBlocksOfThePreviousCodePath() throws {
        let directory = try TemporaryDirectory(prefix: "strata-block-bytes")
        let path = directory.appending("store")
        try BlockBytesFixture.write(path)
        let digest = try BlockBytesFixture.digest(ofStoreAt: path, program: "fixture")
        #expect(digest == Self.expectedDigest, "digest 0x\(String(digest, radix: 16))")
    }
}

/// Writes a store through every block-making path: a keyed event-time appender with small blocks,
/// several commits per interval and late records; a JSON ingest; a program with a shuffle, a
/// running state and saved outputs.
enum BlockBytesFixture {
    static let intervals = 6

    static func write(_ path: String) throws {
        let store = try Store(at: path)
        let events = try store.stream("events", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 3)
        var limits = StreamAppender.Limits()
        limits.blockBytes = 4 << 10
        limits.commitBytes = 16 << 10
        let appender = try events.eventTimeAppender(allowedLateness: .milliseconds(300), limits: limits) {
            $0.key
        }
        var state: UInt64 = 0x5EED
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        for t in 0..<intervals {
            for i in 0..<3_000 {
                let n = next()
                let key = n % 5 == 0 ? "clé-\(n % 700)" : "k\(n % 900)"
                // Mostly in order; every 97th record half a second late.
                var ms = Int64(t * 1_000 + i / 3)
                if i % 97 == 0 { ms = max(0, ms - 700) }
                try appender.append(KeyValue(key, Int64(n % 1_000)), eventTime: Timestamp(rawValue: ms * 1_000_000))
            }
        }
        try appender.sealAll()

        // Placed by the field's bytes, as every keyed JSON stream was before the placement was
        // recorded (`KeyPlacement.fieldBytes`, catalog row version 1): such a stream must keep
        // writing the bytes it wrote. New streams' `stringKey` placement is pinned by
        // JSONKeyPlacementTests against the engine's own routing.
        let json = StoredStream<JSONRecord>(store: store.log, descriptor: try store.log.createOrOpenStream(
            LogStore.StreamSpec(name: "json", recordType: JSONRecord.recordTypeName, intervalLength: .seconds(1),
                                partitions: 2, timeField: "ts", keyField: "url", timeUnit: .milliseconds,
                                keyPlacement: .fieldBytes)))
        var options = JSONIngestOptions()
        options.appenderLimits.blockBytes = 8 << 10
        let ingestor = try JSONLinesIngestor(stream: json, options: options)
        for i in 0..<8_000 {
            let n = next()
            let line = #"{"ts":\#(1_000 * (i / 2_000) + i % 1_000),"url":"/p/\#(n % 300)","n":\#(n % 97)}"#
            var bytes = Array(line.utf8)
            _ = try bytes.withUnsafeMutableBytes { try ingestor.ingest(line: UnsafeRawBufferPointer($0)) }
        }
        _ = try ingestor.finish()

        let program = try Program(name: "fixture", store: store) { p in
            let pairs = p.read(events).map { KeyValue($0.key, $0.value &* 3 &+ 1) }
            pairs.reduceByKey(partitions: 2, +).save(as: "sums")
            pairs.map { KeyValue($0.key, Int64(1)) }.runningReduce(+).save(as: "counts")
        }
        try program.runUntilCaughtUp()
    }

    /// XXH64 over every stream (by name): its blocks' keys and bytes, its seal rows; then the
    /// program's progress marks.
    static func digest(ofStoreAt path: String, program: String) throws -> UInt64 {
        let image = try LogImage(ofStoreAt: path, program: program)
        var w = BinaryWriter(capacity: 1 << 20)
        for name in image.streams.keys.sorted() {
            guard let stream = image.streams[name] else { continue }
            w.write(name)
            for block in stream.blocks {
                w.write(block.interval)
                w.write(block.partition)
                w.write(block.chunk)
                w.write(UInt64(block.bytes.count))
                block.bytes.withUnsafeBytes { w.write(raw: $0) }
            }
            for (interval, seal) in stream.seals {
                w.write(interval.rawValue)
                seal.encodedRow().withUnsafeBytes { w.write(raw: $0) }
            }
        }
        for (name, mark) in image.progress {
            w.write(name)
            mark.encodedRow().withUnsafeBytes { w.write(raw: $0) }
        }
        return w.bytes.withUnsafeBytes { XXH64.hash($0) }
    }
}
