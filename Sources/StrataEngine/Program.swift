import CoreMetrics
import Dispatch
import Logging
import StrataStorage
import Synchronization

/// A program: a graph of deterministic vertices over a store's logs, defined with `DStream`s.
///
/// Running it processes every sealed interval of its inputs in order; each vertex's outputs for
/// an interval, their seals and the vertex's progress mark commit in one LMDB transaction, so a
/// program stopped or killed at any moment continues where it stopped, with no duplicate and no
/// gap in any output. The engine never reads the wall clock: time is the interval index.
///
/// `Program` is `Sendable`; run it from one place at a time. `runUntilCaughtUp()` blocks: call it
/// from a thread of your own, or use `run()` from async code.
public final class Program: Sendable {
    /// The program's name, the prefix of its vertices' and internal streams' names.
    public let name: String
    let log: LogStore
    let vertices: [any VertexRunner]
    /// How the program runs its tasks and snapshots.
    public let options: ProgramOptions
    /// What the task scheduler did in this process.
    let counters = TaskCounters()
    /// Per vertex (lookup only), its next interval's input blocks decoded ahead on idle cores.
    let decodedAhead: [String: DecodedAhead]
    /// Per-vertex metrics (swift-metrics), recorded at each interval's commit.
    let metrics: EngineMetrics
    /// Stateful vertices write a snapshot every this many intervals (`nil`: never); see
    /// `SnapshotPolicy` and docs/durability.md.
    public var snapshotEvery: Int? { options.snapshotEvery }
    /// With `options.gathersExchanges`, each exchange's written and read streams (empty otherwise).
    package let gatheredExchanges: [GatheredExchange]
    /// The longest window of the definition, in intervals (0: none): how far back before the
    /// interval it computes a vertex may read its inputs (a store image keeps that much more).
    package let lookback: UInt64
    /// Per vertex (lookup only), the internal streams it writes or reads that other vertices of the
    /// program read, with those readers: each of its commits keeps what the readers still need
    /// (`RetentionHold`), so a reader that falls behind its producer — input sealed in a burst —
    /// never finds an interval it needs dropped by the stream's retention.
    let retentionHolds: [String: [RetentionHold]]
    /// Per internal stream some vertex reads (lookup only), its hold: for commits that seal it
    /// outside a vertex (a gathered exchange, `holdRetention(of:)`).
    let streamHolds: [String: RetentionHold]
    /// Per vertex (lookup only), the other vertices that read one of its outputs or copies, in
    /// definition order: a live stateful vertex lets them commit an interval before its snapshot.
    let readersOf: [String: [String]]
    /// Vertices whose state `recover()` rebuilt, counted as a recovery in their next commit.
    let recoveredVertices = Mutex<Set<String>>([])  // membership only; never iterated
    /// Vertices whose first run in this process has begun (its start was classified and counted).
    let startedVertices = Mutex<Set<String>>([])  // membership only; never iterated
    /// Vertices the run in progress marked `running` in their stats rows, to be marked stopped
    /// (or failed) when it returns.
    let markedRunning = Mutex<Set<String>>([])  // membership only; never iterated

    /// The default snapshot period, in intervals.
    public static let defaultSnapshotEvery = 30

    /// Defines a program over the store behind `log`.
    ///
    /// - Throws: the first definition error (an unknown stream, a type mismatch, an invalid name,
    ///   a `snapshotEvery` below 1).
    package init(name: String, log: LogStore, options: ProgramOptions = ProgramOptions(),
                 define: (ProgramBuilder) throws -> Void) throws {
        self.options = options
        metrics = EngineMetrics(factory: options.metricsFactory ?? MetricsSystem.factory)
        guard StreamDescriptor.isValidName(name), name.utf8.count <= 120 else {
            throw EngineError.misuse("invalid program name \"\(name)\": use up to 120 characters of A–Z a–z 0–9 . _ -")
        }
        if let snapshotEvery = options.snapshotEvery, snapshotEvery < 1 {
            throw EngineError.misuse("snapshotEvery must be at least 1 interval, not \(snapshotEvery)")
        }
        self.name = name
        self.log = log
        let builder = ProgramBuilder(programName: name, log: log, snapshotEvery: options.snapshotEvery,
                                     gathersExchanges: options.gathersExchanges)
        try define(builder)
        vertices = try builder.finish()
        var decodedAhead: [String: DecodedAhead] = [:]  // lookup only
        if options.decodesAhead != .never {
            for vertex in vertices {
                let decoders = builder.decoders(of: vertex.name, reading: vertex.inputs)
                if !decoders.isEmpty { decodedAhead[vertex.name] = DecodedAhead(log: log, decoders: decoders) }
            }
        }
        self.decodedAhead = decodedAhead
        gatheredExchanges = builder.gatheredExchanges
        lookback = builder.lookback
        (retentionHolds, streamHolds) = Self.retentionHolds(of: vertices, programName: name, lookback: builder.lookback)
        readersOf = Self.readers(of: vertices)
        try registerStates()
    }

