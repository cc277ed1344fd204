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

    /// Adds the pass's stats (first commit only) to the commit of `through`, and answers whether
    /// the vertex's state at `through` is due for a snapshot: it `processed` that interval and it
    /// crosses a snapshot boundary. The commit that only moves progress over intervals without
    /// input (`processed` false) never snapshots: where it ends depends on when the pass looked.
    ///
    /// Call right after the vertex processed `through`, before it processes anything else; when
    /// it answers `true`, submit `snapshotCommit(at: through)` right after the interval's commit.
    mutating func annotate(_ batch: inout AppendBatch, through: Interval, processed: Bool) -> Bool {
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
        guard processed, snapshotting != nil, let every else { return false }
        return SnapshotPolicy.crosses(from: previous, to: through, every: every)
    }

    /// The commit of the vertex's snapshot at `through`, its state now (see `annotate`), which
    /// the caller submits after the interval's own commit, on the same chain.
    ///
    /// - Throws: `EngineError.storage(.recordTooLarge)` when one partition's state exceeds a
    ///   block's 64 MiB limit.
    mutating func snapshotCommit(at through: Interval) throws -> AppendBatch {
        guard let snapshotting else { return AppendBatch() }
        let batch = try snapshotting.snapshotCommit(at: through, inputsRetainedFrom: inputsRetainedFrom,
                                                    existing: snapshotIntervals)
        previous = through
        snapshotIntervals.append(through)
        return batch
    }
}

extension SnapshottingVertex {
    /// The commit of a snapshot of the current state tagged `interval`: every partition's rows
    /// (`snapshotRows`), the pruning of the vertex's older snapshots (`SnapshotPolicy.pruneBefore`,
    /// `existing` being their intervals) and the count in the vertex's stats.
    ///
    /// It holds no output and no progress: a program submits it after the commit of the
    /// interval's outputs and progress, so that the output is readable without waiting for the
    /// snapshot to be encoded and written, and lets it defer its meta-page flush (a crash that
    /// takes it leaves only an older snapshot, which the next run replaces:
    /// `Program.writeSnapshotMissingAtProgress`).
    func snapshotCommit(at interval: Interval, inputsRetainedFrom: Interval, existing: [Interval]) throws -> AppendBatch {
        var batch = AppendBatch()
        batch.snapshots.rows = try snapshotRows(at: interval)
        batch.snapshots.pruneBefore.append(
            (name, SnapshotPolicy.pruneBefore(latest: interval, inputsRetainedFrom: inputsRetainedFrom,
                                              existing: existing)))
        batch.vertexStats.append((name, VertexStatsUpdate(snapshots: 1)))
        batch.defersMetaSync = true
        return batch
    }
}

extension Program {
    /// Writes the snapshot a crash took from a stateful vertex, so that its snapshots end as a run
    /// without the crash leaves them, byte for byte.
    ///
    /// A snapshot due at interval `q` is committed after `q`'s outputs and progress, in a commit of
    /// its own with its meta-page flush deferred (`SnapshottingVertex.snapshotCommit`). A process
    /// killed between the two commits, or a power loss that undoes the snapshot's, leaves the
    /// vertex's progress at `q` and its newest snapshot older. Only the snapshot at the progress
    /// can be missing so: the vertex's next commit is submitted after it on the same chain, and
    /// a failed commit fails every later one. A later snapshot is due from the newest one, so the
    /// snapshot rows would differ from then on; and without it a restore replays more input.
    ///
    /// When the progress `q` is an interval the vertex processed (one with input, or any for a
    /// vertex that runs every interval) that crosses a snapshot boundary from the newest
    /// snapshot, and no snapshot is at `q`: the state through `q` is rebuilt (the newest
    /// snapshot, then a replay) and its snapshot committed, before the pass does anything else.
    /// Otherwise nothing is read but the newest snapshot's interval.
    func writeSnapshotMissingAtProgress(_ vertex: any VertexRunner, stored: ProgressMark?,
                                        frontiers: [StreamFrontier]) throws {
        guard vertex.isStateful, let snapshotting = vertex.stateVertex, let every = snapshotEvery,
              let progress = stored?.interval else { return }
        let intervals: [Interval]
        do {
            let newest = try log.latestSnapshotInterval(of: vertex.name)
            if let newest, newest >= progress { return }
            guard SnapshotPolicy.crosses(from: newest, to: progress, every: every) else { return }
            intervals = try log.snapshotIntervals(of: vertex.name).map(\.0)
        } catch {
            throw EngineError.storage(error, vertex: vertex.name, interval: progress)
        }
        // Processed: a commit that only moved progress over intervals without input never snapshots.
        let processed = try intervalsToProcess(log, inputs: vertex.inputs, from: progress, through: progress,
                                               every: vertex.needsEveryInterval, vertex: vertex.name)
        guard processed == [progress] else { return }
        let rebuilt = !snapshotting.isStateCurrent(through: progress)
        try vertex.restore(through: progress)
        // The pass's stats count this rebuild as the vertex's recovery, as after `recover()`.
        if rebuilt { _ = recoveredVertices.withLock { $0.insert(vertex.name) } }
        let batch = try snapshotting.snapshotCommit(
            at: progress, inputsRetainedFrom: frontiers.map(\.retainedFrom).min() ?? Interval(0), existing: intervals)
        do {
            try log.submit(batch, chain: nil).wait()
        } catch {
            throw EngineError.storage(error, vertex: vertex.name, interval: progress)
        }
        metrics.vertex(vertex.name).snapshots.increment()
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
