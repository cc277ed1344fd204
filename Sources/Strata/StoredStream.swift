import Dispatch
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

    // MARK: Reading

    /// Reads one sealed interval, all partitions or one.
    ///
    /// - Throws: `.notSealed`, `.beforeStreamStart`, `.outsideRetention`, `.partitionOutOfRange`,
    ///   or `.corrupt` naming stream, interval and partition.
    /// - Complexity: O(records in the interval).
    @inlinable
    public func read(_ interval: Interval, partition: PartitionIndex? = nil) throws(StorageError) -> IntervalBatch<Record> {
        var partitions = [[Record]](repeating: [], count: Int(descriptor.partitions))
        do {
            try forEachPayload(of: interval, partition: partition) { p, payload, count in
                let decoded = partitions[Int(p.rawValue)].count
                Self.reserve(&partitions[Int(p.rawValue)], adding: count)
                try Self.decodeRecords(payload, count: count, firstIndex: decoded, location: StoreLocation(
                    stream: descriptor.name, interval: interval, partition: p)) { partitions[Int(p.rawValue)].append($0) }
            }
        } catch {
            throw StorageError(wrapping: error)
        }
        return IntervalBatch(interval: interval, partitions: partitions)
    }

    /// Calls `body` with every record of the sealed intervals in `range`, in (interval, partition,
    /// chunk, sequence) order, without holding more than one block's records in memory.
    ///
    /// Every interval of the range must be readable: sealed, retained and not before the stream began.
    /// Each interval is read in its own short read transaction. The decoding loop is inlined into
    /// the caller, so it is specialized for the record type.
    @inlinable
    public func forEach(in range: ClosedRange<Interval>, partition: PartitionIndex? = nil,
                        _ body: (Interval, PartitionIndex, Record) throws -> Void) throws {
        // Blocks come in (interval, partition, chunk) order: count each partition's records.
        var current: (Interval, PartitionIndex)?
        var decoded = 0
        try forEachPayload(in: range, partition: partition) { interval, p, payload, count in
            if current.map({ $0 != (interval, p) }) ?? true {
                current = (interval, p)
                decoded = 0
            }
            try Self.decodeRecords(payload, count: count, firstIndex: decoded,
                                   location: StoreLocation(stream: descriptor.name, interval: interval, partition: p)) {
                try body(interval, p, $0)
            }
            decoded += count
        }
    }

    /// Calls `body` with each sealed interval of `range` in order (empty ones included), its
    /// partitions read, decompressed and decoded in parallel on all cores.
    ///
    /// The fastest way to read a range whole: one interval's records are in memory at a time.
    /// Every interval of the range must be readable, as for `forEach(in:partition:_:)`.
    ///
    /// - Throws: what `read(_:partition:)` throws, for the first interval that fails.
    @inlinable
    public func forEachInterval(in range: ClosedRange<Interval>, _ body: (IntervalBatch<Record>) throws -> Void) throws {
        try checkReadable(range)
        let count = Int(descriptor.partitions)
        var interval = range.lowerBound
        // Partition arrays are reused from interval to interval (when the body kept no reference
        // to them): fresh multi-megabyte arrays cost a page fault per page.
        var spare = [[Record]](repeating: [], count: count)
        while true {
            var results = spare.map { Result<[Record], StorageError>.success($0) }
            spare = []
            let current = interval
            let stream = self
            results.withUnsafeMutableBufferPointer { buffer in
                let slots = DisjointSlots(buffer)
                DispatchQueue.concurrentPerform(iterations: count) { p in
                    let partition = PartitionIndex(UInt32(p))
                    var records: [Record] = (try? slots[p].get()) ?? []
                    slots[p] = .success([])
                    do {
                        try stream.forEachPayload(of: current, partition: partition) { _, payload, recordCount in
                            let decoded = records.count
                            Self.reserve(&records, adding: recordCount)
                            try Self.decodeRecords(payload, count: recordCount, firstIndex: decoded, location: StoreLocation(
                                stream: stream.descriptor.name, interval: current, partition: partition)) { records.append($0) }
                        }
                        slots[p] = .success(records)
                    } catch {
                        slots[p] = .failure(StorageError(wrapping: error))
                    }
                }
            }
            var partitions: [[Record]] = []
            partitions.reserveCapacity(count)
            for result in results { partitions.append(try result.get()) }
            results = []
            var batch = IntervalBatch(interval: interval, partitions: partitions)
            partitions = []
            try body(batch)
            spare = batch.partitions
            batch.partitions = []
            for index in spare.indices { spare[index].removeAll(keepingCapacity: true) }
            if interval == range.upperBound { return }
            interval = interval.next
        }
    }

    /// Throws unless every interval of `range` is readable: sealed, retained, not before the start.
    @usableFromInline
    func checkReadable(_ range: ClosedRange<Interval>) throws {
        let frontier = try frontier()
        guard let sealed = frontier.sealedThrough, range.upperBound <= sealed else {
            throw StorageError.notSealed(StoreLocation(stream: name, interval: range.upperBound),
                                         newestSealed: frontier.sealedThrough)
        }
        // The first interval's seal row, not its blocks: they are read when the range is.
        try store.checkReadable(descriptor, interval: range.lowerBound)
    }

    /// Calls `body` with the verified, decompressed payload of every block of one sealed interval.
    @usableFromInline
    func forEachPayload(of interval: Interval, partition: PartitionIndex?,
                        _ body: (PartitionIndex, UnsafeRawBufferPointer, Int) throws -> Void) throws {
        var codec = BlockCodec()
        try store.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { p, _, block in
            try Self.withPayload(block, codec: &codec, location: StoreLocation(stream: name, interval: interval, partition: p)) {
                try body(p, $0, $1)
            }
        }
    }

    /// Calls `body` with the verified, decompressed payload of every block of the sealed intervals in `range`.
    @usableFromInline
    func forEachPayload(in range: ClosedRange<Interval>, partition: PartitionIndex?,
                        _ body: (Interval, PartitionIndex, UnsafeRawBufferPointer, Int) throws -> Void) throws {
        try checkReadable(range)
        if let partition, partition.rawValue >= descriptor.partitions {
            throw StorageError.partitionOutOfRange(StoreLocation(stream: name, interval: range.lowerBound, partition: partition),
                                                   partitions: descriptor.partitions)
        }
        var codec = BlockCodec()
        for (interval, _) in try store.sealRecords(of: descriptor, in: range) {
            try store.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { p, _, block in
                try Self.withPayload(block, codec: &codec, location: StoreLocation(stream: name, interval: interval, partition: p)) {
                    try body(interval, p, $0, $1)
                }
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
    /// Seals made in this process wake the subscription at once. Seals made by other processes
    /// wake it within milliseconds: the store watches its data file with inotify, and any
    /// commit by another process is a wake-up (`SealSignal`). Where inotify is not available
    /// (its per-user limits reached, a network file system), they are seen within `pollInterval`.
    /// Ends with an error if an interval cannot be read (for example when retention dropped it
    /// before it was yielded). Ends after the last interval index (`UInt64.max`), which no
    /// interval follows: at once when the stream is sealed through it and `start` is the default.
    public func sealedIntervals(from start: Interval? = nil, pollInterval: Duration = .milliseconds(50))
        -> AsyncThrowingStream<IntervalBatch<Record>, any Error>
    {
        let stream = self
        // The default start is fixed now, at the call, not whenever the task first runs; `nil`
        // when the stream is sealed through the last interval index (no interval follows it).
        let first: Result<Interval?, any Error> = start.map { .success($0) } ?? Result {
            guard let sealed = try stream.frontier().sealedThrough else { return Interval(0) }
            return sealed.rawValue < UInt64.max ? sealed.next : nil
        }
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    guard var next = try first.get() else {
                        continuation.finish()
                        return
                    }
                    while !Task.isCancelled {
                        let generation = stream.store.sealSignal.current
                        let frontier = try stream.frontier()
                        if let sealed = frontier.sealedThrough, next <= sealed {
                            if let first = frontier.firstInterval, next < first { next = first }
                            while next <= sealed && !Task.isCancelled {
                                continuation.yield(try stream.read(next))
                                // `next` would wrap to interval 0 and yield the stream again.
                                guard next.rawValue < UInt64.max else {
                                    continuation.finish()
                                    return
                                }
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

    /// Verifies a block and calls `body` with its raw payload and record count.
    static func withPayload(_ block: UnsafeRawBufferPointer, codec: inout BlockCodec, location: StoreLocation,
                            _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        do {
            try codec.withVerifiedPayload(block) { header, payload in try body(payload, header.recordCount) }
        } catch let corruption as Corruption {
            throw StorageError.corrupt(location, corruption)
        }
    }

    /// Makes room for `count` more records, growing geometrically (an exact reservation per
    /// block would reallocate on every block).
    @inlinable
    static func reserve(_ records: inout [Record], adding count: Int) {
        let needed = records.count + count
        if needed > records.capacity { records.reserveCapacity(max(needed, records.capacity * 2)) }
    }

    /// Decodes the framed records of a payload in order; damage is `.corrupt` at `location`, a
    /// record the type does not accept `.recordRejected` (the payload's checksum is verified, so
    /// its bytes are as written). `firstIndex` is the index of the payload's first record in its
    /// partition of the interval.
    @inlinable
    static func decodeRecords(_ payload: UnsafeRawBufferPointer, count: Int, firstIndex: Int = 0,
                              location: @autoclosure () -> StoreLocation,
                              _ body: (Record) throws -> Void) throws {
        var frames = RecordFrames(payload: payload, expectedCount: count)
        while true {
            let frame: UnsafeRawBufferPointer?
            do throws(Corruption) {
                frame = try frames.next()
            } catch {
                throw StorageError.corrupt(location(), error)
            }
            guard let frame else { return }
            var reader = BinaryReader(frame)
            let record: Record
            do throws(RecordDecodingError) {
                record = try Record(from: &reader)
                if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
            } catch {
                throw StorageError.recordRejected(location(), record: firstIndex + frames.index - 1,
                                                  recordType: Record.recordTypeName, error)
            }
            try body(record)
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

/// A buffer whose elements concurrent iterations write, each only its own index.
///
/// `@unchecked Sendable`: the buffer outlives the concurrent loop (it is borrowed for its whole
/// duration), and no two iterations touch the same element.
@usableFromInline
struct DisjointSlots<Element>: @unchecked Sendable {
    @usableFromInline let buffer: UnsafeMutableBufferPointer<Element>

    @inlinable
    init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }

    @inlinable
    subscript(index: Int) -> Element {
        get { buffer[index] }
        nonmutating set { buffer[index] = newValue }
    }
}
