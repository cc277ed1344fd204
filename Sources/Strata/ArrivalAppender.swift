import StrataStorage

/// Appends records to a stream by arrival time: each goes into the interval that contains the
/// clock's time when it is appended.
///
/// An interval is sealed as soon as a record arrives in a later one, or by `sealElapsed()`; a
/// record that arrives after its interval was sealed (a clock that went back) goes into the first
/// open interval. Made by `StoredStream.arrivalAppender(clock:source:limits:)`; everything but
/// appending (flushes, seals, joint and positioned commits) is `StreamAppender`'s.
///
/// ```swift
/// let clicks = try store.stream("clicks", of: Click.self, interval: .seconds(1), partitions: 4)
/// let appender = try clicks.arrivalAppender()
/// try appender.append(click)
/// try appender.sealElapsed()   // when records may stop arriving: intervals that ended become readable
/// ```
///
/// Not `Sendable`: use it from one thread or task at a time (see `StreamAppender`).
public final class ArrivalAppender<Record: RecordCodable>: StreamAppender {
    // The route's closures, kept apart: the shared per-record code takes them as arguments
    // (see `PartitionRoute`).
    private let encodeKey: ((Record, inout BinaryWriter) -> Void)?
    private let encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?
    /// Where arrival time comes from.
    public let clock: ArrivalClock

    init(stream: StoredStream<Record>, clock: ArrivalClock, route: PartitionRoute<Record>, limits: Limits,
         source: String?) throws(StorageError) {
        encodeKey = route.encodeKey
        encodeAfterKey = route.encodeAfterKey
        self.clock = clock
        let late = try stream.lateDescriptorForAppending()
        try super.init(store: stream.store, descriptor: stream.descriptor, lateDescriptor: late,
                       timing: .arrival(clock), limits: limits, source: source)
    }

    /// Appends a record to the interval of the clock's time now; seals earlier intervals when the
    /// clock has moved on.
    ///
    /// - Throws: `.timeOutOfRange` for a clock before the Unix epoch; `.recordTooLarge`; the error
    ///   of an earlier commit.
    public func append(_ record: Record) throws(StorageError) {
        try appendArrival(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, clock: clock)
    }

    /// Appends a sequence of records, each by its arrival time.
    public func append<S: Sequence>(contentsOf records: S) throws(StorageError) where S.Element == Record {
        for record in records {
            try appendArrival(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, clock: clock)
        }
    }

    /// Seals every interval that ended before the clock's current one, and returns once the seal
    /// is durable. Call it periodically when records may stop arriving.
    ///
    /// - Throws: `.misuse` for a resumable appender with records appended since its last
    ///   positioned commit; a commit error.
    public func sealElapsed() throws(StorageError) {
        try sealElapsed(clock)
    }
}
