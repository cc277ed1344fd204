import StrataStorage

extension DStream {
    /// Transforms every record; fused with neighbouring narrow operators.
    ///
    /// - Complexity: O(records) per interval, one call of `transform` per record.
    @inlinable
    public func map<Out: RecordCodable>(_ transform: @escaping @Sendable (Record) throws -> Out) -> DStream<Out> {
        narrow("map") { batch in
            var output = ContiguousArray<Out>()
            output.reserveCapacity(batch.count)
            for record in batch { output.append(try transform(record)) }
            return output
        }
    }
}
