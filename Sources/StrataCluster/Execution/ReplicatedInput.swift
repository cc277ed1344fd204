import Dispatch
import StrataEngine
import StrataStorage

/// Reads one partition of a program's input straight from the stream's replica in JetStream — the
/// blocks and seals `ClusterReplicator` publishes (`strata --nats URL ingest`, `strata serve
/// --nats`, `strata cluster replicate`) — and hands them to a task's gatherer as the input's
/// messages (source 0): each sealed interval's blocks of the partition, verified, then a seal mark.
///
/// It reads two subjects of the stream's JetStream stream through ordered consumers: the seal
/// messages (one per interval with records, and the newest), from the start, and the blocks of
/// its partition only, from the first block of the first interval the task's store has not
/// sealed (found from the seal messages: a window's blocks are stored before its seals, and the
/// next window's after them). An interval is handed on once its seal arrived and every chunk its
/// seal row lists for the partition is complete; nothing is handed on ahead of its seal.
///
/// Not `Sendable`: one thread (the task's gatherer) polls it.
final class ReplicatedInput {
    let names: ClusterNames
    let partition: UInt32
    private let local: StreamDescriptor
    private let jetStream: JetStream
    private var seals: SubjectReader?
    private var blocks: SubjectReader?
    /// Seals read and not yet handed on, in order: the interval and its chunk count in the partition.
    private var waiting: [(interval: Interval, chunks: UInt32, firstSequence: UInt64, sealSequence: UInt64)] = []
    /// Pieces of blocks read, by (interval, chunk).
    private var pieces: [PieceKey: [[UInt8]?]] = [:]  // lookup only
    /// Until when (monotonic ns) not to look for the replica again: a task starting before the
    /// input's first replication asks twice a second, not at every poll.
    private var nextLook: UInt64 = 0
    /// Handed on (or sealed in the task's store) through this interval.
    private(set) var through: Interval?

    private struct PieceKey: Hashable {
        var interval: Interval
        var chunk: UInt32
    }

    /// A reader of partition `partition` of `local`'s replica in namespace `namespace`, from the
    /// interval after `committed` (what the task's store has sealed).
    init(jetStream: JetStream, namespace: String, local: StreamDescriptor, partition: UInt32, committed: Interval?) {
        self.jetStream = jetStream
        self.local = local
        self.partition = partition
        names = ClusterNames(namespace: namespace, stream: local.name)
        through = committed
    }

    /// Reads what arrived (waiting at most `wait` for the first message) and returns the messages
    /// of the intervals now complete: per interval its blocks in chunk order, then one seal mark
    /// through the last. Empty while nothing is complete, or the stream is not replicated yet.
    ///
    /// - Throws: `ClusterError.replication` when the replica's descriptor differs from the
    ///   program's stream (partitions, interval length, record type); `.corrupt` for a message
    ///   Strata did not write or a seal listing chunks that never came before it; NATS errors.
    func poll(wait: Duration) throws(ClusterError) -> [ExchangeMessage] {
        guard let seals = try openSeals() else { return [] }
        var first = true
        while let message = try seals.next(timeout: first ? wait : .milliseconds(1)) {
            first = false
            try take(seal: message)
            if seals.isCaughtUp { break }
        }
        if blocks == nil, seals.isCaughtUp {
            // Every block of an interval not yet sealed in JetStream comes after the last seal read.
            let start = waiting.compactMap { $0.firstSequence == 0 ? nil : $0.firstSequence }.min()
                ?? seals.lastSequence + 1
            do {
                blocks = try quickContext().reader(stream: names.jetStreamName, subject: names.partitionSubject(partition),
                                                   startSequence: max(start, 1))
            } catch .nats {
                blocks = nil  // not created in time (a server down): at the next poll
            }
        }
        if let blocks {
            var read = 0
            while read < 4096, let message = try blocks.next(timeout: .milliseconds(1)) {
                read += 1
                try take(block: message)
                if blocks.isCaughtUp { break }
            }
        }
        return try ready()
    }

    /// Opens the seal reader once the replica exists and matches the program's stream.
    private func openSeals() throws(ClusterError) -> SubjectReader? {
        if let seals { return seals }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now >= nextLook else { return nil }
        nextLook = now &+ 500_000_000
        // A stream just created may not have elected its leader: a request then goes unanswered
        // for its whole timeout. Ask with a short one, and again at the next look.
        let found: (StreamDescriptor?, UInt64)
        do {
            // A second at most: asked again half a second later anyway.
            let look = try lookContext()
            guard try look.streamInfo(names.jetStreamName) != nil,
                  let meta = try look.lastMessage(stream: names.jetStreamName, subject: names.metaSubject) else { return nil }
            found = try (Self.descriptor(meta, names: names), meta.sequence)
        } catch .nats {
            return nil
        }
        guard let replica = found.0 else { return nil }
        guard replica.partitions == local.partitions, replica.intervalLength == local.intervalLength,
              replica.recordType == local.recordType else {
            throw .replication("input \(local.name): the replicated stream has \(replica.partitions) partitions of "
                               + "\(replica.intervalLength.rawValue) ns intervals of \(replica.recordType); the program "
                               + "reads \(local.partitions) partitions of \(local.intervalLength.rawValue) ns of \(local.recordType)")
        }
        let reader: SubjectReader
        do { reader = try quickContext().reader(stream: names.jetStreamName, subject: names.sealSubject) } catch .nats {
            return nil  // a consumer not created in time (a server down): at the next look
        }
        seals = reader
        return reader
    }

