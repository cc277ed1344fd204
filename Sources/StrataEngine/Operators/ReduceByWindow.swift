import StrataStorage

extension DStream {
    /// Combines all records of each sliding window into one with `reduce`; with `inverse`, the
    /// window is maintained incrementally.
    ///
    /// At each window end `t` (where `(t + 1) % slide == 0`, see `window(length:slide:)`) the
    /// stream holds one record, the combination of the records of intervals `t − length + 1 … t`,
    /// in a single partition; a window without records gives no record, and other intervals are
    /// empty. Each interval is first reduced once (map-side per input partition, then across
    /// partitions in partition order, through a durable one-partition shuffle stream); then:
    ///
    /// - without `inverse`, each window end folds its intervals' values in interval order;
    /// - with `inverse`, a stateful vertex applies `inverse(current, leaving)` then
    ///   `combine(current, entering)` per interval, and the results equal the non-incremental form
    ///   whenever `inverse` undoes `reduce` exactly (integers; floating point only approximately).
    ///
    /// ```swift
    /// p.read(counts).reduceByWindow(+, inverse: -, length: 5)   // sum over the last 5 intervals
    /// ```
    ///
    /// - Parameters:
    ///   - reduce: Associative combination of two records.
    ///   - inverse: Undoes `reduce` (`inverse(reduce(a, b), b) == a`); makes the window incremental.
    ///   - length: Intervals per window, at least 1.
    ///   - slide: Intervals between window ends, at least 1.
    /// - Complexity: O(records) per interval for the per-interval reduction, plus O(`length`) per
    ///   window end without `inverse` or O(1) per interval with it.
    public func reduceByWindow(
        _ reduce: @escaping @Sendable (Record, Record) throws -> Record,
        inverse: (@Sendable (Record, Record) throws -> Record)? = nil,
        length: Int, slide: Int = 1
    ) -> DStream<Record> {
        map { KeyValue(UInt8(0), $0) }
            .reduceByKeyAndWindow(reduce, inverse: inverse, length: length, slide: slide, partitions: 1)
            .narrow("values") { pairs in ContiguousArray(pairs.lazy.map(\.value)) }
    }
}
