import StrataStorage

extension DStream {
    /// Groups, at each window end, the values of each key over the window's intervals into one
    /// array (Spark's `groupByKeyAndWindow`): `window(length:slide:)` then `groupByKey`.
    ///
    /// Windows close where `(t + 1) % slide == 0` and hold intervals `t − length + 1 … t` (see
    /// `window(length:slide:)`); other intervals are empty. A key's values come in input-partition
    /// order, then interval order, then record order; each output partition lists its keys in
    /// first-seen order. Keys are equal when their encodings are.
    ///
    /// ```swift
    /// let lastMinute = clicks.map { KeyValue($0.user, $0.url) }.groupByKeyAndWindow(length: 60, slide: 10)
    /// ```
    ///
    /// - Parameters:
    ///   - length: Intervals per window, at least 1.
    ///   - slide: Intervals between window ends, at least 1 (default 1).
    ///   - partitions: Partitions of the result (default: this stream's).
    ///   - partitioner: The partition of each key (default: the stable hash of its encoding).
    /// - Complexity: O(records in the window) per window end: every value of the window is shuffled.
    public func groupByKeyAndWindow<Key: RecordCodable & Hashable, Value: RecordCodable>(
        length: Int, slide: Int = 1, partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil
    ) -> DStream<KeyValue<Key, [Value]>> where Record == KeyValue<Key, Value> {
        guard WindowShape(length: length, slide: slide) != nil else {
            builder.fail(EngineError.misuse(
                "groupByKeyAndWindow: length and slide must be at least 1, not \(length) and \(slide)"))
            return invalid("groupByKeyAndWindow")
        }
        return window(length: length, slide: slide).groupByKey(partitions: partitions, partitioner: partitioner)
    }
}