    private var quick: JetStream?

    /// A context whose requests wait 5 s: looking for the replica and creating its consumers had
    /// better be tried again than waited for (a leader being elected, a server down).
    private func quickContext() throws(ClusterError) -> JetStream {
        if let quick { return quick }
        let made = try jetStream.connection.jetStream(requestTimeout: .seconds(5))
        quick = made
        return made
    }

    private var look: JetStream?

    private func lookContext() throws(ClusterError) -> JetStream {
        if let look { return look }
        let made = try jetStream.connection.jetStream(requestTimeout: .seconds(1))
        look = made
        return made
    }

    /// The replicated descriptor in a meta message.
    private static func descriptor(_ meta: StoredMessage, names: ClusterNames) throws(ClusterError) -> StreamDescriptor? {
        let decoded = meta.payload.withUnsafeBytes { raw in Result { () throws(Corruption) in try StreamDescriptor(row: raw) } }
        switch decoded {
        case .success(let descriptor): return descriptor
        case .failure(let error): throw .corrupt("\(names.metaSubject) #\(meta.sequence): descriptor: \(error)")
        }
    }

    private func take(seal message: StoredMessage) throws(ClusterError) {
        let what = "\(message.subject) #\(message.sequence)"
        let seal = try SealMessage(decoding: message.payload, what: what)
        if let through, seal.interval <= through { return }
        if let last = waiting.last?.interval, seal.interval <= last { return }  // a republished seal
        let record = try seal.sealRecord(partitions: local.partitions, what: what)
        let chunks = record.map { $0.chunks[Int(partition)] } ?? 0
        waiting.append((seal.interval, chunks, seal.firstSequence, message.sequence))
    }

    private func take(block message: StoredMessage) throws(ClusterError) {
        let what = "\(message.subject) #\(message.sequence)"
        let piece = try BlockPiece(message, what: what)
        guard piece.partition == partition else {
            throw .corrupt("\(what): a block of partition \(piece.partition) on the subject of partition \(partition)")
        }
        if let through, piece.interval <= through { return }
        let key = PieceKey(interval: piece.interval, chunk: piece.chunk)
        var list = pieces[key] ?? [[UInt8]?](repeating: nil, count: piece.pieces)
        guard list.count == piece.pieces else {
            throw .corrupt("\(what): block \(piece.interval)/\(partition)/\(piece.chunk) in \(piece.pieces) pieces, earlier \(list.count)")
        }
        if let existing = list[piece.piece] {
            // A copy republished after the duplicate window: the same bytes by determinism.
            guard existing == message.payload else {
                throw .corrupt("\(what): two different copies of block \(piece.interval)/\(partition)/\(piece.chunk)")
            }
            return
        }
        list[piece.piece] = message.payload
        pieces[key] = list
    }

    /// The messages of the waiting intervals whose blocks are complete, in order.
    private func ready() throws(ClusterError) -> [ExchangeMessage] {
        var messages: [ExchangeMessage] = []
        var last: Interval?
        while let next = waiting.first {
            var blocks: [[UInt8]] = []
            for chunk in 0..<next.chunks {
                guard let list = pieces[PieceKey(interval: next.interval, chunk: chunk)], list.allSatisfy({ $0 != nil }) else {
                    // Not all here yet. Blocks precede their seal: once the block reader returned a
                    // message stored after the seal, a chunk still missing is missing for good.
                    if let reader = self.blocks, reader.lastSequence > next.sealSequence {
                        throw .corrupt("stream \(names.stream) interval \(next.interval) partition \(partition): chunk "
                                       + "\(chunk) of \(next.chunks) is not in JetStream before its seal")
                    }
                    return Self.closed(messages, names: local.name, partition: partition, through: last)
                }
                blocks.append(list.flatMap { $0 ?? [] })
            }
            if pieces.keys.contains(where: { $0.interval == next.interval && $0.chunk >= next.chunks }) {
                throw .corrupt("stream \(names.stream) interval \(next.interval) partition \(partition): a chunk beyond "
                               + "the \(next.chunks) its seal lists")
            }
            for (chunk, bytes) in blocks.enumerated() {
                messages.append(ExchangeMessage(stream: local.name, source: 0, target: partition,
                                                body: .block(interval: next.interval, chunk: UInt32(chunk), bytes: bytes)))
            }
            pieces = pieces.filter { $0.key.interval > next.interval }
            waiting.removeFirst()
            through = next.interval
            last = next.interval
        }
        return Self.closed(messages, names: local.name, partition: partition, through: last)
    }

    private static func closed(_ messages: [ExchangeMessage], names: String, partition: UInt32, through: Interval?)
        -> [ExchangeMessage]
    {
        guard let through else { return messages }
        return messages + [ExchangeMessage(stream: names, source: 0, target: partition, body: .sealed(through: through))]
    }
}
