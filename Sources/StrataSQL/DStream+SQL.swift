import Strata
import StrataEngine
import StrataStorage

extension DStream where Record == JSONRecord {
    /// Runs a SQL query over each interval's records and yields its result rows as JSON records:
    /// a continuous SQL program, in the D-Streams way (each interval is a small batch).
    ///
    /// The interval's records (of every partition, gathered into one partition in partition
    /// order) are the table `input`, also named `streamName` when given: columns `interval`,
    /// `time`, `record` and the fields the query names (see ``IntervalQuery``). With `window`, the
    /// table holds the records of the last `window` intervals (`interval` and `time` are then the
    /// window's last interval). Each result row is a JSON object keyed by the query's column names;
    /// rows follow the query's `ORDER BY`, else are sorted by their bytes, so the output is
    /// byte-identical across runs, processes and restarts. The vertex has what every vertex has:
    /// exactly-once output, recovery, `strata status`.
    ///
    /// ```swift
    /// let query = try IntervalQuery("SELECT url, count(*) AS n FROM pageViews GROUP BY url", streamName: "pageViews")
    /// let program = try Program(name: "sql.urlCounts", store: store) { p in
    ///     p.read(views).sql(query).save(as: "urlCounts")
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - query: The checked query.
    ///   - window: How many intervals, ending with the current one, the table holds (`nil`: 1).
    ///   - intervalLength: The input's interval length, for the `time` column (default 1 s).
    public func sql(_ query: IntervalQuery, window: Int? = nil, intervalLength: IntervalLength = .seconds(1))
        -> DStream<JSONRecord>
    {
        var input = self
        if let window, window > 1 { input = input.window(length: window) }
        return input.repartition(1).transform { interval, _, records in
            ContiguousArray(try query.run(interval: interval, length: intervalLength, records: records))
        }
    }
}
