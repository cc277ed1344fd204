import StrataStorage

extension DStream {
    /// Replaces every record by the records `transform` returns for it, in order.
    public func flatMap<Out: RecordCodable, S: Sequence & SendableMetatype>(
        _ transform: @escaping @Sendable (Record) throws -> S
    ) -> DStream<Out> where S.Element == Out {
        narrow("flatMap") { batch in
            var output = ContiguousArray<Out>()
            output.reserveCapacity(batch.count)
            for record in batch { output.append(contentsOf: try transform(record)) }
            return output
        }
    }
}
