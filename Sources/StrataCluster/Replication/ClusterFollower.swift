import Glibc
import Strata
import StrataStorage
import Synchronization

/// What one restore or follow round of a stream did.
///
/// `FollowReport` is `Sendable`; it is a plain value.
public struct FollowReport: Sendable, Equatable {
    /// The Strata stream.
    public var stream: String
    /// The newest interval sealed in the local store before (`nil`: none).
    public var sealedBefore: Interval?
    /// The newest interval sealed in the local store after.
    public var sealedAfter: Interval?
    /// Intervals holding records that were written.
    public var intervals: Int
    /// Blocks written (each verified: header, length, checksum, and the interval's seal row).
    public var blocks: Int
    /// Block bytes written.
    public var bytes: Int
    /// Block messages that were copies of ones already read (a republish after the duplicate
    /// window), dropped.
    public var duplicates: Int

    /// Whether anything was written.
    public var changed: Bool { sealedBefore != sealedAfter }
}

/// Writes streams replicated in JetStream into a local store: the same blocks, byte for byte, and
/// the same seals. `restore` catches up once (a store whose disk is gone is rebuilt this way,
/// `strata cluster restore`); `follow` keeps doing so as new intervals are sealed in the cluster
/// (`strata cluster follow`).
///
/// Every block is verified (header, length, checksum) before it is written, and every interval's
/// seal row, recomputed by the local store from the blocks, must equal the one in JetStream; the
/// blocks and the seal of each interval are committed together, so a killed restore resumes
/// where it stopped. Retention is the stream's own: the local store drops old intervals as the
/// source did.
///
/// `ClusterFollower` is `Sendable`. Calls block on the network: run them on a thread of your own.
/// It takes each stream's writer lock while writing it.
///
/// ```swift
/// let follower = try ClusterFollower(store: try Store(at: "restored.strata"), options: options)
/// let reports = try follower.restoreAll()
/// ```
public final class ClusterFollower: Sendable {
    /// The options (namespace, timeouts).
    public let options: ClusterOptions
    /// The local store written.
    public let store: Store
    /// The JetStream context used.
    public let jetStream: JetStream

    /// Connects to the cluster with `options` and writes into `store`.
    public convenience init(store: Store, options: ClusterOptions) throws(ClusterError) {
        try options.validate()
        let connection = try NATSConnection(options.connectionOptions)
        try self.init(store: store, jetStream: try connection.jetStream(), options: options)
    }

    /// Writes into `store` from an open JetStream context.
    public init(store: Store, jetStream: JetStream, options: ClusterOptions) throws(ClusterError) {
        try options.validate()
        self.options = options
        self.store = store
        self.jetStream = jetStream
    }

    /// The Strata streams replicated in the cluster (this namespace), in name order.
    ///
    /// Listing streams is answered by JetStream's metadata leader: right after a server's death
    /// (while the survivors elect a new one) it times out or finds no responder, so it is asked
    /// again, at most 30 times about a second apart, before the error is thrown.
    public func replicatedStreams() throws(ClusterError) -> [String] {
        let jetStream = self.jetStream
        return try ClusterNode.retrying { () throws(ClusterError) in try jetStream.streamNames() }
            .compactMap { ClusterNames.stream(ofJetStream: $0, namespace: options.namespace) }.sorted()
    }

    /// Restores every stream replicated in the cluster: main streams first, then late side streams.
    @discardableResult
    public func restoreAll() throws(ClusterError) -> [FollowReport] {
        let names = try replicatedStreams()
        var reports: [FollowReport] = []
        for name in names where !name.hasSuffix(".late") { reports.append(try restore(stream: name)) }
        for name in names where name.hasSuffix(".late") { reports.append(try restore(stream: name)) }
        return reports
    }

