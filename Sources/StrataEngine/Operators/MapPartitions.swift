import StrataStorage

extension DStream {
    /// Transforms each partition's whole batch of an interval at once.
    ///
    /// `transform` must be deterministic: the same batch must give the same output in every run.
    public func mapPartitions<Out: RecordCodable>(
        _ transform: @escaping @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<Out>
    ) -> DStream<Out> {
        narrow("mapPartitions", transform)
    }
}
