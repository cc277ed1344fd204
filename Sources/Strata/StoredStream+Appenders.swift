import StrataStorage

/// The appender factories: one per time mode, so that the append method an appender offers is
/// the one its mode takes (an `ArrivalAppender` has no `append(_:eventTime:)`).
///
/// Every factory takes the stream's writer lock (`StorageError.streamBusy` while another writer
/// holds it) and, with a `source` name, makes a **resumable** appender: it commits only with the
/// position reached in that input (`StreamAppender.flush(position:)`) and starts from the
/// position the last commit of that source left (`resumePosition`). Records are partitioned
/// round-robin, by a `partitionKey` closure, or — for a `KeyedRecord` stream (`KeyValue`) — by
/// the record's own key, encoded once.
extension StoredStream {
    // MARK: Arrival time

    /// Makes an appender that puts each record into the interval of the clock's time when it is
    /// appended, partitioned round-robin.
    ///
    /// ```swift
    /// let appender = try clicks.arrivalAppender()
    /// try appender.append(click)
    /// ```
    ///
    /// - Parameters:
    ///   - clock: Where arrival time comes from; the system's real-time clock by default.
    ///   - source: The name of the input whose position commits carry (1–200 characters of
    ///     A–Z a–z 0–9 . _ -), making the appender resumable; `nil` for none.
    ///   - limits: Block and batch sizes, back-pressure, and whether commits wait for a flush.
    /// - Throws: `.streamBusy` when another writer holds the stream; `.misuse` for a late side
    ///   stream or an invalid source name; `.corrupt` when the stored position does not verify.
    public func arrivalAppender(clock: ArrivalClock = .system, source: String? = nil,
                                limits: StreamAppender.Limits = .init()) throws(StorageError) -> ArrivalAppender<Record> {
        try checkSourceName(source)
        return try ArrivalAppender(stream: self, clock: clock, route: .roundRobin, limits: limits, source: source)
    }

    /// Makes an arrival-time appender that partitions each record by the encoded bytes of
    /// `partitionKey(record)`: records with equal keys land in the same partition.
    ///
    /// - Parameters:
    ///   - clock: Where arrival time comes from.
    ///   - source: The name of the input whose position commits carry, making the appender
    ///     resumable; `nil` for none.
    ///   - limits: Block and batch sizes, back-pressure, and whether commits wait for a flush.
    ///   - partitionKey: The key whose encoding (`RecordCodable.encode(to:)`) is hashed.
    ///     It is encoded once per record, to choose the partition; the record is then encoded whole.
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func arrivalAppender<Key: RecordCodable>(
        clock: ArrivalClock = .system, source: String? = nil, limits: StreamAppender.Limits = .init(),
        partitionKey: @escaping (Record) -> Key
    ) throws(StorageError) -> ArrivalAppender<Record> {
        try checkSourceName(source)
        return try ArrivalAppender(stream: self, clock: clock, route: .key(partitionKey), limits: limits, source: source)
    }

    // MARK: Event time

    /// Makes an appender that puts each record into the interval of the event time given with
    /// it, partitioned round-robin; intervals the watermark (the largest event time minus
    /// `allowedLateness`) has passed are sealed, and later records for them go to the late side stream.
    ///
    /// ```swift
    /// let appender = try views.eventTimeAppender(allowedLateness: .seconds(2))
    /// try appender.append(view, eventTime: view.time)
    /// ```
    ///
    /// - Parameters:
    ///   - allowedLateness: How long an interval stays open after the largest event time passes its end.
    ///   - source: The name of the input whose position commits carry, making the appender
    ///     resumable (the watermark resumes from the position's commit too); `nil` for none.
    ///   - limits: Block and batch sizes, back-pressure, and whether commits wait for a flush.
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func eventTimeAppender(allowedLateness: Duration, source: String? = nil,
                                  limits: StreamAppender.Limits = .init()) throws(StorageError) -> EventTimeAppender<Record> {
        try checkSourceName(source)
        return try EventTimeAppender(stream: self, allowedLateness: allowedLateness, route: .roundRobin, limits: limits,
                                     source: source)
    }

    /// Makes an event-time appender that partitions each record by the encoded bytes of
    /// `partitionKey(record)`.
    ///
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func eventTimeAppender<Key: RecordCodable>(
        allowedLateness: Duration, source: String? = nil, limits: StreamAppender.Limits = .init(),
        partitionKey: @escaping (Record) -> Key
    ) throws(StorageError) -> EventTimeAppender<Record> {
        try checkSourceName(source)
        return try EventTimeAppender(stream: self, allowedLateness: allowedLateness, route: .key(partitionKey),
                                     limits: limits, source: source)
    }

