import StrataStorage

/// Appends records to a stream into intervals the caller names, and seals them when the caller
/// says (`seal(through:)`, `sealWithoutWaiting(through:)`).
///
/// For inputs that carry their own notion of an interval: a replay, a batch import, a side
/// stream whose intervals count commits. Made by `StoredStream.explicitAppender(source:limits:)`;
/// everything but appending (flushes, seals, joint and positioned commits) is `StreamAppender`'s.
///
/// ```swift
/// let appender = try counts.explicitAppender()
/// try appender.append(KeyValue("/home", 3), interval: Interval(7))
/// try appender.seal(through: Interval(7))
/// ```
///
/// Not `Sendable`: use it from one thread or task at a time (see `StreamAppender`).
public final class ExplicitAppender<Record: RecordCodable>: StreamAppender {
    // The route's closures, kept apart: the shared per-record code takes them as arguments
    // (see `PartitionRoute`).
    private let encodeKey: ((Record, inout BinaryWriter) -> Void)?
    private let encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?

    init(stream: StoredStream<Record>, route: PartitionRoute<Record>, limits: Limits, source: String?)
        throws(StorageError)
    {
        encodeKey = route.encodeKey
        encodeAfterKey = route.encodeAfterKey
        let late = try stream.lateDescriptorForAppending()
        try super.init(store: stream.store, descriptor: stream.descriptor, lateDescriptor: late,
                       timing: .explicit, limits: limits, source: source)
    }

    /// Appends a record to `interval`.
    ///
    /// - Throws: `.intervalSealed` when the interval is sealed; `.recordTooLarge`; the error of an
    ///   earlier commit.
    public func append(_ record: Record, interval: Interval) throws(StorageError) {
        try appendExplicit(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, interval: interval)
    }

    /// Appends a sequence of records to `interval`.
    public func append<S: Sequence>(contentsOf records: S, interval: Interval) throws(StorageError)
    where S.Element == Record {
        for record in records {
            try appendExplicit(record, encodeKey: encodeKey, encodeAfterKey: encodeAfterKey, interval: interval)
        }
    }
}
