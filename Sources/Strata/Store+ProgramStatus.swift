import StrataStorage

/// Per-vertex counters kept with a vertex's progress (see `Store.programStatus`).
public typealias VertexStats = StrataStorage.VertexStats

/// Where one vertex of a program stands: progress, lag, snapshots, how its runs began (resumes
/// and crash recoveries), speculative copies and retries.
///
/// `VertexStatus` is `Sendable`; it is a plain value read from one consistent moment per vertex.
public struct VertexStatus: Sendable, Equatable {
    /// The program's name (the vertex name up to `.vN`).
    public var program: String
    /// The vertex's name, `PROGRAM.vN`.
    public var vertex: String
    /// The last interval whose outputs and state are committed.
    public var progress: Interval
    /// Sealed intervals of the program's inputs not yet processed by this vertex: the newest
    /// interval sealed in all of the program's inputs minus `progress` (0 when caught up).
    ///
    /// The program's inputs are its vertices' inputs that are not its own internal streams
    /// (`PROGRAM.vN…`), so a vertex behind an upstream vertex shows the whole distance to the
    /// input, not the distance to what its upstream has sealed. `nil` when no vertex of the
    /// program recorded its inputs (one that has not committed since stats were introduced).
    public var lag: UInt64?
    /// The interval length of the program's inputs (`nil` when unknown): how to print `progress`
    /// and `lastSnapshot` as times.
    public var intervalLength: IntervalLength?
    /// The newest interval with a snapshot of the vertex's state (`nil`: none, or stateless).
    public var lastSnapshot: Interval?
    /// Crash recoveries: runs that began while the run before was still marked running (its
    /// process died). A rerun after a clean stop is a resume, not a recovery.
    public var recoveries: UInt64
    /// Runs that began after the previous run stopped cleanly.
    public var resumes: UInt64
    /// Runs that began after a run that ended with an error.
    public var restartsAfterFailure: UInt64
    /// Runs that restored the vertex's state from a snapshot and its input (resumes in a new
    /// process included: the state lives in memory only while a run lasts).
    public var stateRestores: UInt64
    /// Snapshots of the vertex's state written, all runs (older ones are pruned: see `lastSnapshot`).
    public var snapshotsWritten: UInt64
    /// The run state the stats row records now (`running` also after a crash, until the next run).
    public var runState: VertexRunState
    /// How the latest run began.
    public var lastStart: VertexStart
    /// The vertex's progress when the latest run began (`nil`: none or not recorded).
    public var lastStartProgress: Interval?
    /// Speculative copies of the vertex's tasks launched (each copy, whether it won or not).
    public var speculativeLaunches: UInt64
    /// Speculative copies whose output was the one committed (they finished before the task
    /// they copied).
    public var speculativeWins: UInt64
    /// Speculative copies launched per 100 of the vertex's recent processed intervals (those with
    /// a timing row, at most `VertexTiming.slots`); `nil` when it has none.
    public var speculativePer100Intervals: Double?
    /// The processed intervals `speculativePer100Intervals` is measured over.
    public var recentIntervals: Int
    /// Tasks of the vertex retried.
    public var retries: UInt64
}

extension Store {
    /// The status of every vertex that has committed progress, for one program or all, ordered by
    /// program name, then vertex number.
    ///
    /// ```swift
    /// for v in try store.programStatus(program: "counts") { print(v.vertex, v.progress, v.lag ?? 0) }
    /// ```
    ///
    /// - Parameter program: A program's name (`nil`: every program).
    /// - Returns: One entry per vertex; empty when no vertex of `program` has committed anything.
    /// - Throws: `StorageError.corrupt` for a damaged progress or stats row.
    public func programStatus(program: String? = nil) throws(StorageError) -> [VertexStatus] {
        let marks = try log.progressMarks(prefix: program.map { $0 + ".v" } ?? "")
        // Each program's inputs: its vertices' inputs that are not its own streams.
        var stats: [String: VertexStats] = [:]
        var programInputs: [String: Set<String>] = [:]
        for (vertex, _) in marks {
            guard let (name, _) = Self.splitVertexName(vertex), program == nil || name == program else { continue }
            let row = try log.vertexStats(named: vertex)
            stats[vertex] = row
            for input in row?.inputs ?? [] where !input.hasPrefix(name + ".v") {
                programInputs[name, default: []].insert(input)
            }
        }
        // Per program: the newest interval sealed in all its inputs, and their interval length.
        var ready: [String: (Interval, IntervalLength)] = [:]
        for (name, inputs) in programInputs {
            var newest: Interval?
            var length: IntervalLength?
            for input in inputs.sorted() {
                guard let descriptor = try log.descriptor(named: input) else { continue }
                let sealed = try log.frontier(of: descriptor).sealedThrough ?? Interval(0)
                newest = min(newest ?? sealed, sealed)
                length = length ?? descriptor.intervalLength
            }
            if let newest, let length { ready[name] = (newest, length) }
        }
        var result: [(order: (String, Int), status: VertexStatus)] = []
        for (vertex, mark) in marks {
            guard let (name, number) = Self.splitVertexName(vertex), program == nil || name == program else { continue }
            let stats = stats[vertex] ?? nil
            let lag = ready[name].map { r in r.0 > mark.interval ? r.0.rawValue - mark.interval.rawValue : 0 }
            let timings = try log.vertexTimings(of: vertex)
            let recentLaunches = timings.reduce(0) { $0 + UInt64($1.speculativeLaunches) }
            let status = VertexStatus(
                program: name, vertex: vertex, progress: mark.interval, lag: lag, intervalLength: ready[name]?.1,
                lastSnapshot: try log.latestSnapshotInterval(of: vertex), recoveries: stats?.crashRecoveries ?? 0,
                resumes: stats?.resumes ?? 0, restartsAfterFailure: stats?.restartsAfterFailure ?? 0,
                stateRestores: stats?.recoveries ?? 0, snapshotsWritten: stats?.snapshotsWritten ?? 0, runState: stats?.runState ?? .unknown,
                lastStart: stats?.lastStart ?? .unknown, lastStartProgress: stats?.lastStartProgress,
                speculativeLaunches: stats?.speculativeLaunches ?? 0, speculativeWins: stats?.speculativeWins ?? 0,
                speculativePer100Intervals: timings.isEmpty ? nil : Double(recentLaunches) * 100 / Double(timings.count),
                recentIntervals: timings.count, retries: stats?.retries ?? 0)
            result.append(((name, number), status))
        }
        return result.sorted { $0.order.0 != $1.order.0 ? $0.order.0 < $1.order.0 : $0.order.1 < $1.order.1 }
            .map(\.status)
    }

    /// `PROGRAM.vN` → (`PROGRAM`, N), or `nil` for another name.
    static func splitVertexName(_ vertex: String) -> (String, Int)? {
        guard let dot = vertex.lastIndex(of: "."), vertex[dot...].hasPrefix(".v") else { return nil }
        let digits = vertex[vertex.index(dot, offsetBy: 2)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let number = Int(digits) else { return nil }
        return (String(vertex[..<dot]), number)
    }
}
