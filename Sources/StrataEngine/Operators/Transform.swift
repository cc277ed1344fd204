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
        let parent = produce
        return DStream<Out>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                            needsEveryInterval: needsEveryInterval, chain: chain + ".transform") {
            interval, partition, codec in
            try transform(interval, partition, try parent(interval, partition, &codec))
        }
    }
}
