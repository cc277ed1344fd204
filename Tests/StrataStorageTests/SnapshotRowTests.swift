import StrataTestSupport
import Testing

@testable import StrataStorage

// The snapshot key and the vertex stats row are part of the format (docs/format.md): golden bytes,
// order, round trips, damage as a typed error; counters add up across commits.

@Suite struct SnapshotRowTests {
    @Test func snapshotKeyBytesAreGolden() {
        let key = SnapshotKey(vertex: "p.v1", interval: Interval(29), partition: PartitionIndex(2))
        #expect(key.encoded == [0x70, 0x2E, 0x76, 0x31, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x1D, 0, 0, 0, 0x02])
        let decoded = key.encoded.withUnsafeBytes { SnapshotKey(decoding: $0, vertex: "p.v1") }
        #expect(decoded == key)
        #expect(key.encoded.withUnsafeBytes { SnapshotKey(decoding: $0, vertex: "p.v") } == nil)
        #expect(key.encoded.withUnsafeBytes { SnapshotKey(decoding: $0, vertex: "p.v10") } == nil)
    }

    /// One vertex's keys sort by (interval, partition), and never interleave with another
    /// vertex's whose name extends it.
    @Test func snapshotKeysSortByVertexThenIntervalThenPartition() {
        let keys = [("a.v1", 0, 1), ("a.v1", 1, 0), ("a.v1", 256, 0), ("a.v1.x", 0, 0), ("a.v10", 0, 0), ("a.v2", 0, 0)]
            .map { SnapshotKey(vertex: $0.0, interval: Interval(UInt64($0.1)), partition: PartitionIndex(UInt32($0.2))) }
        let sorted = keys.sorted { $0.encoded.lexicographicallyPrecedes($1.encoded) }
        #expect(sorted == keys)
    }

    @Test func statsRowRoundTripsAndRejectsEveryFlippedByte() throws {
        var stats = VertexStats()
        stats.inputs = ["events", "p.v0.shuffle"]
        stats.recoveries = 3
        stats.speculativeLaunches = 2
        stats.retries = 1
        let row = stats.encodedRow()
        #expect(try row.withUnsafeBytes { try VertexStats(row: $0) } == stats)
        for index in row.indices {
            var damaged = row
            damaged[index] ^= 0x40
            #expect(throws: Corruption.self) { try damaged.withUnsafeBytes { try VertexStats(row: $0) } }
        }
    }

    @Test func countersAddUpAcrossCommitsAndSnapshotRowsPrune() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snaprows")
        let log = try LogStore.open(path: directory.appending("store"), options: StoreOptions())
        var first = AppendBatch()
        first.vertexStats = [("p.v1", VertexStatsUpdate(inputs: ["events"], recoveries: 1))]
        first.bumpVertexStats(vertex: "p.v1", speculativeLaunches: 2)
        var codec = BlockCodec()
        for t in [3, 7, 11] as [UInt64] {
            for p in 0..<2 as Range<UInt32> {
                let payload: [UInt8] = [1, UInt8(t), UInt8(p)]
                let block = payload.withUnsafeBytes { codec.encode(payload: $0, recordCount: 0) }
                first.snapshots.rows.append((SnapshotKey(vertex: "p.v1", interval: Interval(t), partition: PartitionIndex(p)),
                                             block))
            }
        }
        try log.submit(first, chain: nil).wait()
        #expect(try log.snapshotIntervals(of: "p.v1").map(\.0) == [Interval(3), Interval(7), Interval(11)])
        #expect(try log.latestSnapshotInterval(of: "p.v1") == Interval(11))
        #expect(try log.latestSnapshotInterval(of: "p.v") == nil)
        let payload = try log.withSnapshot(SnapshotKey(vertex: "p.v1", interval: Interval(7), partition: PartitionIndex(1)),
                                           codec: &codec) { $0.map { Array($0) } }
        #expect(payload == [1, 7, 1])

        var second = AppendBatch()
        second.bumpVertexStats(vertex: "p.v1", speculativeLaunches: 1, retries: 4)
        second.snapshots.pruneBefore = [("p.v1", Interval(11))]
        try log.submit(second, chain: nil).wait()
        let stats = try #require(try log.vertexStats(named: "p.v1"))
        #expect(stats.inputs == ["events"])
        #expect(stats.recoveries == 1 && stats.speculativeLaunches == 3 && stats.retries == 4)
        #expect(try log.snapshotIntervals(of: "p.v1").map(\.0) == [Interval(11)])

        // A damaged snapshot block is a typed error naming the snapshot.
        let key = SnapshotKey(vertex: "p.v1", interval: Interval(11), partition: PartitionIndex(0))
        try log.unsafeDamageSnapshot(key, byteOffset: 33)
        do {
            _ = try log.withSnapshot(key, codec: &codec) { $0.map { Array($0) } }
            Issue.record("a damaged snapshot read back")
        } catch let error as StorageError {
            #expect(error == .corrupt(StoreLocation(stream: "snapshot of p.v1", interval: Interval(11),
                                                    partition: PartitionIndex(0)), error.corruption ?? .badMagic))
        }
    }
}

private extension StorageError {
    var corruption: Corruption? {
        if case .corrupt(_, let corruption) = self { return corruption }
        return nil
    }
}