    /// Stores a `StateDescriptor` row for each stateful output (and each named copy of it), so
    /// that the state as of a past interval can be found from the stream's name alone.
    private func registerStates() throws {
        var rows: [StateDescriptor] = []
        for vertex in vertices {
            guard let layout = vertex.stateVertex?.stateLayout else { continue }
            let names = [layout.output.name] + vertex.copies.filter { $0.source.id == layout.output.id }.map(\.copy.name)
            for stream in names {
                rows.append(StateDescriptor(stream: stream, vertex: vertex.name, kind: layout.kind,
                                            keyType: layout.keyType, valueType: layout.valueType,
                                            changes: layout.changes.name))
            }
        }
        do { try log.registerStates(rows) } catch { throw EngineError.storage(error, vertex: name, interval: nil) }
    }

    /// What one pass did.
    public struct PassSummary: Sendable, Equatable {
        /// Intervals processed, summed over vertices.
        public var intervals = 0
        /// Per vertex, the interval it has processed through after the pass.
        public var progress: [String: Interval] = [:]
    }

    /// Processes every interval sealed in the inputs now and returns when all of it is committed.
    ///
    /// The vertices run as concurrent pipeline stages: while a vertex processes interval t, the
    /// vertices upstream of it already work on t+1 and later (see `StagePipeline`).
    ///
    /// - Throws: `EngineError` naming the vertex, interval and partition; nothing of the failed
    ///   interval is committed, and earlier intervals stay committed.
    @discardableResult
    public func runUntilCaughtUp() throws -> PassSummary {
        try runPipeline(.untilCaughtUp)
    }

    /// Runs until the task is cancelled or `stop()` is called: processes what is sealed, then
    /// waits for new seals (woken at once by seals in this process, polling every `pollInterval`
    /// for others). On cancellation or `stop()` every vertex finishes the interval it is working
    /// on, commits it, and the call returns.
    public func run(pollInterval: Duration = .milliseconds(50)) async throws {
        let pipeline = StagePipeline(program: self, mode: .continuous(pollInterval: pollInterval))
        // Installed before hopping threads: a `stop()` from now on reaches this run.
        try install(pipeline)
        defer { uninstall(pipeline) }
        try await withTaskCancellationHandler {
            _ = try await onOwnThread { try self.runMarkingItsEnd(pipeline) }
        } onCancel: {
            pipeline.requestStop()
        }
    }

    /// The streams the program reads that none of its vertices writes (its inputs), and the
    /// streams it writes that none of its vertices reads, in definition order.
    package var externalStreams: (inputs: [StreamDescriptor], outputs: [StreamDescriptor]) {
        var written = Set<String>(), read = Set<String>()  // membership only
        for vertex in vertices {
            for output in vertex.outputs { written.insert(output.name) }
            for copy in vertex.copies { written.insert(copy.copy.name) }
        }
        for exchange in gatheredExchanges { written.insert(exchange.gathered.name) }
        for vertex in vertices { for input in vertex.inputs { read.insert(input.name) } }
        var inputs: [StreamDescriptor] = [], outputs: [StreamDescriptor] = [], seen = Set<String>()
        for vertex in vertices {
            for input in vertex.inputs where !written.contains(input.name) && seen.insert(input.name).inserted {
                inputs.append(input)
            }
            for output in vertex.outputs + vertex.copies.map(\.copy)
            where !read.contains(output.name) && !output.name.hasSuffix(".sent") && seen.insert(output.name).inserted {
                outputs.append(output)
            }
        }
        return (inputs, outputs)
    }

    /// Whether a `run()` or `runUntilCaughtUp()` of this program is in progress.
    public var isRunning: Bool { running.withLock { $0 != nil } }

    /// Asks a running `run()` or `runUntilCaughtUp()` to stop gracefully: each vertex finishes
    /// and commits the interval it is working on, then the call returns. A later run continues
    /// from there.
    public func stop() {
        running.withLock { $0 }?.requestStop()
    }

    /// The pipeline of the run in progress, for `stop()`.
    private let running = Mutex<StagePipeline?>(nil)

    private func runPipeline(_ mode: StagePipeline.Mode) throws -> PassSummary {
        try runPipeline(StagePipeline(program: self, mode: mode))
    }

    private func runPipeline(_ pipeline: StagePipeline) throws -> PassSummary {
        try install(pipeline)
        defer { uninstall(pipeline) }
        return try runMarkingItsEnd(pipeline)
    }

