import Synchronization
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

private func location(_ stream: String, _ interval: UInt64? = nil, _ partition: UInt32? = nil) -> StoreLocation {
    StoreLocation(stream: stream, interval: interval.map { Interval($0) }, partition: partition.map { PartitionIndex($0) })
}

private func blockKey(_ stream: StoredStream<Int64>, _ interval: UInt64, _ partition: UInt32, _ chunk: UInt32) -> [UInt8] {
    BlockKey(stream: stream.descriptor.id, interval: Interval(interval), partition: PartitionIndex(partition),
             chunk: ChunkIndex(rawValue: chunk)).withEncodedBytes { Array($0) }
}

/// The value under `key` in one of the store's databases.
private func value(_ store: Store, _ database: Database, _ key: [UInt8]) throws -> [UInt8]? {
    try store.log.environment.read { txn in
        try key.withUnsafeBytes { k in try txn.withValue(database, key: k) { $0.map { Array($0) } } }
    }
}

/// Writes (or with `nil`, deletes) the value under `key`, bypassing every check: as damage would.
private func overwrite(_ store: Store, _ database: Database, _ key: [UInt8], with bytes: [UInt8]?,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
    let found = try store.log.committer.write { txn in
        try key.withUnsafeBytes { k in
            if let bytes {
                try bytes.withUnsafeBytes { try txn.put(database, key: k, value: $0) }
                return true
            }
            return try txn.delete(database, key: k)
        }
    }
    #expect(found, "nothing to delete", sourceLocation: sourceLocation)
}

/// A stream "v" of 2 partitions: intervals 0, 1 and 3 hold records (interval 1 in 3 chunks per
/// partition), interval 2 is empty, everything through 4 is sealed.
private func makeStream(_ store: Store) throws -> StoredStream<Int64> {
    let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 2)
    var limits = StreamAppender.Limits()
    limits.blockBytes = 40  // a block is cut at 45 bytes: five framed records of 9 bytes
    let appender = try stream.explicitAppender(limits: limits)
    for (t, count) in [(UInt64(0), 4), (1, 24), (3, 6)] {
        for i in 0..<count { try appender.append(Int64(t) * 1_000 + Int64(i), interval: Interval(t)) }
    }
    try appender.seal(through: Interval(4))
    return stream
}

/// The checksum mismatch a block damaged this way reports.
private func mismatch(_ damaged: [UInt8]) -> Corruption {
    let stored = damaged.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) }
    let computed = damaged.withUnsafeBytes { BlockHeader.computeChecksum($0) }
    return .checksumMismatch(stored: stored, computed: computed)
}

@Suite struct VerifyTests {
    @Test func aCleanStoreIsClean() throws {
        try withStore { store in
            let stream = try makeStream(store)
            let seals = try store.log.sealRecords(of: stream.descriptor, in: Interval(0)...Interval(4))
            #expect(seals.map(\.1.chunks) == [[1, 1], [3, 3], [1, 1]])
            // Flushed but not sealed: counted apart, not a problem.
            let appender = try stream.explicitAppender()
            for i in Int64(0)..<3 { try appender.append(i, interval: Interval(6)) }
            try appender.flush()
            var progress: [VerifyReport] = []
            let report = try store.verify { progress.append($0) }
            #expect(report.isClean)
            #expect(report.problems.isEmpty)
            #expect(report.streams == 2)
            #expect(report.intervals == 3)
            #expect(report.blocks == 10)
            #expect(report.records == 34)
            #expect(report.unsealedBlocks == 2)
            // Progress after each interval with blocks, counts growing to the totals.
            #expect(progress.map(\.blocks) == [2, 8, 10, 10])
            #expect(progress.last?.unsealedBlocks == 2)
            #expect(try store.verify(stream: "v") == report.withStreams(1))
            #expect(try store.verify(stream: "v.late").isClean)
        }
    }

