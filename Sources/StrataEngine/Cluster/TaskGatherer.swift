import StrataStorage

/// Gathers, for one target partition, the blocks other tasks send it, and makes each interval of
/// each gathered stream ready once every source has sealed it: the blocks in (source, chunk)
/// order — the order one machine's exchange writes them in, so the local stream ends up
/// block-for-block what a single-node run has in that partition — then the seal.
///
/// Messages of one (stream, source, target) must arrive in the order they were sent (JetStream
/// keeps a subject's order); duplicates, from a re-executed or speculative sender, are checked
/// to be identical and dropped. Intervals the local store already sealed are skipped, so a
/// restarted task can read its messages again from the beginning.
///
/// Not `Sendable`: one thread receives and takes batches.
package struct TaskGatherer {
    /// A stream the task gathers.
    package struct Channel: Sendable {
        /// The local stream the blocks go into.
        package var local: StreamDescriptor
        /// The number of sources: the partitions of the tasks that send it blocks.
        package var sources: UInt32

        package init(local: StreamDescriptor, sources: UInt32) {
            self.local = local
            self.sources = sources
        }
    }

    private struct StreamState {
        var channel: Channel
        /// Sealed in the local store through this interval.
        var committed: Interval?
        /// Per source, sealed through (`nil`: nothing yet).
        var sealed: [Interval?]
        /// Per interval (lookup; taken in sorted order), per source, the chunks received.
        var pieces: [Interval: [[UInt32: [UInt8]]]] = [:]
    }

    /// The partition this task gathers.
    package let target: UInt32
    private var streams: [String: StreamState] = [:]  // lookup only
    /// Stream names in the order given, for a fixed commit order.
    private let order: [String]

    /// A gatherer for partition `target` of `channels`, resuming after what `log` already sealed.
    package init(log: LogStore, target: UInt32, channels: [Channel]) throws(ClusterExchangeError) {
        self.target = target
        order = channels.map(\.local.name)
        for channel in channels {
            let committed: Interval?
            do { committed = try log.frontier(of: channel.local).sealedThrough } catch {
                throw .storage(error, stream: channel.local.name)
            }
            streams[channel.local.name] = StreamState(channel: channel, committed: committed,
                                                      sealed: Array(repeating: nil, count: Int(channel.sources)))
        }
    }

    /// Whether the task gathers `stream`.
    package func gathers(_ stream: String) -> Bool { streams[stream] != nil }

    /// The interval through which `stream` is sealed locally (`nil`: none, or not gathered).
    package func committed(_ stream: String) -> Interval? { streams[stream]?.committed }

    /// Takes one message.
    ///
    /// - Throws: `.unexpected` for a stream not gathered, a source out of range or another target;
    ///   `.corruptBlock` for a block that fails its checksum; `.divergentBlock` for a second copy
    ///   of a chunk with other bytes.
    package mutating func receive(_ message: ExchangeMessage) throws(ClusterExchangeError) {
        guard var state = streams[message.stream] else {
            throw .unexpected(stream: message.stream, source: message.source, target: message.target,
                              reason: "not a stream this task gathers")
        }
        guard message.target == target, message.source < state.channel.sources else {
            throw .unexpected(stream: message.stream, source: message.source, target: message.target,
                              reason: "task of partition \(target) gathers from \(state.channel.sources) sources")
        }
        let source = Int(message.source)
        switch message.body {
        case .sealed(let through):
            if state.sealed[source].map({ $0 < through }) ?? true { state.sealed[source] = through }
        case .block(let interval, let chunk, let bytes):
            if let committed = state.committed, interval <= committed { return }
            try Self.verify(bytes, message, interval, chunk)
            var perSource = state.pieces[interval] ?? Array(repeating: [:], count: Int(state.channel.sources))
            if let existing = perSource[source][chunk] {
                guard existing == bytes else {
                    throw .divergentBlock(stream: message.stream, interval: interval, source: message.source,
                                          target: target, chunk: chunk)
                }
                return
            }
            perSource[source][chunk] = bytes
            state.pieces[interval] = perSource
        }
        streams[message.stream] = state
    }

    private static func verify(_ bytes: [UInt8], _ message: ExchangeMessage, _ interval: Interval, _ chunk: UInt32)
        throws(ClusterExchangeError)
    {
        let problem: String? = bytes.withUnsafeBytes { block in
            do {
                let header = try BlockHeader(parsing: block)
                return BlockHeader.computeChecksum(block) == header.checksum ? nil : "checksum mismatch"
            } catch {
                return "\(error)"
            }
        }
        if let problem {
            throw .corruptBlock(stream: message.stream, interval: interval, source: message.source,
                                target: message.target, chunk: chunk, reason: problem)
        }
    }

    /// The batch that seals every interval all sources have sealed and the local store has not,
    /// with their blocks, or `nil` when there is none. The gatherer counts it as committed: if
    /// committing it fails, start again with a new gatherer (which reads the store's frontier).
    ///
    /// - Throws: `.missingChunk` when a source sealed an interval without one of its chunks.
    package mutating func takeReady() throws(ClusterExchangeError) -> AppendBatch? {
        var batch = AppendBatch()
        for name in order {
            guard var state = streams[name] else { continue }
            guard let ready = state.sealed.reduce(Optional(Interval(UInt64.max)), { a, b in
                guard let a, let b else { return nil }
                return min(a, b)
            }), state.committed.map({ $0 < ready }) ?? true else { continue }
            for interval in state.pieces.keys.sorted() where interval <= ready {
                guard let perSource = state.pieces.removeValue(forKey: interval) else { continue }
                for (source, chunks) in perSource.enumerated() {
                    for chunk in 0..<UInt32(chunks.count) {
                        guard let bytes = chunks[chunk] else {
                            throw .missingChunk(stream: name, interval: interval, source: UInt32(source),
                                                target: target, chunk: chunk)
                        }
                        do throws(Corruption) {
                            batch.blocks.append(try PendingBlock(stream: state.channel.local, interval: interval,
                                                                 partition: PartitionIndex(target), block: bytes))
                        } catch {
                            throw .corruptBlock(stream: name, interval: interval, source: UInt32(source),
                                                target: target, chunk: chunk, reason: String(describing: error))
                        }
                    }
                }
            }
            batch.seals.append((state.channel.local, ready))
            state.committed = ready
            streams[name] = state
        }
        return batch.isEmpty ? nil : batch
    }
}