    /// Runs the pipeline, then records in the stats row of every vertex this run marked `running`
    /// that the run stopped cleanly (or failed), once all its commits are durable. A process
    /// killed before this leaves `running`: the next run counts a crash recovery.
    private func runMarkingItsEnd(_ pipeline: StagePipeline) throws -> PassSummary {
        let result = Result { () throws(EngineError) -> PassSummary in try pipeline.run() }
        let marked = markedRunning.withLock { set in
            defer { set = [] }
            return vertices.map(\.name).filter { set.contains($0) }
        }
        if !marked.isEmpty {
            var batch = AppendBatch()
            let mark: VertexStatsUpdate.RunMark = if case .success = result { .stopped } else { .failed }
            batch.vertexStats = marked.map { ($0, VertexStatsUpdate(run: mark)) }
            do {
                try log.submit(batch, chain: nil).wait()
            } catch {
                // A run that succeeded but cannot record it reports the storage error; a failed
                // run reports its own error (the stats row then still says `running`).
                if case .success = result { throw EngineError.storage(error, vertex: name, interval: nil) }
            }
        }
        return try result.get()
    }

    private func install(_ pipeline: StagePipeline) throws {
        try running.withLock { current in
            guard current == nil else { throw EngineError.misuse("program \(name) is already running") }
            current = pipeline
        }
        do {
            let locks = try claimWrittenStreams()
            writerLocks.withLock { $0 = locks }
        } catch {
            running.withLock { if $0 === pipeline { $0 = nil } }
            throw error
        }
        markedRunning.withLock { $0 = [] }
    }

    private func uninstall(_ pipeline: StagePipeline) {
        running.withLock { if $0 === pipeline { $0 = nil } }
        writerLocks.withLock { $0 = [] }
    }

    /// The writer locks of the streams the run in progress writes; emptied (released) when the run
    /// returns, after its last commit is durable.
    private let writerLocks = Mutex<[StreamWriterLock]>([])

    /// Takes the writer lock (`StreamWriterLock`) of every stream the vertices write — outputs,
    /// internal streams and copies — so that one program runs in one place at a time: the same
    /// program started in another process (or another `Program` writing one of these streams),
    /// an appender opened on one of them, `seal`, `drop`, `rename` of one of them are refused
    /// with `.streamBusy` naming this process while it runs.
    ///
    /// - Throws: `EngineError.storage(.streamBusy, vertex:)` naming the vertex whose stream is
    ///   held and the holder's pid; nothing is held when it throws.
    private func claimWrittenStreams() throws(EngineError) -> [StreamWriterLock] {
        var locks: [StreamWriterLock] = []
        var claimed = Set<String>()  // membership only
        for vertex in vertices {
            for stream in vertex.outputs + vertex.copies.map(\.copy) where claimed.insert(stream.name).inserted {
                do {
                    locks.append(try log.writerLock(of: stream))
                } catch {
                    throw .storage(error, vertex: vertex.name, interval: nil)
                }
            }
        }
        return locks
    }

    /// Per vertex, the task retries and speculative launches made by this `Program` so far.
    public func taskStatistics() -> [(vertex: String, retries: Int, speculativeLaunches: Int)] {
        vertices.map { vertex in
            let counts = counters.counts(vertex.name)
            return (vertex.name, counts.retries, counts.speculative)
        }
    }

    /// Each vertex's progress: the last interval it committed (`nil`: none yet).
    public func progress() throws -> [(vertex: String, through: Interval?)] {
        try vertices.map { vertex in (vertex.name, try log.progress(named: vertex.name)?.interval) }
    }

