import StrataStorage

/// Reads what a partition task committed in its local store and turns it into the messages the
/// other tasks (and readers of the program's outputs) need: per target partition, the blocks of
/// each sealed interval of a stream followed by a seal mark through that interval.
///
/// The messages depend only on the committed blocks, which are deterministic: a task that runs
/// again (on another node, after a crash, speculatively) produces the same messages.
package struct TaskExporter: Sendable {
    /// A stream the task sends.
    package struct Channel: Sendable {
        /// The local stream whose sealed blocks are sent.
        package var local: StreamDescriptor
        /// The stream name the receivers gather them into.
        package var wireName: String
        /// The target partitions whose blocks are sent: all of them for an exchange's sent
        /// stream, only the task's own for an output.
        package var targets: [UInt32]

        package init(local: StreamDescriptor, wireName: String, targets: [UInt32]) {
            self.local = local
            self.wireName = wireName
            self.targets = targets
        }
    }

    let log: LogStore
    /// The task's partition: the source of every message.
    package let source: UInt32

    package init(log: LogStore, source: UInt32) {
        self.log = log
        self.source = source
    }

    /// The local stream's sealed frontier (`nil`: nothing sealed yet).
    package func sealedThrough(_ channel: Channel) throws(ClusterExchangeError) -> Interval? {
        do { return try log.frontier(of: channel.local).sealedThrough } catch {
            throw .storage(error, stream: channel.local.name)
        }
    }

    /// The messages for the intervals of `channel` after `after` through `through`: per target, in
    /// interval order, every block of an interval (chunk order) followed by a seal mark through
    /// that interval — one mark per interval, from the first interval after `after` (without
    /// `after`, from the stream's first interval with blocks) through `through`.
    ///
    /// The sequence is **canonical**: the messages of one subject after a given interval do not
    /// depend on how the intervals are batched into calls, so a task sending a few intervals per
    /// round and a speculative copy sending many at once produce the same messages, with the same
    /// ids, in the same order (`docs/cluster.md`, "Speculation across nodes": the copy and the
    /// owner race through message-id de-duplication, which needs that).
    ///
    /// - Throws: `ClusterExchangeError.storage` when the local store fails (a damaged block is
    ///   `.corrupt`, naming where).
    package func messages(_ channel: Channel, after: Interval?, through: Interval) throws(ClusterExchangeError)
        -> [[ExchangeMessage]]
    {
        var perTarget = [[ExchangeMessage]](repeating: [], count: channel.targets.count)
        var slot: [UInt32: Int] = [:]  // lookup only
        for (index, target) in channel.targets.enumerated() { slot[target] = index }
        func sealMarks(through interval: Interval) {
            for (index, target) in channel.targets.enumerated() {
                perTarget[index].append(ExchangeMessage(stream: channel.wireName, source: source, target: target,
                                                        body: .sealed(through: interval)))
            }
        }
        let first = after.map { $0.next } ?? Interval(0)
        guard first <= through else { return perTarget }
        // Without `after`, the marks start at the first interval with blocks (intervals count from
        // an epoch: marks from 0 would be far too many); before it nothing was ever sent.
        var next: Interval? = after == nil ? nil : first
        do {
            for (interval, seal) in try log.sealRecords(of: channel.local, in: first...through) {
                if var mark = next {
                    while mark < interval {
                        sealMarks(through: mark)
                        mark = mark.next
                    }
                }
                if channel.targets.contains(where: { seal.chunks[Int($0)] > 0 }) {
                    try log.withSealedBlocks(of: channel.local, interval: interval) { partition, chunk, block in
                        guard let index = slot[partition.rawValue] else { return }
                        perTarget[index].append(ExchangeMessage(
                            stream: channel.wireName, source: source, target: partition.rawValue,
                            body: .block(interval: interval, chunk: chunk.rawValue, bytes: Array(block))))
                    }
                }
                sealMarks(through: interval)
                next = interval.next
            }
        } catch let error as StorageError {
            throw .storage(error, stream: channel.local.name)
        } catch {
            throw .storage(StorageError(wrapping: error), stream: channel.local.name)
        }
        var mark = next ?? through
        while mark <= through {
            sealMarks(through: mark)
            if mark == through { break }
            mark = mark.next
        }
        return perTarget
    }
}
