import StrataStorage

extension DStream {
    /// The right outer join of two keyed streams in each interval: like `join`, plus
    /// `KeyValue(key, Pair(nil, w))` for every right pair whose key has no left pair in the
    /// interval.
    ///
    /// Shuffled like `join`. Order within each output partition: the keys present on both sides
    /// in the left side's first-seen order, then the right-only keys in the right side's
    /// first-seen order; for a key, left values in order, each with every right value in order.
    ///
    /// - Complexity: O(left + right + output) per interval.
    public func rightOuterJoin<Key: RecordCodable & Hashable, Value: RecordCodable, Other: RecordCodable>(
        _ other: DStream<KeyValue<Key, Other>>, partitions: Int? = nil,
        partitioner: KeyPartitioner<Key>? = nil
    ) -> DStream<KeyValue<Key, Pair<Value?, Other>>> where Record == KeyValue<Key, Value> {
        coPartitioned("rightOuterJoin", other, partitions: partitions, partitioner: partitioner) { groups in
            var output = ContiguousArray<KeyValue<Key, Pair<Value?, Other>>>()
            for k in groups.keys.indices where groups.hasRight(k) {
                let key = groups.keys[k]
                if groups.hasLeft(k) {
                    groups.forEachMatch(k) { v, w in output.append(KeyValue(key, Pair(v, w))) }
                } else {
                    groups.forEachRight(k) { w in output.append(KeyValue(key, Pair(nil, w))) }
                }
            }
            return output
        }
    }
}
