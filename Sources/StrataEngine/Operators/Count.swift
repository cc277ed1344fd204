import StrataStorage

extension DStream {
    /// Counts the records of every interval: exactly one record per interval from the input's
    /// first interval on, `0` for an interval without records (the counting vertex processes
    /// every interval, not only those with records).
    ///
    /// Each input partition is counted where it is, the partial counts are shuffled to the single
    /// partition of a durable stream `PROGRAM.vN.shuffle` and summed; the result is a stream of one
    /// partition.
    ///
    /// - Complexity: O(records) per interval, and one small record per input partition shuffled.
    public func count() -> DStream<Int64> {
        guard let shuffle = exchange("count", partitions: 1, everyInterval: true, prepare: { batch in
            [Int64(batch.count)]
        }, route: { _, _, _, _, _ in 0 }) else { return invalid("count") }
        return reading(shuffle, chain: "count") { (partials: ContiguousArray<Int64>) in
            [partials.reduce(0, +)]
        }
    }
}
