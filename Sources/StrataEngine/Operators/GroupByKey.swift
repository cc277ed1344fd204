import StrataStorage

extension DStream {
    /// Groups, per interval, the values of each key into one array.
    ///
    /// Order: a key's values are in input-partition order, then in record order within each
    /// input partition (the same in every run); each output partition lists its keys in
    /// first-seen order. The pairs are shuffled through a durable stream `PROGRAM.vN.shuffle`
    /// with `partitions` partitions (default: this stream's), by XXH64 of the encoded key, after
    /// grouping within each input partition.
    ///
    /// - Complexity: O(records) per interval; every value is shuffled (prefer `reduceByKey` or
    ///   `combineByKey` when a combination suffices).
    public func groupByKey<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil
    ) -> DStream<KeyValue<Key, [Value]>> where Record == KeyValue<Key, Value> {
        combinedByKey("groupByKey", partitions: partitions, partitioner: partitioner, create: { [$0] },
                      mergeValue: { values, value in values.append(value) },
                      mergeCombiners: { values, more in values.append(contentsOf: more) })
    }
}
