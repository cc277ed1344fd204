import StrataStorage

/// Per-vertex counters kept with a vertex's progress (see `Store.programStatus`).
public typealias VertexStats = StrataStorage.VertexStats

/// Where one vertex of a program stands: progress, lag, snapshots, recoveries.
///
/// `VertexStatus` is `Sendable`; it is a plain value read from one consistent moment per vertex.
public struct VertexStatus: Sendable, Equatable {
    /// The program's name (the vertex name up to `.vN`).
    public var program: String
    /// The vertex's name, `PROGRAM.vN`.
    public var vertex: String
    /// The last interval whose outputs and state are committed.
    public var progress: Interval
    /// Sealed input intervals not yet processed: the newest interval sealed in all of the
    /// vertex's inputs minus `progress` (0 when caught up); `nil` when the inputs are unknown
    /// (a vertex that has not committed since stats were introduced).
    public var lag: UInt64?
    /// The newest interval with a snapshot of the vertex's state (`nil`: none, or stateless).
    public var lastSnapshot: Interval?
    /// Restarts that restored the vertex's state (snapshot plus replay).
    public var recoveries: UInt64
    /// Speculative copies of the vertex's tasks launched.
    public var speculativeLaunches: UInt64
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
        var result: [(order: (String, Int), status: VertexStatus)] = []
        for (vertex, mark) in marks {
            guard let (name, number) = Self.splitVertexName(vertex), program == nil || name == program else { continue }
            let stats = try log.vertexStats(named: vertex)
            var lag: UInt64?
            if let inputs = stats?.inputs, !inputs.isEmpty {
                var ready: Interval?
                for input in inputs {
                    guard let descriptor = try log.descriptor(named: input) else { continue }
                    let sealed = try log.frontier(of: descriptor).sealedThrough ?? Interval(0)
                    ready = min(ready ?? sealed, sealed)
                }
                if let ready { lag = ready > mark.interval ? ready.rawValue - mark.interval.rawValue : 0 }
            }
            let status = VertexStatus(
                program: name, vertex: vertex, progress: mark.interval, lag: lag,
                lastSnapshot: try log.latestSnapshotInterval(of: vertex), recoveries: stats?.recoveries ?? 0,
                speculativeLaunches: stats?.speculativeLaunches ?? 0, retries: stats?.retries ?? 0)
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
