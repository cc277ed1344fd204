import Strata
import StrataEngine
import StrataStorage

extension DStream where Record == JSONRecord {
    /// Runs a SQL query over each interval's records and yields its result rows as JSON records:
    /// a continuous SQL program, in the D-Streams way (each interval is a small batch).
    ///
    /// The interval's records of every partition, each with its partition, are gathered into one
    /// partition (in partition order) and are the table `input`, also named after the stream (see
    /// ``IntervalQuery``): columns `interval`, `time`, `partition`, the fields the query names and
    /// `record`. SQLite reads them through a virtual table, where they are. With `window`, the
    /// table holds the records of the last `window` intervals, oldest first (`interval` and `time`
    /// are then the window's last interval). Each result row is a JSON object keyed by the query's
    /// column names; rows follow the query's `ORDER BY`, else are sorted by their bytes, so the
    /// output is byte-identical across runs, processes and restarts. The vertex has what every
    /// vertex has: exactly-once output, recovery, `strata status`.
    ///
    /// ```swift
    /// let query = try IntervalQuery("SELECT url, count(*) AS n FROM pageViews GROUP BY url", streamName: "pageViews")
    /// let program = try Program(name: "sql.urlCounts", store: store) { p in
    ///     p.read(views).sql(query).save(as: "urlCounts")
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - query: The checked query, over one table.
    ///   - window: How many intervals, ending with the current one, the table holds (`nil`: 1).
    ///   - intervalLength: The input's interval length, for the `time` column (default 1 s).
    public func sql(_ query: IntervalQuery, window: Int? = nil, intervalLength: IntervalLength = .seconds(1))
        -> DStream<JSONRecord>
    {
        gathered(window: window).transform(definition: query.definition) { interval, _, records in
            ContiguousArray(try query.run(interval: interval, length: intervalLength, tables: [records]))
        }
    }

    /// `sql(_:window:intervalLength:)` with the query as text: `DStream.sql("SELECT …")`. The
    /// records are the table `input`, and also the one other table the query names (the stream's
    /// name, say). `window(STREAM, N)` in place of the stream's name is its last N intervals
    /// (``WindowSyntax``): the same as `window: N`.
    ///
    /// ```swift
    /// let program = try Program(name: "sql.urlCounts", store: store) { p in
    ///     try p.read(views).sql("SELECT url, count(*) AS n FROM pageViews GROUP BY url").save(as: "urlCounts")
    /// }
    /// ```
    ///
    /// - Throws: `SQLError.sqlite` for a query that does not prepare, with the error's position;
    ///   `.invalidArgument` for windows of different lengths.
    public func sql(_ query: String, window: Int? = nil, intervalLength: IntervalLength = .seconds(1)) throws
        -> DStream<JSONRecord>
    {
        let windowed = try WindowSyntax.rewrite(query, window: window)
        return sql(try IntervalQuery(namingItsStream: windowed.sql), window: windowed.window, intervalLength: intervalLength)
    }

    /// Runs a SQL query over each interval's records of this stream and of `other` (a join of two
    /// streams): the tables of ``IntervalQuery/tableNames``, this stream's first. Otherwise as
    /// ``sql(_:window:intervalLength:)``; both streams must have the same interval length.
    ///
    /// ```swift
    /// let query = try IntervalQuery("SELECT p.url, count(*) AS n FROM pageViews p JOIN clicks c USING (user) GROUP BY p.url",
    ///                               streamNames: ["pageViews", "clicks"])
    /// let program = try Program(name: "sql.clickedUrls", store: store) { p in
    ///     p.read(views).sql(query, joining: p.read(clicks)).save(as: "clickedUrls")
    /// }
    /// ```
    public func sql(_ query: IntervalQuery, joining other: DStream<JSONRecord>, window: Int? = nil,
                    intervalLength: IntervalLength = .seconds(1)) -> DStream<JSONRecord> {
        gathered(window: window).transform(with: other.gathered(window: window), definition: query.definition) { interval, _, mine, theirs in
            ContiguousArray(try query.run(interval: interval, length: intervalLength, tables: [mine, theirs]))
        }
    }

    /// Each interval's records of every partition, tagged with their partition, in one partition
    /// (partition order, then stored order); with `window`, the last `window` intervals' records,
    /// oldest first.
    func gathered(window: Int?) -> DStream<PartitionedJSONRecord> {
        let tagged = transform { _, partition, records in
            var out = ContiguousArray<PartitionedJSONRecord>()
            out.reserveCapacity(records.count)
            for record in records { out.append(PartitionedJSONRecord(partition: partition.rawValue, bytes: record.bytes)) }
            return out
        }
        let one = tagged.repartition(1)
        guard let window, window > 1 else { return one }
        return one.window(length: window)
    }
}