    // MARK: Explicit intervals

    /// Makes an appender that puts each record into the interval the caller names, partitioned
    /// round-robin; the caller seals (`seal(through:)`).
    ///
    /// ```swift
    /// let appender = try counts.explicitAppender()
    /// try appender.append(count, interval: Interval(7))
    /// try appender.seal(through: Interval(7))
    /// ```
    ///
    /// - Parameters:
    ///   - source: The name of the input whose position commits carry, making the appender
    ///     resumable; `nil` for none.
    ///   - limits: Block and batch sizes, back-pressure, and whether commits wait for a flush.
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func explicitAppender(source: String? = nil, limits: StreamAppender.Limits = .init())
        throws(StorageError) -> ExplicitAppender<Record>
    {
        try checkSourceName(source)
        return try ExplicitAppender(stream: self, route: .roundRobin, limits: limits, source: source)
    }

    /// Makes an explicit-interval appender that partitions each record by the encoded bytes of
    /// `partitionKey(record)`.
    ///
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func explicitAppender<Key: RecordCodable>(
        source: String? = nil, limits: StreamAppender.Limits = .init(), partitionKey: @escaping (Record) -> Key
    ) throws(StorageError) -> ExplicitAppender<Record> {
        try checkSourceName(source)
        return try ExplicitAppender(stream: self, route: .key(partitionKey), limits: limits, source: source)
    }

    // MARK: Internal

    /// An appender whose time mode is decided at run time, for records that arrive encoded
    /// (`StreamAppender.appendEncoded`): the JSON ingestor, whose stream's catalog says whether
    /// it has a time field. `source` is not checked: `""` names the unnamed input.
    func makeEncodedAppender(timing: TimeAssignment, limits: StreamAppender.Limits, source: String? = nil)
        throws(StorageError) -> StreamAppender
    {
        try StreamAppender(store: store, descriptor: descriptor, lateDescriptor: try lateDescriptorForAppending(),
                           timing: timing, limits: limits, source: source, takesEncodedRecords: true)
    }

    /// The stream's late side stream, if it has one; throws for a late side stream itself, which
    /// only its stream's appenders write.
    func lateDescriptorForAppending() throws(StorageError) -> StreamDescriptor? {
        guard descriptor.lateRecordsOf == nil else {
            throw .misuse("stream \(name) is a late side stream; it is written only by its stream's appenders")
        }
        return try store.descriptor(named: descriptor.lateStreamName)
    }

    private func checkSourceName(_ source: String?) throws(StorageError) {
        guard let source, !SourceRecord.isValidName(source) else { return }
        throw .misuse("invalid source name \"\(source)\": use 1–200 characters of A–Z a–z 0–9 . _ -")
    }
}

extension StoredStream where Record: KeyedRecord {
    /// Makes an arrival-time appender that partitions each record by its `partitionKey` (for
    /// `KeyValue`, the key), encoded once (see `KeyedRecord.encodeAfterPartitionKey(to:)`).
    ///
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func arrivalAppender(clock: ArrivalClock = .system, source: String? = nil,
                                limits: StreamAppender.Limits = .init()) throws(StorageError) -> ArrivalAppender<Record> {
        try checkSourceName(source)
        return try ArrivalAppender(stream: self, clock: clock, route: .recordKey, limits: limits, source: source)
    }

    /// Makes an event-time appender that partitions each record by its `partitionKey`, encoded once.
    ///
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func eventTimeAppender(allowedLateness: Duration, source: String? = nil,
                                  limits: StreamAppender.Limits = .init()) throws(StorageError) -> EventTimeAppender<Record> {
        try checkSourceName(source)
        return try EventTimeAppender(stream: self, allowedLateness: allowedLateness, route: .recordKey, limits: limits,
                                     source: source)
    }

    /// Makes an explicit-interval appender that partitions each record by its `partitionKey`,
    /// encoded once.
    ///
    /// - Throws: see `arrivalAppender(clock:source:limits:)`.
    public func explicitAppender(source: String? = nil, limits: StreamAppender.Limits = .init())
        throws(StorageError) -> ExplicitAppender<Record>
    {
        try checkSourceName(source)
        return try ExplicitAppender(stream: self, route: .recordKey, limits: limits, source: source)
    }

}
