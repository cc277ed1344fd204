/// A value that a stream stores: it encodes itself into bytes and decodes itself back.
///
/// Conform your record types in a few lines, field by field:
/// ```swift
/// struct PageView: RecordCodable {
///     var time: Int64, url: String, user: UInt64, kind: UInt8
///     func encode(to writer: inout BinaryWriter) {
///         writer.write(time); writer.write(url); writer.write(user); writer.write(kind)
///     }
///     init(from reader: inout BinaryReader) throws(RecordDecodingError) {
///         time = try reader.read(); url = try reader.read(); user = try reader.read(); kind = try reader.read()
///     }
/// }
/// ```
/// The encoding must be deterministic (the same value always gives the same bytes) and
/// self-delimiting when the type is nested in another record. A stream remembers
/// `recordTypeName`; opening it with another type is an error.
public protocol RecordCodable: Sendable {
    /// The name the catalog keeps for this record type. Defaults to `String(reflecting: Self.self)`;
    /// override it to keep a stream readable after renaming or moving the type.
    static var recordTypeName: String { get }
    /// Appends this value's bytes to `writer`.
    func encode(to writer: inout BinaryWriter)
    /// Decodes a value from `reader`, throwing on bytes this type cannot hold.
    init(from reader: inout BinaryReader) throws(RecordDecodingError)
}

extension RecordCodable {
    /// The default catalog name: the fully qualified type name.
    public static var recordTypeName: String { String(reflecting: Self.self) }
}

/// A record that carries its own partition key: records with equal keys land in the same partition.
public protocol KeyedRecord: RecordCodable {
    /// The key type; its encoded bytes are hashed to choose the partition.
    associatedtype PartitionKey: RecordCodable
    /// The key this record is partitioned by.
    var partitionKey: PartitionKey { get }
    /// Appends what `encode(to:)` writes after the partition key's bytes and returns `true`, when
    /// `encode(to:)` is `partitionKey.encode(to:)` followed by those bytes; returns `false` and
    /// writes nothing otherwise (the default).
    ///
    /// With `true`, an appender encodes the key once: it hashes the key's bytes to choose the
    /// partition, then frames them followed by this method's bytes, instead of encoding the key
    /// again inside `encode(to:)`. The bytes stored are the same either way. `KeyValue` returns
    /// `true`; a record type whose encoding starts with its key may do the same:
    ///
    /// ```swift
    /// struct Visit: KeyedRecord {
    ///     var user: UInt64, url: String
    ///     var partitionKey: UInt64 { user }
    ///     func encode(to writer: inout BinaryWriter) { writer.write(user); writer.write(url) }
    ///     func encodeAfterPartitionKey(to writer: inout BinaryWriter) -> Bool { writer.write(url); return true }
    ///     // init(from:) as usual
    /// }
    /// ```
    func encodeAfterPartitionKey(to writer: inout BinaryWriter) -> Bool
}

extension KeyedRecord {
    /// The encoding does not start with the key: appenders encode the key to route the record
    /// and then the whole record.
    @inlinable public func encodeAfterPartitionKey(to writer: inout BinaryWriter) -> Bool { false }
}
