import Synchronization

/// The committer's running count of the blocks of every unsealed interval it wrote: chunks per
/// partition, records, raw and stored bytes, summed from the counts each `PendingBlock` carries.
///
/// A seal takes its rows from here instead of reading back every block header of the intervals it
/// seals, and a block's chunk number comes from here instead of a cursor seek. The tally of a
/// stream is trusted only when it is complete:
///
/// - it starts (`seed`) in a transaction that finds no block of the stream after its sealed
///   intervals, and from then on counts every block `LogStore.apply` puts;
/// - it follows LMDB's transactions: changes made in a transaction become the committed tally only
///   when that transaction commits; an aborted transaction (or one retried after the map grew)
///   starts again from the committed tally; a nested transaction that fails drops the whole
///   working tally (streams are seeded again, from what that transaction sees);
/// - another process's commit (a transaction ID that is not this committer's last plus one) drops
///   it, and so do the maintenance writes that touch blocks outside `apply` (salvage, drop).
///
/// A stream without a trusted tally is sealed the old way, by walking its blocks. Everything here
/// runs on the committer's thread; the `Mutex` only makes the type `Sendable`.
final class SealTally: Sendable {
    /// One stream's unsealed intervals that hold blocks, by interval (lookup only: a seal sorts).
    struct StreamCounts {
        var intervals: [Interval: SealRecord] = [:]
    }

    private struct State {
        var committed: [StreamID: StreamCounts] = [:]
        var working: [StreamID: StreamCounts] = [:]
        /// The ID of this committer's last committed write transaction.
        var lastCommitted: Int?
        /// The ID of the transaction in progress.
        var current: Int?
    }

    private let state = Mutex(State())

    init() {}

    /// A write transaction (or a retry of one) begins.
    func transactionBegan(id: Int) {
        state.withLock { state in
            // Another process committed since this committer's last commit: its blocks are not counted.
            if let last = state.lastCommitted, id != last &+ 1 { state.committed.removeAll() }
            state.working = state.committed
            state.current = id
        }
    }

    /// A nested transaction failed: what it counted is gone with it, and so is the working tally.
    func nestedTransactionFailed() {
        state.withLock { $0.working.removeAll() }
    }

    /// The transaction ended, committed or aborted.
    func transactionEnded(committed: Bool) {
        state.withLock { state in
            if committed {
                state.committed = state.working
                state.lastCommitted = state.current
            }
            state.working.removeAll()
            state.current = nil
        }
    }

    /// Forgets every tally (after a write to blocks that does not go through `apply`).
    func invalidate() {
        state.withLock { state in
            state.committed.removeAll()
            state.working.removeAll()
        }
    }

    /// Whether the working tally has a (trusted) entry for the stream.
    func isTracking(_ stream: StreamID) -> Bool {
        state.withLock { $0.working[stream] != nil }
    }

    /// Starts the stream's tally: the caller checked, in this transaction, that no block of it lies
    /// after its sealed intervals.
    func seed(_ stream: StreamID) {
        state.withLock { state in
            if state.current != nil, state.working[stream] == nil { state.working[stream] = StreamCounts() }
        }
    }

    /// Counts one block of a tracked stream and returns its chunk number; `nil` when the stream is
    /// not tracked.
    func add(_ block: PendingBlock, partitions: Int) -> UInt32? {
        state.withLock { state -> UInt32? in
            guard state.working[block.stream.id] != nil else { return nil }
            let p = Int(block.partition.rawValue)
            return state.working[block.stream.id]?.add(block, partition: p, partitions: partitions)
        }
    }

    /// Takes the seal rows of the stream's intervals in `range` (those holding blocks), in
    /// interval order; `nil` when the stream is not tracked.
    func takeRows(_ stream: StreamID, through: Interval) -> [(Interval, SealRecord)]? {
        state.withLock { state -> [(Interval, SealRecord)]? in
            guard var counts = state.working[stream] else { return nil }
            let due = counts.intervals.keys.filter { $0 <= through }.sorted()
            var rows: [(Interval, SealRecord)] = []
            rows.reserveCapacity(due.count)
            for interval in due {
                if let row = counts.intervals.removeValue(forKey: interval) { rows.append((interval, row)) }
            }
            state.working[stream] = counts
            return rows
        }
    }
}

extension SealTally.StreamCounts {
    /// Counts a block and returns its chunk number (the partition's next).
    fileprivate mutating func add(_ block: PendingBlock, partition p: Int, partitions: Int) -> UInt32 {
        var row = intervals[block.interval]
            ?? SealRecord(chunks: [UInt32](repeating: 0, count: partitions), records: 0, rawBytes: 0, storedBytes: 0)
        let chunk = row.chunks[p]
        row.chunks[p] += 1
        row.records += UInt64(block.recordCount)
        row.rawBytes += UInt64(block.rawLength)
        row.storedBytes += UInt64(block.bytes.count)
        intervals[block.interval] = row
        return chunk
    }
}
