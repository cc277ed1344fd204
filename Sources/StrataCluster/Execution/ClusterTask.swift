import Dispatch
import Glibc
import Logging
import Strata
import StrataEngine
import StrataStorage
import Synchronization

/// One partition task of a program on this node: a store of its own holding partition `p` of
/// every stream of the program, the program running over it with gathered exchanges, a thread
/// gathering what the other tasks send it from JetStream, and a thread sending what it commits.
///
/// The task owns partition `p` while its node holds the partition's lease. It starts by taking
/// over: it bumps the partition's progress key (compare-and-set) and writes a fence on every
/// subject it sends on (a publish expecting the subject's last sequence), so that a former
/// owner, paused or partitioned away, is rejected at its next write. Every publish of the task
/// then expects the subject's last sequence to be its own previous one: if another node took
/// the partition over meanwhile, the publish fails and the task stops (`fenced`).
///
/// A task may instead be a **speculative copy** of a partition another node owns and is late on
/// (`Role.speculative`): it holds no lease, restores from the partition's checkpoint into a store
/// of its own (`DIR/<program>.pP.speculative`), never writes the progress key, fences nothing,
/// publishes no checkpoint, and publishes only blocks and seal marks chained right after a seal
/// mark (or the owner's fence) on each subject, with the message ids the owner uses
/// (`SubjectChain`).
///
/// `ClusterTask` is `Sendable`; `stop()` may be called from any thread.
final class ClusterTask: Sendable {
    /// Whether the task owns its partition or runs a speculative copy of it.
    enum Role: Sendable, Equatable {
        /// The owner: it holds the partition's lease at this revision.
        case owner(leaseRevision: UInt64)
        /// A speculative copy: no lease, no progress, no fence.
        case speculative
    }

    /// Why a task ended.
    enum Ending: Sendable, Equatable {
        /// `stop()` was called.
        case stopped
        /// Another node wrote on the task's subjects or progress: it owns the partition now.
        case fenced(String)
        /// A failure (NATS, the local store, the program).
        case failed(String)
    }

    let partition: Int
    let role: Role
    let node: String
    let names: ExecutionNames
    let store: Store
    let program: Program
    private let jetStream: JetStream
    private let progress: KeyValueBucket
    private let gatherChannels: [TaskGatherer.Channel]
    /// The program's input streams: read from their replicas in JetStream (`ReplicatedInput`).
    private let inputs: [StreamDescriptor]
    private let partitionCount: Int
    private let exportChannels: [TaskExporter.Channel]
    private let stopping = Atomic<Bool>(false)
    private let ending = Mutex<Ending?>(nil)
    private let finished = DispatchGroup()
    /// Per exported stream, the interval through which its messages are acknowledged by JetStream.
    private let exported = Mutex<[String: Interval]>([:])
    /// A test-only delay per interval the owner sends (`ExecutionOptions.testingExportDelay`).
    private let exportDelay: Duration?
    /// How many messages a speculative copy stored first (not acknowledged as duplicates).
    private let speculativeStored = Atomic<Int>(0)

    /// How many messages this speculative copy stored before the owner (0 for an owner).
    var speculativeMessagesStored: Int { speculativeStored.load(ordering: .relaxed) }

    /// Where the trimmer's rate-limited failure lines go (`ClusterNode`'s logger).
    private let logger: Logger
    /// How many trims failed on a deletion (`trimLoop`); each is retried.
    private let trimFailures = Atomic<Int>(0)
    /// The node's count of its tasks' trim failures, which this task adds to (`nil`: none).
    private let trimFailuresOfNode: SharedCount?
    /// Test only: how many more deletions fail before reaching JetStream
    /// (`ExecutionOptions.testingFailedTrimDeletions`).
    private let failingDeletions: Atomic<Int>

    /// How many trims (two per pass: the checkpoint subject's, the exchanges') failed on a
    /// deletion since the task started (each retried later).
    var trimDeletionFailures: Int { trimFailures.load(ordering: .relaxed) }

    /// Per stream the task sends (its wire name), the interval its store has sealed through:
    /// what a speculative copy could send. Streams with nothing sealed are absent.
    func sealedToSend() throws -> [String: Interval] {
        var result: [String: Interval] = [:]
        for channel in exportChannels {
            if let sealed = try store.logStore.frontier(of: channel.local).sealedThrough { result[channel.wireName] = sealed }
        }
        return result
    }

    /// Opens the task's store under `directory`, defines the program over it and takes the
    /// partition over; `start()` then runs it.
    ///
    /// - Throws: `ClusterError` when JetStream or the KV bucket fails, `.replication` for a
    ///   program that does not gather its exchanges; what opening the store or defining the program throws.
    init(partition: Int, of definition: ClusterProgram, node: String, names: ExecutionNames, directory: String,
         jetStream: JetStream, progress: KeyValueBucket, role: Role, checkpoints: Bool = true,
         exportDelay: Duration? = nil, failingDeletions: Int = 0, trimFailuresOfNode: SharedCount? = nil,
         logger: Logger = Logger(label: "strata.cluster")) throws {
        self.partition = partition
        self.role = role
        self.exportDelay = role == .speculative ? nil : exportDelay
        self.failingDeletions = Atomic(max(0, failingDeletions))
        self.trimFailuresOfNode = trimFailuresOfNode
        self.logger = logger
        self.node = node
        self.names = names
        self.jetStream = jetStream
        self.progress = progress
        let (store, program, start, restored, checkpointMessages) = try Self.openRestoring(
            path: "\(directory)/\(names.token).p\(partition)" + (role == .speculative ? ".speculative" : ""),
            definition: definition, names: names, partition: partition, jetStream: jetStream, checkpoints: checkpoints)
        self.checkpoints = checkpoints && role != .speculative
        self.store = store
        self.program = program
        self.restored = restored
        sealMarks = Mutex(SealMarkLog(start: start, tracksSequences: self.checkpoints))
        checkpointSequences = Mutex(self.checkpoints ? checkpointMessages : [])
        checkpointFirstSequence = Mutex((restored?.firstSequence ?? 0, restored?.position ?? 0))
        // A task that started from a checkpoint trims behind the checkpoints kept at once: its
        // first checkpoint may be the one it restored (the same image, acknowledged as a
        // duplicate), which moves nothing (`checkpointIfDue`).
        oldestKeptPosition = Mutex(self.checkpoints ? restored?.oldestKeptPosition : nil)
        statefulVertices = program.statefulVertexNames
        let q = UInt32(partition)
        let streams = program.externalStreams
        let internalPrefix = definition.name + "."
        inputs = streams.inputs
        partitionCount = definition.partitions
        gatherChannels = streams.inputs.map { TaskGatherer.Channel(local: $0, sources: 1) }
            + program.gatheredExchanges.map { TaskGatherer.Channel(local: $0.gathered, sources: $0.sources) }
        exportChannels = program.gatheredExchanges.map {
            TaskExporter.Channel(local: $0.sent, wireName: $0.gathered.name, targets: Array(0..<$0.gathered.partitions))
        } + streams.outputs.filter { q < $0.partitions && !$0.name.hasPrefix(internalPrefix) }.map {
            // The named outputs, for whoever reads the program's results; internal streams nobody
            // reads stay in the task's store.
            TaskExporter.Channel(local: $0, wireName: $0.name, targets: [q])
        }
        if case .owner(let leaseRevision) = role { try takeOver(leaseRevision: leaseRevision) }
    }

