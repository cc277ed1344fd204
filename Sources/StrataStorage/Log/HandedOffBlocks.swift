import Synchronization

/// Intervals of a program's internal streams that its producing vertex has computed and submitted
/// for commit, readable by the consuming vertices of the same process before that commit is
/// visible: the hand-off that keeps an internal commit's flush off the live path
/// (`docs/durability.md`, "Programs' internal streams").
///
/// The producer publishes an interval's blocks (as they will be stored: encoded, compressed,
/// checksummed) right after submitting the commit that writes them, and the entry goes once that
/// commit is visible (`remove`), when readers find the same bytes in the store. A consumer that
/// computes from a published interval submits its own commit after the producer's, on the same
/// serial committer, and makes it conditional on the producer's chain (`CommitChain`): its commit
/// lands in the same transaction as the producer's or a later one, never alone. So nothing a
/// reader of the store or a crash can observe changes: no output is visible or durable before
/// the internal blocks it was computed from.
///
/// `Sendable`; one table per store, shared by every thread of the process.
package final class HandedOffBlocks: Sendable {
    /// One published interval of one stream.
    package struct Entry: Sendable {
        /// The stored blocks of each partition, in chunk order.
        package var blocks: [[[UInt8]]]
        /// The records in the interval, all partitions.
        package var records: UInt64
        /// The producer's commit chain: a consumer's commit requires it not to have failed.
        package var chain: CommitChain
    }

    private struct Key: Hashable {
        let stream: StreamID
        let interval: Interval
    }

    private let entries = Mutex<[Key: Entry]>([:])  // lookup only

    package init() {}

    /// Publishes the blocks of `stream`'s `interval` (those of `blocks` that belong to it, in
    /// their order, which is their chunk order in the commit), submitted with `chain`.
    package func publish(_ blocks: [PendingBlock], of stream: StreamDescriptor, interval: Interval, chain: CommitChain) {
        var byPartition = [[[UInt8]]](repeating: [], count: Int(stream.partitions))
        var records: UInt64 = 0
        for block in blocks where block.stream.id == stream.id && block.interval == interval && block.isCompressed {
            let partition = Int(block.partition.rawValue)
            guard partition < byPartition.count else { return }
            byPartition[partition].append(block.bytes)
            records &+= UInt64(block.recordCount)
        }
        let entry = Entry(blocks: byPartition, records: records, chain: chain)
        entries.withLock { $0[Key(stream: stream.id, interval: interval)] = entry }
    }

    /// The published interval, unless its producer's chain has failed.
    package func entry(of stream: StreamID, interval: Interval) -> Entry? {
        guard let entry = entries.withLock({ $0[Key(stream: stream, interval: interval)] }) else { return nil }
        return entry.chain.firstFailure == nil ? entry : nil
    }

    /// Removes a published interval: its commit is visible (or will never be).
    package func remove(_ stream: StreamID, interval: Interval) {
        entries.withLock { _ = $0.removeValue(forKey: Key(stream: stream, interval: interval)) }
    }

    /// Removes every published interval of `stream`.
    package func removeAll(of stream: StreamID) {
        entries.withLock { $0 = $0.filter { $0.key.stream != stream } }
    }

    /// How many intervals are published, for tests.
    package var count: Int { entries.withLock { $0.count } }
}
