import StrataStorage

extension DStream {
    /// Derives each partition's batch of an interval by any function of that whole batch, given
    /// the interval and partition as well.
    ///
    /// `transform` must be deterministic: the same interval, partition and batch must give the
    /// same records in the same order in every run and process (no wall clock, randomness,
    /// `Hasher`, or `Dictionary`/`Set` iteration order), or replay and recovery diverge. Narrow:
    /// it fuses with the operators around it.
    ///
    /// - Complexity: one call of `transform` per (interval, partition).
    public func transform<Out: RecordCodable>(
        _ transform: @escaping @Sendable (Interval, PartitionIndex, ContiguousArray<Record>) throws
            -> ContiguousArray<Out>
    ) -> DStream<Out> {
        self.transform(chained: ".transform", transform)
    }

    /// `transform(_:)` whose closure is described by `definition`, which becomes part of the
    /// fingerprint of the vertex the closure runs in: a program that ran with one definition and
    /// is defined again with another is refused like any changed program
    /// (`ProgramOptions.changedDefinition`). For closures driven by data, such as a query's text:
    /// give the text (normalised as the caller sees fit), so that changing it is noticed.
    ///
    /// ```swift
    /// let query = "SELECT …"
    /// let rows = records.transform(definition: "sql:" + query) { interval, _, batch in try run(query, batch) }
    /// ```
    ///
    /// - Complexity: one call of `transform` per (interval, partition).
    public func transform<Out: RecordCodable>(
        definition: String,
        _ transform: @escaping @Sendable (Interval, PartitionIndex, ContiguousArray<Record>) throws
            -> ContiguousArray<Out>
    ) -> DStream<Out> {
        self.transform(chained: ".transform(\(definition.count):\(definition))", transform)
    }

    private func transform<Out: RecordCodable>(
        chained suffix: String,
        _ transform: @escaping @Sendable (Interval, PartitionIndex, ContiguousArray<Record>) throws
            -> ContiguousArray<Out>
    ) -> DStream<Out> {
        let parent = produce
        return DStream<Out>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                            needsEveryInterval: needsEveryInterval, chain: chain + suffix) {
            interval, partition, codec in
            try transform(interval, partition, try parent(interval, partition, &codec))
        }
    }
}
