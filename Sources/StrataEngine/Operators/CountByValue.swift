import StrataStorage

extension DStream where Record: Hashable {
    /// Counts, per interval, how many times each distinct record occurs: one `KeyValue(record,
    /// count)` per distinct record of the interval.
    ///
    /// Counted within each input partition first, then shuffled through a durable stream
    /// `PROGRAM.vN.shuffle` with `partitions` partitions (default: this stream's) by XXH64 of the
    /// encoded record, or by `partitioner` when given, and summed; each output partition lists its
    /// records in first-seen order. Intervals without records have no output.
    ///
    /// ```swift
    /// p.read(urls).countByValue(partitions: 2, partitioner: KeyPartitioner("byLength") { $0.utf8.count })
    /// ```
    ///
    /// - Parameters:
    ///   - partitions: Partitions of the result (default: this stream's).
    ///   - partitioner: The partition of each distinct record (default: the stable hash of its encoding).
    /// - Complexity: O(records) per interval.
    public func countByValue(partitions: Int? = nil, partitioner: KeyPartitioner<Record>? = nil)
        -> DStream<KeyValue<Record, Int64>>
    {
        map { KeyValue($0, Int64(1)) }
            .combinedByKey("countByValue", partitions: partitions, partitioner: partitioner, create: { $0 },
                           mergeValue: { count, one in count += one },
                           mergeCombiners: { count, more in count += more })
    }
}
