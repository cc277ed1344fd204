/// A block to append: either already encoded, or a framed raw payload the committer compresses
/// on its own thread before the write transaction.
package struct PendingBlock: Sendable {
    package var stream: StreamDescriptor
    package var interval: Interval
    package var partition: PartitionIndex
    /// The block's bytes (header and payload as stored), or the raw framed payload.
    package var bytes: [UInt8]
    /// For a raw payload, its record count; `nil` when `bytes` is an encoded block.
    package var rawRecordCount: Int?

    /// A block already encoded.
    package init(stream: StreamDescriptor, interval: Interval, partition: PartitionIndex, bytes: [UInt8]) {
        self.stream = stream
        self.interval = interval
        self.partition = partition
        self.bytes = bytes
        self.rawRecordCount = nil
    }

    /// A raw framed payload of `recordCount` records, to be compressed by the committer.
    package init(stream: StreamDescriptor, interval: Interval, partition: PartitionIndex, payload: [UInt8], recordCount: Int) {
        self.stream = stream
        self.interval = interval
        self.partition = partition
        self.bytes = payload
        self.rawRecordCount = recordCount
    }
}

/// One atomic write to the logs: blocks to append, intervals to seal, late records to count.
package struct AppendBatch: Sendable {
    /// Blocks, appended in order as the next chunks of their (interval, partition).
    package var blocks: [PendingBlock] = []
    /// Streams to seal through an interval, after the blocks are in.
    package var seals: [(StreamDescriptor, Interval)] = []
    /// Late records to add to a stream's frontier count.
    package var lateCounts: [(StreamDescriptor, UInt64)] = []
    /// Progress marks to set, by vertex name, in the same transaction as the blocks and seals.
    package var progress: [(String, ProgressMark)] = []
    /// Vertex snapshots to put, and older ones to prune (`LogStore+Snapshots.swift`).
    package var snapshots = SnapshotWrites()
    /// Per-vertex counters to add to (`LogStore+Snapshots.swift`).
    package var vertexStats: [(String, VertexStatsUpdate)] = []

    package init() {}

    /// Whether the batch writes nothing.
    package var isEmpty: Bool {
        blocks.isEmpty && seals.isEmpty && lateCounts.isEmpty && progress.isEmpty && snapshots.isEmpty
            && vertexStats.isEmpty
    }
    /// The bytes of its blocks.
    package var byteCount: Int { blocks.reduce(0) { $0 + $1.bytes.count } }
}

extension LogStore {
    /// Submits a batch to the committer; the ticket is acknowledged when it is durable.
    package func submit(_ batch: AppendBatch, chain: CommitChain?) -> CommitTicket {
        let signal = sealSignal
        var afterCommit: (@Sendable () -> Void)? = nil
        if !batch.seals.isEmpty {
            let seals = committer.metrics.seals
            afterCommit = { @Sendable in
                signal.bump()
                seals.increment()
            }
        }
        return committer.submit(bytes: batch.byteCount, chain: chain, afterCommit: afterCommit) { [self] in
            let encoded = try encodeRawBlocks(batch)
            return { [self] txn in try apply(encoded, in: txn) }
        }
    }

    /// Compresses the batch's raw payloads into blocks (on the committer's thread, outside the
    /// write transaction) and returns their buffers to the pool.
    ///
    /// - Throws: `.recordTooLarge` for a payload over the block limit (one huge record, such as a
    ///   grouped value of tens of megabytes); nothing of the batch is written.
    private func encodeRawBlocks(_ batch: AppendBatch) throws(StorageError) -> AppendBatch {
        var batch = batch
        for block in batch.blocks where block.rawRecordCount != nil && block.bytes.count > BlockHeader.maxRawLength {
            throw .recordTooLarge(stream: block.stream.name, bytes: block.bytes.count)
        }
        committerCodec.withLock { codec in
            for index in batch.blocks.indices {
                guard let count = batch.blocks[index].rawRecordCount else { continue }
                var payload = batch.blocks[index].bytes
                batch.blocks[index].bytes = payload.withUnsafeBytes { codec.encode(payload: $0, recordCount: count) }
                batch.blocks[index].rawRecordCount = nil
                payload.removeAll(keepingCapacity: true)
                recyclePayloadBuffer(payload)
            }
        }
        return batch
    }

