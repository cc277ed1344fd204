import StrataStorage

/// A Strata store: one directory holding the durable logs of named streams.
///
/// ```swift
/// let store = try Store(at: "pageviews.strata")
/// let views = try store.stream("pageViews", of: PageView.self, interval: .seconds(1), partitions: 4)
/// let appender = try views.eventTimeAppender(allowedLateness: .seconds(2)) { $0.url }
/// try appender.append(view, eventTime: view.time)
/// try appender.flush()
/// ```
///
/// `Store` is `Sendable`. Open a store once per process and share it (opening the same directory
/// again returns the same underlying environment). Reads run concurrently on the caller's thread;
/// writes go through one committer thread.
public final class Store: Sendable {
    let log: LogStore

    /// Opens the store in directory `path`, creating it unless `options.createIfMissing` is false.
    ///
    /// - Throws: `StorageError.storeNotFound` when there is no store and creation is off;
    ///   `.notAStore` when the directory holds something else.
    public init(at path: String, options: StoreOptions = StoreOptions()) throws(StorageError) {
        log = try LogStore.open(path: path, options: options)
    }

    /// Opens an existing store; never creates one.
    public static func open(at path: String, durability: Durability = .groupCommit) throws(StorageError) -> Store {
        try Store(at: path, options: StoreOptions(durability: durability, createIfMissing: false))
    }

    /// The store's directory.
    public var path: String { log.path }

    /// The options the store was opened with.
    public var options: StoreOptions { log.options }

    // MARK: Streams

    /// Creates a typed stream, or opens it when it exists with the same record type, interval
    /// length and partition count.
    ///
    /// - Throws: `.streamMismatch` naming the setting that differs; `.invalidStreamName`.
    public func stream<Record: RecordCodable>(
        _ name: String, of type: Record.Type, interval: IntervalLength, partitions: Int,
        retention: Retention = .forever
    ) throws(StorageError) -> StoredStream<Record> {
        guard let count = UInt32(exactly: partitions) else {
            throw .misuse("stream \(name): the partition count must be 1 to 4096, not \(partitions)")
        }
        let descriptor = try log.createOrOpenStream(
            LogStore.StreamSpec(name: name, recordType: Record.recordTypeName, intervalLength: interval,
                                partitions: count, retention: retention))
        return StoredStream(store: log, descriptor: descriptor)
    }

    /// Opens an existing stream, checking that it holds `Record`.
    ///
    /// - Throws: `.unknownStream`; `.streamMismatch` when it holds another record type.
    public func stream<Record: RecordCodable>(named name: String, of type: Record.Type) throws(StorageError)
        -> StoredStream<Record>
    {
        guard let descriptor = try log.descriptor(named: name) else { throw .unknownStream(name) }
        guard descriptor.recordType == Record.recordTypeName else {
            throw .streamMismatch(stream: name, reason: "it holds \(descriptor.recordType), not \(Record.recordTypeName)")
        }
        return StoredStream(store: log, descriptor: descriptor)
    }

    /// Creates or opens a schema-less JSON stream, as `strata ingest` does.
    ///
    /// - Parameters:
    ///   - name: The stream's name (1–195 characters of `A–Z a–z 0–9 . _ -`).
    ///   - interval: The length of each interval.
    ///   - partitions: The number of partitions of each interval (1 to 4096).
    ///   - timeField: The top-level field with event time; `nil` for arrival time.
    ///   - keyField: The top-level field whose value chooses the partition; `nil` for round-robin.
    ///   - timeUnit: The unit of a numeric time field.
    ///   - retention: How long sealed intervals are kept.
    public func jsonStream(_ name: String, interval: IntervalLength, partitions: Int, timeField: String? = nil,
                           keyField: String? = nil, timeUnit: TimeUnit = .milliseconds,
                           retention: Retention = .forever) throws(StorageError) -> StoredStream<JSONRecord> {
        guard let count = UInt32(exactly: partitions) else {
            throw .misuse("stream \(name): the partition count must be 1 to 4096, not \(partitions)")
        }
        let descriptor = try log.createOrOpenStream(
            LogStore.StreamSpec(name: name, recordType: JSONRecord.recordTypeName, intervalLength: interval,
                                partitions: count, retention: retention, timeField: timeField, keyField: keyField,
                                timeUnit: timeField == nil ? nil : timeUnit))
        return StoredStream(store: log, descriptor: descriptor)
    }

    /// Every stream with its frontier, in name order (late side streams included).
    public func streams() throws(StorageError) -> [StreamInfo] {
        var result: [StreamInfo] = []
        for descriptor in try log.descriptors() {
            result.append(StreamInfo(descriptor: descriptor, frontier: try log.frontier(of: descriptor)))
        }
        return result
    }

    /// One stream's settings and frontier.
    ///
    /// - Throws: `.unknownStream`.
    public func info(of name: String) throws(StorageError) -> StreamInfo {
        guard let descriptor = try log.descriptor(named: name) else { throw .unknownStream(name) }
        return StreamInfo(descriptor: descriptor, frontier: try log.frontier(of: descriptor))
    }

    /// Changes how long a stream (and its late side stream) keeps sealed intervals; takes effect
    /// at the stream's next seal.
    public func setRetention(_ retention: Retention, of name: String) throws(StorageError) {
        let descriptor = try log.setRetention(retention, of: name)
        if try log.descriptor(named: descriptor.lateStreamName) != nil {
            _ = try log.setRetention(retention, of: descriptor.lateStreamName)
        }
    }

    /// The bytes of the data file in use.
    public var usedBytes: Int { log.usedBytes() }
}

/// A stream's settings and where its log stands.
public struct StreamInfo: Sendable, Equatable {
    /// The settings.
    public var descriptor: StreamDescriptor
    /// What is sealed and retained.
    public var frontier: StreamFrontier
}

extension Store {
    /// The seal records of a stream's intervals in `range` that hold records, in interval order:
    /// per-interval record counts and sizes without reading any block.
    package func sealRecords(of name: String, in range: ClosedRange<Interval>) throws(StorageError) -> [(Interval, SealRecord)] {
        guard let descriptor = try log.descriptor(named: name) else { throw .unknownStream(name) }
        return try log.sealRecords(of: descriptor, in: range)
    }
}