    /// Processes one vertex's ready intervals, until `stopping` is set; returns how many and the
    /// progress after.
    ///
    /// - Parameter live: Whether the run continues until stopped (`run()`), so that a snapshot due
    ///   at the pass's last interval may wait for the vertices downstream to commit it
    ///   (`waitForReaders`); until caught up (`runUntilCaughtUp()`) it never waits.
    func run(_ vertex: any VertexRunner, stopping: borrowing Atomic<Bool>, live: Bool = false) throws
        -> (count: Int, through: Interval?)
    {
        let stored: ProgressMark?
        var frontiers: [StreamFrontier] = []
        do {
            stored = try log.progress(named: vertex.name)
            for input in vertex.inputs { frontiers.append(try log.frontier(of: input)) }
        } catch {
            throw EngineError.storage(error, vertex: vertex.name, interval: nil)
        }
        if let stored, stored.fingerprint != vertex.fingerprint, options.changedDefinition == .refuse {
            throw EngineError.misuse("vertex \(vertex.name) was defined differently when it last ran; continue "
                                     + "with ProgramOptions.changedDefinition = .continue, or reprocess under "
                                     + "another program name (ProgramOptions.startAt) into new outputs")
        }
        try writeSnapshotMissingAtProgress(vertex, stored: stored, frontiers: frontiers)
        // Ready: sealed in every input (and not past `options.through`).
        guard var ready = frontiers.map(\.sealedThrough).reduce(Optional(Interval(UInt64.max)), { a, b in
            guard let a, let b else { return nil }
            return min(a, b)
        }) else { return (0, stored?.interval) }
        if let through = options.through { ready = min(ready, through) }
        if let done = stored?.interval, done >= ready { return (0, done) }
        let firstReadable = frontiers.compactMap(\.firstReadable).min()
        var start = stored?.interval.next ?? firstReadable ?? ready
        // The interval the in-memory state is built through before `start`.
        let stateThrough0 = stored?.interval
        // With `startAt`, a vertex writing only named outputs (a save, a sink) begins there; the
        // others compute the intervals before it too (the state downstream needs them) but write
        // only their internal streams for them.
        let startAt = options.startAt
        if stored == nil, let startAt, startAt > start, vertex.outputs.allSatisfy({ !isInternal($0) }),
           !vertex.isStateful {
            start = startAt
        }
        guard start <= ready else { return (0, stored?.interval) }
        var plan: SnapshotPlan
        do {
            plan = try SnapshotPlan(program: self, vertex: vertex, stored: stored, frontiers: frontiers)
        } catch {
            throw EngineError.storage(error, vertex: vertex.name, interval: nil)
        }
        if vertex.isStateful { try vertex.restore(through: stateThrough0) }
        let intervals = try intervalsToProcess(log, inputs: vertex.inputs, from: start, through: ready,
                                               every: vertex.needsEveryInterval, vertex: vertex.name)
        let chain = CommitChain()
        var last = CommitTicket.completed
        do {
            return try submitIntervals(vertex, intervals, ready: ready, stored: stored, stateThrough: stateThrough0,
                                       plan: &plan, chain: chain, last: &last, stopping: stopping, live: live)
        } catch {
            // Whatever was submitted before the error stays committed: wait for it before
            // reporting, so that no commit of this pass lands after the caller has moved on.
            try? last.wait()
            throw error
        }
    }

