import Logging
import StrataStorage

/// When vertices write snapshots and which ones they keep.
///
/// Both rules depend on interval indices only, never on the wall clock.
enum SnapshotPolicy {
    /// Whether the commit of a processed interval `next` writes a snapshot, the vertex's newest
    /// snapshot being at `previous`: when `next` is past the end of the group of `every` intervals
    /// holding `previous`, that is when `⌊(next + 1) / every⌋ > ⌊(previous + 1) / every⌋` (with no
    /// snapshot yet, from nothing). For a vertex that processes every interval this is
    /// `(t + 1) % every == 0`. Both arguments come from the input (the intervals a vertex processes
    /// are those with input records) and from earlier snapshots, never from when a pass happened
    /// to look, so the snapshot rows are the same in every run.
    static func crosses(from previous: Interval?, to next: Interval, every: Int) -> Bool {
        let n = UInt64(every)
        let after = (next.rawValue &+ 1) / n
        guard let previous else { return after > 0 }
        return after > (previous.rawValue &+ 1) / n
    }

    /// The pruning policy: a new snapshot at `latest` deletes the vertex's snapshots before the
    /// returned interval. Kept: the latest, any whose interval is still within the retention of
    /// the vertex's inputs (`inputsRetainedFrom`, the smallest `retainedFrom` of its inputs), and
    /// the newest one before that (from `existing`, the vertex's snapshot intervals), so that the
    /// state as of every retained interval is a snapshot at or before it plus the changes after
    /// it (change streams keep one snapshot period more than the input, `ProgramBuilder`).
    ///
    /// To keep only the latest snapshot, return `latest`.
    static func pruneBefore(latest: Interval, inputsRetainedFrom: Interval, existing: [Interval]) -> Interval {
        let anchor = existing.last { $0 <= inputsRetainedFrom } ?? inputsRetainedFrom
        return min(latest, anchor)
    }
}

/// What one `run(vertex)` pass adds to the vertex's commits besides outputs and progress: its
/// stats (inputs, a recovery) in the first commit, a snapshot in each commit that crosses a
/// snapshot boundary.
struct SnapshotPlan {
    let vertex: any VertexRunner
    let snapshotting: (any SnapshottingVertex)?
    let every: Int?
    let inputsRetainedFrom: Interval
    /// The vertex's snapshot intervals, in order (for pruning).
    var snapshotIntervals: [Interval] = []
    /// The vertex's newest snapshot.
    var previous: Interval?
    /// Stats for the next commit, sent once.
    var stats: VertexStatsUpdate?
    let program: Program
    /// The vertex's progress when the pass began.
    let storedProgress: Interval?

    /// Plans a pass; call before `restore`, which it inspects to count a recovery.
    init(program: Program, vertex: any VertexRunner, stored: ProgressMark?, frontiers: [StreamFrontier]) throws(StorageError) {
        self.vertex = vertex
        self.program = program
        storedProgress = stored?.interval
        snapshotting = vertex.isStateful ? vertex.stateVertex : nil
        every = program.snapshotEvery
        inputsRetainedFrom = frontiers.map(\.retainedFrom).min() ?? Interval(0)
        snapshotIntervals = snapshotting == nil ? [] : try program.log.snapshotIntervals(of: vertex.name).map(\.0)
        previous = snapshotIntervals.last
        var outputs: [String] = []
        for name in vertex.outputs.map(\.name) + vertex.copies.map(\.copy.name) where !outputs.contains(name) {
            outputs.append(name)
        }
        var update = VertexStatsUpdate(inputs: vertex.inputs.map(\.name), outputs: outputs)
        let restoredEarlier = program.takeRecovery(of: vertex.name)
        if let snapshotting, let stored, restoredEarlier || !snapshotting.isStateCurrent(through: stored.interval) {
            update.recoveries = 1
            program.metrics.vertex(vertex.name).recoveries.increment()
            program.options.logger.info("recovering a vertex's state from its snapshot and input", metadata: [
                "vertex": "\(vertex.name)", "progress": "\(stored.interval.rawValue)"])
        }
        stats = update
    }

    /// Adds the pass's stats (first commit only) and, when the vertex `processed` interval
    /// `through` and it crosses a snapshot boundary, the vertex's snapshot at `through` and the
    /// pruning of older ones. The commit that only moves progress over intervals without input
    /// (`processed` false) never snapshots: where it ends depends on when the pass looked.
    ///
    /// Call right after the vertex processed `through`, before it processes anything else.
    mutating func annotate(_ batch: inout AppendBatch, through: Interval, processed: Bool) throws {
        // Intervals the vertex skipped (no input records) leave its state as it was: it now
        // reflects the input through `through`, so the next pass need not rebuild it.
        snapshotting?.advanceState(through: through)
        if var update = stats {
            // The run's first commit for the vertex marks it running; the first in this process
            // also has its start classified (resume, crash recovery, restart after a failure) and
            // counted. The caller submits this batch right after.
            if program.markedRunning.withLock({ $0.insert(vertex.name).inserted }) {
                let first = program.startedVertices.withLock { $0.insert(vertex.name).inserted }
                update.run = .began(counted: first, progress: storedProgress)
            }
            batch.vertexStats.append((vertex.name, update))
            stats = nil
        }
        guard processed, let snapshotting, let every,
              SnapshotPolicy.crosses(from: previous, to: through, every: every) else { return }
        previous = through
        batch.snapshots.rows += try snapshotting.snapshotRows(at: through)
        batch.snapshots.pruneBefore.append(
            (vertex.name, SnapshotPolicy.pruneBefore(latest: through, inputsRetainedFrom: inputsRetainedFrom,
                                                     existing: snapshotIntervals)))
        snapshotIntervals.append(through)
    }
}

extension Program {
    /// Rebuilds the state of every stateful vertex through its committed progress, now: each
    /// loads its newest snapshot (partitions in parallel) and replays the sealed input after it.
    ///
    /// `runUntilCaughtUp()` does this by itself when a vertex has work; call `recover()` first to
    /// restore at once (and to time it). Vertices without progress start empty.
    ///
    /// - Returns: The number of vertices whose state was rebuilt from the store.
    /// - Throws: `EngineError` naming the vertex: a changed definition (`misuse`), a damaged
    ///   snapshot with no way around it, input dropped by retention.
    @discardableResult
    public func recover() throws -> Int {
        if isRunning { throw EngineError.misuse("program \(name) is running: recover() rebuilds state before a run") }
        var restored = 0
        for vertex in vertices where vertex.isStateful {
            let stored: ProgressMark?
            do { stored = try log.progress(named: vertex.name) } catch {
                throw EngineError.storage(error, vertex: vertex.name, interval: nil)
            }
            if let stored, stored.fingerprint != vertex.fingerprint, options.changedDefinition == .refuse {
                throw EngineError.misuse("vertex \(vertex.name) was defined differently when it last ran; continue "
                                         + "with ProgramOptions.changedDefinition = .continue, or reprocess under "
                                         + "another program name (ProgramOptions.startAt) into new outputs")
            }
            guard let stored else { continue }
            if let snapshotting = vertex.stateVertex,
               snapshotting.isStateCurrent(through: stored.interval) { continue }
            try vertex.restore(through: stored.interval)
            _ = recoveredVertices.withLock { $0.insert(vertex.name) }
            restored += 1
        }
        return restored
    }

    /// Whether `recover()` rebuilt this vertex's state since its last commit (and forgets it).
    func takeRecovery(of vertex: String) -> Bool {
        recoveredVertices.withLock { $0.remove(vertex) != nil }
    }
}