    /// How the task's store began, when a checkpoint from JetStream played a part.
    struct Restored: Sendable {
        /// The checkpoint's `through` and JetStream position.
        var through: Interval
        var position: UInt64
        /// Whether the checkpoint was installed into a fresh store (otherwise the store was kept
        /// and only its position was used).
        var installed: Bool
        /// The sequence of the checkpoint's first piece.
        var firstSequence: UInt64
        /// Newer checkpoints passed over (torn).
        var torn: [String]
        /// The smallest position of the partition's checkpoints found (complete or torn): while
        /// the task publishes none newer, they are all kept, and no restore reads before it.
        var oldestKeptPosition: UInt64
    }

    /// What the task's start took from JetStream (`nil`: no checkpoint; the store read the
    /// partition's messages from the beginning).
    let restored: Restored?

    /// Opens the task's store and defines the program over it, then brings the store to the
    /// partition's newest complete checkpoint in JetStream when it is behind it: a fresh store
    /// gets the checkpoint installed; a store left from an earlier run that is behind the
    /// checkpoint is set aside (removed) and replaced by a fresh one with the checkpoint; a store
    /// at or past it is kept. Returns the sequence from which to read the partition's messages:
    /// the checkpoint's position, or 1 (the beginning) when no checkpoint applies, and the
    /// sequences of the messages read on the partition's checkpoint subject.
    private static func openRestoring(path: String, definition: ClusterProgram, names: ExecutionNames, partition: Int,
                                      jetStream: JetStream,
                                      checkpoints: Bool) throws -> (Store, Program, UInt64, Restored?, [UInt64]) {
        func open() throws -> (Store, Program) {
            let store = try Store(at: path)
            var options = definition.options
            options.gathersExchanges = true
            let program = try definition.define(store, options)
            guard program.options.gathersExchanges, program.name == definition.name else {
                throw ClusterError.replication("program \(definition.name): define it with the ProgramOptions and name given")
            }
            return (store, program)
        }
        var (store, program) = try open()
        guard checkpoints else { return (store, program, 1, nil, []) }
        let found = try TaskCheckpoint.latest(jetStream: jetStream, names: names, partition: partition)
        guard let checkpoint = found.checkpoint else { return (store, program, 1, nil, found.sequences) }
        let image: StoreImage
        do { image = try StoreImage(decoding: checkpoint.image) } catch {
            throw ClusterError.corrupt("checkpoint of partition \(partition) through \(checkpoint.through.rawValue): \(error)")
        }
        func restored(installed: Bool) -> Restored {
            Restored(through: checkpoint.through, position: checkpoint.position, installed: installed,
                     firstSequence: found.firstSequence, torn: found.torn,
                     oldestKeptPosition: min(found.oldestPosition ?? checkpoint.position, checkpoint.position))
        }
        let progress = try program.progress()
        var fresh = progress.allSatisfy { $0.through == nil }
        for stream in program.allStreams where fresh {
            if try store.logStore.frontier(of: stream).sealedThrough != nil { fresh = false }
        }
        if !fresh {
            var behind = progress.contains { $0.through.map { $0 < checkpoint.through } ?? true }
            if !behind {
                // Kept when the store has gathered at least what the checkpoint had: the messages
                // after that come after the checkpoint's position. A store short of it would have
                // to read from the beginning, and the exchange messages behind the checkpoints
                // kept are trimmed: it is behind too.
                let sealed = Dictionary(image.streams.map { ($0.name, $0.frontier.sealedThrough) }) { a, _ in a }
                for stream in program.externalStreams.inputs + program.gatheredExchanges.map(\.gathered) where !behind {
                    guard let had = sealed[stream.name] ?? nil else { continue }
                    let local = try store.logStore.frontier(of: stream).sealedThrough
                    behind = local.map { $0 < had } ?? true
                }
                if !behind { return (store, program, checkpoint.position, restored(installed: false), found.sequences) }
            }
            // Behind the checkpoint (a partition coming back to a node that ran it before):
            // installing the checkpoint is less work than replaying from the old state, and the
            // only way once the exchange messages before it are trimmed. The old store is renamed
            // aside and its files removed; LMDB keeps the open files valid until the old store closes.
            let aside = path + ".replaced"
            try StoreFiles.remove(aside)
            guard rename(path, aside) == 0 else {
                throw ClusterError.replication("cannot set aside the task store \(path): errno \(errno)")
            }
            (store, program) = try open()
            try StoreFiles.remove(aside)
        }
        try program.install(image)
        return (store, program, checkpoint.position, restored(installed: true), found.sequences)
    }

    /// Whether the task publishes checkpoints (`ExecutionOptions.checkpoints`).
    private let checkpoints: Bool
    /// The stateful vertices, whose snapshots trigger a checkpoint.
    private let statefulVertices: [String]
    /// The seal marks gathered, for the position a checkpoint records.
    private let sealMarks: Mutex<SealMarkLog>
    /// The sequence of the first piece of the newest checkpoint of the partition this task knows
    /// (0: none), and the position it records.
    private let checkpointFirstSequence: Mutex<(first: UInt64, position: UInt64)>
    /// The snapshot intervals of the last checkpoint published (sender thread only).
    private let lastCheckpointSignature = Mutex<[Interval?]>([])
    /// The position of the oldest checkpoint kept, once one was published or restored: nothing
    /// before it on the gathered exchange subjects is read again.
    private let oldestKeptPosition: Mutex<UInt64?>
    /// The first piece of the oldest checkpoint kept: the messages before it on the checkpoint
    /// subject go (0: none yet).
    private let checkpointTrimBefore = Mutex<UInt64>(0)
    /// Wakes the trimmer (`trimLoop`) after a checkpoint; it also looks every 200 ms.
    private let trimWake = DispatchSemaphore(value: 0)
    /// The sequences of the messages on the partition's checkpoint subject that may still be
    /// stored (read at start, this task's fence and pieces), ascending: deleted once they are
    /// before the oldest checkpoint kept.
    private let checkpointSequences: Mutex<[UInt64]>