    /// A payload buffer from the pool (empty, with capacity), or a new one.
    package func takePayloadBuffer(capacity: Int) -> [UInt8] {
        if let buffer = payloadPool.withLock({ $0.popLast() }), buffer.capacity >= capacity { return buffer }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(capacity)
        return buffer
    }

    private func recyclePayloadBuffer(_ buffer: [UInt8]) {
        payloadPool.withLock { pool in if pool.count < 64 { pool.append(buffer) } }
    }

    /// Applies a batch inside a write transaction.
    ///
    /// - Throws: `.intervalSealed` when a block belongs to a sealed interval; `.corrupt` when the log
    ///   is damaged where sealing looks.
    package func apply(_ batch: AppendBatch, in txn: borrowing Transaction) throws {
        var frontierCache: [StreamID: StreamFrontier] = [:]  // lookup only
        var nextChunk: [BlockKey: UInt32] = [:]  // keyed with chunk 0; lookup only
        func frontier(_ descriptor: StreamDescriptor) throws -> StreamFrontier {
            if let cached = frontierCache[descriptor.id] { return cached }
            let loaded = try self.frontier(of: descriptor, in: txn)
            frontierCache[descriptor.id] = loaded
            return loaded
        }
        for block in batch.blocks {
            let f = try frontier(block.stream)
            if let sealed = f.sealedThrough, block.interval <= sealed {
                throw StorageError.intervalSealed(
                    StoreLocation(stream: block.stream.name, interval: block.interval, partition: block.partition))
            }
            let slot = BlockKey(stream: block.stream.id, interval: block.interval, partition: block.partition,
                                chunk: ChunkIndex(rawValue: 0))
            let chunk: UInt32
            if let known = nextChunk[slot] {
                chunk = known
            } else {
                chunk = try firstFreeChunk(slot, in: txn)
            }
            nextChunk[slot] = chunk + 1
            var key = slot
            key.chunk = ChunkIndex(rawValue: chunk)
            try key.withEncodedBytes { keyBytes in
                try block.bytes.withUnsafeBytes { try txn.put(blocks, key: keyBytes, value: $0) }
            }
        }
        for (descriptor, count) in batch.lateCounts where count > 0 {
            var f = try frontier(descriptor)
            f.lateRecords &+= count
            frontierCache[descriptor.id] = f
            try putFrontier(f, of: descriptor.id, txn)
        }
        for (descriptor, through) in batch.seals {
            var f = try frontier(descriptor)
            if try seal(descriptor, through: through, frontier: &f, in: txn) {
                frontierCache[descriptor.id] = f
                try putFrontier(f, of: descriptor.id, txn)
            }
        }
        for (name, mark) in batch.progress { try putProgress(mark, named: name, txn) }
        try applySnapshots(batch.snapshots, vertexStats: batch.vertexStats, in: txn)
    }

    /// The chunk number after the last block of (stream, interval, partition), 0 when there is none.
    private func firstFreeChunk(_ slot: BlockKey, in txn: borrowing Transaction) throws -> UInt32 {
        try txn.withCursor(blocks) { cursor in
            var after = slot
            after.chunk = ChunkIndex(rawValue: UInt32.max)
            let found = try after.withEncodedBytes { try cursor.seek(atLeast: $0) }
            let previous = found == nil ? try cursor.last() : try cursor.previous()
            guard let (keyBytes, _) = previous, let key = BlockKey(decoding: keyBytes),
                  key.stream == slot.stream, key.interval == slot.interval, key.partition == slot.partition else {
                return 0
            }
            return key.chunk.rawValue + 1
        }
    }

