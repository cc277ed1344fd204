import StrataStorage

extension Store {
    /// The stats row of a vertex (`PROGRAM.vN`): the streams it reads and writes, and its
    /// recovery, speculation and retry counters; `nil` when the vertex never committed.
    ///
    /// Outputs are empty for vertices that last committed before outputs were kept (row version 1).
    ///
    /// - Throws: `StorageError.corrupt` for a damaged row.
    public func vertexStats(of vertex: String) throws(StorageError) -> VertexStats? {
        try log.vertexStats(named: vertex)
    }
}