    /// The subjects the task sends on, with the sequence of its last message on each.
    private let lastSequence = Mutex<[String: UInt64]>([:])
    /// Per subject, the highest seal mark known stored on it since the task started (its own or a
    /// speculative copy's): a lower one is not sent (it would say less than the subject does).
    private let subjectSealed = Mutex<[String: Interval]>([:])
    /// The progress key's revision this task wrote last.
    private let progressRevision = Mutex<UInt64>(0)

    /// Bumps the progress key and fences every subject the task sends on.
    private func takeOver(leaseRevision: UInt64) throws(ClusterError) {
        let key = ExecutionNames.progressKey(partition)
        let entry = try progress.get(key)
        var resume: [String: Interval] = [:]
        if let entry { resume = ProgressValue.decode(entry.value) }
        let value = ProgressValue.encode(owner: node, exported: resume)
        let revision: UInt64
        if let entry {
            revision = try progress.update(key, value, expectedRevision: entry.revision)
        } else {
            revision = try progress.create(key, value)
        }
        progressRevision.withLock { $0 = revision }
        exported.withLock { $0 = resume }
        // What `ExecutionStatus` shows: the partition count and the inputs.
        let info = ProgramInfo.encode(partitions: partitionCount, inputs: inputs.map(\.name))
        if try progress.get(ExecutionNames.programKey)?.value != info { _ = try progress.put(ExecutionNames.programKey, info) }
        var sequences: [String: UInt64] = [:]
        let subjects = exportChannels.flatMap { channel in
            channel.targets.map { (names.subject(stream: channel.wireName, source: UInt32(partition), target: $0), resume[channel.wireName]) }
        } + [(names.checkpointSubject(partition), nil)]
        for (subject, sentThrough) in subjects {
            var attempts = 0
            while true {
                let last = try jetStream.lastMessage(stream: names.jetStream(ofSubject: subject), subject: subject)?.sequence ?? 0
                do {
                    let ack = try jetStream.publish(ExchangeWire.fence(subject: subject, names: names, node: node,
                                                                       revision: leaseRevision,
                                                                       expectedLastSubjectSequence: last,
                                                                       sentThrough: sentThrough))
                    sequences[subject] = ack.sequence
                    if subject == names.checkpointSubject(partition) { rememberCheckpointMessage(ack.sequence) }
                    break
                } catch .wrongLastSequence where attempts < 20 {
                    // The former owner wrote in between: read again and fence after it.
                    attempts += 1
                }
            }
        }
        lastSequence.withLock { $0 = sequences }
    }

    /// Starts the program, the gatherer and the sender.
    func start() {
        let program = self.program
        finished.enter()
        Task.detached { [self] in
            do { try await program.run(pollInterval: .milliseconds(100)) } catch { end(.failed("\(error)")) }
            finished.leave()
        }
        finished.enter()
        DedicatedThread.detach(named: "strata-gather") { [self] in
            defer { finished.leave() }
            gatherLoop()
        }
        finished.enter()
        DedicatedThread.detach(named: "strata-send") { [self] in
            defer { finished.leave() }
            if role == .speculative { speculativeExportLoop() } else { exportLoop() }
        }
        if checkpoints {
            finished.enter()
            DedicatedThread.detach(named: "strata-trim") { [self] in
                defer { finished.leave() }
                trimLoop()
            }
        }
    }

    /// Asks the task to end; `wait()` returns once it has.
    func stop() { end(.stopped) }

    /// Waits until the program, the gatherer and the sender have ended, and returns why.
    @discardableResult
    func wait() -> Ending {
        finished.wait()
        return ending.withLock { $0 } ?? .stopped
    }

    /// Why the task ended, or `nil` while it runs.
    var ended: Ending? { ending.withLock { $0 } }

