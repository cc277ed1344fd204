extension Dataset {
    /// Applies `step` `times` times, each time to the previous result, materializing every
    /// result in memory (so that no step re-reads the store or re-runs earlier steps).
    ///
    /// ```swift
    /// let halved = try Dataset([64, 48], partitions: 2).iterate(times: 3) { $0.map { $0 / 2 } }  // [8, 6]
    /// ```
    ///
    /// - Throws: what a step, or running it, throws.
    @inlinable
    public func iterate(times: Int, _ step: (Dataset<Element>) throws -> Dataset<Element>) throws -> Dataset<Element> {
        var current = try cache()
        for _ in 0..<max(0, times) { current = try step(current).cache() }
        return current
    }

    /// Applies `step` until its result equals its input (partition by partition, record by
    /// record) or `maxIterations` steps have run, and returns the last result and the number of
    /// steps run.
    ///
    /// - Throws: what a step, or running it, throws.
    @inlinable
    public func iterateToFixedPoint(maxIterations: Int, _ step: (Dataset<Element>) throws -> Dataset<Element>) throws
        -> (result: Dataset<Element>, iterations: Int) where Element: Equatable
    {
        var records = try partitions()
        var iterations = 0
        while iterations < maxIterations {
            let next = try step(Dataset(partitions: records)).partitions()
            iterations += 1
            if next == records { break }
            records = next
        }
        return (Dataset(partitions: records), iterations)
    }
}