    /// Writes every interval of `stream` sealed in JetStream and not yet in the local store, up to
    /// the newest sealed when the call began. Creates the local stream from the replicated
    /// descriptor when it is missing.
    ///
    /// - Throws: `ClusterError.corrupt` when a block or seal in JetStream does not verify
    ///   (nothing of that interval is written); `ClusterError.replication` when the local stream
    ///   differs in shape or the store refuses the write; `ClusterError` for NATS failures.
    @discardableResult
    public func restore(stream: String) throws(ClusterError) -> FollowReport {
        var session = try FollowSession(follower: self, stream: stream)
        try session.catchUp()
        return session.report
    }

    /// Follows `stream`: restores it, then writes each new interval as its seal arrives in
    /// JetStream, until `shouldStop` returns true (checked at least every `pollInterval`).
    ///
    /// - Parameter onProgress: Called after each commit with the report so far.
    public func follow(stream: String, pollInterval: Duration = .milliseconds(500),
                       shouldStop: @Sendable () -> Bool,
                       onProgress: (FollowReport) -> Void = { _ in }) throws(ClusterError) {
        var session = try FollowSession(follower: self, stream: stream)
        try session.catchUp()
        onProgress(session.report)
        while !shouldStop() {
            if try session.step(wait: pollInterval) { onProgress(session.report) }
        }
    }

    fileprivate func descriptor(for names: ClusterNames) throws(ClusterError) -> StreamDescriptor {
        guard try jetStream.streamInfo(names.jetStreamName) != nil,
              let meta = try jetStream.lastMessage(stream: names.jetStreamName, subject: names.metaSubject)
        else { throw .replication("stream \(names.stream) is not replicated in the cluster (no \(names.jetStreamName))") }
        let decoded = meta.payload.withUnsafeBytes { raw in
            Result { () throws(Corruption) in try StreamDescriptor(row: raw) }
        }
        switch decoded {
        case let .success(descriptor): return descriptor
        case let .failure(error): throw .corrupt("\(names.metaSubject) #\(meta.sequence): descriptor: \(error)")
        }
    }

    /// The local stream matching the replicated descriptor, created when missing.
    fileprivate func localStream(_ replicated: StreamDescriptor) throws(ClusterError) -> StreamDescriptor {
        let log = store.logStore
        if let main = replicated.lateRecordsOf {
            // A late side stream is created with its main stream.
            if try local({ () throws(StorageError) in try log.descriptor(named: replicated.name) }) == nil {
                _ = try localStream(try descriptor(for: ClusterNames(namespace: options.namespace, stream: main)))
            }
            guard let late = try local({ () throws(StorageError) in try log.descriptor(named: replicated.name) }) else {
                throw .replication("late side stream \(replicated.name) missing after creating \(main)")
            }
            return late
        }
        let spec = LogStore.StreamSpec(name: replicated.name, recordType: replicated.recordType,
                                       intervalLength: replicated.intervalLength, partitions: replicated.partitions,
                                       retention: replicated.retention, timeField: replicated.timeField,
                                       keyField: replicated.keyField, timeUnit: replicated.timeUnit,
                                       keyPlacement: replicated.keyPlacement)
        var descriptor = try local({ () throws(StorageError) in try log.createOrOpenStream(spec) })
        if descriptor.retention != replicated.retention {
            descriptor = try local({ () throws(StorageError) in try log.setRetention(replicated.retention, of: replicated.name) })
        }
        return descriptor
    }
}

/// One stream being restored: where it reads its JetStream stream, and the blocks read so far.
private struct FollowSession {
    let follower: ClusterFollower
    let names: ClusterNames
    let descriptor: StreamDescriptor
    let lock: StreamWriterLock
    /// The next JetStream sequence to read (0: not positioned yet).
    var nextSequence: UInt64 = 0
    var report: FollowReport
    /// Pieces read, by (interval, partition, chunk), until their interval's seal arrives.
    var pending: [PieceKey: [[UInt8]?]] = [:]  // lookup only
    var sealedLocally: Interval?

    struct PieceKey: Hashable {
        var interval: UInt64
        var partition: UInt32
        var chunk: UInt32
    }

