import StrataStorage

/// How an appender chooses each record's partition, and whether the key's bytes are reused when
/// the record is framed.
///
/// Made once per appender by the factories of `StoredStream`; each appender keeps its two
/// closures as stored properties of its own and hands them to the shared per-record code as
/// plain arguments. The per-record code of `StreamAppender` is generic and, called from the
/// user's module, runs unspecialized: a generic struct or enum argument there makes every record
/// look up its type metadata in the runtime's cache (a quarter of the appending thread's time,
/// measured: docs/benchmarks.md, issue 16), while a closure needs none. Not `Sendable`: it lives
/// in its appender.
struct PartitionRoute<Record: RecordCodable> {
    /// Writes the key whose encoding is hashed (XXH64) to choose the partition; `nil`: round-robin.
    let encodeKey: ((Record, inout BinaryWriter) -> Void)?
    /// For a record whose encoding starts with its key (`KeyedRecord.encodeAfterPartitionKey(to:)`):
    /// writes the rest after the key's bytes, which are framed as they were hashed, so the key is
    /// encoded once; returns `false` when the encoding does not start with the key. `nil`: the
    /// record is encoded whole.
    let encodeAfterKey: ((Record, inout BinaryWriter) -> Bool)?

    /// Round-robin.
    static var roundRobin: Self { Self(encodeKey: nil, encodeAfterKey: nil) }

    /// By `partitionKey(record)`'s encoded bytes, round-robin when `nil`; the record's own
    /// encoding is written whole.
    static func key<Key: RecordCodable>(_ partitionKey: ((Record) -> Key)?) -> Self {
        guard let partitionKey else { return .roundRobin }
        return Self(encodeKey: { record, writer in partitionKey(record).encode(to: &writer) }, encodeAfterKey: nil)
    }
}

extension PartitionRoute where Record: KeyedRecord {
    /// By the record's `partitionKey`, encoded once.
    static var recordKey: Self {
        Self(encodeKey: { record, writer in record.partitionKey.encode(to: &writer) },
             encodeAfterKey: { record, writer in record.encodeAfterPartitionKey(to: &writer) })
    }
}
