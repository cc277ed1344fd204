import Dispatch
import Glibc
import Strata
import StrataStorage
import Synchronization

/// What one `ClusterReplicator.replicate(stream:)` did.
///
/// `ReplicationReport` is `Sendable`; it is a plain value.
public struct ReplicationReport: Sendable, Equatable {
    /// The Strata stream.
    public var stream: String
    /// The newest interval sealed in JetStream before the call (`nil`: none).
    public var replicatedBefore: Interval?
    /// The newest interval sealed in JetStream after the call: every interval up to it is
    /// stored on a quorum of the stream's replicas.
    public var replicatedThrough: Interval?
    /// Intervals holding records that were published.
    public var intervals: Int
    /// Block messages published (a block larger than the maximum payload takes several).
    public var blockMessages: Int
    /// Block bytes published.
    public var bytes: Int
    /// Messages JetStream already had (a republish after a crash): acknowledged, not stored again.
    public var duplicates: Int
    /// When retention dropped old intervals locally, the first interval still kept in JetStream.
    public var purgedBefore: Interval?

    /// Whether anything was published.
    public var changed: Bool { replicatedBefore != replicatedThrough }
}

/// Publishes the sealed intervals of a store's streams to JetStream: each interval's blocks (the
/// same verified LZ4 blocks the store holds, split under the server's maximum payload) on the
/// partition's subject, then its seal, with message ids derived from (stream, interval,
/// partition, chunk, piece), so that a republish is stored once.
///
/// The local store stays the fast path: appends, seals and reads never wait for NATS.
/// `replicate(stream:)` returns once every interval sealed locally is acknowledged by a quorum of
/// the stream's JetStream replicas; in cluster mode an ingest is acknowledged only after it
/// (`strata --nats URL ingest` exits 0 only then). `start()` runs the same in the background,
/// woken by every local seal.
///
/// `ClusterReplicator` is `Sendable`. Calls block on the network: run them on a thread of your
/// own. One replicator per store and cluster: two replicating the same stream is safe (message
/// ids) but wasteful.
///
/// ```swift
/// let replicator = try ClusterReplicator(store: store, options: ClusterOptions(urls: urls, node: "node-a"))
/// try appender.seal(through: t)
/// try replicator.replicate(stream: "views")        // interval t is now in JetStream, R3
/// ```
public final class ClusterReplicator: Sendable {
    /// The options.
    public let options: ClusterOptions
    /// The store replicated.
    public let store: Store
    /// The JetStream context used.
    public let jetStream: JetStream
    private let ensured = Mutex<[String: Int]>([:])  // JetStream stream name → replicas ensured; lookup only
    private let retainedFloor = Mutex<[String: Interval]>([:])  // stream → retention purged below; lookup only
    private let serial = Mutex<Void>(())
    private let background = Mutex<BackgroundState>(BackgroundState())
    private let acknowledged = Mutex<Acknowledged>(Acknowledged())

    /// Per stream, the interval through which JetStream acknowledged it (as this replicator
    /// learned), and the callers of `awaitReplication` waiting for more.
    private struct Acknowledged {
        struct Waiter {
            var id: UInt64
            var stream: String
            var through: Interval
            var continuation: CheckedContinuation<Bool, Never>
        }
        var through: [String: Interval] = [:]  // lookup only
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private struct BackgroundState {
        var running = false
        var stop = false
        var lastError: ClusterError?
        var done: DispatchSemaphore?
    }

    /// Connects to the cluster with `options` and replicates `store`.
    ///
    /// - Throws: `ClusterError` when the options are invalid or the connection is refused
    ///   (`ClusterError.notAuthorized` for wrong or missing credentials).
    public convenience init(store: Store, options: ClusterOptions) throws(ClusterError) {
        try options.validate()
        let connection = try NATSConnection(options.connectionOptions)
        try self.init(store: store, jetStream: try connection.jetStream(), options: options)
    }

    /// Replicates `store` through an open JetStream context (to share one connection).
    public init(store: Store, jetStream: JetStream, options: ClusterOptions) throws(ClusterError) {
        try options.validate()
        self.options = options
        self.store = store
        self.jetStream = jetStream
    }

    /// The JetStream names of a stream in this replicator's namespace.
    public func names(of stream: String) -> ClusterNames { ClusterNames(namespace: options.namespace, stream: stream) }

    /// The newest interval of `stream` sealed in JetStream, or `nil` when none is.
    public func replicatedThrough(stream: String) throws(ClusterError) -> Interval? {
        let names = names(of: stream)
        guard try jetStream.streamInfo(names.jetStreamName) != nil else { return nil }
        guard let last = try jetStream.lastMessage(stream: names.jetStreamName, subject: names.sealSubject) else {
            return nil
        }
        return try SealMessage(decoding: last.payload, what: "\(names.sealSubject) #\(last.sequence)").interval
    }

