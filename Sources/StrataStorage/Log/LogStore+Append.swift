import Dispatch
import Synchronization

/// A block to append. The committer only writes compressed blocks: engine tasks compress theirs
/// as they cut them (`init(…payload:…)`), and an appender's raw payloads (`init(…rawPayload:…)`,
/// or `init(…rawBuffer:…)` in raw memory) are compressed by its `BlockCompressor` before they
/// reach the committer.
package struct PendingBlock: Sendable {
    package var stream: StreamDescriptor
    package var interval: Interval
    package var partition: PartitionIndex
    /// The block's bytes as stored (header and payload), or the framed payload while not
    /// compressed (empty while the payload is in `rawBuffer`).
    package private(set) var bytes: [UInt8]
    /// The framed payload in raw memory, while not compressed (`init(…rawBuffer:…)`).
    private var rawBuffer: RawPayload?
    /// The block's record count (from its header), which the interval's seal row sums.
    package private(set) var recordCount: Int
    /// The block's raw (uncompressed) payload length, which the interval's seal row sums.
    package private(set) var rawLength: Int
    /// Whether `bytes` is the encoded block (LZ4 and checksum done).
    package private(set) var isCompressed: Bool

    /// Compresses a framed payload of `recordCount` records into a block, on the calling thread.
    ///
    /// - Throws: `.recordTooLarge` for a payload over the block limit (one huge record, such as a
    ///   grouped value of tens of megabytes).
    package init(stream: StreamDescriptor, interval: Interval, partition: PartitionIndex,
                 payload: UnsafeRawBufferPointer, recordCount: Int) throws(StorageError) {
        guard payload.count <= BlockHeader.maxRawLength else {
            throw .recordTooLarge(stream: stream.name, bytes: payload.count)
        }
        self.stream = stream
        self.interval = interval
        self.partition = partition
        bytes = BlockCodec.encodeBlock(payload: payload, recordCount: recordCount)
        self.recordCount = recordCount
        rawLength = payload.count
        isCompressed = true
    }

    /// A framed payload of `recordCount` records, compressed later by `compress(recyclingInto:)` (an appender's
    /// `BlockCompressor`).
    package init(stream: StreamDescriptor, interval: Interval, partition: PartitionIndex, rawPayload: [UInt8],
                 recordCount: Int) {
        self.stream = stream
        self.interval = interval
        self.partition = partition
        bytes = rawPayload
        self.recordCount = recordCount
        rawLength = rawPayload.count
        isCompressed = false
    }

    /// A framed payload in raw memory, compressed later by `compress(recyclingInto:)` (an appender's
    /// `BlockCompressor`), which reads it in place; the block owns `rawBuffer` until then.
    package init(stream: StreamDescriptor, interval: Interval, partition: PartitionIndex, rawBuffer: RawPayload) {
        self.stream = stream
        self.interval = interval
        self.partition = partition
        bytes = []
        self.rawBuffer = rawBuffer
        recordCount = rawBuffer.recordCount
        rawLength = rawBuffer.count
        isCompressed = false
    }

    /// A block already encoded (a copy of a stored one); its header gives the counts.
    ///
    /// - Throws: `Corruption` when the header does not parse.
    package init(stream: StreamDescriptor, interval: Interval, partition: PartitionIndex,
                 block: [UInt8]) throws(Corruption) {
        let parsed = block.withUnsafeBytes { raw in
            Result { () throws(Corruption) -> BlockHeader in try BlockHeader(parsing: raw) }
        }
        let header = try parsed.get()
        self.stream = stream
        self.interval = interval
        self.partition = partition
        bytes = block
        recordCount = header.recordCount
        rawLength = header.rawLength
        isCompressed = true
    }

    /// The bytes this block counts for in a batch: as stored once compressed, the raw payload's before.
    package var byteCount: Int { isCompressed ? bytes.count : rawLength }

    /// Compresses a raw payload into the block, on the calling thread, and hands the payload's
    /// storage to `compressor` for reuse; does nothing when the block was compressed already.
    ///
    /// - Throws: `.recordTooLarge` for a payload over the block limit.
    package mutating func compress(recyclingInto compressor: BlockCompressor) throws(StorageError) {
        guard !isCompressed else { return }
        guard rawLength <= BlockHeader.maxRawLength else {
            throw .recordTooLarge(stream: stream.name, bytes: rawLength)
        }
        if let raw = rawBuffer {
            // Read in place: the payload is never copied into another buffer before LZ4.
            bytes = BlockCodec.encodeBlock(payload: raw.bytes, recordCount: recordCount)
            rawBuffer = nil
            isCompressed = true
            compressor.recycle(raw)
            return
        }
        // Taken out before `bytes` is replaced, so that the buffer is uniquely referenced when it
        // is recycled: emptying a shared array would allocate a new one instead.
        let payload = bytes
        bytes = payload.withUnsafeBytes { BlockCodec.encodeBlock(payload: $0, recordCount: recordCount) }
        isCompressed = true
        compressor.recycle(consume payload)
    }
}

