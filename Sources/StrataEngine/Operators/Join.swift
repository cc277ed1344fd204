import StrataStorage

extension DStream {
    /// The inner join of two keyed streams in each interval: one `KeyValue(key, Pair(v, w))` for
    /// every left pair `(key, v)` and right pair `(key, w)` of the same interval.
    ///
    /// Both sides are shuffled by XXH64 of the encoded key to `partitions` partitions (default:
    /// the larger partition count) through durable streams `PROGRAM.vN.shuffle` and
    /// `PROGRAM.vN+1.shuffle`. Order within each output partition: keys in the left side's
    /// first-seen order; for a key, left values in order, each with every right value in order.
    /// Both streams must belong to the same program and share the interval length.
    ///
    /// - Complexity: O(left + right + output) per interval.
    public func join<Key: RecordCodable & Hashable, Value: RecordCodable, Other: RecordCodable>(
        _ other: DStream<KeyValue<Key, Other>>, partitions: Int? = nil,
        partitioner: KeyPartitioner<Key>? = nil
    ) -> DStream<KeyValue<Key, Pair<Value, Other>>> where Record == KeyValue<Key, Value> {
        coPartitioned("join", other, partitions: partitions, partitioner: partitioner) { groups in
            var output = ContiguousArray<KeyValue<Key, Pair<Value, Other>>>()
            for k in 0..<groups.leftKeyCount where groups.hasRight(k) {
                let key = groups.keys[k]
                groups.forEachMatch(k) { v, w in output.append(KeyValue(key, Pair(v, w))) }
            }
            return output
        }
    }
}