    /// The loop of `run(_:stopping:)`: processes `intervals` in order and submits each one's
    /// commit, then moves progress over the empty intervals up to `ready`; `last` is the newest
    /// commit submitted.
    private func submitIntervals(_ vertex: any VertexRunner, _ intervals: [Interval], ready: Interval,
                                 stored: ProgressMark?, stateThrough start: Interval?, plan: inout SnapshotPlan,
                                 chain: CommitChain, last: inout CommitTicket, stopping: borrowing Atomic<Bool>,
                                 live: Bool)
        throws -> (count: Int, through: Interval?)
    {
        let startAt = options.startAt
        var stateThrough = start
        var committedThrough = stored?.interval
        var processedCount = 0
        let measured = metrics.vertex(vertex.name)
        let passBegan = DispatchTime.now().uptimeNanoseconds
        let trace = options.trace
        if let trace { for interval in intervals { trace.record(vertex.name, interval, .found) } }
        for (position, interval) in intervals.enumerated() {
            if stopping.load(ordering: .relaxed) {
                try wait(last, vertex, interval)
                return (processedCount, committedThrough)
            }
            // A failed commit fails every later one of the chain: stop computing at once.
            if let failure = chain.firstFailure { throw EngineError.storage(failure, vertex: vertex.name, interval: interval) }
            processedCount += 1
            let began = DispatchTime.now().uptimeNanoseconds
            trace?.record(vertex.name, interval, .began)
            measured.schedulingDelay.recordNanoseconds(Int64(clamping: began &- passBegan))
            let input = try inputCosts(vertex, interval)
            let next = position + 1 < intervals.count ? intervals[position + 1] : nil
            let blocks = try process(vertex, interval, after: stateThrough, pending: last, inputBlocks: input.blocks,
                                     next: next)
            let processing = DispatchTime.now().uptimeNanoseconds &- began
            trace?.record(vertex.name, interval, .processed)
            measured.processing.recordNanoseconds(Int64(clamping: processing))
            var batch = AppendBatch()
            if let startAt, interval < startAt {
                batch.blocks = blocks.filter { isInternal($0.stream) }
                batch.seals = vertex.outputs.filter(isInternal).map { ($0, interval) }
            } else {
                batch.blocks = blocks
                batch.seals = vertex.outputs.map { ($0, interval) }
            }
            batch.progress = [(vertex.name, ProgressMark(interval: interval, fingerprint: vertex.fingerprint))]
            batch.retentionHolds = retentionHolds[vertex.name] ?? []
            batch.defersMetaSync = defersMetaSync(vertex)
            let snapshotDue = plan.annotate(&batch, through: interval, processed: true)
            let tasks = counters.takeUnreported(vertex.name)
            let wins = counters.takeUnreportedWins(vertex.name)
            if tasks != (0, 0) || wins != 0 {
                batch.bumpVertexStats(vertex: vertex.name, speculativeLaunches: tasks.speculative, retries: tasks.retries,
                                      speculativeWins: wins)
                measured.speculative.increment(by: Int64(clamping: tasks.speculative))
                measured.speculativeWins.increment(by: Int64(clamping: wins))
                measured.retries.increment(by: Int64(clamping: tasks.retries))
            }
            // The interval's timing row (a measurement, not an output), for any process to chart.
            batch.vertexTimings.append((vertex.name, VertexTiming(
                interval: interval, processingNanoseconds: processing, schedulingDelayNanoseconds: began &- passBegan,
                recordsIn: input.records,
                recordsOut: blocks.reduce(0) { $0 &+ UInt64($1.recordCount) },
                speculativeLaunches: UInt32(clamping: tasks.speculative), speculativeWins: UInt32(clamping: wins),
                retries: UInt32(clamping: tasks.retries))))
            measured.intervals.increment()
            measured.progress.record(Int64(clamping: interval.rawValue))
            measured.lag.record(Int64(clamping: ready.rawValue &- interval.rawValue))
            // Back-pressure: bounded memory however far behind the input is.
            if log.committer.pendingBytes.load(ordering: .relaxed) > 64 << 20 { try wait(last, vertex, interval) }
            var noteCommitted: (@Sendable () -> Void)? = nil
            if let trace {
                let name = vertex.name
                noteCommitted = { trace.record(name, interval, .committed) }
            }
            let committed = log.submit(batch, chain: chain, afterCommit: noteCommitted)
            last = committed
            if snapshotDue {
                // The snapshot of the state through `interval`, in a commit of its own after the
                // interval's: the output is readable without waiting for the snapshot to be
                // encoded, compressed and written (docs/durability.md). It is encoded while the
                // interval's commit is written, and submitted once that commit is done, so that
                // the committer never merges the two into one transaction. Live, with nothing
                // more to compute now, it waits first for the vertices reading this one's outputs
                // to commit the interval: their commits (the path to an output) then neither queue
                // behind the snapshot's nor share the cores with its encoding.
                if live, interval == ready, let readers = readersOf[vertex.name] {
                    try waitForReaders(readers, of: vertex, toCommit: interval, after: committed, stopping: stopping)
                }
                options.beforeSnapshot?(vertex.name, interval)
                let snapshot = try plan.snapshotCommit(at: interval)
                try wait(committed, vertex, interval)
                // Counted once committed: a snapshot whose commit fails was never written.
                let snapshots = measured.snapshots
                last = log.submit(snapshot, chain: chain, afterCommit: { snapshots.increment() })
            }
            committedThrough = interval
            stateThrough = interval
        }
        if committedThrough.map({ $0 < ready }) ?? true {
            // Empty intervals up to the inputs' frontier: seal the outputs and move progress on.
            var batch = AppendBatch()
            batch.seals = vertex.outputs.filter { startAt.map { ready >= $0 } ?? true || isInternal($0) }.map { ($0, ready) }
            batch.progress = [(vertex.name, ProgressMark(interval: ready, fingerprint: vertex.fingerprint))]
            batch.retentionHolds = retentionHolds[vertex.name] ?? []
            batch.defersMetaSync = defersMetaSync(vertex)
            _ = plan.annotate(&batch, through: ready, processed: false)
            last = log.submit(batch, chain: chain)
            measured.progress.record(Int64(clamping: ready.rawValue))
            measured.lag.record(0)
        }
        try wait(last, vertex, ready)
        return (intervals.count, ready)
    }

    /// Whether a vertex's commits may skip the meta-page flush (`AppendBatch.defersMetaSync`): it
    /// writes internal streams only, which a downstream vertex reads and whose synced commit then
    /// orders after them. A vertex with a named output, or with none (a sink), syncs fully.
    private func defersMetaSync(_ vertex: any VertexRunner) -> Bool {
        !vertex.outputs.isEmpty && vertex.outputs.allSatisfy(isInternal)
    }

    /// The records of `interval` in the vertex's inputs and the blocks of each partition (summed
    /// over the inputs with as many partitions as the first), from their seal rows: the interval's
    /// timing row counts the records, the task scheduler starts the heaviest partitions first.
    private func inputCosts(_ vertex: any VertexRunner, _ interval: Interval) throws -> (records: UInt64, blocks: [UInt64]?) {
        var total: UInt64 = 0
        let partitions = vertex.inputs.first.map { Int($0.partitions) } ?? 0
        var blocks = [UInt64](repeating: 0, count: partitions)
        for input in vertex.inputs {
            do {
                for (_, seal) in try log.sealRecords(of: input, in: interval...interval) {
                    total &+= seal.records
                    guard seal.chunks.count == partitions else { continue }
                    for p in 0..<partitions { blocks[p] &+= UInt64(seal.chunks[p]) }
                }
            } catch {
                throw EngineError.storage(error, vertex: vertex.name, interval: interval)
            }
        }
        return (total, partitions > 0 ? blocks : nil)
    }

