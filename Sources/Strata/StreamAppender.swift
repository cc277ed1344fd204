import Glibc
import StrataStorage

/// What every appender of a stream does, whatever its time mode: builds compressed blocks,
/// commits them in groups, seals intervals, commits together with other appenders and with an
/// input's position.
///
/// Records go in through one of its three subclasses, one per way of putting records into
/// intervals, so that an append that does not fit the mode does not compile:
///
/// | appender | made by | appends with |
/// | --- | --- | --- |
/// | ``ArrivalAppender`` | `StoredStream.arrivalAppender()` | `append(_:)`: the interval of the clock's time now |
/// | ``EventTimeAppender`` | `StoredStream.eventTimeAppender(allowedLateness:)` | `append(_:eventTime:)`: the interval of the record's time |
/// | ``ExplicitAppender`` | `StoredStream.explicitAppender()` | `append(_:interval:)`: the interval given |
///
/// `StreamAppender` itself is the shared part, and the type to hold appenders of different
/// record types or modes by: `commit(together:)` and `flush(together:)` take `[StreamAppender]`.
///
/// Records are encoded straight into per-partition buffers; a full buffer (256 KiB by default)
/// becomes one LZ4 block, compressed and checksummed beside the appending thread while it goes on
/// encoding (the appender's compression queue, with up to `Limits.compressionParallelism` threads
/// per commit batch; the bytes do not depend on them). Blocks go to the store's committer in
/// batches (4 MiB by default), ready to write: the committer does no per-byte work, and commits
/// overlap with encoding. `flush()` returns once everything appended so far is durable under the
/// store's durability setting; `seal(through:)` and automatic seals are atomic: a reader sees all
/// of an interval or none of it.
///
/// ```swift
/// let appender = try views.eventTimeAppender(allowedLateness: .seconds(2))
/// for view in batch { try appender.append(view, eventTime: view.time) }
/// try appender.flush()
/// ```
///
/// **One writer per stream.** An appender holds its stream's writer lock (a `flock` on
/// `STORE/writers/stream-ID.lock`) from creation until it is released: creating a second
/// appender of the stream, in this process or another, fails at once with
/// `StorageError.streamBusy` naming the holder's pid. The kernel releases the lock of a process
/// that dies, so a killed writer never blocks the next one.
///
/// **Resumable appending.** An appender made with a `source` name (the `source:` parameter of
/// every factory, e.g. `StoredStream.eventTimeAppender(allowedLateness:source:)`) commits only
/// through `flush(position:)` / `commit(position:)`: each commit makes the records appended since the previous one durable
/// together with the input's position, in one transaction. After any interruption (a kill, a
/// full disk, an error), `resumePosition` says exactly where to continue reading the input: every
/// record before it is in the stream once, none after it.
///
/// ```swift
/// let appender = try views.eventTimeAppender(allowedLateness: .seconds(2), source: "views-topic")
/// var offset = appender.resumePosition.bytes                  // where the last run's commit ended
/// for message in queue.messages(from: offset) {
///     try appender.append(message.view, eventTime: message.view.time)
///     offset = message.nextOffset
///     if message.isLastOfBatch { try appender.flush(position: InputPosition(bytes: offset)) }
/// }
/// ```
///
/// An appender is **not** `Sendable`: use it from one thread or task at a time. Its methods may
/// block (back-pressure, `flush`, `seal`), so call them from a thread of your own rather than the
/// cooperative pool, or use the `async` variants of `flush` and `seal`. Code outside Strata cannot
/// subclass it.
public class StreamAppender {
    /// Tuning knobs.
    public struct Limits: Sendable {
        /// Raw bytes per partition buffer before it becomes a block.
        public var blockBytes: Int = 256 << 10
        /// Block bytes gathered before a batch is submitted for commit.
        public var commitBytes: Int = 4 << 20
        /// Bytes submitted and not yet committed (raw while they wait for compression, then as
        /// stored) before `append` waits (back-pressure): with the commit batches, what bounds an
        /// appender's memory.
        public var maxPendingBytes: Int = 16 << 20
        /// Whether blocks and seals wait in memory for the next `flush` instead of going to the
        /// committer as batches fill.
        ///
        /// A flush then commits everything appended since the previous flush in one transaction,
        /// and nothing of it earlier: with `flush(together:)`, records of several streams (a
        /// stream, its dead letters, the position reached in a source file) commit atomically.
        /// Memory grows with what is appended between flushes, so flush regularly. What is not
        /// flushed when the appender is released is dropped, never committed in part.
        public var holdsCommitsUntilFlush = false
        /// The most threads that compress one commit batch's blocks at once, beside the appending
        /// thread (the appender's compression queue's thread and Dispatch's workers). The stored
        /// bytes are the same for every value. Default: one less than the online processors (the
        /// appending thread keeps a core), at least 1 and at most 8; `1` compresses on the
        /// compression queue's thread alone.
        public var compressionParallelism = Limits.defaultCompressionParallelism
        /// Default limits.
        public init() {}

