import StrataStorage

extension DStream {
    /// The number of records in each sliding window, maintained incrementally.
    ///
    /// At each window end `t` (where `(t + 1) % slide == 0`, see `window(length:slide:)`) the
    /// stream holds one `Int64`, the number of records in intervals `t − length + 1 … t`, in a
    /// single partition. A window without records gives no record (read a missing count as 0), so
    /// the output does not depend on when the program happened to run.
    ///
    /// ```swift
    /// p.read(views).countByWindow(length: 60, slide: 10).save(as: "viewsPerMinute")
    /// ```
    ///
    /// - Complexity: O(records) per interval; O(1) per interval for the window itself.
    public func countByWindow(length: Int, slide: Int = 1) -> DStream<Int64> {
        map { _ in Int64(1) }.reduceByWindow(+, inverse: -, length: length, slide: slide)
    }
}