    /// Whether a stream is one of the program's internal streams (`PROGRAM.vN…`), not a named output.
    private func isInternal(_ stream: StreamDescriptor) -> Bool { stream.name.hasPrefix(name + ".") }

    /// `retentionHolds` for `vertices`: for each vertex, the internal streams among its outputs and
    /// inputs that some vertex reads, each with its readers in definition order.
    private static func retentionHolds(of vertices: [any VertexRunner], programName: String, lookback: UInt64)
        -> ([String: [RetentionHold]], [String: RetentionHold]) {
        var readers: [String: [String]] = [:]  // stream name → readers; lookup only
        for vertex in vertices {
            for input in vertex.inputs where input.name.hasPrefix(programName + ".") {
                readers[input.name, default: []].append(vertex.name)
            }
        }
        var holds: [String: [RetentionHold]] = [:]  // lookup only
        var byStream: [String: RetentionHold] = [:]  // lookup only
        for vertex in vertices {
            var seen: Set<String> = []  // membership only
            for stream in vertex.inputs + vertex.outputs {
                guard let names = readers[stream.name], seen.insert(stream.name).inserted else { continue }
                let hold = RetentionHold(stream: stream, readers: names, lookback: lookback)
                holds[vertex.name, default: []].append(hold)
                byStream[stream.name] = hold
            }
        }
        return (holds, byStream)
    }

    /// `readersOf` for `vertices`: per vertex, the other vertices reading one of its outputs or
    /// copies, in definition order; vertices without readers have no entry.
    private static func readers(of vertices: [any VertexRunner]) -> [String: [String]] {
        var readers: [String: [String]] = [:]  // lookup only
        for vertex in vertices {
            let written = Set(vertex.outputs.map(\.name) + vertex.copies.map(\.copy.name))  // membership only
            let names = vertices.filter { other in
                other.name != vertex.name && other.inputs.contains { written.contains($0.name) }
            }.map(\.name)
            if !names.isEmpty { readers[vertex.name] = names }
        }
        return readers
    }

    /// Adds to `batch` the retention hold of each internal stream it seals that a vertex of the
    /// program reads, for a commit made outside the program's vertices (a task's gatherer sealing
    /// a gathered exchange): the stream then keeps what its readers have yet to read.
    package func holdRetention(of batch: inout AppendBatch) {
        for (stream, _) in batch.seals {
            guard let hold = streamHolds[stream.name],
                  !batch.retentionHolds.contains(where: { $0.stream.id == stream.id }) else { continue }
            batch.retentionHolds.append(hold)
        }
    }

    /// Computes one interval of a vertex under the program's task policy. A stateful vertex whose
    /// task failed is retried whole: once the commits submitted so far (`pending`) are durable,
    /// its state is rebuilt through `previous` (the interval it had processed before this one) and
    /// the interval runs again.
    private func process(_ vertex: any VertexRunner, _ interval: Interval, after previous: Interval?,
                         pending: CommitTicket, inputBlocks: [UInt64]?, next: Interval?) throws -> [PendingBlock]
    {
        var failures = 0
        let ahead = decodedAhead[vertex.name]
        if let ahead, options.decodesAhead == .always {
            // Tests: the whole interval decoded ahead, so that every task reads what was.
            var codec = BlockCodec()
            while ahead.decodeNext(of: interval, codec: &codec) {}
        }
        while true {
            let context = TaskContext(vertex: vertex.name, interval: interval, repeatable: !vertex.isStateful,
                                      attempt: failures, policy: options.tasks, faults: options.faults, counters: counters,
                                      inputBlocks: inputBlocks,
                                      decodedAhead: ahead, next: options.decodesAhead == .whenIdle ? next : nil,
                                      trace: options.trace)
            do {
                return try TaskContext.$current.withValue(context) { try vertex.process(interval) }
            } catch let error as EngineError {
                guard vertex.isStateful, case .closureFailed = error, failures < options.tasks.retries else { throw error }
                failures += 1
                counters.addRetry(vertex.name)
                options.logger.warning("retrying a failed task", metadata: [
                    "vertex": "\(vertex.name)", "interval": "\(interval.rawValue)", "attempt": "\(failures + 1)",
                    "error": "\(error)"])
                // The pass's own snapshots and prunes must be visible to the rebuild.
                try? pending.wait()
                try vertex.restore(through: previous)
            } catch let error as StorageError {
                // A block a task could not make (`.recordTooLarge`), as a failed commit reports it.
                throw EngineError.storage(error, vertex: vertex.name, interval: interval)
            }
        }
    }