/// Compresses an appender's blocks beside it, then hands them to the committer, in the order the
/// appender submitted them: the appender goes on encoding while its last blocks are compressed,
/// and the committer only writes.
///
/// Batches are taken one at a time, in submission order, on one serial Dispatch queue; the blocks
/// of a batch are compressed by up to `parallelism` threads at once (that queue's thread and
/// Dispatch's workers, through `concurrentPerform`), each block on its own into its own slot, so
/// the bytes and their order do not depend on the threads. A batch reaches the committer once all
/// of its blocks are compressed.
///
/// `BlockCompressor` is `Sendable`: its state is the serial queue and a locked list of buffers.
package final class BlockCompressor: Sendable {
    private let queue = DispatchQueue(label: "strata.appender.compress")
    /// Payload buffers handed back after compression, for the appender's next blocks.
    private let spare = Mutex<[[UInt8]]>([])
    /// Raw payloads handed back after compression, for the appender's next blocks.
    private let spareRaw = Mutex<[RawPayload]>([])
    /// The most threads that compress the blocks of one batch at once (at least 1).
    package let parallelism: Int
    /// The most payload buffers kept for reuse; more are freed.
    private let maxSpareBuffers: Int

    /// - Parameters:
    ///   - parallelism: The most threads compressing one batch's blocks at once; values below 1
    ///     count as 1 (the queue's thread alone).
    ///   - maxSpareBuffers: The most payload buffers kept for reuse (at least 1). Enough for the
    ///     blocks in flight means a block's buffer is never a new allocation (page faults, and a
    ///     copy when it grows); each kept buffer holds its memory.
    package init(parallelism: Int = 1, maxSpareBuffers: Int = 8) {
        self.parallelism = max(1, parallelism)
        self.maxSpareBuffers = max(1, maxSpareBuffers)
    }

    /// An empty payload buffer with capacity from an earlier block, or a new one.
    package func takeBuffer(capacity: Int) -> [UInt8] {
        if let buffer = spare.withLock({ $0.popLast() }) { return buffer }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(capacity)
        return buffer
    }

    /// Keeps `buffer`'s storage for a later `takeBuffer`, emptied, unless enough are kept.
    package func recycle(_ buffer: consuming [UInt8]) {
        // Consumed, so that the buffer is uniquely referenced here: emptying a shared array
        // would allocate a new one instead.
        var kept = consume buffer
        guard kept.capacity > 0 else { return }
        kept.removeAll(keepingCapacity: true)
        spare.withLock { if $0.count < maxSpareBuffers { $0.append(kept) } }
    }

    /// An empty raw payload with memory from an earlier block, or a new one of `capacity` bytes.
    package func takeRawPayload(capacity: Int) -> RawPayload {
        if let payload = spareRaw.withLock({ $0.popLast() }) { return payload }
        return RawPayload(capacity: capacity)
    }

    /// Keeps `payload`'s memory for a later `takeRawPayload`, emptied, unless enough are kept.
    package func recycle(_ payload: RawPayload) {
        payload.reset()
        spareRaw.withLock { if $0.count < maxSpareBuffers { $0.append(payload) } }
    }

    fileprivate func async(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }

    /// Compresses every raw block of `blocks` in place, on up to `parallelism` threads, and
    /// recycles their payload buffers.
    ///
    /// - Throws: the error of the first block (by position) that failed, `.recordTooLarge`; the
    ///   blocks are then in no defined state (the batch is dropped).
    fileprivate func compress(_ blocks: inout [PendingBlock]) throws(StorageError) {
        let raw = blocks.indices.filter { !blocks[$0].isCompressed }
        let width = min(parallelism, raw.count)
        guard width > 1 else {
            for index in raw {
                try blocks[index].compress(recyclingInto: self)
            }
            return
        }
        var failures = [StorageError?](repeating: nil, count: raw.count)
        blocks.withUnsafeMutableBufferPointer { blocks in
            failures.withUnsafeMutableBufferPointer { failures in
                let slots = CompressionSlots(blocks: blocks, failures: failures, raw: raw)
                // Worker w takes the raw blocks w, w + width, w + 2·width, …: each slot is
                // written by one thread only, and `concurrentPerform` returns after all of them.
                DispatchQueue.concurrentPerform(iterations: width) { worker in
                    for slot in stride(from: worker, to: raw.count, by: width) {
                        slots.compress(slot, recyclingInto: self)
                    }
                }
            }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
    }
}

/// The blocks of one batch and a failure slot per raw block, for the threads of
/// `BlockCompressor.compress(_:)`.
///
/// `@unchecked Sendable`: both buffers are borrowed for the whole `concurrentPerform` that uses
/// them (it returns only after every iteration), and each slot — its block and its failure — is
/// touched by exactly one iteration.
private struct CompressionSlots: @unchecked Sendable {
    let blocks: UnsafeMutableBufferPointer<PendingBlock>
    let failures: UnsafeMutableBufferPointer<StorageError?>
    /// The positions in `blocks` of the blocks to compress, by slot.
    let raw: [Int]

    /// Compresses the block of `slot` in place and hands its payload's storage to `compressor`;
    /// records a failure in the slot's place.
    func compress(_ slot: Int, recyclingInto compressor: BlockCompressor) {
        do throws(StorageError) {
            try blocks[raw[slot]].compress(recyclingInto: compressor)
        } catch {
            failures[slot] = error
        }
    }
}

/// A store handed to another thread's work, which takes it once: the work's closure then holds
/// nothing of the store, only the box.
private final class StoreHandoff: Sendable {
    private let store: Mutex<LogStore?>
    init(_ store: LogStore) { self.store = Mutex(store) }
    /// The store, the first time; `nil` after.
    func take() -> LogStore? { store.withLock { $0.take() } }
}

/// A batch handed to the compressor's queue, which takes it once: afterwards the batch is held
/// only by the work that compresses it, so its block list and payload buffers are not shared.
private final class BatchHandoff: Sendable {
    private let batch: Mutex<AppendBatch?>
    init(_ batch: consuming AppendBatch) { self.batch = Mutex(batch) }
    /// The batch, the first time; `nil` after.
    func take() -> AppendBatch? { batch.withLock { $0.take() } }
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
    /// Per-vertex timing rows of processed intervals (`VertexTiming.swift`).
    package var vertexTimings: [(String, VertexTiming)] = []
    /// Source positions to put (stream, source name, record), in the same transaction as the
    /// blocks they account for (`InputPosition.swift`).
    package var sources: [(StreamID, String, SourceRecord)] = []
    /// Streams whose retention keeps what their readers still need: each is sealed without its
    /// retention, which is applied after the batch's progress marks, up to the hold its readers'
    /// progress gives (`RetentionHold`).
    package var retentionHolds: [RetentionHold] = []
    /// Whether the commit may skip flushing its meta page (`MDB_NOMETASYNC`) when the store syncs:
    /// only for writes a later synced commit orders after, such as a program's internal streams
    /// (a downstream vertex's commit, synced, follows). A transaction skips it only when every
    /// request in it allows it. See `docs/durability.md`.
    package var defersMetaSync = false

    package init() {}

    /// Whether the batch writes nothing.
    package var isEmpty: Bool {
        blocks.isEmpty && seals.isEmpty && lateCounts.isEmpty && progress.isEmpty && snapshots.isEmpty
            && vertexStats.isEmpty && vertexTimings.isEmpty && sources.isEmpty && retentionHolds.isEmpty
    }
    /// The bytes of its blocks.
    package var byteCount: Int { blocks.reduce(0) { $0 + $1.byteCount } }
}

extension LogStore {
    /// Compresses the batch's raw blocks on `compressor`'s thread, then submits it to the committer
    /// (after every batch given to the same compressor before); the ticket is acknowledged when
    /// the commit is durable.
    ///
    /// Until the batch reaches the committer, its raw bytes count in `Committer.pendingBytes`, so
    /// an appender's back-pressure covers what waits for compression. A block over the size limit
    /// fails the batch, and with it the chain, with `.recordTooLarge`; nothing of it is written.
    package func submit(_ batch: consuming AppendBatch, chain: CommitChain?, compressor: BlockCompressor) -> CommitTicket {
        // The ticket is held until the compressor's work has let go of the store: once a caller
        // sees the commit acknowledged, the committer and the compressor hold nothing of it, so
        // dropping the caller's last reference closes the store at once.
        let ticket = CommitTicket(holds: 1)
        let queued = batch.byteCount
        committer.pendingBytes.add(queued, ordering: .relaxed)
        let handoff = StoreHandoff(self)
        // The batch is moved, not captured: were the closure to hold it while the compressor
        // works on a copy, compressing would copy the block list (the two would share it) and
        // each payload buffer would be shared when recycled — so recycling would allocate a new
        // one, whose pages the appender then faults in again.
        let batchHandoff = BatchHandoff(consume batch)
        compressor.async {
            // The store is released at the end of the `if`, before the hold.
            if let store = handoff.take(), let batch = batchHandoff.take() {
                LogStore.compressAndSubmit(consume batch, store: store, chain: chain, ticket: ticket,
                                           compressor: compressor, queued: queued)
            }
            ticket.release()
        }
        return ticket
    }

    /// The compressor's part of `submit(_:chain:compressor:)`.
    private static func compressAndSubmit(_ batch: consuming AppendBatch, store: LogStore, chain: CommitChain?,
                                          ticket: CommitTicket, compressor: BlockCompressor, queued: Int) {
        defer { store.committer.pendingBytes.subtract(queued, ordering: .relaxed) }
        var batch = consume batch
        do throws(StorageError) {
            try compressor.compress(&batch.blocks)
        } catch {
            chain?.fail(error)
            ticket.complete(.failure(error))
            return
        }
        _ = store.submit(batch, chain: chain, ticket: ticket)
    }

    /// Submits a batch of compressed blocks to the committer; the ticket is acknowledged when it is durable.
    ///
    /// - Parameters:
    ///   - ticket: The ticket to acknowledge (a new one when `nil`).
    ///   - then: Runs on the committer's queue once the batch is committed (after the seal signal's
    ///     bump), before the ticket is acknowledged.
    package func submit(_ batch: AppendBatch, chain: CommitChain?, ticket: CommitTicket? = nil,
                        afterCommit then: (@Sendable () -> Void)? = nil) -> CommitTicket {
        let signal = sealSignal
        var afterCommit = then
        if !batch.seals.isEmpty {
            let seals = committer.metrics.seals
            afterCommit = { @Sendable in
                signal.bump()
                seals.increment()
                then?()
            }
        }
        return committer.submit(bytes: batch.byteCount, chain: chain, defersMetaSync: batch.defersMetaSync,
                                ticket: ticket, afterCommit: afterCommit) { [self] txn in
            try apply(batch, in: txn)
        }
    }

    /// Applies a batch inside a write transaction.
    ///
    /// - Throws: `.intervalSealed` when a block belongs to a sealed interval; `.corrupt` when the log
    ///   is damaged where sealing looks.
    package func apply(_ batch: AppendBatch, in txn: borrowing Transaction) throws {
        var frontierCache: [StreamID: StreamFrontier] = [:]  // lookup only
        var nextChunk: [BlockKey: UInt32] = [:]  // keyed with chunk 0; lookup only
        var untracked: Set<StreamID> = []  // streams with unsealed blocks the tally does not know; lookup only
        func frontier(_ descriptor: StreamDescriptor) throws -> StreamFrontier {
            if let cached = frontierCache[descriptor.id] { return cached }
            let loaded = try self.frontier(of: descriptor, in: txn)
            frontierCache[descriptor.id] = loaded
            return loaded
        }
        for block in batch.blocks {
            guard block.isCompressed else {
                throw StorageError.misuse("stream \(block.stream.name): a block reached the committer uncompressed")
            }
            let f = try frontier(block.stream)
            if let sealed = f.sealedThrough, block.interval <= sealed {
                throw StorageError.intervalSealed(
                    StoreLocation(stream: block.stream.name, interval: block.interval, partition: block.partition))
            }
            guard block.partition.rawValue < block.stream.partitions else {
                throw StorageError.partitionOutOfRange(
                    StoreLocation(stream: block.stream.name, interval: block.interval, partition: block.partition),
                    partitions: block.stream.partitions)
            }
            let slot = BlockKey(stream: block.stream.id, interval: block.interval, partition: block.partition,
                                chunk: ChunkIndex(rawValue: 0))
            if !untracked.contains(block.stream.id), !sealTally.isTracking(block.stream.id) {
                if try hasUnsealedBlocks(block.stream, frontier: f, in: txn) {
                    untracked.insert(block.stream.id)
                } else {
                    sealTally.seed(block.stream.id)
                }
            }
            let chunk: UInt32
            if let counted = sealTally.add(block, partitions: Int(block.stream.partitions)) {
                chunk = counted
            } else if let known = nextChunk[slot] {
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
            let held = batch.retentionHolds.contains { $0.stream.id == descriptor.id }
            if try seal(descriptor, through: through, frontier: &f, appliesRetention: !held, in: txn) {
                frontierCache[descriptor.id] = f
                try putFrontier(f, of: descriptor.id, txn)
            }
        }
        for (name, mark) in batch.progress { try putProgress(mark, named: name, txn) }
        // After the progress marks: a reader committing here counts with its new progress.
        for hold in batch.retentionHolds {
            var f = try frontier(hold.stream)
            let before = f.retainedFrom
            try applyRetention(hold.stream, frontier: &f, keepingFrom: try holdInterval(hold, in: txn), in: txn)
            if f.retainedFrom != before {
                frontierCache[hold.stream.id] = f
                try putFrontier(f, of: hold.stream.id, txn)
            }
        }
        for (stream, source, record) in batch.sources { try putSourceRecord(record, stream: stream, source: source, txn) }
        try applySnapshots(batch.snapshots, vertexStats: batch.vertexStats, in: txn)
        try applyVertexTimings(batch.vertexTimings, in: txn)
    }

    /// Whether the stream has a block after its sealed intervals, as this transaction sees it.
    /// A stream sealed through the last interval index has none: no interval follows it.
    func hasUnsealedBlocks(_ descriptor: StreamDescriptor, frontier: StreamFrontier,
                           in txn: borrowing Transaction) throws -> Bool {
        var first = Interval(0)
        if let sealed = frontier.sealedThrough {
            guard sealed.rawValue < .max else { return false }
            first = sealed.next
        }
        return try txn.withCursor(blocks) { cursor in
            let from = BlockKey(stream: descriptor.id, interval: first,
                                partition: PartitionIndex(0), chunk: ChunkIndex(rawValue: 0))
            guard let (keyBytes, _) = try from.withEncodedBytes({ try cursor.seek(atLeast: $0) }) else { return false }
            guard let key = BlockKey(decoding: keyBytes) else {
                throw StorageError.corrupt(StoreLocation(stream: descriptor.name),
                                           .badRow("block key of \(keyBytes.count) bytes"))
            }
            return key.stream == descriptor.id
        }
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
              appliesRetention: Bool = true, in txn: borrowing Transaction) throws -> Bool {
        if let sealed = frontier.sealedThrough, through <= sealed { return false }
        let start = frontier.sealedThrough?.next ?? Interval(0)
        // The counts the committer kept from the blocks it wrote, when they cover every unsealed
        // block of the stream (`SealTally`); otherwise read back the block headers.
        let sealRows = try sealTally.takeRows(descriptor.id, through: through)
            ?? walkSealRows(descriptor, from: start, through: through, in: txn)
        for (interval, seal) in sealRows {
            let row = seal.encodedRow()
            try SealKey(stream: descriptor.id, interval: interval).withEncodedBytes { key in
                try row.withUnsafeBytes { try txn.put(seals, key: key, value: $0) }
            }
        }
        frontier.sealedThrough = through
        if frontier.firstInterval == nil, let first = sealRows.first?.0 { frontier.firstInterval = first }
        if appliesRetention { try applyRetention(descriptor, frontier: &frontier, in: txn) }
        return true
    }

    /// The seal rows of the intervals `start...through` that hold blocks, from the blocks' headers.
    private func walkSealRows(_ descriptor: StreamDescriptor, from start: Interval, through: Interval,
                              in txn: borrowing Transaction) throws -> [(Interval, SealRecord)] {
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
        return sealRows
    }

    /// Drops whole intervals older than the stream's retention keeps: blocks and seal rows.
    ///
    /// - Parameters:
    ///   - hold: Intervals from this one on stay, whatever the retention says (a `RetentionHold`'s
    ///     interval); a one-off `cut` is not held back.
    func applyRetention(_ descriptor: StreamDescriptor, frontier: inout StreamFrontier,
                        cutBefore cut: Interval? = nil, keepingFrom hold: Interval? = nil,
                        in txn: borrowing Transaction) throws {
        // The catalog's retention, not the caller's copy: `setRetention` may have changed it since.
        let retention = try self.descriptor(named: descriptor.name, in: txn)?.retention ?? descriptor.retention
        guard let sealed = frontier.sealedThrough else { return }
        var floor: Interval?
        if let kept = retention.keptIntervals(intervalLength: descriptor.intervalLength), sealed.rawValue &+ 1 > kept {
            floor = Interval(sealed.rawValue &+ 1 - kept)
        }
        if let hold, let retained = floor { floor = min(retained, hold) }
        // A one-off cut keeps the newest sealed interval at least, like every retention.
        if let cut { floor = max(floor ?? Interval(0), min(cut, sealed)) }
        guard let floor, floor > frontier.retainedFrom else { return }
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

/// What a program's internal stream keeps beyond its retention: the intervals its readers (vertices
/// of the same program) have yet to read. A reader at progress `p` next reads interval `p + 1`, and
/// back to `lookback` intervals before it (a window's oldest pane); a reader with no progress yet
/// may need every interval. The hold is read from the progress marks inside the commit's
/// transaction, so it never passes what a reader has durably consumed, and once every reader has
/// caught up the stream keeps exactly what its retention says.
package struct RetentionHold: Sendable {
    /// The held stream.
    package var stream: StreamDescriptor
    /// The progress-mark names of the vertices that read it.
    package var readers: [String]
    /// How many intervals before its next one a reader may read.
    package var lookback: UInt64

    package init(stream: StreamDescriptor, readers: [String], lookback: UInt64) {
        self.stream = stream
        self.readers = readers
        self.lookback = lookback
    }
}

extension LogStore {
    /// The first interval `hold` keeps, from the readers' progress marks as `txn` sees them.
    func holdInterval(_ hold: RetentionHold, in txn: borrowing Transaction) throws -> Interval {
        var next = UInt64.max
        for reader in hold.readers {
            let progress = try progress(named: reader, in: txn)
            // No progress yet: the reader may still read from the stream's first interval.
            guard let progress else { return Interval(0) }
            next = min(next, progress.interval.rawValue == .max ? .max : progress.interval.rawValue + 1)
        }
        return Interval(next >= hold.lookback ? next - hold.lookback : 0)
    }
}