    private func end(_ why: Ending) {
        let first = ending.withLock { current -> Bool in
            guard current == nil else { return false }
            current = why
            return true
        }
        if first {
            stopping.store(true, ordering: .sequentiallyConsistent)
            program.stop()
            store.logStore.sealSignal.bump()
            trimWake.signal()
        }
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    // MARK: Gathering

    private func gatherLoop() {
        do {
            var gatherer = try TaskGatherer(log: store.logStore, target: UInt32(partition), channels: gatherChannels)
            var pieces = ExchangePieces()
            // Exchanges from the checkpoint's recorded position (1 without one); the inputs from the
            // first interval the store has not sealed — after an installed checkpoint, its frontier.
            let start = sealMarks.withLock { $0.start }
            try noteMessagesBefore(start)
            let reader = try openReader(names.jetStreamName, names.subjects(toTarget: UInt32(partition)), startSequence: start)
            let replicas = inputs.map {
                ReplicatedInput(jetStream: jetStream, namespace: names.namespace, local: $0, partition: UInt32(partition),
                                committed: gatherer.committed($0.name))
            }
            // With inputs to poll as well, no single wait may be long.
            let wait: Duration = replicas.isEmpty ? .milliseconds(200) : .milliseconds(50)
            while !isStopping {
                for input in replicas {
                    for message in try input.poll(wait: .milliseconds(1)) { try gatherer.receive(message) }
                }
                var received = 0
                while received < 4096, let stored = try reader.next(timeout: received == 0 ? wait : .milliseconds(1)) {
                    received += 1
                    var arrived: ExchangeMessage?
                    // Where a checkpoint's readers resume, and what can be trimmed behind it: marks
                    // and blocks of the gathered streams (outputs sent here are not read again).
                    // A message chained to one the reader should have received and did not: the
                    // subject lost messages (a server that lost them, a purge by hand), and the
                    // intervals they carried cannot be gathered — a typed error, not a gap.
                    func record(_ stream: String, sealed: Interval? = nil, block: Interval? = nil) throws(ClusterError) {
                        guard gatherer.gathers(stream) else { return }
                        let speculative = SubjectChain.isSpeculative(stored)
                        let link = SubjectChain.previous(of: stored)
                        let lost = sealMarks.withLock { marks -> Bool in
                            if let link, marks.isMissingLink(subject: stored.subject, link: link) { return true }
                            marks.received(subject: stored.subject, sequence: stored.sequence, sealedThrough: sealed, block: block,
                                           speculative: speculative)
                            return false
                        }
                        if lost, let link {
                            throw .corrupt("message \(stored.sequence) on \(stored.subject) of \(names.jetStreamName) follows "
                                           + "message \(link), which is gone (this task read from \(start)): the subject lost "
                                           + "messages it still needs")
                        }
                    }
                    switch try ExchangeWire.decode(stored, names: names) {
                    case .message(let message, _):
                        switch message.body {
                        case .sealed(let through):
                            try pieces.sealed(subject: stored.subject, through: through,
                                              gathered: gatherer.committed(message.stream))
                            try record(message.stream, sealed: through)
                        case .block(let interval, _, _):
                            try record(message.stream, block: interval)
                        }
                        arrived = message
                    case .piece(let piece, let index, let count, _):
                        if case .block(let interval, _, _) = piece.body { try record(piece.stream, block: interval) }
                        // A whole block once its last piece is in.
                        if gatherer.gathers(piece.stream) || !isOutput(piece.stream) {
                            arrived = try pieces.add(piece, index: index, count: count, subject: stored.subject,
                                                     sequence: stored.sequence)
                        }
                    case .fence:
                        // A new owner of the sending partition took the subject over: its fence is
                        // the subject's newest message until that owner sends again (never, once
                        // the input ended), so it counts as seen — trimming behind checkpoints may
                        // then go up to it (the message before it would otherwise stay forever).
                        if let (stream, _, _) = names.parse(subject: stored.subject) {
                            try record(stream)
                            // The sender sent a seal mark through `sent` on this subject before its
                            // fence: read from this task's start, or covered by what it committed.
                            // Neither: the subject lost them (emptied and fenced again from nothing).
                            if gatherer.gathers(stream), let sent = stored.header(ExchangeWire.sentThrough).flatMap(UInt64.init) {
                                let marked = sealMarks.withLock { $0.marks[stored.subject]?.last?.through }
                                let known = [gatherer.committed(stream), marked].compactMap { $0?.rawValue }.max()
                                if known.map({ $0 < sent }) ?? true {
                                    throw ClusterError.corrupt(
                                        "fence \(stored.sequence) on \(stored.subject) of \(names.jetStreamName) follows intervals "
                                        + "through \(sent) sent before it, but this task (read from \(start)) has them only through "
                                        + "\(known.map(String.init) ?? "none"): the subject lost messages it still needs")
                                }
                            }
                        }
                    case .checkpoint:
                        break
                    }
                    // Outputs sent to this partition are for readers of the program's results.
                    if let message = arrived, gatherer.gathers(message.stream) || !isOutput(message.stream) {
                        try gatherer.receive(message)
                    }
                    if reader.isCaughtUp { break }
                }
                if var batch = try gatherer.takeReady() {
                    // The gathered streams keep what the task's vertices have yet to read.
                    program.holdRetention(of: &batch)
                    try store.logStore.submit(batch, chain: nil).wait()
                }
            }
        } catch {
            end(.failed("gathering partition \(partition): \(error)"))
        }
    }

    /// Records the messages stored before `start` (a checkpoint's position) on the subjects the
    /// task gathers: left by a former owner of the partition that had not trimmed so far, they are
    /// deleted with the others once the oldest kept checkpoint's position passes them
    /// (`SealMarkLog.found`). Read without payloads; only by a task that trims.
    ///
    /// - Throws: `ClusterError.timedOut` when a stored message does not arrive within 60 s;
    ///   `ClusterError` of the reader.
    private func noteMessagesBefore(_ start: UInt64) throws(ClusterError) {
        guard checkpoints, start > 1 else { return }
        let gathered = Set(gatheredExchangeSubjects.flatMap(\.1))
        let reader = try openReader(names.jetStreamName, names.subjects(toTarget: UInt32(partition)), headersOnly: true)
        while !isStopping, reader.lastSequence < min(reader.endAtOpen, start - 1) {
            guard let stored = try reader.next(timeout: .seconds(60)) else {
                throw .timedOut("messages before \(start) on \(reader.subject) of \(names.jetStreamName) after \(reader.lastSequence)")
            }
            guard stored.sequence < start else { return }
            if gathered.contains(stored.subject) {
                let speculative = SubjectChain.isSpeculative(stored)
                sealMarks.withLock { $0.found(subject: stored.subject, sequence: stored.sequence, speculative: speculative) }
            }
        }
    }

    /// An ordered consumer on `subject`, created with a short request timeout and tried again while
    /// it times out: with one server of three down, creating a consumer timed out again and again
    /// here (NATS 2.9) — each try costing a whole request timeout, each failed task a restart.
    func openReader(_ stream: String, _ subject: String, startSequence: UInt64 = 1,
                    headersOnly: Bool = false) throws(ClusterError) -> SubjectReader {
        let quick = try jetStream.connection.jetStream(requestTimeout: .seconds(5))
        var attempt = 0
        while true {
            do {
                return try quick.reader(stream: stream, subject: subject, startSequence: startSequence,
                                        headersOnly: headersOnly)
            } catch .nats(let call, let status, let code, let text) {
                attempt += 1
                guard attempt < 24, !isStopping else { throw .nats(call: call, status: status, jetStreamCode: code, text: text) }
            }
        }
    }

    /// Runs a progress or KV call again while nothing answered it (`no responders`: the request was
    /// not delivered, so trying again is safe — a timeout is not, the write may have happened):
    /// the bucket's group is electing a leader after a server loss.
    private func whileNoResponders<T>(_ body: () throws(ClusterError) -> T) throws(ClusterError) -> T {
        var attempt = 0
        while true {
            do {
                return try body()
            } catch .nats(let call, let status, let code, let text) where status == .noResponders {
                attempt += 1
                guard attempt < 40, !isStopping else { throw .nats(call: call, status: status, jetStreamCode: code, text: text) }
                usleep(useconds_t(min(attempt, 4)) * 250_000)
            }
        }
    }

    /// Publishing is allowed until this monotonic time (ns): half a lease TTL after the node's
    /// last renewal; 0 suspends it.
    private let validUntil = Atomic<UInt64>(0)

    /// Sets until when (monotonic ns) the task may publish.
    func leaseValid(until deadline: UInt64) { validUntil.store(deadline, ordering: .sequentiallyConsistent) }

    /// Waits (on the sender's own thread) while the lease is not known to be valid.
    private func waitForValidLease() {
        while !isStopping && DispatchTime.now().uptimeNanoseconds >= validUntil.load(ordering: .sequentiallyConsistent) {
            usleep(20_000)
        }
    }

    private func isOutput(_ stream: String) -> Bool { exportChannels.contains { $0.wireName == stream && $0.targets.count == 1 } }

    // MARK: Sending

    private func exportLoop() {
        let exporter = TaskExporter(log: store.logStore, source: UInt32(partition))
        let signal = store.logStore.sealSignal
        while !isStopping {
            let generation = signal.current
            do {
                if try exportRound(exporter) {
                    try checkpointIfDue()
                } else {
                    try checkpointIfDue()
                    signal.waitBlocking(after: generation, timeout: .milliseconds(200))
                }
            } catch let error as ClusterError {
                switch error {
                case .wrongLastSequence(let subject, _, _): end(.fenced("another node wrote on \(subject)"))
                case .revisionMismatch: end(.fenced("the progress of partition \(partition) was written by another node"))
                default: end(.failed("sending partition \(partition): \(error)"))
                }
                return
            } catch {
                end(.failed("sending partition \(partition): \(error)"))
                return
            }
        }
    }

    /// Sends what the store sealed since the last round and records it in the progress key;
    /// returns whether there was anything.
    private func exportRound(_ exporter: TaskExporter) throws -> Bool {
        var perSubject: [(subject: String, messages: [OutgoingMessage])] = []
        var advanced: [String: Interval] = [:]
        let done = exported.withLock { $0 }
        let pieceBytes = jetStream.connection.pieceBytes(headroom: ExchangeWire.headroom)
        for channel in exportChannels {
            guard let through = try exporter.sealedThrough(channel),
                  done[channel.wireName].map({ $0 < through }) ?? true else { continue }
            let messages = try exporter.messages(channel, after: done[channel.wireName], through: through)
            for (index, target) in channel.targets.enumerated() {
                var outgoing: [OutgoingMessage] = []
                outgoing.reserveCapacity(messages[index].count)
                for message in messages[index] {
                    outgoing += ExchangeWire.outgoing(message, names: names, node: node, pieceBytes: pieceBytes)
                }
                perSubject.append((names.subject(stream: channel.wireName, source: UInt32(partition), target: target),
                                   outgoing))
            }
            advanced[channel.wireName] = through
        }
        if perSubject.isEmpty { return false }
        if let exportDelay {
            // Test-only: an owner late on this partition, `exportDelay` per interval it sends.
            let intervals = advanced.map { name, through in
                Int(through.rawValue - (done[name].map { $0.rawValue &+ 1 } ?? 0)) + 1
            }.max() ?? 1
            var remaining = exportDelay * intervals
            while remaining > .zero && !isStopping {
                let step = min(remaining, .milliseconds(50))
                usleep(useconds_t(step.wholeMilliseconds * 1000))
                remaining -= step
            }
        }
        try publish(perSubject)
        if isStopping { return true }
        let now = exported.withLock { exported in
            for (name, through) in advanced { exported[name] = through }
            return exported
        }
        let revision = progressRevision.withLock { $0 }
        let next = try whileNoResponders { () throws(ClusterError) in
            try progress.update(ExecutionNames.progressKey(partition), ProgressValue.encode(owner: node, exported: now),
                                expectedRevision: revision)
        }
        progressRevision.withLock { $0 = next }
        return true
    }

    // MARK: Checkpoints

    /// Publishes a checkpoint when a stateful vertex wrote a newer snapshot since the last one
    /// (for a program without state, when the smallest progress entered another snapshot
    /// period), then has the trimmer (`trimLoop`) delete the checkpoints before the previous one —
    /// the two newest complete checkpoints of a partition are kept — and the exchange messages
    /// before the oldest kept checkpoint's position (`trimExchangesBehindCheckpoints`).
    private func checkpointIfDue() throws {
        guard checkpoints else { return }
        let log = store.logStore
        // Not due while some vertex has no progress or a stateful one no snapshot yet: the image
        // would have nothing to resume from (`Program.image` gives no `through`). Cheap to ask, so
        // the idle sender asks again (the vertex that was missing may commit after the last round
        // that sent anything).
        let progress = try program.progress()
        guard progress.allSatisfy({ $0.through != nil }) else { return }
        var signature: [Interval?] = try statefulVertices.map { try log.latestSnapshotInterval(of: $0) }
        if statefulVertices.isEmpty {
            let every = UInt64(max(1, program.snapshotEvery ?? Program.defaultSnapshotEvery))
            signature = [progress.compactMap(\.through).min().map { Interval($0.rawValue / every) }]
        }
        guard signature.allSatisfy({ $0 != nil }), signature != lastCheckpointSignature.withLock({ $0 }) else { return }
        let done = exported.withLock { $0 }
        var keeping: [String: Interval?] = [:]
        for channel in exportChannels { keeping[channel.local.name] = done[channel.wireName] }
        let (image, through) = try program.image(keeping: keeping)
        guard let through else { return }
        let sealed = Dictionary(image.streams.map { ($0.name, $0.frontier.sealedThrough) }) { a, _ in a }
        let perChannel = gatheredExchangeSubjects
        let position = sealMarks.withLock { marks in
            perChannel.map { marks.position(subjects: $0.1, sealed: sealed[$0.0] ?? nil) }.min() ?? marks.start
        }
        let checkpoint = TaskCheckpoint(through: through, position: position, image: image.encoded())
        let subject = names.checkpointSubject(partition)
        let pieceBytes = jetStream.connection.pieceBytes(headroom: 16 * 1024)
        var first: UInt64?
        for message in checkpoint.messages(names: names, partition: partition, node: node, pieceBytes: pieceBytes) {
            waitForValidLease()
            if isStopping { return }
            var fenced = message
            fenced.expectedLastSubjectSequence = lastSequence.withLock { $0[subject] ?? 0 }
            let ack = try jetStream.publish(fenced)
            if !ack.duplicate { lastSequence.withLock { $0[subject] = ack.sequence } }
            rememberCheckpointMessage(ack.sequence)
            if first == nil { first = ack.sequence }
        }
        lastCheckpointSignature.withLock { $0 = signature }
        sealMarks.withLock { marks in for (name, subjects) in perChannel { marks.prune(subjects: subjects, sealed: sealed[name] ?? nil) } }
        let previous = checkpointFirstSequence.withLock { current in
            defer { if let first { current = (first, position) } }
            return current
        }
        guard let first else { return }
        // The oldest checkpoint kept: the previous one once this one is stored after it (the
        // checkpoints before it go); this one when the task knows of no earlier one (none was
        // complete when it started). What it does not need goes: the exchange messages before
        // its position.
        var oldestPosition: UInt64?
        if previous.first == 0 {
            oldestPosition = position
        } else if previous.first < first {
            checkpointTrimBefore.withLock { $0 = previous.first }
            oldestPosition = previous.position
        }
        if let oldestPosition {
            oldestKeptPosition.withLock { $0 = oldestPosition }
            trimWake.signal()
        }
    }

    // MARK: Trimming

    /// The trimmer's thread: after each checkpoint, and every 200 ms (the gatherer may have seen
    /// further on a subject since), deletes what no kept checkpoint needs — apart from the sender,
    /// whose rounds never wait for a deletion (one request per message: `deleteMessages`).
    ///
    /// Trimming frees space; it never decides what the task computes. A pass has two trims, the
    /// checkpoint subject's and the gathered exchanges', each run whatever the other did
    /// (`trimPass`). A trim that fails on a deletion (a timeout, no responders, any other
    /// JetStream answer: `isRetriedTrimFailure`) does not end the task: it is counted
    /// (`trimDeletionFailures`), logged at most once per
    /// `trimFailureLogEvery` with the partition, the subject and the error, and the next pass —
    /// after a checkpoint, or once the backoff (400 ms doubling to 6.4 s) runs out — recomputes
    /// what to delete from the same bounds and tries again. What a pass deleted before failing is
    /// not forgotten by the bounds: deleting it again is passed over (`JetStream.deleteMessage`),
    /// so what is kept in the end does not depend on when a deletion failed.
    private func trimLoop() {
        var consecutiveFailures = 0
        var failuresSinceLogged = 0
        var lastLogged: UInt64?
        while !isStopping {
            let wait = consecutiveFailures == 0 ? 200 : 200 << min(consecutiveFailures, 5)
            _ = trimWake.wait(timeout: .now() + .milliseconds(wait))
            if isStopping { return }
            let failures = Self.trimPass([
                { () -> TrimFailure? in
                    do throws(TrimFailure) { try self.trimCheckpoints() } catch { return error }
                    return nil
                },
                { () -> TrimFailure? in
                    do throws(TrimFailure) { try self.trimExchangesBehindCheckpoints() } catch { return error }
                    return nil
                },
            ])
            if let fatal = failures.first(where: { !Self.isRetriedTrimFailure($0.error) }) {
                // The stream is gone, or the connection closed: what ended tasks before.
                end(.failed("trimming partition \(partition): \(fatal)"))
                return
            }
            consecutiveFailures = failures.isEmpty ? 0 : consecutiveFailures + 1
            for failure in failures {
                failuresSinceLogged += 1
                _ = trimFailures.add(1, ordering: .relaxed)
                trimFailuresOfNode?.add(1)
                let now = DispatchTime.now().uptimeNanoseconds
                if lastLogged.map({ now &- $0 >= UInt64(Self.trimFailureLogEvery.wholeNanoseconds) }) ?? true {
                    logger.warning("trim deletion failed; the task goes on and trims again later", metadata: [
                        "node": "\(node)", "partition": "\(partition)", "subject": "\(failure.subject)",
                        "sequence": "\(failure.sequence)", "error": "\(failure.error)",
                        "failures": "\(failuresSinceLogged) since the last line, \(trimDeletionFailures) in all"])
                    lastLogged = now
                    failuresSinceLogged = 0
                }
            }
        }
    }

    /// Runs the steps of one trim pass — the checkpoint subject's trim, then the gathered
    /// exchanges' — each whatever the ones before it did, and returns their failures (what each
    /// step returns: `nil` when it trimmed) in step order: a checkpoint deletion that keeps failing
    /// never keeps the exchanges from being trimmed (before, both shared one `do`, and the first
    /// failure skipped the exchanges' trim for as long as it lasted). The steps return their
    /// failure rather than throw it: an array of closures with a typed `throws` crashed the
    /// compiler (Swift 6.3, IRGen).
    static func trimPass(_ steps: [() -> TrimFailure?]) -> [TrimFailure] {
        var failures: [TrimFailure] = []
        for step in steps {
            if let failure = step() { failures.append(failure) }
        }
        return failures
    }

    /// At most one trim failure line per task this often (the count says how many it stands for).
    static let trimFailureLogEvery: Duration = .seconds(10)

    /// A deletion of the trimmer that failed: the subject and sequence it was for, and why.
    struct TrimFailure: Error, CustomStringConvertible {
        var subject: String
        var sequence: UInt64
        var error: ClusterError

        var description: String { "deleting message \(sequence) on \(subject): \(error)" }
    }

    /// Whether a failed trim deletion is retried rather than ending the task: every NATS or
    /// JetStream failure (a timeout, no responders, no leader, a server's refusal, a permission)
    /// except a stream that is gone (JetStream error 10059) and a closed connection, which keep
    /// ending the task as before (its node restarts it, or is shutting down). A lost lease never
    /// shows here — deletions are not fenced: the node stops the task (`isStopping`), which ends
    /// the trimmer; nothing else a deletion throws is expected, and it ends the task as before.
    static func isRetriedTrimFailure(_ error: ClusterError) -> Bool {
        switch error {
        case .nats(_, let status, _, _):
            return !error.isStreamNotFound && status != .connectionClosed
        case .timedOut, .notAuthorized:
            return true
        default:
            return false
        }
    }

    /// Deletes the messages on the partition's checkpoint subject before the first piece of the
    /// oldest checkpoint kept (`checkpointTrimBefore`): older checkpoints, torn ones, fences.
    private func trimCheckpoints() throws(TrimFailure) {
        let before = checkpointTrimBefore.withLock { $0 }
        let older = checkpointSequences.withLock { Array($0.prefix { $0 < before }) }
        guard !older.isEmpty else { return }
        try deleteMessages(older, subject: names.checkpointSubject(partition))
        if isStopping { return }
        let deleted = Set(older)
        checkpointSequences.withLock { $0.removeAll { deleted.contains($0) } }
    }

    /// Notes a message stored on the partition's checkpoint subject (kept ascending, once each).
    private func rememberCheckpointMessage(_ sequence: UInt64) {
        checkpointSequences.withLock { list in
            guard list.last.map({ $0 < sequence }) ?? true else {
                if !list.contains(sequence) { list.append(sequence); list.sort() }
                return
            }
            list.append(sequence)
        }
    }

    /// Deletes messages of the exchanges' JetStream stream one by one (`JetStream.deleteMessage`),
    /// never with a filtered purge: nats-server before 2.9.18 replays a filtered purge on a
    /// restarted replica as a purge of every message stored before it (nats-server #4196;
    /// docs/cluster.md, "Trimming JetStream"). A message already gone is passed over.
    ///
    /// - Throws: `TrimFailure` naming `subject` and the sequence whose deletion failed (those
    ///   before it are deleted).
    private func deleteMessages(_ sequences: [UInt64], subject: String) throws(TrimFailure) {
        for sequence in sequences {
            if isStopping { return }
            do {
                try whileNoResponders { () throws(ClusterError) in
                    if failingDeletions.load(ordering: .relaxed) > 0 {
                        _ = failingDeletions.subtract(1, ordering: .relaxed)
                        throw .nats(call: "js_DeleteMsg(\(names.jetStreamName), \(sequence))", status: .timeout,
                                    jetStreamCode: 0, text: "test fault (ExecutionOptions.testingFailedTrimDeletions)")
                    }
                    _ = try jetStream.deleteMessage(stream: names.jetStreamName, sequence: sequence)
                }
            } catch {
                throw TrimFailure(subject: subject, sequence: sequence, error: error)
            }
        }
    }

    /// Per gathered exchange channel, its local stream and the subjects it gathers from — the
    /// exchanges only: the inputs come from their replicas (`ReplicatedInput`), which resume from
    /// the installed store's own frontier, not from a JetStream position.
    private var gatheredExchangeSubjects: [(String, [String])] {
        gatherChannels.dropFirst(inputs.count).map { channel in
            (channel.local.name, (0..<channel.sources).map {
                names.subject(stream: channel.local.name, source: $0, target: UInt32(partition))
            })
        }
    }

    /// Trims the gathered exchange subjects behind the oldest kept checkpoint's position, as far
    /// as the task has seen each one (`SealMarkLog.purgeBounds`): after a checkpoint, and again
    /// whenever the trimmer looks and the task has since seen further on a subject (a message that
    /// arrived after the checkpoint's trim but lies before its position goes then, not at the next
    /// checkpoint, which may never come). Only messages still stored are deleted
    /// (`SealMarkLog.deletable`).
    ///
    /// Who reads such a subject (`STREAM.SOURCE.P`, `P` this task's partition): this task — now,
    /// or a new owner of `P` restoring one of the two checkpoints kept, which reads from that
    /// checkpoint's position — and `ClusterOutputs`, which only counts and audits them (it keeps
    /// the named outputs' blocks, whose subjects are never trimmed). The sender (task `SOURCE`)
    /// reads only the subject's last message, to fence it, which stays. Only the exchanges'
    /// JetStream stream is ever trimmed; named outputs live in a stream of their own.
    private func trimExchangesBehindCheckpoints() throws(TrimFailure) {
        guard let oldest = oldestKeptPosition.withLock({ $0 }) else { return }
        let subjects = gatheredExchangeSubjects.flatMap(\.1).filter { names.jetStream(ofSubject: $0) == names.jetStreamName }
        let deletable = sealMarks.withLock { marks in marks.deletable(subjects: subjects, position: oldest) }
        for (subject, sequences) in deletable {
            try deleteMessages(Array(sequences), subject: subject)
            if isStopping { return }
            sealMarks.withLock { $0.deleted(subject: subject, count: sequences.count) }
        }
    }

    /// Publishes each subject's messages (a big block's pieces among them, consecutive) in order,
    /// the subjects side by side: wave `i` sends the `i`-th message of every subject, pipelined,
    /// each chained to its subject's last sequence (`ExchangeWire.chained`: the expectation and
    /// `Strata-Previous` together, for every piece).
    ///
    /// When speculative copies of the task's messages came in between (a publish rejected for its
    /// expected sequence, or acknowledged as a duplicate stored after the task's last message),
    /// the task adopts the subject's chain (`SubjectChain.continuation`) and sends the wave again:
    /// what a copy stored first (a whole block, a seal mark or some of a block's pieces) is
    /// acknowledged as a duplicate. A fence or another node's write stops it (`wrongLastSequence`).
    private func publish(_ perSubject: [(subject: String, messages: [OutgoingMessage])]) throws(ClusterError) {
        let longest = perSubject.map(\.messages.count).max() ?? 0
        for wave in 0..<longest {
            var attempts = 0
            while true {
                waitForValidLease()
                if isStopping { return }
                let sequences = lastSequence.withLock { $0 }
                let sealedOn = subjectSealed.withLock { $0 }
                var batch: [OutgoingMessage] = []
                var subjects: [String] = []
                var marks: [Interval?] = []
                for (subject, messages) in perSubject where wave < messages.count {
                    let mark = ExchangeWire.sealedThrough(messages[wave])
                    if let mark, let known = sealedOn[subject], mark <= known { continue }
                    batch.append(ExchangeWire.chained(messages[wave], after: sequences[subject] ?? 0))
                    subjects.append(subject)
                    marks.append(mark)
                }
                if batch.isEmpty { break }
                do {
                    let acks = try jetStream.publish(batch)
                    for ((subject, ack), mark) in zip(zip(subjects, acks), marks) {
                        // A single server drops a repeated id before it checks the expected sequence:
                        // a duplicate stored after the task's last message is a copy's.
                        let own = sequences[subject] ?? 0
                        let next = try SubjectChain.afterAcknowledgement(ack, ownLast: own, jetStream: jetStream,
                                                                         stream: names.jetStream(ofSubject: subject), subject: subject,
                                                                         node: node)
                        var sealed = next.sealedThrough
                        if let mark { sealed = max(sealed ?? mark, mark) }
                        record(subject, next.sequence, sealed: sealed)
                    }
                    break
                } catch .wrongLastSequence(let subject, let expected, let text) {
                    // A clustered stream checks the expected sequence first. Adopt every subject of the
                    // wave (one rejected may hide others stored whose acknowledgement was not read).
                    attempts += 1
                    guard attempts <= 1000 else { throw .wrongLastSequence(subject: subject, expected: expected, text: text) }
                    for subject in subjects { try adoptChain(subject, after: sequences[subject] ?? 0) }
                }
            }
        }
    }

    /// Carries on after speculative copies on `subject` (or stops at a fence: `SubjectChain`).
    private func adoptChain(_ subject: String, after own: UInt64) throws(ClusterError) {
        let next = try SubjectChain.continuation(jetStream: jetStream, stream: names.jetStream(ofSubject: subject), subject: subject,
                                                 ownLast: own, node: node)
        record(subject, next.sequence, sealed: next.sealedThrough)
    }

    /// Records the task's last sequence on `subject` and a seal mark known stored there.
    private func record(_ subject: String, _ sequence: UInt64, sealed: Interval?) {
        lastSequence.withLock { $0[subject] = sequence }
        if let sealed { subjectSealed.withLock { $0[subject] = max($0[subject] ?? sealed, sealed) } }
    }

    // MARK: Speculative copies

    /// A speculative copy's sending: every round, for each subject the partition sends on whose
    /// last message is a seal mark through `t` (or the owner's fence, with `t` the owner's progress)
    /// below what the copy's store sealed, the copy publishes the intervals after `t` — each
    /// interval's blocks, then its seal mark: the subject's one sequence (`TaskExporter.messages`),
    /// the owner's too — each chained to the one before (the first to the subject's last
    /// message), marked speculative, with the owner's message ids (a big block in the owner's
    /// pieces, each piece chained to the one before). When owner and copy publish the next message
    /// at once, both expecting the same sequence, a clustered stream may pass both expectations
    /// (nats-server 2.9.10): the two are the same message, so the duplicate check stores one.
    /// A subject whose last message is a block or a piece (the owner is mid-interval) is left for
    /// the next round; a rejected publish (someone wrote in between) or a duplicate ends that
    /// subject's turn. The copy never writes the progress key.
    private func speculativeExportLoop() {
        let exporter = TaskExporter(log: store.logStore, source: UInt32(partition))
        let signal = store.logStore.sealSignal
        while !isStopping {
            let generation = signal.current
            do {
                try speculativeRound(exporter)
            } catch {
                end(.failed("speculative copy of partition \(partition): \(error)"))
                return
            }
            signal.waitBlocking(after: generation, timeout: .milliseconds(200))
        }
    }

    /// Publishes a copy's message, or returns `nil` when the subject moved on (`wrongLastSequence`).
    private func publishIfNext(_ message: OutgoingMessage) throws(ClusterError) -> PublishAck? {
        do { return try jetStream.publish(message) } catch .wrongLastSequence { return nil }
    }

    private func speculativeRound(_ exporter: TaskExporter) throws {
        for channel in exportChannels {
            guard !isStopping, let through = try exporter.sealedThrough(channel) else { continue }
            let frontier = try store.logStore.frontier(of: channel.local)
            let pieceBytes = jetStream.connection.pieceBytes(headroom: ExchangeWire.headroom)
            var byStart: [UInt64: [[ExchangeMessage]]] = [:]  // lookup only: the messages after an interval
            for (index, target) in channel.targets.enumerated() {
                waitForValidLease()
                if isStopping { return }
                let subject = names.subject(stream: channel.wireName, source: UInt32(partition), target: target)
                guard let last = try jetStream.lastMessage(stream: names.jetStream(ofSubject: subject), subject: subject) else { continue }
                // Where the owner stands on the subject: after a seal mark, its interval; right after
                // the owner's fence (it took the subject over and has stored nothing since), the
                // progress it resumes from — read after the fence, so a publish expecting the fence
                // cannot follow anything the owner sent after reading it. Either way the copy's next
                // message is the owner's next one: the sequence after an interval is canonical
                // (`TaskExporter.messages`), so when both send it at once they send the same id and
                // JetStream stores one. An owner that has sent nothing on the stream yet resumes from
                // no interval, where its first batch is not canonical: the copy waits for its first
                // seal mark.
                let after: Interval
                switch last.header(ExchangeWire.kind) {
                case "sealed":
                    guard let sealed = last.header(ExchangeWire.through).flatMap(UInt64.init) else { continue }
                    after = Interval(sealed)
                case "fence":
                    guard let resumed = try progress.get(ExecutionNames.progressKey(partition))
                        .flatMap({ ProgressValue.decode($0.value)[channel.wireName] }) else { continue }
                    after = resumed
                default:
                    continue  // a block: the owner is mid-interval
                }
                // Nothing after `through` to send; checked before stepping, so that a header naming
                // the last interval index (UInt64.max) cannot overflow.
                guard after.rawValue < through.rawValue else { continue }
                let first = after.rawValue + 1
                // The copy's store must hold every interval it would send.
                guard frontier.retainedFrom.rawValue <= first else { continue }
                let key = after.rawValue
                let all: [[ExchangeMessage]]
                if let cached = byStart[key] {
                    all = cached
                } else {
                    all = try exporter.messages(channel, after: after, through: through)
                    byStart[key] = all
                }
                // The owner's messages, pieces and ids alike (the same piece size), each piece chained
                // to the one before.
                var previous = last.sequence
                sending: for message in all[index] {
                    for piece in ExchangeWire.outgoing(message, names: names, node: node, pieceBytes: pieceBytes, speculative: true) {
                        if isStopping { return }
                        // Rejected (someone wrote in between) or a duplicate (stored before, by the owner or
                        // a former one): the subject's turn ends.
                        guard let ack = try publishIfNext(ExchangeWire.chained(piece, after: previous)), !ack.duplicate else { break sending }
                        _ = speculativeStored.add(1, ordering: .relaxed)
                        previous = ack.sequence
                    }
                }
            }
        }
    }
}

/// The value of a partition's progress key: its owner and, per exported stream, the interval
/// through which JetStream holds its messages. Text lines, `owner NODE` then `STREAM INTERVAL`,
/// sorted by stream name.
enum ProgressValue {
    static func encode(owner: String, exported: [String: Interval]) -> [UInt8] {
        var text = "owner \(owner)\n"
        for name in exported.keys.sorted() { text += "\(name) \(exported[name]?.rawValue ?? 0)\n" }
        return Array(text.utf8)
    }

