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
            let status = VertexStatus(
                program: name, vertex: vertex, progress: mark.interval, lag: lag, intervalLength: ready[name]?.1,
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
