import StrataStorage

extension DStream {
    /// Transforms the value of every key/value pair, keeping its key (Spark's `mapValues`); fused
    /// with neighbouring narrow operators, no shuffle, partitions and order kept.
    ///
    /// ```swift
    /// let cents = prices.mapValues { dollars in Int64(dollars * 100) }   // KeyValue<String, Int64>
    /// ```
    ///
    /// - Complexity: O(records) per interval, one call of `transform` per record.
    @inlinable
    public func mapValues<Key: RecordCodable, Value: RecordCodable, Out: RecordCodable>(
        _ transform: @escaping @Sendable (Value) throws -> Out
    ) -> DStream<KeyValue<Key, Out>> where Record == KeyValue<Key, Value> {
        narrow("mapValues", keepsKeys: true) { batch in
            var output = ContiguousArray<KeyValue<Key, Out>>()
            output.reserveCapacity(batch.count)
            for pair in batch { output.append(KeyValue(pair.key, try transform(pair.value))) }
            return output
        }
    }

    /// Replaces every key/value pair by one pair with the same key for each value `transform`
    /// returns for its value, in order (Spark's `flatMapValues`); narrow like `mapValues`.
    ///
    /// ```swift
    /// let words = lines.flatMapValues { line in line.split(separator: " ").map(String.init) }
    /// ```
    ///
    /// - Complexity: O(records + output) per interval, one call of `transform` per record.
    @inlinable
    public func flatMapValues<Key: RecordCodable, Value: RecordCodable, Out: RecordCodable,
                              S: Sequence & SendableMetatype>(
        _ transform: @escaping @Sendable (Value) throws -> S
    ) -> DStream<KeyValue<Key, Out>> where Record == KeyValue<Key, Value>, S.Element == Out {
        narrow("flatMapValues", keepsKeys: true) { batch in
            var output = ContiguousArray<KeyValue<Key, Out>>()
            output.reserveCapacity(batch.count)
            for pair in batch {
                for value in try transform(pair.value) { output.append(KeyValue(pair.key, value)) }
            }
            return output
        }
    }
}