        /// One less than the number of online processors, at least 1 and at most 8. On 2 cores
        /// that is 1: a second compressing thread measured no gain there, since one keeps up with
        /// the appending thread, and raised the end-to-end pipeline's peak RSS (docs/benchmarks.md).
        public static let defaultCompressionParallelism =
            min(8, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1))
    }

    let store: LogStore
    /// The stream appended to.
    public let descriptor: StreamDescriptor
    let lateDescriptor: StreamDescriptor?
    let timing: TimeAssignment
    let limits: Limits
    let partitionCount: UInt32
    private let lengthNanos: UInt64
    private let latenessNanos: Int64

    // The appender is documented as used by one thread at a time, so the run-time exclusivity
    // checks on its per-record state (11 % of ingest time, measured) are turned off.
    @exclusivity(unchecked) private var keyScratch = BinaryWriter(capacity: 64)
    /// The partition of the next unkeyed record; a resumable appender commits it with each
    /// position and starts from the committed one.
    @exclusivity(unchecked) private var roundRobin: UInt32 = 0
    /// Open intervals' buffers, in interval order; usually one to three, so a linear search wins.
    @exclusivity(unchecked) private var open: [OpenInterval] = []
    /// Whether records arrive encoded (`appendEncoded`): open intervals then hold their partitions'
    /// blocks in raw memory (`EncodedPartitionBuffers`) rather than in `PayloadBuilder`s.
    private let takesEncodedRecords: Bool
    /// The open interval the last keyed event-time record went to, its first nanosecond and its
    /// partitions' fills, for `appendEncoded`'s common case; `nil` once the interval is sealed
    /// (its buffers are dropped with it), and before any such record.
    @exclusivity(unchecked) private var hotInterval: (interval: Interval, startNanoseconds: UInt64,
                                                      fills: UnsafeMutablePointer<RawFill>)?
    @exclusivity(unchecked) private var lastArrival: Interval?
    @exclusivity(unchecked) private var late: [PayloadBuilder] = []
    @exclusivity(unchecked) private var lateCountPending: UInt64 = 0
    @exclusivity(unchecked) private var sealedThrough: Interval?
    /// The newest sealed interval of the late side stream. Late records are filed under an
    /// interval of their own stream after it, and sealing them never seals the main stream: an
    /// ingest of late records only leaves the main stream's next interval open for on-time ones.
    @exclusivity(unchecked) private var lateSealedThrough: Interval?
    /// The interval of the late side stream holding blocks (cut here, or left by an earlier
    /// writer) that are not sealed yet.
    @exclusivity(unchecked) private var lateUnsealedInterval: Interval?
    @exclusivity(unchecked) private var maxEventTime: Int64 = .min
    /// The interval `eventTimeInterval(_:)` found last and its first nanosecond (interval 0 at first).
    @exclusivity(unchecked) private var lastEventInterval: (interval: Interval, startNanoseconds: UInt64) = (Interval(0), 0)
    @exclusivity(unchecked) private var batch = AppendBatch()
    @exclusivity(unchecked) private var batchBytes = 0
    private let chain = CommitChain()
    /// Compresses this appender's blocks beside it (`Limits.compressionParallelism` threads at
    /// most) and hands them to the committer in order; every commit of the appender goes through it.
    private let compressor: BlockCompressor
    /// This stream's writer lock, released when the appender's last commit is done.
    private let writerLock: StreamWriterLock
    /// The name of the input whose position commits carry (`""`: the unnamed input); `nil` for
    /// an appender that is not resumable.
    let source: String?
    /// What the store held for `source` when this appender was made.
    let resumeRecord: SourceRecord?
    /// The newest interval this appender cut a block for.
    @exclusivity(unchecked) private var newestBlockInterval: Interval?
    /// Whether records were appended since the last commit with a position.
    @exclusivity(unchecked) private var appendedSincePosition = false
    /// The newest interval of the stream with blocks committed by an earlier writer and not
    /// sealed when this appender was made.
    private let unsealedOnDisk: Interval?
    /// The failure of a `flush(together:)` commit led by another appender.
    @exclusivity(unchecked) private var inheritedFailure: StorageError?
    @exclusivity(unchecked) private var lastTicket = CommitTicket.completed

    // Counted per record, and read per line by `JSONLinesIngestor`: unchecked like the state above.
    /// Records this appender sent to the late side stream.
    @exclusivity(unchecked) public private(set) var lateRecords: UInt64 = 0
    /// Records this appender accepted.
    @exclusivity(unchecked) public private(set) var appendedRecords: UInt64 = 0

    /// Takes the stream's writer lock and reads where the stream stands; subclasses add the
    /// record type and the partition route.
    ///
    /// - Parameter takesEncodedRecords: Whether records arrive encoded, through `appendEncoded`
    ///   only (`StoredStream.makeEncodedAppender`); the subclasses' typed appends need `false`.
    init(store: LogStore, descriptor: StreamDescriptor, lateDescriptor: StreamDescriptor?, timing: TimeAssignment,
         limits: Limits, source: String? = nil, takesEncodedRecords: Bool = false) throws(StorageError) {
        self.store = store
        self.takesEncodedRecords = takesEncodedRecords
        self.descriptor = descriptor
        self.lateDescriptor = lateDescriptor
        self.timing = timing
        var limits = limits
        if source != nil { limits.holdsCommitsUntilFlush = true }
        self.limits = limits
        self.source = source
        compressor = BlockCompressor(parallelism: limits.compressionParallelism,
                                     maxSpareBuffers: Self.spareBuffers(limits, partitions: Int(descriptor.partitions)))
        writerLock = try store.writerLock(of: descriptor)
        // A drop (or rename) by another process between finding the stream and taking its lock
        // released the lock when it was done: writing by the old descriptor would resurrect a
        // dropped stream's blocks.
        guard try store.descriptor(named: descriptor.name)?.id == descriptor.id else {
            throw .unknownStream(descriptor.name)
        }
        partitionCount = descriptor.partitions
        lengthNanos = descriptor.intervalLength.rawValue
        if case .eventTime(let lateness) = timing {
            latenessNanos = lateness.clampedNanoseconds
        } else {
            latenessNanos = 0
        }
        sealedThrough = try store.frontier(of: descriptor).sealedThrough
        unsealedOnDisk = try store.newestUnsealedInterval(of: descriptor)
        if let lateDescriptor {
            lateSealedThrough = try store.frontier(of: lateDescriptor).sealedThrough
            lateUnsealedInterval = try store.newestUnsealedInterval(of: lateDescriptor)
        }
        if let source {
            resumeRecord = try store.sourceRecord(of: descriptor, source: source)
            if case .eventTime = timing, let time = resumeRecord?.maxEventTime { maxEventTime = time }
            // The rotation continues where the committed records left it, so a resumed input is
            // partitioned exactly as an uninterrupted one (the position of a record in its input,
            // not the number of runs, decides its partition).
            if let next = resumeRecord?.nextRoundRobinPartition {
                guard next < partitionCount else {
                    let what = source.isEmpty ? "unnamed input" : "source \(source)"
                    throw .corrupt(StoreLocation(stream: "\(descriptor.name) (\(what))"),
                                   .badRow("source row (round-robin partition \(next) of \(partitionCount))"))
                }
                roundRobin = next
            }
        } else {
            resumeRecord = nil
        }
        if case .arrival(let clock) = timing { try sealElapsedAtOpen(clock) }
    }

    /// Seals the arrival intervals an earlier writer committed blocks to and that have ended
    /// since: after a shutdown or a kill, they become readable now rather than with new data.
    ///
    /// An interval has ended when the clock is past it. The clock's time is an `Int64` of
    /// nanoseconds, so an interval of index `Int64.max / length` or above, `UInt64.max` among them
    /// (an explicit appender, or an older build's late side stream, may have left a block there),
    /// never ends: its blocks stay unsealed, and they do not hide the ended intervals below them,
    /// which are sealed as usual (through the interval before the clock's).
    private final func sealElapsedAtOpen(_ clock: ArrivalClock) throws(StorageError) {
        guard let newest = [unsealedOnDisk, lateUnsealedInterval].compactMap({ $0 }).max() else { return }
        let now = clock.now()
        guard now.rawValue >= 0 else { return }
        let current = UInt64(now.rawValue) / lengthNanos
        if newest.rawValue >= current {
            // The newest has not ended: look for an older unsealed interval that has.
            var oldest = try store.oldestUnsealedInterval(of: descriptor)
            if let lateDescriptor, let late = try store.oldestUnsealedInterval(of: lateDescriptor) {
                oldest = min(oldest ?? late, late)
            }
            guard let oldest, oldest.rawValue < current else { return }
        }
        let through = Interval(current - 1)
        batch.seals.append((descriptor, through))
        sealedThrough = through
        sealLateSideStream(through: through)
        let seals = batch
        batch = AppendBatch()
        try store.submit(seals, chain: chain, compressor: compressor).wait()
    }

    deinit {
        // Hand over what is buffered; nothing waits for it. Call `flush()` to know it is durable.
        // An appender that holds commits until a flush drops it: committing part of it would break
        // the atomicity the caller asked for.
        if !limits.holdsCommitsUntilFlush { submitOpenBuffers() }
        // Keep the writer lock (released with this object) until the commits handed over are
        // done: the writer that starts next must see them, and may start as soon as this returns.
        if lastTicket.result == nil { try? lastTicket.wait() }
    }

    /// The first commit failure of this appender's chain, or of a joint flush it took part in.
    private var firstFailure: StorageError? { chain.firstFailure ?? inheritedFailure }

    // MARK: Appending (for the subclasses)

    /// Buffers a record by arrival time: the interval of the clock's time now.
    @inline(__always)
    final func appendArrival<Record: RecordCodable>(
        _ record: Record, encodeKey: ((Record, inout BinaryWriter) -> Void)?,
        encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?, clock: ArrivalClock
    ) throws(StorageError) {
        try buffer(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, interval: try arrivalInterval(clock))
    }

    /// The arrival interval for now; seals earlier intervals when the clock has moved on.
    private final func arrivalInterval(_ clock: ArrivalClock) throws(StorageError) -> Interval {
        let now = clock.now()
        guard now.rawValue >= 0 else { throw .timeOutOfRange(stream: descriptor.name, time: now) }
        var interval = Interval(UInt64(now.rawValue) / lengthNanos)
        if let sealed = sealedThrough, interval <= sealed { interval = sealed.next }
        if interval != lastArrival {
            // The clock moved on: every earlier interval is complete.
            if let last = lastArrival, interval > last { try sealInternal(through: Interval(interval.rawValue - 1)) }
            lastArrival = interval
        }
        return interval
    }

    /// Buffers a record by its event time; seals intervals the watermark has passed, and sends a
    /// record whose interval is sealed to the late side stream.
    @inline(__always)
    final func appendEventTime<Record: RecordCodable>(
        _ record: Record, encodeKey: ((Record, inout BinaryWriter) -> Void)?,
        encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?, eventTime: Timestamp
    ) throws(StorageError) {
        guard eventTime.rawValue >= 0 else { throw .timeOutOfRange(stream: descriptor.name, time: eventTime) }
        let interval = Interval(UInt64(eventTime.rawValue) / lengthNanos)
        if let sealed = sealedThrough, interval <= sealed {
            try bufferLate(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey)
            return
        }
        try buffer(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, interval: interval)
        if eventTime.rawValue > maxEventTime {
            maxEventTime = eventTime.rawValue
            try advanceWatermark()
        }
    }

    /// Buffers a record into the interval given, which must not be sealed.
    @inline(__always)
    final func appendExplicit<Record: RecordCodable>(
        _ record: Record, encodeKey: ((Record, inout BinaryWriter) -> Void)?,
        encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?, interval: Interval
    ) throws(StorageError) {
        if let sealed = sealedThrough, interval <= sealed {
            throw .intervalSealed(StoreLocation(stream: descriptor.name, interval: interval))
        }
        try buffer(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, interval: interval)
    }

    /// Appends one record given as its encoded bytes, partitioned by `keyHash` (round-robin when
    /// `nil`), by event time when given (event-time assignment) or by arrival.
    ///
    /// This is the ingest path for records that arrive already encoded, such as JSON lines: no
    /// record value is built. The time mode is the appender's, chosen at run time (a JSON stream's
    /// catalog says whether it has a time field), so a mismatch is `.misuse`.
    ///
    /// - Returns: The interval the record went to; `nil` when it was late and went to the late
    ///   side stream.
    @discardableResult @inline(__always)
    package final func appendEncoded(_ bytes: UnsafeRawBufferPointer, keyHash: UInt64?,
                                     eventTime: Timestamp?) throws(StorageError) -> Interval? {
        // The common case of a keyed event-time ingest, inlined into the caller: a record under
        // 128 bytes whose time falls in the interval of the previous such record, which is open,
        // and that fits its partition's buffer. It does what `appendEncodedInFull` does for it.
        if let hot = hotInterval, let keyHash, let eventTime, eventTime.rawValue >= 0,
           UInt64(eventTime.rawValue) &- hot.startNanoseconds < lengthNanos, bytes.count < 0x80 {
            let p = partition(forHash: keyHash)
            let fill = hot.fills + p
            let length = bytes.count
            let count = fill.pointee.count
            if fill.pointee.capacity &- count > length {
                let at = fill.pointee.base + count
                at.storeBytes(of: UInt8(truncatingIfNeeded: length), as: UInt8.self)
                if let source = bytes.baseAddress { (at + 1).copyMemory(from: source, byteCount: length) }
                fill.pointee.count = count &+ 1 &+ length
                fill.pointee.records &+= 1
                appendedRecords &+= 1
                appendedSincePosition = true
                if fill.pointee.count >= limits.blockBytes {
                    try cutBlock(openIndex: indexOfOpen(hot.interval), partition: p)
                }
                if eventTime.rawValue > maxEventTime {
                    maxEventTime = eventTime.rawValue
                    try advanceWatermark()
                }
                return hot.interval
            }
        }
        return try appendEncodedInFull(bytes, keyHash: keyHash, eventTime: eventTime)
    }

    /// `appendEncoded` for every case; afterwards the interval of a keyed, on-time event-time
    /// record of an appender of encoded records is `hotInterval`.
    @inline(never)
    private final func appendEncodedInFull(_ bytes: UnsafeRawBufferPointer, keyHash: UInt64?,
                                           eventTime: Timestamp?) throws(StorageError) -> Interval? {
        guard bytes.count <= Self.maxEncodedRecordBytes else {
            throw .recordTooLarge(stream: descriptor.name, bytes: bytes.count)
        }
        let p = keyHash.map(partition(forHash:)) ?? nextRoundRobin()
        let interval: Interval
        switch timing {
        case .arrival(let clock):
            interval = try arrivalInterval(clock)
        case .eventTime:
            guard let eventTime else { throw .misuse("stream \(descriptor.name): event-time appender needs a time") }
            guard eventTime.rawValue >= 0 else { throw .timeOutOfRange(stream: descriptor.name, time: eventTime) }
            interval = eventTimeInterval(UInt64(eventTime.rawValue))
            if let sealed = sealedThrough, interval <= sealed {
                try checkLateSideStream()
                if late.isEmpty { late = [PayloadBuilder](repeating: PayloadBuilder(capacity: 0), count: Int(partitionCount)) }
                late[p].append(encoded: bytes)
                lateRecords &+= 1
                appendedSincePosition = true
                lateCountPending &+= 1
                if late[p].byteCount >= limits.blockBytes { try cutLateBlocks() }
                return nil
            }
        case .explicit:
            throw .misuse("stream \(descriptor.name): explicit-time appenders take append(_:interval:)")
        }
        let index = openIndex(interval)
        let full: Bool
        if let fills = open[index].fills {
            if case .eventTime = timing, keyHash != nil {
                hotInterval = (interval, interval.rawValue &* lengthNanos, fills)
            }
            // Framed straight into the partition's raw memory: a record under 128 bytes that fits
            // (nearly every JSON line) is its length byte and one copy; any other goes out of line.
            let fill = fills + p
            let length = bytes.count
            let count = fill.pointee.count
            if length < 0x80, fill.pointee.capacity &- count > length {
                let at = fill.pointee.base + count
                at.storeBytes(of: UInt8(truncatingIfNeeded: length), as: UInt8.self)
                if let source = bytes.baseAddress { (at + 1).copyMemory(from: source, byteCount: length) }
                fill.pointee.count = count &+ 1 &+ length
            } else {
                open[index].encoded?.appendFraming(bytes, partition: p)
            }
            fill.pointee.records &+= 1
            full = fill.pointee.count >= limits.blockBytes
        } else {
            open[index].partitions[p].append(encoded: bytes)
            full = open[index].partitions[p].byteCount >= limits.blockBytes
        }
        appendedRecords &+= 1
        appendedSincePosition = true
        if full { try cutBlock(openIndex: index, partition: p) }
        if let eventTime, eventTime.rawValue > maxEventTime {
            maxEventTime = eventTime.rawValue
            try advanceWatermark()
        }
        return interval
    }

    /// The interval of an event time, `nanoseconds / lengthNanos`: the interval of the previous
    /// call again while the times stay in it (most records of an input), without a 64-bit
    /// division per record.
    @inline(__always)
    private final func eventTimeInterval(_ nanoseconds: UInt64) -> Interval {
        // Wrapping: `nanoseconds - start < length` is `start <= nanoseconds < start + length`.
        if nanoseconds &- lastEventInterval.startNanoseconds < lengthNanos { return lastEventInterval.interval }
        let interval = Interval(nanoseconds / lengthNanos)
        lastEventInterval = (interval, interval.rawValue &* lengthNanos)
        return interval
    }

    /// The largest encoded record `appendEncoded` takes: a quarter of a block's raw length.
    private static let maxEncodedRecordBytes = BlockHeader.maxRawLength / 4

    /// The partition of a key hash: `hash mod partitionCount`, by a mask when the count is a power
    /// of two (the same value without a 64-bit division per record).
    @inline(__always)
    private final func partition(forHash hash: UInt64) -> Int {
        let count = UInt64(partitionCount)
        if count & (count &- 1) == 0 { return Int(truncatingIfNeeded: hash & (count &- 1)) }
        return Int(truncatingIfNeeded: hash % count)
    }

    /// The partition the next unkeyed (round-robin) record goes to. A caller that keeps its input
    /// positions itself (the directory source, in `NAME.pos`) commits it with them and hands it
    /// to `continueRoundRobin(at:)` when it resumes, as a resumable appender does in its source row.
    package final var nextRoundRobinPartition: UInt32 { roundRobin }

    /// Continues the round-robin rotation at `partition`: the next unkeyed record goes there. Call
    /// it before appending, with a value committed from `nextRoundRobinPartition`.
    ///
    /// - Throws: `.misuse` when `partition` is not one of the stream's partitions.
    package final func continueRoundRobin(at partition: UInt32) throws(StorageError) {
        guard partition < partitionCount else {
            throw .misuse("stream \(descriptor.name): round-robin partition \(partition) of \(partitionCount)")
        }
        roundRobin = partition
    }

    @inline(__always)
    /// The source row name under which the HTTP receiver keeps the rotation of its streams
    /// (`commit(together:keepingRotationAs:)`): a space is in no valid source name, so no
    /// `strata ingest --source` input can read or overwrite it.
    package static let receiverRotationRow = "http receiver"

    /// Continues the round-robin rotation where the last commit that kept it under `rotationRow`
    /// (`commit(together:keepingRotationAs:)`) left it; at partition 0 when none did. Call it
    /// before appending.
    ///
    /// - Throws: `.corrupt` naming the stream and the row when the row does not verify or names a
    ///   partition the stream does not have.
    package final func continueRotation(keptAs rotationRow: String) throws(StorageError) {
        guard let record = try store.sourceRecord(of: descriptor, source: rotationRow) else { return }
        let next = record.nextRoundRobinPartition
        guard next < partitionCount else {
            throw .corrupt(StoreLocation(stream: "\(descriptor.name) (source \(rotationRow))"),
                           .badRow("source row (round-robin partition \(next) of \(partitionCount))"))
        }
        roundRobin = next
    }

    private final func nextRoundRobin() -> Int {
        let p = roundRobin
        roundRobin = roundRobin &+ 1 == partitionCount ? 0 : roundRobin &+ 1
        return Int(p)
    }

    /// The partition a record goes to: a stable hash of its key's encoding, or round-robin when
    /// there is no key. A keyed record leaves the key's bytes in `keyScratch`, where framing takes
    /// them from.
    @inline(__always)
    private final func partition<Record: RecordCodable>(
        for record: Record, encodeKey: ((Record, inout BinaryWriter) -> Void)?
    ) -> Int {
        guard let encodeKey else { return nextRoundRobin() }
        keyScratch.removeAll()
        encodeKey(record, &keyScratch)
        let hash = keyScratch.bytes.withUnsafeBytes { XXH64.hash($0) }
        return Int(hash % UInt64(partitionCount))
    }

    /// The index in `open` of an interval's buffers, created when missing.
    @inline(__always)
    private final func openIndex(_ interval: Interval) -> Int {
        var i = open.count - 1
        while i >= 0 {
            if open[i].interval == interval { return i }
            if open[i].interval < interval { break }
            i -= 1
        }
        if takesEncodedRecords {
            var payloads: [RawPayload] = []
            payloads.reserveCapacity(Int(partitionCount))
            for _ in 0..<partitionCount { payloads.append(compressor.takeRawPayload(capacity: bufferCapacity)) }
            open.insert(OpenInterval(interval: interval, encoded: EncodedPartitionBuffers(payloads: payloads)), at: i + 1)
            return i + 1
        }
        var empty: [PayloadBuilder] = []
        empty.reserveCapacity(Int(partitionCount))
        for _ in 0..<partitionCount {
            empty.append(PayloadBuilder(reusing: compressor.takeBuffer(capacity: bufferCapacity)))
        }
        open.insert(OpenInterval(interval: interval, partitions: empty), at: i + 1)
        return i + 1
    }

    /// The index in `open` of an interval that must be open (the hot interval, whose buffers the
    /// append path has just written): never creates one, which would cut an empty block and lose
    /// the records framed in the interval's real buffers.
    private final func indexOfOpen(_ interval: Interval) -> Int {
        guard let index = open.lastIndex(where: { $0.interval == interval }) else {
            preconditionFailure("StreamAppender: the hot interval \(interval.rawValue) is not open")
        }
        return index
    }

    /// The capacity of a new partition buffer: a block's bytes and a quarter more, so that the
    /// record that fills a block (it is cut once it holds `blockBytes`) does not make the buffer
    /// grow — a new allocation and a copy of the block — unless it is longer than that quarter.
    private final var bufferCapacity: Int { limits.blockBytes + limits.blockBytes / 4 }

    /// How many payload buffers the compressor keeps for reuse: two commit batches' blocks and
    /// two intervals' partition buffers, at most 64 (each holds up to `bufferCapacity` bytes).
    private static func spareBuffers(_ limits: Limits, partitions: Int) -> Int {
        let perBatch = limits.commitBytes / max(1, limits.blockBytes) + 1
        return min(64, 2 * perBatch + 2 * partitions)
    }

    /// Drops the buffers of the open intervals up to `through` (cut already), keeping their
    /// storage for later blocks.
    private final func dropOpenIntervals(through: Interval) {
        if let hot = hotInterval, hot.interval <= through { hotInterval = nil }
        for index in open.indices where open[index].interval <= through {
            for p in open[index].partitions.indices {
                compressor.recycle(open[index].partitions[p].takeBytes(replacingWith: []))
            }
            for payload in open[index].encoded?.takeAll() ?? [] { compressor.recycle(payload) }
        }
        open.removeAll { $0.interval <= through }
    }

    private final func buffer<Record: RecordCodable>(
        _ record: Record, encodeKey: ((Record, inout BinaryWriter) -> Void)?,
        encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?, interval: Interval
    ) throws(StorageError) {
        let p = partition(for: record, encodeKey: encodeKey)
        let index = openIndex(interval)
        let full = try frame(record, encodeAfterKey: encodeAfterKey, into: &open[index].partitions[p],
                             limit: limits.blockBytes)
        appendedRecords &+= 1
        appendedSincePosition = true
        if full { try cutBlock(openIndex: index, partition: p) }
    }

    private final func bufferLate<Record: RecordCodable>(
        _ record: Record, encodeKey: ((Record, inout BinaryWriter) -> Void)?,
        encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?
    ) throws(StorageError) {
        try checkLateSideStream()
        if late.isEmpty { late = [PayloadBuilder](repeating: PayloadBuilder(capacity: 0), count: Int(partitionCount)) }
        let p = partition(for: record, encodeKey: encodeKey)
        _ = try frame(record, encodeAfterKey: encodeAfterKey, into: &late[p], limit: .max)
        lateRecords &+= 1
        appendedSincePosition = true
        lateCountPending &+= 1
        if late[p].byteCount >= limits.blockBytes { try cutLateBlocks() }
    }

    /// Frames one record into a partition buffer; returns whether the buffer reached `limit`.
    ///
    /// With `encodeAfterKey` (a record led by its key, `KeyedRecord.encodeAfterPartitionKey(to:)`)
    /// it copies the key's bytes that `partition(for:encodeKey:)` left in `keyScratch` rather than
    /// encoding the key again.
    @inline(__always)
    private final func frame<Record: RecordCodable>(
        _ record: Record, encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?,
        into builder: inout PayloadBuilder, limit: Int
    ) throws(StorageError) -> Bool {
        let before = builder.byteCount
        if let encodeAfterKey {
            keyScratch.bytes.withUnsafeBytes { builder.append(record, leadingKey: $0, remainder: encodeAfterKey) }
        } else {
            builder.append(record)
        }
        let size = builder.byteCount - before
        if size > BlockHeader.maxRawLength / 4 {
            builder.writer._bytes.removeSubrange(before...)
            builder.recordCount -= 1
            throw .recordTooLarge(stream: descriptor.name, bytes: size)
        }
        return builder.byteCount >= limit
    }

    // MARK: Blocks and batches

    private final func cutBlock(openIndex index: Int, partition p: Int) throws(StorageError) {
        let interval = open[index].interval
        if let encoded = open[index].encoded {
            guard encoded.fills[p].records > 0 else { return }
            if newestBlockInterval.map({ interval > $0 }) ?? true { newestBlockInterval = interval }
            // The payload goes to the compressor as it is, read there in place; the partition
            // goes on in a recycled one.
            let payload = encoded.take(p, replacingWith: compressor.takeRawPayload(capacity: bufferCapacity))
            add(PendingBlock(stream: descriptor, interval: interval, partition: PartitionIndex(UInt32(p)),
                             rawBuffer: payload))
        } else {
            guard open[index].partitions[p].recordCount > 0 else { return }
            if newestBlockInterval.map({ interval > $0 }) ?? true { newestBlockInterval = interval }
            add(Self.takeBlock(&open[index].partitions[p], stream: descriptor, interval: interval, partition: p,
                               compressor: compressor, capacity: bufferCapacity))
        }
        if batchBytes >= limits.commitBytes { try submitBatch() }
    }

    /// Hands over a partition buffer's payload as a raw block, for this appender's compressor
    /// (LZ4 and the checksum on its thread while this one goes on encoding, never on the
    /// committer's), and starts the buffer again in a recycled payload buffer.
    private static func takeBlock(_ builder: inout PayloadBuilder, stream: StreamDescriptor, interval: Interval,
                                  partition p: Int, compressor: BlockCompressor, capacity: Int) -> PendingBlock {
        let count = builder.recordCount
        let payload = builder.takeBytes(replacingWith: compressor.takeBuffer(capacity: capacity))
        return PendingBlock(stream: stream, interval: interval, partition: PartitionIndex(UInt32(p)),
                            rawPayload: payload, recordCount: count)
    }

    private final func cutLateBlocks() throws(StorageError) {
        guard let lateDescriptor else { return }
        // Late records are filed under the first interval open in both the stream and its late side
        // stream; they are sealed with the stream's next seal, or alone by `sealAll` (and
        // `sealAllWithoutWaiting`) when the stream has nothing to seal.
        guard let interval = lateFilingInterval else { return }  // no late record was taken then
        for p in late.indices where late[p].recordCount > 0 {
            add(Self.takeBlock(&late[p], stream: lateDescriptor, interval: interval, partition: p,
                               compressor: compressor, capacity: 0))
            lateUnsealedInterval = interval
        }
        if lateCountPending > 0 { batch.lateCounts.append((descriptor, lateCountPending)) }
        lateCountPending = 0
    }

    /// Checks that a late record can be taken: the stream has a late side stream, and an interval
    /// of it is left to file the record under.
    ///
    /// - Throws: `.misuse` naming the stream otherwise.
    private final func checkLateSideStream() throws(StorageError) {
        guard let lateDescriptor else {
            throw .misuse("stream \(descriptor.name) has no late side stream")
        }
        guard lateFilingInterval != nil else {
            // As for the stream itself, the last interval index is never sealed in the late side
            // stream: no interval would follow it for the late records after these.
            throw .misuse("stream \(descriptor.name) is sealed through \(sealedThrough.map { "\($0)" } ?? "-"): a late "
                + "record would go to \(lateDescriptor.name) interval \(UInt64.max), the last interval index, which "
                + "cannot be sealed: no interval would follow it for later late records")
        }
    }

    /// The interval of the late side stream that late records go to: the first after both the
    /// stream's and the late side stream's sealed intervals; `nil` when that would be the last
    /// interval index (`UInt64.max`), which is never sealed, or past it.
    private final var lateFilingInterval: Interval? {
        let afterStream = sealedThrough.map { $0.rawValue &+ 1 } ?? 0
        let afterLate = lateSealedThrough.map { $0.rawValue &+ 1 } ?? 0
        // A sealed interval `UInt64.max` (never sealed by this build) leaves nothing after it.
        guard sealedThrough?.rawValue != .max, lateSealedThrough?.rawValue != .max else { return nil }
        let interval = max(afterStream, afterLate)
        return interval < .max ? Interval(interval) : nil
    }

    /// Adds to the batch the seal of the late side stream through `through`, or through the
    /// interval holding its unsealed late records when that is later.
    ///
    /// The last interval index (`UInt64.max`) is never sealed, as in the stream itself: no
    /// interval would follow it for later late records. A block an older build left unsealed
    /// there stays unsealed (it is kept; `verify` counts it as an unsealed block), and the seal
    /// goes through `through` alone.
    private final func sealLateSideStream(through: Interval) {
        guard let lateDescriptor else { return }
        var target = through
        if let unsealed = lateUnsealedInterval, unsealed > target, unsealed.rawValue < .max { target = unsealed }
        lateUnsealedInterval = nil
        guard target.rawValue < .max else { return }
        if let sealed = lateSealedThrough, target <= sealed { return }
        batch.seals.append((lateDescriptor, target))
        lateSealedThrough = target
    }

    private final func add(_ block: PendingBlock) {
        batchBytes += block.byteCount
        batch.blocks.append(block)
    }

    private final func submitBatch() throws(StorageError) {
        if let failure = firstFailure { throw failure }
        guard !batch.isEmpty, !limits.holdsCommitsUntilFlush else { return }
        let pending = batch
        batch = AppendBatch()
        batchBytes = 0
        // Back-pressure: wait for earlier commits rather than buffering without bound.
        if store.committer.pendingBytes.load(ordering: .relaxed) > limits.maxPendingBytes {
            try lastTicket.wait()
        }
        lastTicket = store.submit(consume pending, chain: chain, compressor: compressor)
    }

    /// Turns every partially filled buffer into a block and submits everything; never throws, for `deinit`.
    private final func submitOpenBuffers() {
        for index in open.indices {
            for p in 0..<Int(partitionCount) { try? cutBlock(openIndex: index, partition: p) }
        }
        try? cutLateBlocks()
        if !batch.isEmpty, firstFailure == nil {
            lastTicket = store.submit(batch, chain: chain, compressor: compressor)
            batch = AppendBatch()
            batchBytes = 0
        }
    }

    // MARK: Sealing and durability

    private final func advanceWatermark() throws(StorageError) {
        let watermark = maxEventTime &- latenessNanos
        guard watermark >= 0 else { return }
        // Intervals that end at or before the watermark are complete.
        let end = UInt64(watermark) / lengthNanos  // first interval not yet complete
        guard end > 0 else { return }
        let through = Interval(end - 1)
        if let sealed = sealedThrough, through <= sealed { return }
        try sealInternal(through: through)
    }

    private final func sealInternal(through: Interval) throws(StorageError) {
        if let sealed = sealedThrough, through <= sealed { return }
        // Late records go after the sealed intervals: the last index has none after it.
        guard through.rawValue < UInt64.max else {
            throw .misuse("stream \(descriptor.name): interval \(through) is the last interval index and cannot be "
                + "sealed: no interval would follow it for later records")
        }
        for index in open.indices where open[index].interval <= through {
            for p in 0..<Int(partitionCount) { try cutBlock(openIndex: index, partition: p) }
        }
        dropOpenIntervals(through: through)
        try cutLateBlocks()
        batch.seals.append((descriptor, through))
        sealedThrough = through
        sealLateSideStream(through: through)
        try submitBatch()
    }

    /// Seals the stream through its newest interval holding records, and the late side stream's
    /// interval holding late records; when the stream itself has none, only the late side stream:
    /// late records never seal an empty interval of the stream, which stays open for on-time ones.
    private final func sealAllInternal() throws(StorageError) {
        if let last = newestUnsealedInterval {
            try sealInternal(through: last)
            return
        }
        guard lateCountPending > 0 || lateUnsealedInterval != nil else { return }
        try cutLateBlocks()
        if let interval = lateUnsealedInterval { sealLateSideStream(through: interval) }
        try submitBatch()
    }

    /// Seals every interval up to and including `through`: afterwards they are complete and
    /// immutable, and readers see them. Returns once the seal is durable.
    ///
    /// Intervals with no records are sealed as empty. Sealing an interval that is already
    /// sealed does nothing. Late records not sealed yet are sealed with it, in the late side stream.
    ///
    /// - Throws: `.misuse` for the last interval index (`UInt64.max`), after which no interval
    ///   could take later records; a commit error.
    public final func seal(through: Interval) throws(StorageError) {
        try sealInternal(through: through)
        try flush()
    }

    /// Seals every interval up to and including `through`, suspending until it is durable.
    public final func seal(through: Interval) async throws {
        try sealInternal(through: through)
        try await flush()
    }

    /// Seals every interval up to and including `through` without waiting: the seal is committed
    /// with the appender's next batch, which with `Limits.holdsCommitsUntilFlush` is the next flush.
    ///
    /// Sealing an interval that is already sealed does nothing.
    ///
    /// - Throws: a commit error from earlier work.
    public final func sealWithoutWaiting(through: Interval) throws(StorageError) {
        try sealInternal(through: through)
    }

    /// Seals every interval that ended before the clock's current interval, and flushes.
    final func sealElapsed(_ clock: ArrivalClock) throws(StorageError) {
        let now = clock.now()
        guard now.rawValue >= 0 else { return }
        let current = UInt64(now.rawValue) / lengthNanos
        guard current > 0 else { return }
        try sealInternal(through: Interval(current - 1))
        try flush()
    }

    /// The newest interval this appender knows to be sealed.
    public final var newestSealedInterval: Interval? { sealedThrough }

    /// The intervals holding buffered records, not yet sealed.
    public final var openIntervals: [Interval] { open.map(\.interval) }

    /// Writes everything appended so far and returns once it is durable (sealed or not).
    ///
    /// Blocks the calling thread; in `async` code the `async` overload is chosen.
    public final func flush() throws(StorageError) {
        try checkPositionless()
        submitOpenBuffers()
        if let failure = firstFailure { throw failure }
        try lastTicket.wait()
    }

    /// Writes everything appended so far, suspending until it is durable.
    public final func flush() async throws {
        try checkPositionless()
        submitOpenBuffers()
        if let failure = firstFailure { throw failure }
        try await lastTicket.value()
    }

    /// Writes everything this appender and `others` hold in **one** transaction, and returns once
    /// it is durable.
    ///
    /// With `Limits.holdsCommitsUntilFlush` set on every appender involved, the transaction holds
    /// everything appended to each since its previous flush, and none of it was committed before:
    /// a reader, or a process restarting after a crash, sees all of it or none of it. Without it,
    /// what an appender handed to the committer as its batches filled is committed earlier.
    ///
    /// The appenders may hold different record types and time modes: records of a stream, its
    /// dead letters as JSON, and a typed record of how far the input was read.
    ///
    /// ```swift
    /// let records = try views.eventTimeAppender(allowedLateness: .seconds(2), limits: holding)  // PageView
    /// let positions = try offsets.explicitAppender(limits: holding)                            // UInt64
    /// try records.append(view, eventTime: view.time)
    /// try positions.append(offset, interval: next)
    /// try positions.sealWithoutWaiting(through: next)
    /// try records.flush(together: [positions])   // both, or neither
    /// ```
    ///
    /// Blocks the calling thread: call it from a thread of your own, never the cooperative pool.
    ///
    /// - Parameter others: Appenders of other streams of the same store, of any record type.
    /// - Throws: `.misuse` when an appender writes to another store; the first commit error of any
    ///   of them, which afterwards every one of them reports.
    public final func flush(together others: [StreamAppender]) throws(StorageError) {
        try flush(together: others, keepingRotationAs: nil)
    }

    /// Flushes as `flush(together:)` does, keeping the rotation as
    /// `commit(together:keepingRotationAs:)` does.
    package final func flush(together others: [StreamAppender], keepingRotationAs rotationRow: String?)
        throws(StorageError)
    {
        let acknowledgement = try commit(together: others, keepingRotationAs: rotationRow)
        do {
            try acknowledgement.wait()
        } catch {
            for other in others where other !== self && other.inheritedFailure == nil { other.inheritedFailure = error }
            throw error
        }
    }

    /// Hands everything this appender and `others` hold to the committer as **one** transaction,
    /// and returns without waiting for it: wait on the acknowledgement for durability, meanwhile
    /// go on appending. Commits of one appender land in order, or not at all after one fails.
    ///
    /// The transaction is the one `flush(together:)` commits. Before it is handed over, the
    /// earlier commits of `others` must be done: this waits for them, so a caller that commits
    /// the same appenders together each time has at most one such commit in flight.
    ///
    /// ```swift
    /// let acknowledgement = try records.commit(together: [deadLetters])
    /// // … append the next records …
    /// try acknowledgement.wait()   // the first commit is durable
    /// ```
    ///
    /// May block the calling thread (for the earlier commits of `others`).
    ///
    /// - Throws: `.misuse` when an appender writes to another store; the first commit error of an
    ///   earlier commit of any of them.
    public final func commit(together others: [StreamAppender] = []) throws(StorageError) -> CommitAcknowledgement {
        try commit(together: others, keepingRotationAs: nil)
    }

    /// Commits as `commit(together:)` does and, in the same transaction, the partition this
    /// appender's next unkeyed record goes to, in the stream's source row named `rotationRow`
    /// (its position stays the start: only the rotation is kept). An appender of the same
    /// stream that calls `continueRotation(keptAs:)` with the name before appending places its
    /// records as this one would have: an input without positions of its own (the HTTP
    /// receiver's) is partitioned across restarts as by one uninterrupted writer.
    ///
    /// Name the row so that no input's source can take it (`StreamAppender.receiverRotationRow`).
    package final func commit(together others: [StreamAppender], keepingRotationAs rotationRow: String?)
        throws(StorageError) -> CommitAcknowledgement
    {
        let partners = others.filter { $0 !== self }
        for other in partners {
            guard other.store === store else {
                throw .misuse("stream \(other.descriptor.name) is in another store than \(descriptor.name)")
            }
            // Their earlier commits land first, or the joint one must not land at all.
            do {
                try other.lastTicket.wait()
            } catch {
                if other.inheritedFailure == nil { other.inheritedFailure = error }
                throw error
            }
        }
        var merged = try takeBatch()
        for other in partners {
            let taken = try other.takeBatch()
            merged.blocks += taken.blocks
            merged.seals += taken.seals
            merged.lateCounts += taken.lateCounts
            merged.sources += taken.sources
        }
        if let rotationRow {
            merged.sources.append((descriptor.id, rotationRow,
                                   SourceRecord(position: InputPosition(), maxEventTime: nil, finished: false,
                                                processID: getpid(), nextRoundRobinPartition: roundRobin)))
        }
        if !merged.isEmpty {
            let ticket = store.submit(merged, chain: chain, compressor: compressor)
            lastTicket = ticket
            for other in partners { other.lastTicket = ticket }
        }
        return CommitAcknowledgement(ticket: lastTicket)
    }

    /// Turns every open buffer into blocks and hands over the batch, leaving this appender's empty.
    private final func takeBatch() throws(StorageError) -> AppendBatch {
        for index in open.indices {
            for p in 0..<Int(partitionCount) { try cutBlock(openIndex: index, partition: p) }
        }
        try cutLateBlocks()
        if let failure = firstFailure { throw failure }
        let taken = batch
        batch = AppendBatch()
        batchBytes = 0
        return taken
    }

    /// Seals every interval holding buffered records (and those an earlier writer left unsealed),
    /// and the late records not sealed yet, then flushes: use it at the end of a finite input so
    /// that all of it becomes readable.
    ///
    /// Only intervals that hold records are sealed: when every record since the last seal was
    /// late, only the late side stream is sealed, and the stream's next interval stays open for
    /// on-time records.
    ///
    /// - Throws: `.misuse` for a resumable appender with records appended since its last
    ///   positioned commit (use `sealAllWithoutWaiting()` and `flush(position:)`).
    public final func sealAll() throws(StorageError) {
        try checkPositionless()
        try sealAllInternal()
        try flush()
    }

    /// Seals what `sealAll()` seals without waiting: the seals are committed with the appender's
    /// next batch, which with `Limits.holdsCommitsUntilFlush` (and for a resumable appender) is the
    /// next flush.
    ///
    /// - Throws: a commit error from earlier work.
    public final func sealAllWithoutWaiting() throws(StorageError) {
        try sealAllInternal()
    }

    /// The newest interval of the stream holding records that are not sealed: buffered here,
    /// committed by this appender, or committed by an earlier writer that stopped before sealing
    /// them. `nil` when there is none. Sealing through it (`sealWithoutWaiting(through:)`) makes
    /// all of them readable.
    ///
    /// Late records are not counted here: they are in the late side stream, and sealing an
    /// interval of the stream for them would make later on-time records of it late.
    /// `holdsUnsealedRecords` counts them too.
    public final var newestUnsealedInterval: Interval? {
        guard let newest = [open.last?.interval, unsealedOnDisk, newestBlockInterval].compactMap({ $0 }).max()
        else { return nil }
        if let sealed = sealedThrough, newest <= sealed { return nil }
        return newest
    }

    /// Whether the stream or its late side stream holds records that are not sealed (buffered,
    /// committed by this appender, or left by an earlier writer): what `sealAll()` would seal.
    public final var holdsUnsealedRecords: Bool {
        newestUnsealedInterval != nil || lateCountPending > 0 || lateUnsealedInterval != nil
    }

    // MARK: Resumable appending

    /// Where the input of this appender's `source` stands in the store: every record read before
    /// it was committed by an earlier run, none after it. The start of the input (all zero) when
    /// nothing was committed, or when the appender is not resumable.
    public final var resumePosition: InputPosition { resumeRecord?.position ?? InputPosition() }

    /// Whether the earlier run of this appender's source read its input to the end
    /// (`flush(position:finished: true)`).
    public final var resumedInputFinished: Bool { resumeRecord?.finished ?? false }

    /// The process that committed the resume position, if any.
    public final var resumeProcessID: Int32? { resumeRecord?.processID }

    /// Commits everything appended since the previous commit — blocks, seals, late records —
    /// together with `position`, the input's position after the last record appended, in one
    /// transaction, and returns once it is durable.
    ///
    /// After an interruption, the next appender of the same source reads `position` back as
    /// `resumePosition`: the records before it are in the stream exactly once.
    ///
    /// ```swift
    /// try appender.append(view, eventTime: view.time)
    /// try appender.flush(position: InputPosition(lines: 1200, bytes: 98_811))
    /// ```
    ///
    /// Blocks the calling thread.
    ///
    /// - Parameters:
    ///   - position: The input's position after the last record appended.
    ///   - finished: Whether the input ended there.
    /// - Throws: `.misuse` when the appender is not resumable or the token is too long; a commit
    ///   error (`.storeFull`, …), after which nothing of this commit is in the store and
    ///   `resumePosition` of a new appender is the previous commit's position.
    public final func flush(position: InputPosition, finished: Bool = false) throws(StorageError) {
        try commit(position: position, finished: finished).wait()
    }

    /// Hands everything appended since the previous commit to the committer together with
    /// `position`, as `flush(position:finished:)` does, without waiting: wait on the
    /// acknowledgement for durability; meanwhile go on appending. Commits land in order, and none
    /// after one that failed.
    ///
    /// - Throws: `.misuse` when the appender is not resumable or the token is too long; the
    ///   error of an earlier commit.
    public final func commit(position: InputPosition, finished: Bool = false) throws(StorageError) -> CommitAcknowledgement {
        guard let source else {
            throw .misuse("stream \(descriptor.name): commit(position:) needs an appender made with a source name")
        }
        guard position.token.count <= InputPosition.maxTokenBytes else {
            throw .misuse("stream \(descriptor.name): a position token holds at most \(InputPosition.maxTokenBytes) bytes")
        }
        var batch = try takeBatch()
        let record = SourceRecord(position: position, maxEventTime: maxEventTime == .min ? nil : maxEventTime,
                                  finished: finished, processID: getpid(), nextRoundRobinPartition: roundRobin)
        batch.sources.append((descriptor.id, source, record))
        lastTicket = store.submit(consume batch, chain: chain, compressor: compressor)
        appendedSincePosition = false
        return CommitAcknowledgement(ticket: lastTicket)
    }

    /// Throws when a resumable appender would commit records without their position.
    private final func checkPositionless() throws(StorageError) {
        guard source != nil, appendedSincePosition else { return }
        throw .misuse("stream \(descriptor.name): a resumable appender commits records only with their position; "
            + "use flush(position:)")
    }
}


/// One open interval of a `StreamAppender` and its partitions' next blocks.
private struct OpenInterval {
    /// The interval.
    var interval: Interval
    /// A typed appender's partition buffers; empty for an appender of encoded records.
    var partitions: [PayloadBuilder] = []
    /// An appender of encoded records' partition buffers; `nil` for a typed appender.
    var encoded: EncodedPartitionBuffers?
    /// `encoded`'s fills, held here as a plain pointer so that the append path reaches them
    /// without retaining `encoded`.
    var fills: UnsafeMutablePointer<RawFill>?

    /// An interval of a typed appender.
    init(interval: Interval, partitions: [PayloadBuilder]) {
        self.interval = interval
        self.partitions = partitions
    }

    /// An interval of an appender of encoded records.
    init(interval: Interval, encoded: EncodedPartitionBuffers) {
        self.interval = interval
        self.encoded = encoded
        fills = encoded.fills
    }
}

/// How far an input has been appended to a stream (see `StrataStorage.InputPosition`).
public typealias InputPosition = StrataStorage.InputPosition
