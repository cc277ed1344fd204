import StrataStorage

/// The timing of one processed interval of a vertex (see `Store.vertexTimings(of:)`).
public typealias VertexTiming = StrataStorage.VertexTiming
/// Whether a vertex is being run, as its stats row records it.
public typealias VertexRunState = StrataStorage.VertexRunState
/// How a vertex's latest run began: first run, resume, crash recovery, restart after a failure.
public typealias VertexStart = StrataStorage.VertexStart

extension Store {
    /// The stats row of a vertex (`PROGRAM.vN`): the streams it reads and writes, its recovery,
    /// speculation and retry counters, and how its runs began and ended; `nil` when the vertex
    /// never committed.
    ///
    /// Outputs are empty for vertices that last committed before outputs were kept (row version 1).
    ///
    /// - Throws: `StorageError.corrupt` for a damaged row.
    public func vertexStats(of vertex: String) throws(StorageError) -> VertexStats? {
        try log.vertexStats(named: vertex)
    }

    /// The timings of a vertex's newest processed intervals, oldest first: processing time,
    /// scheduling delay, records in and out, speculative copies and retries per interval.
    ///
    /// The engine keeps them in the store (at most `VertexTiming.slots` per vertex, one row per
    /// processed interval written in that interval's commit), so this works for a program that
    /// runs in another process too. Intervals without input records are not processed and have
    /// no row.
    ///
    /// ```swift
    /// for t in try store.vertexTimings(of: "counts.v1") {
    ///     print(t.interval, Double(t.processingNanoseconds) / 1e6, "ms")
    /// }
    /// ```
    ///
    /// - Throws: `StorageError.corrupt` for a damaged row.
    public func vertexTimings(of vertex: String) throws(StorageError) -> [VertexTiming] {
        try log.vertexTimings(of: vertex)
    }
}