    static func decode(_ bytes: [UInt8]) -> [String: Interval] {
        var result: [String: Interval] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, parts[0] != "owner", let value = UInt64(parts[1]) else { continue }
            result[String(parts[0])] = Interval(value)
        }
        return result
    }

    static func owner(_ bytes: [UInt8]) -> String? {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.flatMap { line in
            line.hasPrefix("owner ") ? String(line.dropFirst(6)) : nil
        }
    }
}

/// A count shared between threads and owners (a node and its tasks): it stays when any one of
/// them goes. `Sendable`; atomic.
final class SharedCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Adds `amount`.
    func add(_ amount: Int) { _ = count.add(amount, ordering: .relaxed) }

    /// The count now.
    var value: Int { count.load(ordering: .relaxed) }
}

/// Removing a store directory that is set aside (its files, then the directory), with Glibc only.
enum StoreFiles {
    /// Removes the directory `path` and everything in it — a store directory holds files and
    /// `writers/`, the writer locks' directory, itself of files; nothing when it does not exist.
    static func remove(_ path: String) throws(ClusterError) {
        guard let directory = opendir(path) else {
            if errno == ENOENT { return }
            throw .replication("cannot open \(path) to remove it: errno \(errno)")
        }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(directory)
        for name in names where unlink(path + "/" + name) != 0 && errno != ENOENT {
            // A directory (unlink gives EISDIR on Linux): its contents first.
            guard errno == EISDIR else { throw .replication("cannot remove \(path)/\(name): errno \(errno)") }
            try remove(path + "/" + name)
        }
        guard rmdir(path) == 0 || errno == ENOENT else { throw .replication("cannot remove \(path): errno \(errno)") }
    }
}
