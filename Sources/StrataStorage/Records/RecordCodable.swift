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
}