    /// Blocks a live stateful vertex, whose snapshot of `interval` is due and which has nothing
    /// more to compute now, until every vertex in `readers` (those reading its outputs) has
    /// committed progress through `interval`; or until the vertex's inputs have sealed a later
    /// interval on every input (its next work, whose commit must follow the snapshot's), the
    /// vertex's commit of `interval` has failed, a stop is requested, or
    /// `Program.readerWaitLimit` has passed (a reader that cannot commit `interval` soon — one
    /// that starts later, waits on another input or straggles — delays the snapshot that long at
    /// most). Woken by every sealing commit, polling every 50 ms for readers that seal nothing
    /// (sinks).
    ///
    /// Only the moment of the snapshot's commit moves, never its bytes: the state is the one
    /// through `interval`, which the vertex does not change while it waits. A crash while it waits
    /// leaves the vertex's progress at `interval` without its snapshot, which the next pass writes
    /// (`writeSnapshotMissingAtProgress`), as after a crash between the two commits.
    /// The longest a live stateful vertex holds its snapshot back for its readers
    /// (`waitForReaders`): long enough for them to commit an interval on a loaded machine, short
    /// enough that a crash rarely finds the snapshot missing.
    static let readerWaitLimit: Duration = .seconds(1)

    private func waitForReaders(_ readers: [String], of vertex: any VertexRunner, toCommit interval: Interval,
                                after committed: CommitTicket, stopping: borrowing Atomic<Bool>) throws {
        let signal = log.sealSignal
        let deadline = ContinuousClock.now + Self.readerWaitLimit
        while !stopping.load(ordering: .relaxed), ContinuousClock.now < deadline {
            let generation = signal.current
            if case .failure = committed.result { return }  // reported by the caller's wait
            do throws(StorageError) {
                var behind = false
                for reader in readers {
                    let through = try log.progress(named: reader)?.interval
                    if through.map({ $0 < interval }) ?? true {
                        behind = true
                        break
                    }
                }
                if !behind { return }
                var moreInput = true
                for input in vertex.inputs {
                    let sealed = try log.frontier(of: input).sealedThrough
                    if sealed.map({ $0 <= interval }) ?? true {
                        moreInput = false
                        break
                    }
                }
                if moreInput { return }
            } catch {
                throw EngineError.storage(error, vertex: vertex.name, interval: interval)
            }
            signal.waitBlocking(after: generation, timeout: .milliseconds(50))
        }
    }

    private func wait(_ ticket: CommitTicket, _ vertex: any VertexRunner, _ interval: Interval) throws {
        do {
            try ticket.wait()
        } catch {
            throw EngineError.storage(error, vertex: vertex.name, interval: interval)
        }
    }
}

/// Runs blocking work on a thread of its own (`DedicatedThread`), never on the cooperative pool and
/// never on a worker of Dispatch's pool: a run blocks its thread until it ends, and libdispatch on
/// Linux replaces a blocked worker only when its once-a-second check happens to find work queued,
/// so a run holding one of the pool's workers (as many as cores) left the partition tasks of a
/// live program one worker on 2 cores — the map side's tasks ran one after the other
/// (docs/benchmarks.md, "Figures: issue 16, the live path: its map side on one worker, and
/// snapshots").
func onOwnThread<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { continuation in
        DedicatedThread.detach(named: "strata-run") { continuation.resume(with: Result { try work() }) }
    }
}

/// The intervals a vertex processes in `from...through`: every one when `every`, otherwise those
/// where some input has records, in order.
///
/// - Throws: `EngineError.storage(.outsideRetention)` when retention already dropped an input
///   interval the vertex has not processed.
func intervalsToProcess(_ log: LogStore, inputs: [StreamDescriptor], from start: Interval, through end: Interval,
                        every: Bool, vertex: String) throws -> [Interval] {
    guard start <= end else { return [] }
    var intervals = Set<Interval>()  // lookup only; sorted below
    for input in inputs {
        do {
            let frontier = try log.frontier(of: input)
            if let first = frontier.firstInterval, frontier.retainedFrom > start, frontier.retainedFrom > first {
                throw StorageError.outsideRetention(StoreLocation(stream: input.name, interval: start),
                                                    retainedFrom: frontier.retainedFrom)
            }
            if !every {
                for (interval, _) in try log.sealRecords(of: input, in: start...end) { intervals.insert(interval) }
            }
        } catch let error as StorageError {
            throw EngineError.storage(error, vertex: vertex, interval: start)
        }
    }
    if every {
        guard end.rawValue - start.rawValue < 100_000_000 else {
            throw EngineError.misuse("vertex \(vertex): \(end.rawValue - start.rawValue) intervals to process one by one")
        }
        return (start.rawValue...end.rawValue).map { Interval($0) }
    }
    return intervals.sorted()
}

