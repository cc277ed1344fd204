import StrataStorage

/// How an appender chooses each record's partition, and whether the key's bytes are reused when
/// the record is framed.
///
/// Made once per appender by the factories of `StoredStream`; per record it costs one indirect
/// call for the key, none for round-robin. Not `Sendable`: it lives in its appender.
struct PartitionRoute<Record: RecordCodable> {
    enum Kind {
        /// Partitions in turn.
        case roundRobin
        /// By the stable hash of a key's encoding; the record's own encoding is written whole.
        case key((Record, inout BinaryWriter) -> Void)
        /// By the stable hash of the key's encoding, which the record's encoding starts with: the
        /// key's bytes are framed as they were hashed, then `remainder` writes the rest
        /// (`KeyedRecord.encodeAfterPartitionKey(to:)`), so the key is encoded once.
        case leadingKey((Record, inout BinaryWriter) -> Void, remainder: (Record, inout BinaryWriter) -> Bool)
    }

    let kind: Kind

    /// Round-robin.
    static var roundRobin: Self { Self(kind: .roundRobin) }

    /// By `partitionKey(record)`'s encoded bytes, round-robin when `nil`.
    static func key<Key: RecordCodable>(_ partitionKey: ((Record) -> Key)?) -> Self {
        guard let partitionKey else { return .roundRobin }
        return Self(kind: .key { record, writer in partitionKey(record).encode(to: &writer) })
    }
}

extension PartitionRoute where Record: KeyedRecord {
    /// By the record's `partitionKey`, encoded once.
    static var recordKey: Self {
        Self(kind: .leadingKey({ record, writer in record.partitionKey.encode(to: &writer) },
                               remainder: { record, writer in record.encodeAfterPartitionKey(to: &writer) }))
    }
}