    /// Seals every interval of a stream up to `through`: writes a seal row for each interval that
    /// holds blocks, advances the frontier and applies retention. Returns whether anything changed.
    func seal(_ descriptor: StreamDescriptor, through: Interval, frontier: inout StreamFrontier,
              in txn: borrowing Transaction) throws -> Bool {
        if let sealed = frontier.sealedThrough, through <= sealed { return false }
        let start = frontier.sealedThrough?.next ?? Interval(0)
        let partitions = Int(descriptor.partitions)
        var sealRows: [(Interval, SealRecord)] = []
        try txn.withCursor(blocks) { cursor in
            var entry = try BlockKey(stream: descriptor.id, interval: start, partition: PartitionIndex(0),
                                     chunk: ChunkIndex(rawValue: 0)).withEncodedBytes { try cursor.seek(atLeast: $0) }
            var current: Interval?
            var seal = SealRecord(chunks: [UInt32](repeating: 0, count: partitions), records: 0, rawBytes: 0, storedBytes: 0)
            while let (keyBytes, value) = entry {
                guard let key = BlockKey(decoding: keyBytes), key.stream == descriptor.id, key.interval <= through else { break }
                let location = StoreLocation(stream: descriptor.name, interval: key.interval, partition: key.partition)
                if key.interval != current {
                    if let current { sealRows.append((current, seal)) }
                    current = key.interval
                    seal = SealRecord(chunks: [UInt32](repeating: 0, count: partitions), records: 0, rawBytes: 0, storedBytes: 0)
                }
                let p = Int(key.partition.rawValue)
                guard p < partitions else {
                    throw StorageError.partitionOutOfRange(location, partitions: descriptor.partitions)
                }
                guard key.chunk.rawValue == seal.chunks[p] else {
                    throw StorageError.corrupt(location, .missingBlock(chunk: seal.chunks[p]))
                }
                let header: BlockHeader
                do throws(Corruption) { header = try BlockHeader(parsing: value) } catch { throw StorageError.corrupt(location, error) }
                seal.chunks[p] += 1
                seal.records += UInt64(header.recordCount)
                seal.rawBytes += UInt64(header.rawLength)
                seal.storedBytes += UInt64(value.count)
                entry = try cursor.next()
            }
            if let current { sealRows.append((current, seal)) }
        }
        for (interval, seal) in sealRows {
            let row = seal.encodedRow()
            try SealKey(stream: descriptor.id, interval: interval).withEncodedBytes { key in
                try row.withUnsafeBytes { try txn.put(seals, key: key, value: $0) }
            }
        }
        frontier.sealedThrough = through
        if frontier.firstInterval == nil, let first = sealRows.first?.0 { frontier.firstInterval = first }
        try applyRetention(descriptor, frontier: &frontier, in: txn)
        return true
    }

    /// Drops whole intervals older than the stream's retention keeps: blocks and seal rows.
    func applyRetention(_ descriptor: StreamDescriptor, frontier: inout StreamFrontier,
                        in txn: borrowing Transaction) throws {
        // The catalog's retention, not the caller's copy: `setRetention` may have changed it since.
        let retention = try self.descriptor(named: descriptor.name, in: txn)?.retention ?? descriptor.retention
        guard let kept = retention.keptIntervals(intervalLength: descriptor.intervalLength),
              let sealed = frontier.sealedThrough else { return }
        let end = sealed.rawValue &+ 1
        guard end > kept else { return }
        let floor = Interval(end - kept)
        guard floor > frontier.retainedFrom else { return }
        let from = frontier.retainedFrom
        // Blocks: re-seek after every delete rather than trusting the cursor position lmdb.h
        // leaves after `mdb_cursor_del`.
        try txn.withCursor(blocks) { cursor in
            let startKey = BlockKey(stream: descriptor.id, interval: from, partition: PartitionIndex(0), chunk: ChunkIndex(rawValue: 0))
            while let (keyBytes, _) = try startKey.withEncodedBytes({ try cursor.seek(atLeast: $0) }),
                  let key = BlockKey(decoding: keyBytes), key.stream == descriptor.id, key.interval < floor {
                try cursor.deleteCurrent()
            }
        }
        try txn.withCursor(seals) { cursor in
            let startKey = SealKey(stream: descriptor.id, interval: from)
            while let (keyBytes, _) = try startKey.withEncodedBytes({ try cursor.seek(atLeast: $0) }),
                  let key = SealKey(decoding: keyBytes), key.stream == descriptor.id, key.interval < floor {
                try cursor.deleteCurrent()
            }
        }
        frontier.retainedFrom = floor
    }
}
