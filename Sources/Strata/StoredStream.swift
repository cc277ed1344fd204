import StrataStorage

/// A typed, durable log of intervals in a store: append to it, read sealed intervals back,
/// follow it as intervals are sealed.
///
/// ```swift
/// let store = try Store(at: "pageviews.strata")
/// let views = try store.stream("pageViews", of: PageView.self, interval: .seconds(1), partitions: 4)
/// let batch = try views.read(Interval(1_763_900_000))
/// ```
///
/// `StoredStream` is `Sendable`: reads from any number of threads run concurrently and never
/// block the writer (LMDB's MVCC).
public struct StoredStream<Record: RecordCodable>: Sendable {
    let store: LogStore
    /// The stream's settings.
    public let descriptor: StreamDescriptor

    init(store: LogStore, descriptor: StreamDescriptor) {
        self.store = store
        self.descriptor = descriptor
    }

    /// The stream's name.
    public var name: String { descriptor.name }

    /// Where the stream's log stands now: what is sealed and what retention keeps.
    public func frontier() throws(StorageError) -> StreamFrontier { try store.frontier(of: descriptor) }

    /// The newest sealed interval, or `nil` when nothing is sealed.
    public func newestSealedInterval() throws(StorageError) -> Interval? { try frontier().sealedThrough }

    /// The interval that contains `time`, or `nil` for a time before the Unix epoch.
    public func interval(containing time: Timestamp) -> Interval? {
        descriptor.intervalLength.interval(containing: time)
    }

    // MARK: Appending

    /// Makes an appender that partitions records round-robin, or by `partitionKey` when given.
    ///
    /// - Parameters:
    ///   - timing: How records are put into intervals.
    ///   - partitionKey: The key whose encoded bytes choose a record's partition.
    public func appender<Key: RecordCodable>(
        timing: TimeAssignment, limits: StreamAppender<Record>.Limits = .init(),
        partitionKey: @escaping (Record) -> Key
    ) throws(StorageError) -> StreamAppender<Record> {
        try makeAppender(timing: timing, limits: limits) { record, writer in partitionKey(record).encode(to: &writer) }
    }

    /// Makes an appender that partitions records round-robin.
    public func appender(timing: TimeAssignment, limits: StreamAppender<Record>.Limits = .init())
        throws(StorageError) -> StreamAppender<Record>
    {
        try makeAppender(timing: timing, limits: limits, keyEncoder: nil)
    }

    func makeAppender(timing: TimeAssignment, limits: StreamAppender<Record>.Limits,
                      keyEncoder: ((Record, inout BinaryWriter) -> Void)?) throws(StorageError) -> StreamAppender<Record> {
        guard descriptor.lateRecordsOf == nil else {
            throw .misuse("stream \(name) is a late side stream; it is written only by its stream's appenders")
        }
        let late = try store.descriptor(named: descriptor.lateStreamName)
        return try StreamAppender(store: store, descriptor: descriptor, lateDescriptor: late, timing: timing,
                                  limits: limits, keyEncoder: keyEncoder)
    }

    // MARK: Reading

    /// Reads one sealed interval, all partitions or one.
    ///
    /// - Throws: `.notSealed`, `.beforeStreamStart`, `.outsideRetention`, `.partitionOutOfRange`,
    ///   or `.corrupt` naming stream, interval and partition.
    /// - Complexity: O(records in the interval).
    public func read(_ interval: Interval, partition: PartitionIndex? = nil) throws(StorageError) -> IntervalBatch<Record> {
        var partitions = [[Record]](repeating: [], count: Int(descriptor.partitions))
        var codec = BlockCodec()
        _ = try wrap {
            try store.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { p, _, block in
                try Self.decode(block, codec: &codec, location: location(interval, p)) { partitions[Int(p.rawValue)].append($0) }
            }
        }
        return IntervalBatch(interval: interval, partitions: partitions)
    }

    /// Calls `body` with every record of the sealed intervals in `range`, in (interval, partition,
    /// chunk, sequence) order, without holding more than one block's records in memory.
    ///
    /// Every interval of the range must be readable: sealed, retained and not before the stream began.
    /// Each interval is read in its own short read transaction.
    public func forEach(in range: ClosedRange<Interval>, partition: PartitionIndex? = nil,
                        _ body: (Interval, PartitionIndex, Record) throws -> Void) throws {
        let frontier = try frontier()
        let location = StoreLocation(stream: name, interval: range.upperBound)
        guard let sealed = frontier.sealedThrough, range.upperBound <= sealed else {
            throw StorageError.notSealed(location, newestSealed: frontier.sealedThrough)
        }
        // Checks the lower bound: throws when it is before the start or outside retention.
        _ = try store.withSealedBlocks(of: descriptor, interval: range.lowerBound, partition: partition) { _, _, _ in }
        var codec = BlockCodec()
        for (interval, _) in try store.sealRecords(of: descriptor, in: range) {
            try store.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { p, _, block in
                try Self.decode(block, codec: &codec, location: self.location(interval, p)) { try body(interval, p, $0) }
            }
        }
    }