    /// Replicates every stream of the store (late side streams included), in name order.
    @discardableResult
    public func replicateAll() throws(ClusterError) -> [ReplicationReport] {
        var reports: [ReplicationReport] = []
        for info in try local({ () throws(StorageError) in try store.streams() }) {
            reports.append(try replicate(stream: info.descriptor.name))
        }
        return reports
    }

    /// Publishes every interval of `stream` sealed locally and not yet sealed in JetStream, and
    /// returns once all are acknowledged (stored on a quorum of replicas). Creates the JetStream
    /// stream on first use. Applies the local retention to JetStream (purges intervals the store
    /// dropped).
    ///
    /// - Throws: `ClusterError` (the cluster refused or did not answer: nothing acknowledged is
    ///   lost, and calling again resumes where it stopped); `ClusterError.replication` wrapping a
    ///   storage error of the local store.
    @discardableResult
    public func replicate(stream name: String) throws(ClusterError) -> ReplicationReport {
        try serial.withLock { (_: inout Void) throws(ClusterError) -> ReplicationReport in try replicateLocked(name) }
    }

    private func replicateLocked(_ name: String) throws(ClusterError) -> ReplicationReport {
        let log = store.logStore
        guard let descriptor = try local({ () throws(StorageError) in try log.descriptor(named: name) }) else {
            throw .replication("stream \(name) is not in the store \(store.path)")
        }
        let names = names(of: name)
        try ensureStream(names, descriptor)
        let before = try replicatedThrough(stream: name)
        var report = ReplicationReport(stream: name, replicatedBefore: before, replicatedThrough: before, intervals: 0,
                                       blockMessages: 0, bytes: 0, duplicates: 0, purgedBefore: nil)
        let frontier = try local({ () throws(StorageError) in try log.frontier(of: descriptor) })
        if let sealed = frontier.sealedThrough, before.map({ $0 < sealed }) ?? true {
            let start = before?.next ?? Interval(0)
            let seals = try local({ () throws(StorageError) in try log.sealRecords(of: descriptor, in: start...sealed) })
            // Windows of intervals: their blocks pipelined, then (once all are stored) their seals.
            var window: [(Interval, SealRecord)] = []
            var windowBytes = 0
            for (interval, seal) in seals {
                window.append((interval, seal))
                windowBytes += Int(seal.storedBytes)
                if windowBytes >= 8 << 20 || window.count >= 64 {
                    try publish(window, of: descriptor, names, &report)
                    window.removeAll(keepingCapacity: true)
                    windowBytes = 0
                }
            }
            try publish(window, of: descriptor, names, &report)
            if report.replicatedThrough.map({ $0 < sealed }) ?? true {
                // The newest sealed intervals hold no records: one seal message says so.
                try publishSeals([SealMessage(interval: sealed, firstSequence: 0, blockMessages: 0, sealRow: [])], names,
                                 &report)
            }
        }
        report.purgedBefore = try applyRetention(frontier, names)
        if let through = report.replicatedThrough { noteAcknowledged(name, through: through) }
        return report
    }

    /// Records that `stream` is acknowledged through `through` and wakes the waiters it satisfies.
    private func noteAcknowledged(_ stream: String, through: Interval) {
        let woken = acknowledged.withLock { state -> [CheckedContinuation<Bool, Never>] in
            if let known = state.through[stream], known >= through { return [] }
            state.through[stream] = through
            var woken: [CheckedContinuation<Bool, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.stream == stream, waiter.through <= through else { return false }
                woken.append(waiter.continuation)
                return true
            }
            return woken
        }
        for continuation in woken { continuation.resume(returning: true) }
    }

    /// Waits, without blocking a thread, until `stream` is replicated through `interval` — stored on
    /// a quorum of its JetStream replicas — by this replicator's rounds (`start()` in the
    /// background, or `replicate(stream:)` calls), at most `timeout`.
    ///
    /// An interval is published once it is sealed locally: the wait covers the interval's seal
    /// (for arrival time, the clock passing its end) and its publication.
    ///
    /// - Returns: `true` once replicated through `interval`, `false` when `timeout` passed first.
    public func awaitReplication(of stream: String, through interval: Interval, timeout: Duration) async -> Bool {
        let id = acknowledged.withLock { state -> UInt64? in
            if let known = state.through[stream], known >= interval { return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return true }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let done = acknowledged.withLock { state -> Bool in
                if let known = state.through[stream], known >= interval { return true }
                state.waiters.append(Acknowledged.Waiter(id: id, stream: stream, through: interval,
                                                         continuation: continuation))
                return false
            }
            if done {
                continuation.resume(returning: true)
                return
            }
            Task { [self] in
                try? await Task.sleep(for: timeout)
                let expired = acknowledged.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                expired?.resume(returning: false)
            }
        }
    }