    init(follower: ClusterFollower, stream: String) throws(ClusterError) {
        self.follower = follower
        let names = ClusterNames(namespace: follower.options.namespace, stream: stream)
        self.names = names
        let local = try follower.localStream(try follower.descriptor(for: names))
        descriptor = local
        let log = follower.store.logStore
        lock = try StrataCluster.local({ () throws(StorageError) in try log.writerLock(of: local) })
        let frontier = try StrataCluster.local({ () throws(StorageError) in try log.frontier(of: local) })
        sealedLocally = frontier.sealedThrough
        report = FollowReport(stream: stream, sealedBefore: frontier.sealedThrough, sealedAfter: frontier.sealedThrough,
                              intervals: 0, blocks: 0, bytes: 0, duplicates: 0)
    }

    /// Where to start reading: the first block message of the first interval not sealed locally.
    ///
    /// Scans back from the stream's last message to the seal of an interval the store holds; the
    /// seals after it name the first sequence of their blocks (a window's blocks precede its
    /// seals, so the next interval's blocks may come before the last local seal).
    mutating func position(_ info: JetStreamInfo) throws(ClusterError) -> UInt64 {
        let first = max(info.firstSequence, 1)
        guard let local = sealedLocally else { return first }
        let js = follower.jetStream
        var start: UInt64?
        var sequence = info.lastSequence
        while sequence >= first {
            defer { sequence -= 1 }
            guard let message = try js.message(stream: names.jetStreamName, sequence: sequence),
                  message.subject == names.sealSubject else { continue }
            let seal = try SealMessage(decoding: message.payload, what: "\(names.sealSubject) #\(sequence)")
            if seal.interval <= local {
                start = min(start ?? .max, sequence + 1)
                break
            }
            start = min(start ?? .max, seal.firstSequence == 0 ? sequence : seal.firstSequence)
        }
        return max(start ?? first, first)
    }

    /// Reads and writes everything the stream holds now; returns whether the store advanced.
    ///
    /// Messages are read one by one by sequence (`js_GetMsg`, answered by the stream's leader):
    /// unlike a consumer, that needs no consumer to be created, which a cluster missing a server
    /// can take many seconds to do.
    @discardableResult
    mutating func catchUp() throws(ClusterError) -> Bool {
        let js = follower.jetStream
        guard let info = try js.streamInfo(names.jetStreamName) else {
            throw .replication("stream \(names.stream) is no longer replicated in the cluster (no \(names.jetStreamName))")
        }
        if nextSequence == 0 { nextSequence = try position(info) }
        let before = report.sealedAfter
        var batch = Batch()
        var sequence = max(nextSequence, info.firstSequence)
        while sequence <= info.lastSequence {
            if let message = try js.message(stream: names.jetStreamName, sequence: sequence) {
                try handle(message, into: &batch)
                if batch.bytes >= 8 << 20 { try commit(&batch) }
            }
            sequence += 1
        }
        try commit(&batch)
        nextSequence = sequence
        return report.sealedAfter != before
    }