    /// Reads every sealed interval in `range` (empty intervals included) as batches.
    public func read(_ range: ClosedRange<Interval>, partition: PartitionIndex? = nil) throws -> [IntervalBatch<Record>] {
        var batches: [IntervalBatch<Record>] = []
        var index: [Interval: Int] = [:]  // lookup only
        var interval = range.lowerBound
        while true {
            index[interval] = batches.count
            batches.append(IntervalBatch(interval: interval, partitions: .init(repeating: [], count: Int(descriptor.partitions))))
            if interval == range.upperBound { break }
            interval = interval.next
        }
        try forEach(in: range, partition: partition) { interval, p, record in
            if let i = index[interval] { batches[i].partitions[Int(p.rawValue)].append(record) }
        }
        return batches
    }

    /// Reads the newest sealed interval, or returns `nil` when nothing readable is sealed.
    public func readNewest(partition: PartitionIndex? = nil) throws(StorageError) -> IntervalBatch<Record>? {
        let frontier = try frontier()
        guard let newest = frontier.sealedThrough, frontier.firstReadable != nil else { return nil }
        return try read(newest, partition: partition)
    }

    /// Yields each interval as it is sealed, starting at `start` (default: the interval after the
    /// newest sealed one now), in order, with none skipped.
    ///
    /// Seals made in this process wake the subscription at once; seals made by other processes
    /// are seen within `pollInterval`. Ends with an error if an interval cannot be read (for
    /// example when retention dropped it before it was yielded).
    public func sealedIntervals(from start: Interval? = nil, pollInterval: Duration = .milliseconds(50))
        -> AsyncThrowingStream<IntervalBatch<Record>, any Error>
    {
        let stream = self
        // The default start is fixed now, at the call, not whenever the task first runs.
        let first: Result<Interval, any Error> = start.map { .success($0) }
            ?? Result { try stream.frontier().sealedThrough?.next ?? Interval(0) }
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var next = try first.get()
                    while !Task.isCancelled {
                        let generation = stream.store.sealSignal.current
                        let frontier = try stream.frontier()
                        if let sealed = frontier.sealedThrough, next <= sealed {
                            if let first = frontier.firstInterval, next < first { next = first }
                            while next <= sealed && !Task.isCancelled {
                                continuation.yield(try stream.read(next))
                                next = next.next
                            }
                            continue
                        }
                        await stream.store.sealSignal.wait(after: generation, timeout: pollInterval)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: Decoding

    private func location(_ interval: Interval, _ partition: PartitionIndex) -> StoreLocation {
        StoreLocation(stream: name, interval: interval, partition: partition)
    }

    /// Verifies a block and decodes its records in order.
    static func decode(_ block: UnsafeRawBufferPointer, codec: inout BlockCodec, location: StoreLocation,
                       _ body: (Record) throws -> Void) throws {
        do {
            try codec.withVerifiedPayload(block) { header, payload in
                var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
                var index = 0
                while let frame = try frames.next() {
                    var reader = BinaryReader(frame)
                    let record: Record
                    do throws(RecordDecodingError) {
                        record = try Record(from: &reader)
                        if reader.remaining != 0 { throw RecordDecodingError.trailingBytes(offset: reader.offset) }
                    } catch {
                        throw Corruption.undecodableRecord(index: index, error)
                    }
                    try body(record)
                    index += 1
                }
            }
        } catch let corruption as Corruption {
            throw StorageError.corrupt(location, corruption)
        }
    }

    private func wrap<R>(_ body: () throws -> R) throws(StorageError) -> R {
        do {
            return try body()
        } catch {
            throw StorageError(wrapping: error)
        }
    }
}

extension StoredStream where Record: KeyedRecord {
    /// Makes an appender that partitions each record by its `partitionKey` (for `KeyValue`, the key).
    public func appender(timing: TimeAssignment, limits: StreamAppender<Record>.Limits = .init())
        throws(StorageError) -> StreamAppender<Record>
    {
        try makeAppender(timing: timing, limits: limits) { record, writer in record.partitionKey.encode(to: &writer) }
    }
}