    /// Publishes the blocks of a window of intervals, then their seals.
    private func publish(_ window: [(Interval, SealRecord)], of descriptor: StreamDescriptor, _ names: ClusterNames,
                         _ report: inout ReplicationReport) throws(ClusterError) {
        if window.isEmpty { return }
        let log = store.logStore
        let pieceLimit = jetStream.connection.pieceBytes(headroom: 4096)
        var messages: [OutgoingMessage] = []
        var perInterval: [(Interval, SealRecord, Range<Int>)] = []
        for (interval, seal) in window {
            let first = messages.count
            do {
                try log.withSealedBlocks(of: descriptor, interval: interval) { partition, chunk, block in
                    let pieces = max(1, (block.count + pieceLimit - 1) / pieceLimit)
                    for piece in 0..<pieces {
                        let range = (piece * pieceLimit)..<min(block.count, (piece + 1) * pieceLimit)
                        messages.append(OutgoingMessage(
                            subject: names.partitionSubject(partition.rawValue),
                            payload: Array(block[range]),
                            messageID: names.blockMessageID(interval: interval.rawValue, partition: partition.rawValue,
                                                            chunk: chunk.rawValue, piece: piece),
                            headers: [MessageHeader(BlockMessageHeader.interval, String(interval.rawValue)),
                                      MessageHeader(BlockMessageHeader.partition, String(partition.rawValue)),
                                      MessageHeader(BlockMessageHeader.chunk, String(chunk.rawValue)),
                                      MessageHeader(BlockMessageHeader.piece, "\(piece)/\(pieces)")]))
                        report.bytes += range.count
                    }
                }
            } catch let error as StorageError {
                throw .storage(error, context: "local store: stream \(descriptor.name) interval \(interval)")
            } catch {
                throw .replication("local store: stream \(descriptor.name) interval \(interval): \(error)")
            }
            perInterval.append((interval, seal, first..<messages.count))
        }
        let acks = try jetStream.publish(messages)
        report.blockMessages += messages.count
        report.duplicates += acks.count(where: { $0.duplicate })
        var seals: [SealMessage] = []
        for (interval, seal, range) in perInterval {
            let firstSequence = acks[range].map(\.sequence).min() ?? 0
            seals.append(SealMessage(interval: interval, firstSequence: firstSequence, blockMessages: UInt32(range.count),
                                     sealRow: seal.encodedRow()))
        }
        report.intervals += seals.count
        try publishSeals(seals, names, &report)
    }

    private func publishSeals(_ seals: [SealMessage], _ names: ClusterNames, _ report: inout ReplicationReport)
        throws(ClusterError)
    {
        if seals.isEmpty { return }
        let messages = seals.map { seal in
            OutgoingMessage(subject: names.sealSubject, payload: seal.encoded(),
                            messageID: names.sealMessageID(interval: seal.interval.rawValue),
                            headers: [MessageHeader(BlockMessageHeader.interval, String(seal.interval.rawValue))])
        }
        let acks = try jetStream.publish(messages)
        report.duplicates += acks.count(where: { $0.duplicate })
        report.replicatedThrough = seals.last?.interval
    }

    /// Creates the JetStream stream (once per replicator) and publishes the stream's descriptor
    /// when JetStream's differs.
    private func ensureStream(_ names: ClusterNames, _ descriptor: StreamDescriptor) throws(ClusterError) {
        let replicas = options.replicas
        if ensured.withLock({ $0[names.jetStreamName] }) != replicas {
            let configuration = JetStreamConfiguration(
                name: names.jetStreamName, subjects: [names.allSubjects], replicas: replicas,
                duplicateWindow: options.duplicateWindow,
                description: "Strata stream \(names.stream): sealed blocks and seals")
            try jetStream.addOrUpdateStream(configuration)
            ensured.withLock { $0[names.jetStreamName] = replicas }
        }
        var portable = descriptor
        portable.id = StreamID(rawValue: 0)  // local to each store
        let row = portable.encodedRow()
        let current = try jetStream.lastMessage(stream: names.jetStreamName, subject: names.metaSubject)
        if current?.payload != row {
            let digest = XXH64.hash(row)
            try jetStream.publish(OutgoingMessage(subject: names.metaSubject, payload: row,
                                                  messageID: "\(names.token).meta.\(String(digest, radix: 16))"))
        }
    }

