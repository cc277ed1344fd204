import StrataStorage

extension DStream where Record: Hashable {
    /// The number of occurrences of each distinct record in each sliding window, maintained
    /// incrementally.
    ///
    /// At each window end `t` (where `(t + 1) % slide == 0`, see `window(length:slide:)`) the
    /// stream holds one `(record, count)` pair per distinct record of intervals
    /// `t − length + 1 … t`, each partition sorted by the record's encoded bytes; records are
    /// shuffled to `partitions` partitions (default: this stream's) by a stable hash of their
    /// encoding, or by `partitioner` when given. Records that left the window are dropped, never
    /// reported with a count of 0.
    ///
    /// ```swift
    /// p.read(urls).countByValueAndWindow(length: 30).save(as: "urlCountsLast30")
    /// ```
    ///
    /// - Complexity: O(records of the entering and leaving intervals) per interval, plus
    ///   O(k log k) per window end for `k` distinct records.
    public func countByValueAndWindow(length: Int, slide: Int = 1, partitions: Int? = nil,
                                      partitioner: KeyPartitioner<Record>? = nil)
        -> DStream<KeyValue<Record, Int64>>
    {
        map { KeyValue($0, Int64(1)) }
            .reduceByKeyAndWindow(+, inverse: -, length: length, slide: slide, partitions: partitions,
                                  partitioner: partitioner)
    }
}
