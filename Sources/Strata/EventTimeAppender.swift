import StrataStorage

/// Appends records to a stream by event time, given with each record.
///
/// The watermark is the largest event time appended minus `allowedLateness`; intervals that end
/// at or before it are sealed. A record whose interval is already sealed is late: it is kept in
/// the stream's late side stream (`NAME.late`) and counted in `lateRecords`, never dropped. Made by
/// `StoredStream.eventTimeAppender(allowedLateness:source:limits:)`; everything but appending
/// (flushes, seals, joint and positioned commits) is `StreamAppender`'s.
///
/// ```swift
/// let appender = try views.eventTimeAppender(allowedLateness: .seconds(2))
/// for view in batch { try appender.append(view, eventTime: view.time) }
/// try appender.sealAll()   // the end of a finite input: everything becomes readable
/// ```
///
/// Not `Sendable`: use it from one thread or task at a time (see `StreamAppender`).
public final class EventTimeAppender<Record: RecordCodable>: StreamAppender {
    // The route's closures, kept apart: the shared per-record code takes them as arguments
    // (see `PartitionRoute`).
    private let encodeKey: ((Record, inout BinaryWriter) -> Void)?
    private let encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?
    /// How far behind the largest event time appended an interval stays open.
    public let allowedLateness: Duration

    init(stream: StoredStream<Record>, allowedLateness: Duration, route: PartitionRoute<Record>, limits: Limits,
         source: String?) throws(StorageError) {
        encodeKey = route.encodeKey
        encodeAfterKey = route.encodeAfterKey
        self.allowedLateness = allowedLateness
        let late = try stream.lateDescriptorForAppending()
        try super.init(store: stream.store, descriptor: stream.descriptor, lateDescriptor: late,
                       timing: .eventTime(allowedLateness: allowedLateness), limits: limits, source: source)
    }

    /// Appends a record to the interval of `eventTime`, or to the late side stream when that
    /// interval is sealed; seals the intervals the watermark has passed.
    ///
    /// - Throws: `.timeOutOfRange` for a time before the Unix epoch; `.misuse` for a late record
    ///   of a stream without a late side stream; `.recordTooLarge`; the error of an earlier commit.
    public func append(_ record: Record, eventTime: Timestamp) throws(StorageError) {
        try appendEventTime(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, eventTime: eventTime)
    }

    /// Appends a sequence of records, each with its event time, in order.
    public func append<S: Sequence>(contentsOf records: S) throws(StorageError)
    where S.Element == (Record, Timestamp) {
        for (record, eventTime) in records {
            try appendEventTime(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, eventTime: eventTime)
        }
    }
}
