import StrataStorage

extension DStream {
    /// Groups two keyed streams together in each interval: one `KeyValue(key, Pair(vs, ws))` per
    /// key present on either side, with all its left values `vs` and right values `ws` of the
    /// interval (one of them may be empty).
    ///
    /// Shuffled like `join`. Order within each output partition: keys in the left side's
    /// first-seen order, then the right-only keys in the right side's first-seen order; each
    /// side's values in input-partition order, then record order.
    ///
    /// - Complexity: O(left + right) per interval.
    public func cogroup<Key: RecordCodable & Hashable, Value: RecordCodable, Other: RecordCodable>(
        _ other: DStream<KeyValue<Key, Other>>, partitions: Int? = nil,
        partitioner: KeyPartitioner<Key>? = nil
    ) -> DStream<KeyValue<Key, Pair<[Value], [Other]>>> where Record == KeyValue<Key, Value> {
        coPartitioned("cogroup", other, partitions: partitions, partitioner: partitioner) { groups in
            var output = ContiguousArray<KeyValue<Key, Pair<[Value], [Other]>>>()
            output.reserveCapacity(groups.keys.count)
            for k in groups.keys.indices {
                var values: [Value] = [], others: [Other] = []
                groups.forEachLeft(k) { values.append($0) }
                groups.forEachRight(k) { others.append($0) }
                output.append(KeyValue(groups.keys[k], Pair(values, others)))
            }
            return output
        }
    }
}
