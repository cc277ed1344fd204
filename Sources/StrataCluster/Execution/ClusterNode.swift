import Dispatch
import Glibc
import Logging
import Strata
import StrataEngine
import StrataStorage
import Synchronization

/// One node of a cluster running a program: it announces itself in the program's KV bucket,
/// computes from the live members which partitions it should run (`PartitionAssignment`,
/// rendezvous hashing), holds a lease on each of them (a KV key with a TTL, renewed by
/// compare-and-set) and runs a `ClusterTask` per partition it holds.
///
/// A node that cannot renew a lease stops the partition's task; it also stops publishing once
/// its last renewal is older than half the TTL (its monotonic clock), and every task's writes
/// are fenced on JetStream, so a node paused past its lease writes nothing after another node
/// took its partitions over (docs/cluster.md, "Ownership and leases").
///
/// `ClusterNode` is `Sendable`. `run()` blocks: call it from a thread of your own; `stop()`
/// from anywhere.
///
/// ```swift
/// let connection = NATSConnectionOptions(urls: ["nats://127.0.0.1:4222"])
/// let node = try ClusterNode(program: counts, options: ExecutionOptions(connection: connection, node: "a"),
///                            directory: "/var/lib/strata/a")
/// try node.run()
/// ```
public final class ClusterNode: Sendable {
    /// The program the node runs.
    public let program: ClusterProgram
    /// How the node reaches the cluster, its name, the lease TTL.
    public let options: ExecutionOptions
    /// The directory of the node's task stores.
    public let directory: String
    /// The program's JetStream names.
    public let names: ExecutionNames
    private let logger: Logger
    private let connection: NATSConnection
    private let jetStream: JetStream
    private let leases: KeyValueBucket
    private let progress: KeyValueBucket
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)

    private struct Held {
        var revision: UInt64
        var task: ClusterTask?
    }
    private let held = Mutex<[Int: Held]>([:])
    /// The speculative copies this node runs, by partition, with the owner they were started
    /// against (`ExecutionOptions.speculation`).
    private let copies = Mutex<[Int: (owner: String, task: ClusterTask)]>([:])

    /// Connects, creates (or binds to) the program's JetStream stream and KV buckets.
    ///
    /// - Throws: `ClusterError` (invalid options, NATS refused, JetStream unavailable).
    public init(program: ClusterProgram, options: ExecutionOptions, directory: String,
                logger: Logger = Logger(label: "strata.cluster")) throws(ClusterError) {
        try options.validate()
        guard program.partitions >= 1, program.partitions <= 4096 else {
            throw .invalidArgument("program \(program.name): partitions \(program.partitions) (1 to 4096)")
        }
        self.program = program
        self.options = options
        self.directory = directory
        self.logger = logger
        names = ExecutionNames(namespace: options.namespace, program: program.name)
        var connectionOptions = options.connection
        connectionOptions.name = options.node
        connection = try NATSConnection(connectionOptions)
        jetStream = try connection.jetStream()
        // Membership and leases: a request unanswered for half a TTL is worth retrying, not waiting
        // for (the lease may be gone by then). Several nodes creating the same stream and buckets
        // at once also lost answers here, each costing a whole request timeout.
        let control = try connection.jetStream(requestTimeout: Self.controlTimeout(options))
        let names = self.names
        // A Raft group still electing its leader answers "no responders" or times out: try again.
        try Self.retrying { () throws(ClusterError) in
            try Self.ensureStream(control, names: names, options: options)
        }
        leases = try Self.retrying { () throws(ClusterError) in
            try control.createKeyValue(KeyValueConfiguration(
                bucket: names.bucket + "_leases", ttl: options.leaseTTL, replicas: options.replicas,
                description: "Strata program \(program.name): members and partition leases"))
        }
        _ = try Self.retrying { () throws(ClusterError) in
            try control.createKeyValue(KeyValueConfiguration(
                bucket: names.bucket + "_progress", replicas: options.replicas,
                description: "Strata program \(program.name): per partition, its owner and what it sent"))
        }
        // The progress is written with what it covers: it waits as long as the publishes do.
        let jetStream = self.jetStream
        guard let progress = try Self.retrying({ () throws(ClusterError) in try jetStream.keyValue(names.bucket + "_progress") })
        else { throw .replication("KV bucket \(names.bucket)_progress vanished after its creation") }
        self.progress = progress
    }

    /// The request timeout of membership and lease calls: half the lease TTL, at least 2 s, at most
    /// the connection's.
    static func controlTimeout(_ options: ExecutionOptions) -> Duration {
        min(options.connection.requestTimeout, max(options.leaseTTL / 2, .seconds(2)))
    }

    /// Runs `body` until it does not fail with a NATS status error (no leader yet, a timeout), at
    /// most 30 times about a second apart.
    static func retrying<T>(_ body: () throws(ClusterError) -> T) throws(ClusterError) -> T {
        var attempt = 0
        while true {
            do {
                return try body()
            } catch {
                attempt += 1
                guard attempt < 30, case .nats = error else { throw error }
                usleep(useconds_t(min(attempt, 10)) * 100_000)
            }
        }
    }

    /// Creates the program's two JetStream streams, or binds to them: exchanges and checkpoints
    /// (purged behind checkpoints), and named outputs (never purged: `ExecutionNames`).
    static func ensureStream(_ jetStream: JetStream, names: ExecutionNames, options: ExecutionOptions) throws(ClusterError) {
        _ = try jetStream.addOrUpdateStream(JetStreamConfiguration(
            name: names.jetStreamName, subjects: [names.allSubjects], replicas: options.replicas,
            duplicateWindow: options.duplicateWindow,
            description: "Strata program \(names.program): exchanges between partition tasks, checkpoints"))
        _ = try jetStream.addOrUpdateStream(JetStreamConfiguration(
            name: names.outputsJetStreamName, subjects: [names.allOutputSubjects], replicas: options.replicas,
            duplicateWindow: options.duplicateWindow,
            description: "Strata program \(names.program): named outputs (never purged)"))
    }

    /// The partitions whose tasks run on this node now, in order.
    public var partitions: [Int] { held.withLock { $0.filter { $0.value.task != nil }.keys.sorted() } }

    /// The partitions this node runs speculative copies of now, in order.
    public var speculativeCopies: [Int] { copies.withLock { $0.keys.sorted() } }

    /// How many trims of this node's partition tasks failed on a deletion since the node started,
    /// those of tasks that have ended (released, lost, failed) included; each was retried and the
    /// task went on (docs/cluster.md, "Trimming JetStream").
    public var trimDeletionFailures: Int { trimFailures.value }

    /// The trim deletion failures of every task this node started, counted by the tasks as they
    /// happen: a task's count stays when the task ends.
    private let trimFailures = SharedCount()

    /// Asks `run()` to stop its tasks and return.
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
    }

    /// Runs until `stop()`: every quarter of the lease TTL, renews this node's membership and
    /// leases, recomputes the assignment, releases what it should no longer run and acquires
    /// what it should.
    public func run() {
        let period = options.leaseTTL / 4
        var lastRenewal = DispatchTime.now().uptimeNanoseconds
        while !stopping.load(ordering: .relaxed) {
            let began = DispatchTime.now().uptimeNanoseconds
            // A round that began more than half a TTL after the last good one: a pause (SIGSTOP,
            // a stalled machine) may have let the leases expire. Stop writing before anything else.
            if began &- lastRenewal > UInt64(options.leaseTTL.wholeNanoseconds / 2) {
                logger.warning("leases not renewed for half their TTL: publishing suspended",
                               metadata: ["node": "\(options.node)", "partitions": "\(partitions)"])
                suspendTasks()
            }
            do {
                try round()
                lastRenewal = began
                let valid = began &+ UInt64((options.leaseTTL / 2).wholeNanoseconds)
                held.withLock { for entry in $0.values { entry.task?.leaseValid(until: valid) } }
                copies.withLock { for copy in $0.values { copy.task.leaseValid(until: valid) } }
            } catch {
                logger.warning("cluster round failed", metadata: ["node": "\(options.node)", "error": "\(error)"])
            }
            _ = wake.wait(timeout: .now() + .nanoseconds(Int(clamping: period.wholeNanoseconds)))
        }
        let tasks = held.withLock { held in held.values.compactMap(\.task) } + copies.withLock { $0.values.map(\.task) }
        for task in tasks { task.stop() }
        for task in tasks { task.wait() }
        // Hand the partitions over at once rather than after the TTL.
        for (partition, entry) in held.withLock({ $0 }) {
            _ = try? leases.update(ExecutionNames.leaseKey(partition), [], expectedRevision: entry.revision)
        }
        try? leases.delete(ExecutionNames.memberKey(options.node))
    }

    /// Stops every task's publishing until the next good renewal.
    private func suspendTasks() {
        held.withLock { for entry in $0.values { entry.task?.leaseValid(until: 0) } }
        copies.withLock { for copy in $0.values { copy.task.leaseValid(until: 0) } }
    }

    private func round() throws(ClusterError) {
        let me = options.node
        var members: Set<String> = [me]
        for key in try leases.keys(prefix: "node.") {
            if let name = ExecutionNames.decode(String(key.dropFirst(5))) { members.insert(name) }
        }
        // The current holders: an assignment keeps them where it can (a join or leave moves only
        // what it must).
        var current: [String?] = []
        for partition in 0..<program.partitions {
            let entry = try leases.get(ExecutionNames.leaseKey(partition))
            current.append(entry.flatMap { $0.operation == .put && !$0.value.isEmpty ? String(decoding: $0.value, as: UTF8.self) : nil })
        }
        // Announced only by a round that could read the leases: a node whose reads fail (seen once
        // after SIGCONT: every lease read timed out while its membership puts succeeded) drops out
        // with its membership's TTL, instead of staying a member the others keep handing
        // partitions to that it never takes.
        try leases.put(ExecutionNames.memberKey(me), Array(me.utf8))
        let assignment = PartitionAssignment(program: program.name, partitions: program.partitions, nodes: members,
                                             current: current)
        for partition in 0..<program.partitions {
            let key = ExecutionNames.leaseKey(partition)
            let mine = assignment.owners[partition] == me
            let current = held.withLock { $0[partition] }
            if let current {
                if let task = current.task, let ending = task.ended {
                    // Fenced: another node owns it now. Failed: let the lease go, try again later.
                    logger.warning("partition task ended", metadata: ["node": "\(me)", "partition": "\(partition)",
                                                                      "why": "\(ending)"])
                    task.wait()
                    held.withLock { _ = $0.removeValue(forKey: partition) }
                    if case .failed = ending { _ = try? leases.update(key, [], expectedRevision: current.revision) }
                    continue
                }
                if mine {
                    do {
                        let revision = try leases.update(key, Array(me.utf8), expectedRevision: current.revision)
                        held.withLock { $0[partition]?.revision = revision }
                    } catch .revisionMismatch {
                        logger.warning("lease lost", metadata: ["node": "\(me)", "partition": "\(partition)"])
                        release(partition, revision: nil)
                    }
                } else {
                    logger.info("partition released: assigned to \(assignment.owners[partition])",
                                metadata: ["node": "\(me)", "partition": "\(partition)"])
                    release(partition, revision: current.revision)
                }
            } else if mine {
                stopCopy(partition, why: "the partition is assigned to this node")
                guard let revision = try acquire(key) else { continue }
                do {
                    let delay = options.testingExportDelay.flatMap { $0.partition == partition ? $0.perInterval : nil }
                    let task = try ClusterTask(partition: partition, of: program, node: me, names: names,
                                               directory: directory, jetStream: jetStream, progress: progress,
                                               role: .owner(leaseRevision: revision), checkpoints: options.checkpoints,
                                               exportDelay: delay, failingDeletions: options.testingFailedTrimDeletions,
                                               trimFailuresOfNode: trimFailures, logger: logger)
                    task.leaseValid(until: DispatchTime.now().uptimeNanoseconds &+ UInt64((options.leaseTTL / 2).wholeNanoseconds))
                    held.withLock { $0[partition] = Held(revision: revision, task: task) }
                    task.start()
                    logger.info("partition acquired", metadata: ["node": "\(me)", "partition": "\(partition)"])
                    if let restored = task.restored {
                        logger.info(restored.installed ? "partition restored from its checkpoint" : "partition store kept; reading from its checkpoint's position",
                                    metadata: ["node": "\(me)", "partition": "\(partition)",
                                               "through": "\(restored.through.rawValue)", "position": "\(restored.position)",
                                               "torn": "\(restored.torn)"])
                    }
                } catch {
                    logger.error("partition task could not start", metadata: ["node": "\(me)", "partition": "\(partition)",
                                                                             "error": "\(error)"])
                    _ = try? leases.update(key, [], expectedRevision: revision)
                }
            }
        }
        // After the renewals: a failed progress read costs this round's copies, never the leases.
        do { try speculate(holders: current) } catch {
            logger.warning("speculation skipped this round", metadata: ["node": "\(me)", "error": "\(error)"])
        }
    }

    /// Speculation across nodes: starts a copy of each partition held by another node whose
    /// progress on some stream it sends is at least `margin` intervals behind the most advanced
    /// sibling's on that stream (at most `maximumCopies`), and stops a copy once its owner caught
    /// up (with its siblings and with what the copy's store sealed), lost or changed its lease, or
    /// the partition came to this node. `holders`: each partition's lease holder.
    private func speculate(holders: [String?]) throws(ClusterError) {
        guard let speculation = options.speculation else { return }
        let me = options.node
        // Each partition's progress per stream it sends (from the progress bucket), and how far
        // each is behind the most advanced sibling on any stream: per stream, because a shuffle's
        // receivers wait for every source, so a late partition holds its siblings' later streams
        // back with it, never their map side.
        var sent: [[String: Interval]] = []
        for partition in 0..<program.partitions {
            let entry = try progress.get(ExecutionNames.progressKey(partition))
            sent.append(entry.map { ProgressValue.decode($0.value) } ?? [:])
        }
        let streams = Set(sent.flatMap(\.keys))
        func position(_ partition: Int, _ stream: String) -> Int64 { sent[partition][stream].map { Int64($0.rawValue) } ?? -1 }
        let behind: [Int64] = (0..<program.partitions).map { partition in
            streams.map { stream in
                ((0..<program.partitions).map { position($0, stream) }.max() ?? -1) - position(partition, stream)
            }.max() ?? 0
        }
        for (partition, copy) in copies.withLock({ $0 }) {
            if let ending = copy.task.ended {
                logger.warning("speculative copy ended", metadata: ["node": "\(me)", "partition": "\(partition)", "why": "\(ending)"])
                stopCopy(partition, why: "it ended")
            } else if holders[partition] != copy.owner {
                stopCopy(partition, why: "the lease moved from \(copy.owner)")
            } else if behind[partition] <= 0,
                      // Caught up with the copy too: its siblings may wait for this very partition.
                      (try? copy.task.sealedToSend())?.allSatisfy({ stream, sealed in
                          sent[partition][stream].map { $0 >= sealed } ?? false
                      }) ?? false {
                stopCopy(partition, why: "its owner caught up")
            }
        }
        for partition in 0..<program.partitions {
            guard let owner = holders[partition], owner != me,
                  held.withLock({ $0[partition] == nil }),
                  copies.withLock({ $0[partition] == nil && $0.count < speculation.maximumCopies }),
                  behind[partition] >= Int64(speculation.margin) else { continue }
            do {
                let task = try ClusterTask(partition: partition, of: program, node: me, names: names, directory: directory,
                                           jetStream: jetStream, progress: progress, role: .speculative,
                                           checkpoints: options.checkpoints, trimFailuresOfNode: trimFailures,
                                           logger: logger)
                task.leaseValid(until: DispatchTime.now().uptimeNanoseconds &+ UInt64((options.leaseTTL / 2).wholeNanoseconds))
                copies.withLock { $0[partition] = (owner, task) }
                task.start()
                logger.info("speculative copy started", metadata: [
                    "node": "\(me)", "partition": "\(partition)", "owner": "\(owner)",
                    "behind": "\(behind[partition])",
                    "restored_through": "\(task.restored.map { "\($0.through.rawValue)" } ?? "-")"])
            } catch {
                logger.warning("speculative copy could not start", metadata: ["node": "\(me)", "partition": "\(partition)",
                                                                            "error": "\(error)"])
            }
        }
    }

    /// Stops the speculative copy of `partition`, if any, and waits for it.
    private func stopCopy(_ partition: Int, why: String) {
        guard let copy = copies.withLock({ $0.removeValue(forKey: partition) }) else { return }
        copy.task.stop()
        copy.task.wait()
        logger.info("speculative copy stopped: \(why)", metadata: [
            "node": "\(options.node)", "partition": "\(partition)", "stored": "\(copy.task.speculativeMessagesStored)"])
    }

    /// Takes a free lease: creates the key, or claims it from a released (empty) value.
    private func acquire(_ key: String) throws(ClusterError) -> UInt64? {
        let me = Array(options.node.utf8)
        do {
            guard let entry = try leases.get(key), entry.operation == .put else { return try leases.create(key, me) }
            guard entry.value.isEmpty else { return nil }  // held by another node: wait for release or expiry
            return try leases.update(key, me, expectedRevision: entry.revision)
        } catch .revisionMismatch {
            return nil
        }
    }

    /// Stops a partition's task (in the background) and, with `revision`, releases its lease.
    private func release(_ partition: Int, revision: UInt64?) {
        guard let entry = held.withLock({ $0.removeValue(forKey: partition) }) else { return }
        let leases = self.leases
        entry.task?.stop()
        DedicatedThread.detach(named: "strata-release") {
            entry.task?.wait()
            if let revision {
                _ = try? leases.update(ExecutionNames.leaseKey(partition), [], expectedRevision: revision)
            }
        }
    }
}