    /// Catches up, or waits `wait` when there is nothing new; returns whether the store advanced.
    mutating func step(wait: Duration) throws(ClusterError) -> Bool {
        if try catchUp() { return true }
        let (seconds, attoseconds) = wait.components
        usleep(UInt32(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        return false
    }

    struct Batch {
        var append = AppendBatch()
        var bytes = 0
        var seals: [(Interval, SealRecord?)] = []
    }

    mutating func handle(_ message: StoredMessage, into batch: inout Batch) throws(ClusterError) {
        let what = "\(message.subject) #\(message.sequence)"
        if message.subject == names.metaSubject { return }
        if message.subject == names.sealSubject {
            let seal = try SealMessage(decoding: message.payload, what: what)
            if let local = sealedLocally, seal.interval <= local { return }
            try apply(seal, what: what, into: &batch)
            return
        }
        let piece = try BlockPiece(message, what: what)
        if let local = sealedLocally, piece.interval <= local { return }
        let key = PieceKey(interval: piece.interval.rawValue, partition: piece.partition, chunk: piece.chunk)
        var pieces = pending[key] ?? [[UInt8]?](repeating: nil, count: piece.pieces)
        guard pieces.count == piece.pieces else {
            throw .corrupt("\(what): block \(key.interval)/\(key.partition)/\(key.chunk) in \(piece.pieces) pieces, earlier \(pieces.count)")
        }
        if let existing = pieces[piece.piece] {
            // A republish stored again after the duplicate window: the same bytes by determinism.
            guard existing == message.payload else {
                throw .corrupt("\(what): two different copies of block \(key.interval)/\(key.partition)/\(key.chunk)")
            }
            report.duplicates += 1
            return
        }
        pieces[piece.piece] = message.payload
        pending[key] = pieces
    }

    /// Moves the blocks of a sealed interval into the batch, verified, with its seal.
    mutating func apply(_ seal: SealMessage, what: String, into batch: inout Batch) throws(ClusterError) {
        let interval = seal.interval
        if let queued = batch.seals.last?.0, interval <= queued { return }
        let record = try seal.sealRecord(partitions: descriptor.partitions, what: what)
        if let record {
            for partition in 0..<descriptor.partitions {
                for chunk in 0..<record.chunks[Int(partition)] {
                    let key = PieceKey(interval: interval.rawValue, partition: partition, chunk: chunk)
                    guard let pieces = pending.removeValue(forKey: key) else {
                        throw .corrupt("stream \(names.stream) interval \(interval) partition \(partition): chunk \(chunk) "
                                       + "is not in JetStream before its seal (\(what))")
                    }
                    var block: [UInt8] = []
                    for (index, piece) in pieces.enumerated() {
                        guard let piece else {
                            throw .corrupt("stream \(names.stream) interval \(interval) partition \(partition) chunk \(chunk): "
                                           + "piece \(index) of \(pieces.count) missing (\(what))")
                        }
                        block += piece
                    }
                    try verifyBlock(block, what: "stream \(names.stream) interval \(interval) partition \(partition) chunk \(chunk)")
                    batch.bytes += block.count
                    report.bytes += block.count
                    report.blocks += 1
                    do throws(Corruption) {
                        batch.append.blocks.append(try PendingBlock(stream: descriptor, interval: interval,
                                                                    partition: PartitionIndex(partition), block: block))
                    } catch {
                        throw .corrupt("stream \(names.stream) interval \(interval) partition \(partition) chunk \(chunk): "
                                       + "\(error) (\(what))")
                    }
                }
            }
            report.intervals += 1
        }
        // Blocks of this interval beyond what the seal lists would be orphans: refuse them.
        if let stray = pending.keys.first(where: { $0.interval <= interval.rawValue }) {
            throw .corrupt("stream \(names.stream) interval \(stray.interval) partition \(stray.partition): chunk "
                           + "\(stray.chunk) is in JetStream but not in the interval's seal (\(what))")
        }
        batch.append.seals.append((descriptor, interval))
        batch.seals.append((interval, record))
    }

    /// Commits the batch (blocks and seals in one transaction), then checks the seal rows.
    mutating func commit(_ batch: inout Batch) throws(ClusterError) {
        guard let last = batch.seals.last?.0 else { return }
        let log = follower.store.logStore
        let ticket = log.submit(batch.append, chain: nil)
        try local({ () throws(StorageError) in try ticket.wait() })
        // Intervals the stream's retention dropped in this very commit are not compared.
        let kept = try local({ [descriptor] () throws(StorageError) in try log.frontier(of: descriptor) }).retainedFrom
        let first = max(batch.seals[0].0, kept)
        let written = first <= last
            ? try local({ [descriptor] () throws(StorageError) in try log.sealRecords(of: descriptor, in: first...last) })
            : []
        let expected = batch.seals.filter { $0.0 >= first }.compactMap { seal in seal.1.map { (seal.0, $0) } }
        guard written.count == expected.count,
              zip(written, expected).allSatisfy({ $0.0 == $1.0 && $0.1 == $1.1 }) else {
            throw .corrupt("stream \(names.stream) intervals \(first)–\(last): the seal rows rebuilt from the blocks "
                           + "differ from the ones in JetStream")
        }
        sealedLocally = last
        report.sealedAfter = last
        batch = Batch()
    }
}