/// The intervals a stateful vertex replays to rebuild its state through `through`: from the
/// inputs' first readable interval.
func replayIntervals(_ log: LogStore, inputs: [StreamDescriptor], through: Interval, vertex: String,
                     every: Bool = false) throws -> [Interval] {
    var first: Interval?
    for input in inputs {
        let frontier: StreamFrontier
        do { frontier = try log.frontier(of: input) } catch { throw EngineError.storage(error, vertex: vertex, interval: nil) }
        if let start = frontier.firstInterval, frontier.retainedFrom > start {
            throw EngineError.storage(.outsideRetention(StoreLocation(stream: input.name, interval: start),
                                                        retainedFrom: frontier.retainedFrom),
                                      vertex: vertex, interval: start)
        }
        if let readable = frontier.firstReadable { first = min(first ?? readable, readable) }
    }
    guard let first, first <= through else { return [] }
    return try intervalsToProcess(log, inputs: inputs, from: first, through: through, every: every, vertex: vertex)
}

/// How a program runs: its task policy and, for tests and benchmarks, injected faults.
public struct ProgramOptions: Sendable {
    /// Retries and speculation of partition tasks.
    public var tasks = TaskPolicy()
    /// Faults injected into tasks (`nil`: none).
    public var faults: TaskFaults?
    /// Notes when each vertex reaches each step of an interval, for latency breakdowns (`nil`:
    /// nothing is noted).
    public var trace: IntervalTrace?
    /// Stateful vertices write a snapshot of their state every this many intervals (`nil`: never),
    /// at least 1, in a commit right after that interval's outputs and progress; a restart loads
    /// the newest one and replays only the input after it. Default `Program.defaultSnapshotEvery` (30).
    public var snapshotEvery: Int? = Program.defaultSnapshotEvery
    /// The first interval of the program's named outputs (`save(as:)`, `foreach`) when it never
    /// ran (`nil`: the inputs' first). The internal vertices still compute the intervals before it
    /// (the state of a stateful vertex needs them), so the outputs from `startAt` on equal those
    /// of a run from the beginning. With a new program name and new output names, this reprocesses
    /// the input from `startAt` into a new version of the outputs.
    public var startAt: Interval?
    /// The last interval to process (`nil`: whatever the inputs have sealed): with `startAt`, a
    /// batch run over a range of historical intervals.
    public var through: Interval?
    /// What to do when a vertex's definition differs from the one that committed its progress.
    public var changedDefinition: ChangedDefinition = .refuse
    /// Where the program logs recoveries, task retries and failures (swift-log); by default nowhere.
    public var logger = Logger(label: "strata.program", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The choice for a vertex defined differently from when it last ran (its fingerprint
    /// — kind, streams, settings and the chain of operators before it — changed).
    public enum ChangedDefinition: Sendable, Equatable {
        /// Throw `EngineError.misuse` naming the vertex (the default).
        case refuse
        /// Continue from the committed progress with the new definition (a stateful vertex
        /// rebuilds its state with it); the intervals already committed are not recomputed.
        case `continue`
    }

    /// Whether each exchange vertex (the map side of a shuffle, a key exchange, a repartition)
    /// writes its blocks and seals to a stream of its own, `NAME.sent`, instead of the stream
    /// `NAME` its downstream vertices read, which something else then fills and seals: the
    /// cluster's transport, gathering each partition's blocks from every node (docs/cluster.md).
    /// Off by default: on one machine the exchange writes what its readers read.
    package var gathersExchanges = false

    /// When a vertex's input blocks are decoded ahead of its tasks (`DecodedAhead`): by default
    /// the next interval's, on cores the current interval's tasks leave idle.
    package var decodesAhead = DecodesAhead.whenIdle

    /// Where the program's engine metrics go (`nil`: the process's `MetricsSystem.factory`, what
    /// it bootstrapped); tests give a factory of their own.
    package var metricsFactory: (any MetricsFactory)?

    /// For tests: called on a stateful vertex's thread once the commit of an interval whose
    /// snapshot is due has been submitted (live, once the vertices reading its outputs have
    /// committed the interval too, or it stopped waiting for them), before the snapshot is encoded
    /// and submitted (the crash harness stalls here to kill a program between the two commits).
    package var beforeSnapshot: (@Sendable (_ vertex: String, _ interval: Interval) -> Void)?

    /// When input blocks are decoded ahead of the tasks that read them.
    package enum DecodesAhead: Sendable, Equatable {
        /// The next ready interval's, on a core with no task of the current interval left to start.
        case whenIdle
        /// Never: each task decodes its own blocks.
        case never
        /// For tests: each interval's blocks all, on the stage's thread before its tasks start.
        case always
    }

    /// The defaults: 2 retries, speculation at 1.4 × the median, no faults, a snapshot every 30
    /// intervals, every interval, changed definitions refused.
    public init(tasks: TaskPolicy = TaskPolicy(), faults: TaskFaults? = nil,
                snapshotEvery: Int? = Program.defaultSnapshotEvery, startAt: Interval? = nil,
                through: Interval? = nil, changedDefinition: ChangedDefinition = .refuse) {
        self.tasks = tasks
        self.snapshotEvery = snapshotEvery
        self.faults = faults
        self.startAt = startAt
        self.through = through
        self.changedDefinition = changedDefinition
    }
}
