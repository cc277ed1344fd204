extension DStream {
    /// Prints the first `count` records of every interval, as Spark Streaming's `print()`: a
    /// header naming the interval, then one record per line (`String(describing:)`) in partition
    /// order, and `...` when the interval holds more. A sink like `foreach`: called once per
    /// interval in order, and again after a crash for intervals whose progress was not committed.
    ///
    /// - Parameters:
    ///   - count: Records shown per interval (at least 0).
    ///   - write: Where each interval's text goes (default: standard output).
    public func print(_ count: Int = 10, to write: @escaping @Sendable (String) -> Void = { Swift.print($0, terminator: "") }) {
        let shown = max(0, count)
        foreach { interval, partitions in
            let rule = "-------------------------------------------\n"
            var text = rule + "Interval \(interval)\n" + rule
            var printed = 0, total = 0
            for partition in partitions {
                total += partition.count
                for record in partition where printed < shown {
                    text += String(describing: record) + "\n"
                    printed += 1
                }
            }
            if total > printed { text += "...\n" }
            write(text + "\n")
        }
    }
}
