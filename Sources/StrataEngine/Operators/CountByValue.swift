import StrataStorage

extension DStream where Record: Hashable {
    /// Counts, per interval, how many times each distinct record occurs: one `KeyValue(record,
    /// count)` per distinct record of the interval.
    ///
    /// Counted within each input partition first, then shuffled through a durable stream
    /// `PROGRAM.vN.shuffle` with `partitions` partitions (default: this stream's) by XXH64 of the
    /// encoded record, and summed; each output partition lists its records in first-seen order.
    /// Intervals without records have no output.
    ///
    /// - Complexity: O(records) per interval.
    public func countByValue(partitions: Int? = nil) -> DStream<KeyValue<Record, Int64>> {
        map { KeyValue($0, Int64(1)) }
            .combinedByKey("countByValue", partitions: partitions, create: { $0 },
                           mergeValue: { count, one in count += one },
                           mergeCombiners: { count, more in count += more })
    }
}
