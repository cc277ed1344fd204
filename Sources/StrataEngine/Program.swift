import Dispatch
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
    /// Stateful vertices write a snapshot every this many intervals (`nil`: never); see
    /// `SnapshotPolicy` and docs/durability.md.
    public let snapshotEvery: Int?
    /// Vertices whose state `recover()` rebuilt, counted as a recovery in their next commit.
    let recoveredVertices = Mutex<Set<String>>([])  // membership only; never iterated

    /// The default snapshot period, in intervals.
    public static let defaultSnapshotEvery = 30

    /// Defines a program over the store behind `log`.
    ///
    /// - Parameter snapshotEvery: Intervals between snapshots of stateful vertices (`nil`: never),
    ///   at least 1.
    /// - Throws: the first definition error (an unknown stream, a type mismatch, an invalid name).
    package init(name: String, log: LogStore, snapshotEvery: Int? = Program.defaultSnapshotEvery,
                 define: (ProgramBuilder) throws -> Void) throws {
        guard StreamDescriptor.isValidName(name), name.utf8.count <= 120 else {
            throw EngineError.misuse("invalid program name \"\(name)\": use up to 120 characters of A–Z a–z 0–9 . _ -")
        }
        if let snapshotEvery, snapshotEvery < 1 {
            throw EngineError.misuse("snapshotEvery must be at least 1 interval, not \(snapshotEvery)")
        }
        self.snapshotEvery = snapshotEvery
        self.name = name
        self.log = log
        let builder = ProgramBuilder(programName: name, log: log)
        try define(builder)
        vertices = try builder.finish()
    }

    /// What one pass did.
    public struct PassSummary: Sendable, Equatable {
        /// Intervals processed, summed over vertices.
        public var intervals = 0
        /// Per vertex, the interval it has processed through after the pass.
        public var progress: [String: Interval] = [:]
    }

    /// Processes every interval sealed in the inputs now, vertex by vertex, and returns when all
    /// of it is committed.
    ///
    /// - Throws: `EngineError` naming the vertex, interval and partition; nothing of the failed
    ///   interval is committed, and earlier intervals stay committed.
    @discardableResult
    public func runUntilCaughtUp() throws -> PassSummary {
        var summary = PassSummary()
        for vertex in vertices {
            let processed = try run(vertex)
            summary.intervals += processed.count
            if let through = processed.through { summary.progress[vertex.name] = through }
        }
        return summary
    }

    /// Runs until the task is cancelled: processes what is sealed, then waits for new seals
    /// (woken at once by seals in this process, polling every `pollInterval` for others).
    public func run(pollInterval: Duration = .milliseconds(50)) async throws {
        while !Task.isCancelled {
            let generation = log.sealSignal.current
            _ = try await onOwnThread { try self.runUntilCaughtUp() }
            await log.sealSignal.wait(after: generation, timeout: pollInterval)
        }
    }

    /// Each vertex's progress: the last interval it committed (`nil`: none yet).
    public func progress() throws -> [(vertex: String, through: Interval?)] {
        try vertices.map { vertex in (vertex.name, try log.progress(named: vertex.name)?.interval) }
    }

    /// Processes one vertex's ready intervals; returns how many and the progress after.
    private func run(_ vertex: any VertexRunner) throws -> (count: Int, through: Interval?) {
        let stored: ProgressMark?
        var frontiers: [StreamFrontier] = []
        do {
            stored = try log.progress(named: vertex.name)
            for input in vertex.inputs { frontiers.append(try log.frontier(of: input)) }
        } catch {
            throw EngineError.storage(error, vertex: vertex.name, interval: nil)
        }
        if let stored, stored.fingerprint != vertex.fingerprint {
            throw EngineError.misuse("vertex \(vertex.name) was defined differently when it last ran; "
                                     + "use another program name to reprocess")
        }
        // Ready: sealed in every input.
        guard let ready = frontiers.map(\.sealedThrough).reduce(Optional(Interval(UInt64.max)), { a, b in
            guard let a, let b else { return nil }
            return min(a, b)
        }) else { return (0, stored?.interval) }
        if let done = stored?.interval, done >= ready { return (0, done) }
        let firstReadable = frontiers.compactMap(\.firstReadable).min()
        let start = stored?.interval.next ?? firstReadable ?? ready
        var plan = SnapshotPlan(program: self, vertex: vertex, stored: stored, frontiers: frontiers)
        if vertex.isStateful { try vertex.restore(through: stored?.interval) }
        let intervals = try intervalsToProcess(log, inputs: vertex.inputs, from: start, through: ready,
                                               every: vertex.needsEveryInterval, vertex: vertex.name)
        let chain = CommitChain()
        var last = CommitTicket.completed
        var committedThrough = stored?.interval
        for interval in intervals {
            let blocks = try vertex.process(interval)
            var batch = AppendBatch()
            batch.blocks = blocks
            batch.seals = vertex.outputs.map { ($0, interval) }
            batch.progress = [(vertex.name, ProgressMark(interval: interval, fingerprint: vertex.fingerprint))]
            try plan.annotate(&batch, through: interval)
            // Back-pressure: bounded memory however far behind the input is.
            if log.committer.pendingBytes.load(ordering: .relaxed) > 64 << 20 { try wait(last, vertex, interval) }
            last = log.submit(batch, chain: chain)
            committedThrough = interval
        }
        if committedThrough.map({ $0 < ready }) ?? true {
            // Empty intervals up to the inputs' frontier: seal the outputs and move progress on.
            var batch = AppendBatch()
            batch.seals = vertex.outputs.map { ($0, ready) }
            batch.progress = [(vertex.name, ProgressMark(interval: ready, fingerprint: vertex.fingerprint))]
            try plan.annotate(&batch, through: ready)
            last = log.submit(batch, chain: chain)
        }
        try wait(last, vertex, ready)
        return (intervals.count, ready)
    }

    private func wait(_ ticket: CommitTicket, _ vertex: any VertexRunner, _ interval: Interval) throws {
        do {
            try ticket.wait()
        } catch {
            throw EngineError.storage(error, vertex: vertex.name, interval: interval)
        }
    }
}

/// Runs blocking work on a Dispatch thread, never on the cooperative pool.
func onOwnThread<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
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