    @Test func aDamagedBlockIsNamedByStreamIntervalAndPartition() throws {
        try withStore { store in
            let stream = try makeStream(store)
            let blocks = store.log.blocks
            let key = blockKey(stream, 3, 1, 0)
            let original = try #require(try value(store, blocks, key))
            var damaged = original
            damaged[damaged.count - 1] ^= 0x20
            try overwrite(store, blocks, key, with: damaged)

            let report = try store.verify()
            #expect(report.problems == [VerifyProblem(location: location("v", 3, 1), corruption: mismatch(damaged))])
            #expect(!report.isClean)
            #expect(report.problems[0].description == "stream v interval 3 partition 1: \(mismatch(damaged))")
            #expect(throws: StorageError.corrupt(location("v", 3, 1), mismatch(damaged))) { try stream.read(Interval(3)) }
            #expect(throws: StorageError.corrupt(location("v", 3, 1), mismatch(damaged))) {
                try stream.read(Interval(3), partition: PartitionIndex(1))
            }
            // The rest stays readable.
            #expect(try stream.read(Interval(3), partition: PartitionIndex(0)).count == 3)
            #expect(try stream.read(Interval(1)).count == 24)

            // A damaged header is named as such.
            damaged = original
            damaged[0] = 0
            try overwrite(store, blocks, key, with: damaged)
            #expect(try store.verify().problems == [VerifyProblem(location: location("v", 3, 1), corruption: .badMagic)])
            // Repaired, it is clean again.
            try overwrite(store, blocks, key, with: original)
            #expect(try store.verify().isClean)
        }
    }

    @Test func aDeletedBlockIsMissing() throws {
        try withStore { store in
            let stream = try makeStream(store)
            let blocks = store.log.blocks
            try overwrite(store, blocks, blockKey(stream, 1, 0, 1), with: nil)
            var report = try store.verify()
            #expect(report.problems == [VerifyProblem(location: location("v", 1, 0), corruption: .missingBlock(chunk: 1))])
            #expect(throws: StorageError.corrupt(location("v", 1, 0), .missingBlock(chunk: 1))) { try stream.read(Interval(1)) }
            #expect(try stream.read(Interval(1), partition: PartitionIndex(1)).count == 12)

            // Every block of interval 3 gone: its seal names the first partition with chunks.
            try overwrite(store, blocks, blockKey(stream, 3, 0, 0), with: nil)
            try overwrite(store, blocks, blockKey(stream, 3, 1, 0), with: nil)
            report = try store.verify()
            #expect(report.problems == [
                VerifyProblem(location: location("v", 1, 0), corruption: .missingBlock(chunk: 1)),
                VerifyProblem(location: location("v", 3, 0), corruption: .missingBlock(chunk: 0)),
            ])
            #expect(throws: StorageError.corrupt(location("v", 3, 0), .missingBlock(chunk: 0))) { try stream.read(Interval(3)) }
        }
    }

    @Test func anExtraBlockBelowTheFrontierIsAnOrphan() throws {
        try withStore { store in
            let stream = try makeStream(store)
            let blocks = store.log.blocks
            let block = try #require(try value(store, blocks, blockKey(stream, 0, 0, 0)))
            // In an empty sealed interval, after the last chunk of a partition, and in a partition
            // the stream does not have.
            try overwrite(store, blocks, blockKey(stream, 2, 0, 0), with: block)
            try overwrite(store, blocks, blockKey(stream, 1, 1, 3), with: block)
            try overwrite(store, blocks, blockKey(stream, 3, 7, 0), with: block)
            // Above the frontier it is only an unsealed block.
            try overwrite(store, blocks, blockKey(stream, 9, 0, 0), with: block)
            let report = try store.verify()
            #expect(report.problems == [
                VerifyProblem(location: location("v", 1, 1), corruption: .orphanBlock(chunk: 3)),
                VerifyProblem(location: location("v", 2, 0), corruption: .orphanBlock(chunk: 0)),
                VerifyProblem(location: location("v", 3, 7), corruption: .orphanBlock(chunk: 0)),
            ])
            #expect(report.unsealedBlocks == 1)
            #expect(report.blocks == 10)
            // Reads follow the seals: the orphans are not read; but an interval without a seal row
            // that has blocks is not read as empty (a damaged seal key hides the row).
            #expect(try stream.read(Interval(1)).count == 24)
            #expect(throws: StorageError.corrupt(StoreLocation(stream: "v", interval: Interval(2)), .orphanBlock(chunk: 0))) {
                try stream.read(Interval(2))
            }
        }
    }

    @Test func problemsComeInStreamIntervalPartitionOrder() throws {
        try withStore { store in
            let stream = try makeStream(store)
            let other = try store.stream("a", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try other.explicitAppender()
            try appender.append(1, interval: Interval(0))
            try appender.seal(through: Interval(0))
            let blocks = store.log.blocks
            for (t, p) in [(UInt64(3), UInt32(1)), (0, 1), (3, 0), (1, 1)] {
                var block = try #require(try value(store, blocks, blockKey(stream, t, p, 0)))
                block[block.count - 1] ^= 1
                try overwrite(store, blocks, blockKey(stream, t, p, 0), with: block)
            }
            let otherKey = BlockKey(stream: other.descriptor.id, interval: Interval(0), partition: PartitionIndex(0),
                                    chunk: ChunkIndex(rawValue: 0)).withEncodedBytes { Array($0) }
            try overwrite(store, blocks, otherKey, with: nil)
            let report = try store.verify()
            #expect(report.problems.map(\.location) == [
                location("a", 0, 0), location("v", 0, 1), location("v", 1, 1), location("v", 3, 0), location("v", 3, 1),
            ])
            #expect(report.problems[0].corruption == .missingBlock(chunk: 0))
        }
    }

    @Test func damagedRowsAreProblemsNotCrashes() throws {
        try withStore { store in
            let stream = try makeStream(store)
            // A seal row.
            let sealKey = SealKey(stream: stream.descriptor.id, interval: Interval(3)).withEncodedBytes { Array($0) }
            let seals = store.log.seals
            var row = try #require(try value(store, seals, sealKey))
            row[1] ^= 0xFF
            try overwrite(store, seals, sealKey, with: row)
            let body = Array(row.dropLast(8))
            let rowMismatch = Corruption.checksumMismatch(
                stored: row.suffix(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }, computed: XXH64.hash(body))
            #expect(throws: StorageError.corrupt(location("v", 3), rowMismatch)) { try stream.read(Interval(3)) }
            // Only the damaged row is reported, not every block of the stream as an orphan.
            #expect(try store.verify().problems == [VerifyProblem(location: location("v", 3), corruption: rowMismatch)])
            #expect(throws: StorageError.corrupt(location("v", 3), rowMismatch)) { try store.stats(of: "v") }

            // A frontier row: the stream is reported, the others are still checked.
            let frontierKey = StreamKey(stream.descriptor.id).withEncodedBytes { Array($0) }
            let frontiers = store.log.frontiers
            var frontier = try #require(try value(store, frontiers, frontierKey))
            frontier.removeLast()
            try overwrite(store, frontiers, frontierKey, with: frontier)
            var report = try store.verify()
            #expect(report.streams == 2)
            #expect(report.problems.count == 1)
            #expect(report.problems.first?.location == location("v"))
            #expect(throws: StorageError.self) { try stream.read(Interval(0)) }

            // A catalog row: nothing can be listed, and that is the one problem reported.
            let catalog = store.log.catalog
            var entry = try #require(try value(store, catalog, Array("v".utf8)))
            entry[5] ^= 1
            try overwrite(store, catalog, Array("v".utf8), with: entry)
            report = try store.verify()
            #expect(report.problems.count == 1)
            #expect(report.problems.first?.location == location("v"))
            #expect(throws: StorageError.self) { try store.streams() }
        }
    }
}

extension VerifyReport {
    /// The same report, as if `streams` streams had been checked.
    fileprivate func withStreams(_ streams: Int) -> VerifyReport {
        var copy = self
        copy.streams = streams
        return copy
    }
}