    /// Removes from JetStream the intervals local retention dropped: every block and seal message
    /// before the first kept interval's, deleted one by one (`JetStream.deleteMessage`) — never
    /// with a filtered purge, which nats-server before 2.9.18 replays on a restarted replica as a
    /// purge of every message stored before it, the stream's descriptor and kept intervals
    /// included (nats-server #4196; docs/cluster.md, "Trimming JetStream").
    private func applyRetention(_ frontier: StreamFrontier, _ names: ClusterNames) throws(ClusterError) -> Interval? {
        let floor = frontier.retainedFrom
        guard floor > Interval(0) else { return nil }
        if let done = retainedFloor.withLock({ $0[names.stream] }), done >= floor { return nil }
        guard let info = try jetStream.streamInfo(names.jetStreamName) else { return nil }
        var cut: (blocks: UInt64, seals: UInt64)?
        var first: Interval?
        var blockSequences: [UInt64] = [], sealSequences: [UInt64] = []
        let blockPrefix = String(names.partitionsSubject.dropLast())  // "ns.<token>.p."
        // Forward from the oldest message to the seal of the first kept interval (by sequence,
        // answered by the stream's leader; see ClusterFollower for why not a consumer).
        var sequence = max(info.firstSequence, 1)
        while sequence <= info.lastSequence, cut == nil {
            defer { sequence += 1 }
            guard let message = try jetStream.message(stream: names.jetStreamName, sequence: sequence) else { continue }
            if message.subject.hasPrefix(blockPrefix) { blockSequences.append(message.sequence) }
            guard message.subject == names.sealSubject else { continue }
            sealSequences.append(message.sequence)
            let seal = try SealMessage(decoding: message.payload, what: "\(names.sealSubject) #\(message.sequence)")
            if first == nil { first = seal.interval }
            if seal.interval >= floor {
                cut = (seal.firstSequence == 0 ? message.sequence : seal.firstSequence, message.sequence)
            }
        }
        guard let cut, let first, first < floor else {
            retainedFloor.withLock { $0[names.stream] = floor }
            return nil
        }
        for sequence in blockSequences where sequence < cut.blocks {
            try jetStream.deleteMessage(stream: names.jetStreamName, sequence: sequence)
        }
        for sequence in sealSequences where sequence < cut.seals {
            try jetStream.deleteMessage(stream: names.jetStreamName, sequence: sequence)
        }
        retainedFloor.withLock { $0[names.stream] = floor }
        return floor
    }

    // MARK: Background

    /// Replicates in the background (`streams`, or every stream of the store when `nil`): at once,
    /// then after every local seal, until `stop()`. Errors are kept (`lastError`) and retried
    /// after a pause; nothing is lost.
    public func start(streams: [String]? = nil) {
        let signal = store.logStore.sealSignal
        let done = DispatchSemaphore(value: 0)
        let started = background.withLock { state -> Bool in
            if state.running { return false }
            state = BackgroundState(running: true, stop: false, lastError: nil, done: done)
            return true
        }
        guard started else { return }
        DispatchQueue(label: "strata.cluster.replicator").async { [self] in
            var generation = signal.current
            while !background.withLock({ $0.stop }) {
                do throws(ClusterError) {
                    if let streams {
                        for stream in streams { try replicate(stream: stream) }
                    } else {
                        try replicateAll()
                    }
                    background.withLock { $0.lastError = nil }
                } catch {
                    background.withLock { $0.lastError = error }
                }
                signal.waitBlocking(after: generation, timeout: .milliseconds(500))
                generation = signal.current
            }
            background.withLock { $0.running = false }
            done.signal()
        }
    }

    /// Stops the background replication and waits for its current round to end.
    public func stop() {
        let done = background.withLock { state -> DispatchSemaphore? in
            guard state.running else { return nil }
            state.stop = true
            return state.done
        }
        done?.wait()
    }

    /// The error of the background replication's last round, if it failed.
    public var lastError: ClusterError? { background.withLock { $0.lastError } }

    /// Waits until `stream` is replicated through `interval` (or, when `nil`, through what is
    /// sealed locally now), replicating it meanwhile.
    ///
    /// - Throws: `ClusterError.timedOut` when it is not within `timeout`, with the last error.
    public func waitUntilReplicated(stream: String, through interval: Interval? = nil,
                                    timeout: Duration = .seconds(60)) throws(ClusterError) {
        let target: Interval?
        if let interval {
            target = interval
        } else {
            target = try local({ () throws(StorageError) in try store.info(of: stream) }).frontier.sealedThrough
        }
        guard let target else { return }
        let end = ContinuousClock.now + timeout
        var last: ClusterError?
        while true {
            do {
                if let through = try replicate(stream: stream).replicatedThrough, through >= target { return }
            } catch {
                last = error
            }
            if ContinuousClock.now >= end {
                throw .timedOut("replication of \(stream) through interval \(target)\(last.map { ": \($0)" } ?? "")")
            }
            usleep(50_000)
        }
    }
}

/// Runs a local store call, wrapping its storage error.
func local<R>(_ body: () throws(StorageError) -> R) throws(ClusterError) -> R {
    do {
        return try body()
    } catch {
        throw .storage(error, context: "local store")
    }
}
