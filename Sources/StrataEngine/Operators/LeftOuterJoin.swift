import StrataStorage

extension DStream {
    /// The left outer join of two keyed streams in each interval: like `join`, plus
    /// `KeyValue(key, Pair(v, nil))` for every left pair whose key has no right pair in the
    /// interval.
    ///
    /// Shuffled like `join`. Order within each output partition: keys in the left side's
    /// first-seen order; for a key, left values in order, each with every right value in order.
    ///
    /// - Complexity: O(left + right + output) per interval.
    public func leftOuterJoin<Key: RecordCodable & Hashable, Value: RecordCodable, Other: RecordCodable>(
        _ other: DStream<KeyValue<Key, Other>>, partitions: Int? = nil,
        partitioner: KeyPartitioner<Key>? = nil
    ) -> DStream<KeyValue<Key, Pair<Value, Other?>>> where Record == KeyValue<Key, Value> {
        coPartitioned("leftOuterJoin", other, partitions: partitions, partitioner: partitioner) { groups in
            var output = ContiguousArray<KeyValue<Key, Pair<Value, Other?>>>()
            for k in 0..<groups.leftKeyCount {
                let key = groups.keys[k]
                if groups.hasRight(k) {
                    groups.forEachMatch(k) { v, w in output.append(KeyValue(key, Pair(v, w))) }
                } else {
                    groups.forEachLeft(k) { v in output.append(KeyValue(key, Pair(v, nil))) }
                }
            }
            return output
        }
    }
}
