import StrataStorage

extension DStream {
    /// The full outer join of two keyed streams in each interval: like `join`, plus
    /// `KeyValue(key, Pair(v, nil))` for left pairs without a right match and
    /// `KeyValue(key, Pair(nil, w))` for right pairs without a left match.
    ///
    /// Shuffled like `join`. Order within each output partition: keys in the left side's
    /// first-seen order, then the right-only keys in the right side's first-seen order; for a
    /// key, left values in order, each with every right value in order.
    ///
    /// - Complexity: O(left + right + output) per interval.
    public func fullOuterJoin<Key: RecordCodable & Hashable, Value: RecordCodable, Other: RecordCodable>(
        _ other: DStream<KeyValue<Key, Other>>, partitions: Int? = nil,
        partitioner: KeyPartitioner<Key>? = nil
    ) -> DStream<KeyValue<Key, Pair<Value?, Other?>>> where Record == KeyValue<Key, Value> {
        coPartitioned("fullOuterJoin", other, partitions: partitions, partitioner: partitioner) { groups in
            var output = ContiguousArray<KeyValue<Key, Pair<Value?, Other?>>>()
            for k in groups.keys.indices {
                let key = groups.keys[k]
                switch (groups.hasLeft(k), groups.hasRight(k)) {
                case (true, true):
                    groups.forEachMatch(k) { v, w in output.append(KeyValue(key, Pair(v, w))) }
                case (true, false):
                    groups.forEachLeft(k) { v in output.append(KeyValue(key, Pair(v, nil))) }
                default:
                    groups.forEachRight(k) { w in output.append(KeyValue(key, Pair(nil, w))) }
                }
            }
            return output
        }
    }
}
