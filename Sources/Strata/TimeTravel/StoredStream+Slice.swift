import StrataStorage

extension StoredStream {
    /// The sealed intervals `from` through `through` (both included) as a batch dataset, one
    /// dataset partition per stream partition.
    ///
    /// The range is checked now; the records are read when an action runs the dataset: each
    /// partition on its own task, with `forEach(in:partition:_:)` (verified, decompressed and
    /// decoded block by block, specialized for `Record`), so a slice never holds more than one
    /// block per partition unless an operator keeps records.
    ///
    /// ```swift
    /// let lastMinute = try views.slice(from: Interval(1_795_435_140), through: Interval(1_795_435_199))
    /// let perURL = try lastMinute.map { KeyValue($0.url, Int64(1)) }.reduceByKey(+)
    /// ```
    ///
    /// - Throws: `.storage(.notSealed)` when `through` is not sealed yet, `.storage(.outsideRetention)`
    ///   when retention dropped `from`, `.storage(.beforeStreamStart)` when `from` is before the
    ///   stream's first interval with records, `.emptyRange` when `through < from`.
    public func slice(from: Interval, through: Interval) throws(TimeTravelError) -> Dataset<Record> {
        guard from <= through else { throw .emptyRange(from: from.description, to: through.description) }
        try checkSliceable(from...through)
        let stream = self
        let partitions = Int(descriptor.partitions)
        // Each partition's intervals are split into runs read by separate tasks: about 32 tasks
        // in all, so that a partition heavier than the others does not leave cores idle.
        let length = through.rawValue - from.rawValue + 1
        let splits = Int(min(length, UInt64(max(1, (32 + partitions - 1) / partitions))))
        return Dataset(partitionCount: partitions, splits: splits) { p, split, sink in
            guard let run = sliceRun(split, of: splits, from: from, length: length) else { return }
            try stream.forEach(in: run, partition: PartitionIndex(UInt32(p))) { _, _, record in
                try sink(record)
            }
        }
    }

    /// The intervals of `range` as a batch dataset; see ``slice(from:through:)`` and ``SliceRange``.
    public func slice(_ range: SliceRange) throws(TimeTravelError) -> Dataset<Record> {
        let intervals = try self.intervals(of: range)
        return try slice(from: intervals.lowerBound, through: intervals.upperBound)
    }

    /// The intervals from `from` to `to` as a batch dataset: each bound an interval index
    /// (`"1795435200"`, included), a time of day (`"21:00"`) or an ISO 8601 date and time
    /// (`"2026-11-23T21:00:00Z"`); times make the half-open range `[from, to)`.
    ///
    /// A bare time of day is on `day` (`YYYY-MM-DD`) when given, else on the day, in `zone`, of the
    /// stream's newest sealed interval; times without an offset are read in `zone` (default UTC).
    /// The rules are those of ``SliceRange``.
    ///
    /// ```swift
    /// let counts = try store.stream(named: "urlCounts", of: KeyValue<String, Int64>.self)
    /// let top = try counts.slice("21:00", "21:05").topK(10)
    /// ```
    ///
    /// - Throws: `.invalidTime`, `.unknownTimeZone`, `.emptyRange`, `.noDayForTimeOfDay`, and the
    ///   storage errors of ``slice(from:through:)``.
    public func slice(_ from: String, _ to: String, zone: String = "UTC", on day: String? = nil) throws(TimeTravelError)
        -> Dataset<Record>
    {
        try slice(try SliceRange(from: from, to: to, zone: zone, on: day))
    }

    /// The interval indices `range` covers on this stream (the newest sealed interval gives bare
    /// times of day their day and is `end`; the first readable interval is `beginning`).
    ///
    /// - Throws: the parsing and range errors of ``SliceRange/intervals(length:newestSealed:firstReadable:stream:)``.
    public func intervals(of range: SliceRange) throws(TimeTravelError) -> ClosedRange<Interval> {
        let frontier: StreamFrontier
        do throws(StorageError) { frontier = try self.frontier() } catch { throw .storage(error) }
        return try range.intervals(length: descriptor.intervalLength, newestSealed: frontier.sealedThrough,
                                   firstReadable: frontier.firstReadable, stream: name)
    }

    /// Throws unless every interval of `range` can be read: sealed, retained, not before the start.
    func checkSliceable(_ range: ClosedRange<Interval>) throws(TimeTravelError) {
        let frontier: StreamFrontier
        do throws(StorageError) { frontier = try self.frontier() } catch { throw .storage(error) }
        guard let sealed = frontier.sealedThrough, range.upperBound <= sealed else {
            throw .storage(.notSealed(StoreLocation(stream: name, interval: range.upperBound), newestSealed: frontier.sealedThrough))
        }
        guard let first = frontier.firstInterval, range.lowerBound >= first else {
            throw .storage(.beforeStreamStart(StoreLocation(stream: name, interval: range.lowerBound),
                                              firstInterval: frontier.firstInterval))
        }
        guard range.lowerBound >= frontier.retainedFrom else {
            throw .storage(.outsideRetention(StoreLocation(stream: name, interval: range.lowerBound),
                                             retainedFrom: frontier.retainedFrom))
        }
    }
}

/// Run `split` of the `splits` runs that divide the `length` intervals from `from` evenly, or `nil`
/// when that run is empty.
///
/// The offsets `length × split / splits` are computed at full width: for a range of more than
/// `UInt64.max / splits` intervals (a stream sealed through near the last interval index) the
/// product passes `UInt64.max`. The last interval is computed as `from + (end − 1)`, never as
/// `from + end`, which is one past the range.
func sliceRun(_ split: Int, of splits: Int, from: Interval, length: UInt64) -> ClosedRange<Interval>? {
    // The quotient is at most `length`: `split` and `split + 1` are at most `splits`.
    func offset(_ k: Int) -> UInt64 { UInt64(splits).dividingFullWidth(length.multipliedFullWidth(by: UInt64(k))).quotient }
    let start = offset(split), end = offset(split + 1)
    guard end > start else { return nil }
    return Interval(from.rawValue + start)...Interval(from.rawValue + (end - 1))
}
