// Conformances of standard types. Fixed-width integers are little-endian at their full width;
// `Int`/`UInt` are always 8 bytes, whatever the platform, so files move between machines.

extension Int8: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.read(littleEndian: Int8.self) }
}
extension Int16: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.read(littleEndian: Int16.self) }
}
extension Int32: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.read(littleEndian: Int32.self) }
}
extension Int64: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.read(littleEndian: Int64.self) }
}
extension Int: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: Int64(self)) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let start = reader.offset
        guard let value = Int(exactly: try reader.read(littleEndian: Int64.self)) else {
            throw .invalidValue(offset: start, what: "Int")
        }
        self = value
    }
}
extension UInt8: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(byte: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.readByte() }
}
extension UInt16: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.read(littleEndian: UInt16.self) }
}
extension UInt32: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.read(littleEndian: UInt32.self) }
}
extension UInt64: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.read(littleEndian: UInt64.self) }
}
extension UInt: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: UInt64(self)) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let start = reader.offset
        guard let value = UInt(exactly: try reader.read(littleEndian: UInt64.self)) else {
            throw .invalidValue(offset: start, what: "UInt")
        }
        self = value
    }
}
extension Double: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: bitPattern) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        self = Double(bitPattern: try reader.read(littleEndian: UInt64.self))
    }
}
extension Float: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(littleEndian: bitPattern) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        self = Float(bitPattern: try reader.read(littleEndian: UInt32.self))
    }
}
extension Bool: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(byte: self ? 1 : 0) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let start = reader.offset
        switch try reader.readByte() {
        case 0: self = false
        case 1: self = true
        default: throw .invalidValue(offset: start, what: "Bool")
        }
    }
}
extension String: RecordCodable {
    @inlinable public func encode(to writer: inout BinaryWriter) { writer.write(string: self) }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { self = try reader.readString() }
}
extension Optional: RecordCodable where Wrapped: RecordCodable {
    /// One tag byte, 0 for `nil` or 1 followed by the value (with one append when the value
    /// is a fixed-width integer, `FieldGroup`).
    @inlinable public func encode(to writer: inout BinaryWriter) {
        switch self {
        case .none: writer.write(byte: 0)
        case .some(let value):
            var group = FieldGroup()
            if group.append(optional: value) {
                writer.write(group)
                return
            }
            writer.write(byte: 1)
            value.encode(to: &writer)
        }
    }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let start = reader.offset
        switch try reader.readByte() {
        case 0: self = .none
        case 1: self = .some(try Wrapped(from: &reader))
        default: throw .invalidValue(offset: start, what: "Optional tag")
        }
    }
}
extension Array: RecordCodable where Element: RecordCodable {
    /// A varint count followed by the elements.
    @inlinable public func encode(to writer: inout BinaryWriter) {
        writer.write(varint: UInt64(count))
        for element in self { element.encode(to: &writer) }
    }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let start = reader.offset
        let count = try reader.readVarint()
        // Every element takes at least one byte, except for zero-sized types we do not support here.
        guard count <= UInt64(reader.remaining) else { throw .truncated(offset: start) }
        var elements: [Element] = []
        elements.reserveCapacity(Int(count))
        for _ in 0..<count { elements.append(try Element(from: &reader)) }
        self = elements
    }
}

/// Raw bytes as a record value: a varint length followed by the bytes.
public struct Bytes: RecordCodable, Hashable, Sendable {
    /// The bytes.
    public var bytes: [UInt8]
    /// Wraps `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    @inlinable public func encode(to writer: inout BinaryWriter) {
        bytes.withUnsafeBytes { writer.write(lengthPrefixed: $0) }
    }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        bytes = Array(try reader.readLengthPrefixed())
    }
}

/// A key and a value: the record type of keyed streams, partitioned by `key`.
public struct KeyValue<Key: RecordCodable, Value: RecordCodable>: KeyedRecord {
    /// The key; its encoded bytes choose the partition.
    public var key: Key
    /// The value.
    public var value: Value
    /// Creates a key/value record.
    @inlinable public init(_ key: Key, _ value: Value) {
        self.key = key
        self.value = value
    }
    /// The partition key is the key.
    @inlinable public var partitionKey: Key { key }
    /// The key's encoding followed by the value's; when both are fixed-width integers (or an
    /// optional one, `FieldGroup`), the same bytes are written with one append.
    @inlinable public func encode(to writer: inout BinaryWriter) {
        var group = FieldGroup()
        if group.append(encodingOf: key), group.append(encodingOf: value) {
            writer.write(group)
            return
        }
        key.encode(to: &writer)
        value.encode(to: &writer)
    }
    /// The encoding is the key's followed by the value's.
    @inlinable public func encodeAfterPartitionKey(to writer: inout BinaryWriter) -> Bool {
        value.encode(to: &writer)
        return true
    }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        key = try Key(from: &reader)
        value = try Value(from: &reader)
    }
}
extension KeyValue: Equatable where Key: Equatable, Value: Equatable {}
extension KeyValue: Hashable where Key: Hashable, Value: Hashable {}

/// A schema-less record: the UTF-8 bytes of one JSON value, stored as they came.
///
/// A `JSONRecord` takes the whole of its record's bytes, so it cannot be nested inside other records.
public struct JSONRecord: RecordCodable, Hashable, Sendable {
    /// The catalog name of JSON streams.
    public static var recordTypeName: String { "json" }
    /// The JSON text's bytes.
    public var bytes: [UInt8]
    /// Wraps JSON text bytes; the caller vouches that they are valid JSON.
    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// The JSON text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }
    @inlinable public func encode(to writer: inout BinaryWriter) { bytes.withUnsafeBytes { writer.write(raw: $0) } }
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) { bytes = Array(reader.readRemaining()) }
}
