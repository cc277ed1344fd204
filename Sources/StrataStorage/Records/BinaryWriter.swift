/// A growable byte buffer that records encode themselves into.
///
/// Integers and floats are written little-endian at fixed width; lengths and counts as LEB128
/// varints. The encoding is part of the on-disk format (`docs/format.md`): it never changes
/// within a format version, and golden-byte tests pin it.
///
/// `BinaryWriter` is a value type and `Sendable`; one writer is used by one thread at a time.
public struct BinaryWriter: Sendable {
    /// The bytes written so far.
    @inlinable public var bytes: [UInt8] { _bytes }
    /// The storage behind `bytes`: `@usableFromInline` for the inlinable writes, and mutable in
    /// place by the package's block builders (which patch lengths and drop a cut tail); users only
    /// append through the `write` methods.
    @usableFromInline package var _bytes: [UInt8]

    /// Creates an empty writer with room for `capacity` bytes.
    public init(capacity: Int = 0) {
        _bytes = []
        _bytes.reserveCapacity(capacity)
    }

    /// The number of bytes written.
    @inlinable public var count: Int { _bytes.count }

    /// Forgets the bytes written, keeping the storage.
    @inlinable public mutating func removeAll() { _bytes.removeAll(keepingCapacity: true) }

    /// Writes one byte.
    @inlinable public mutating func write(byte: UInt8) { _bytes.append(byte) }

    /// Writes an integer little-endian at its full width.
    @inlinable
    public mutating func write<T: FixedWidthInteger>(littleEndian value: T) {
        withUnsafeBytes(of: value.littleEndian) { _bytes.append(contentsOf: $0) }
    }

    /// Writes an unsigned LEB128 varint (1 to 10 bytes).
    @inlinable
    public mutating func write(varint value: UInt64) {
        var v = value
        while v >= 0x80 {
            _bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        _bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Writes raw bytes without a length.
    @inlinable
    public mutating func write(raw: UnsafeRawBufferPointer) { _bytes.append(contentsOf: raw) }

    /// Writes a varint length followed by the bytes.
    @inlinable
    public mutating func write(lengthPrefixed raw: UnsafeRawBufferPointer) {
        write(varint: UInt64(raw.count))
        _bytes.append(contentsOf: raw)
    }

    /// Writes a string as a varint UTF-8 length followed by its UTF-8 bytes.
    @inlinable
    public mutating func write(string: String) {
        var string = string
        string.withUTF8 { write(lengthPrefixed: UnsafeRawBufferPointer($0)) }
    }

    /// Writes any record value by its own encoding.
    @inlinable
    public mutating func write<R: RecordCodable>(_ value: R) { value.encode(to: &self) }
}

/// Up to 32 bytes of fixed-width fields gathered on the stack and written to a `BinaryWriter`
/// with one append (`BinaryWriter.write(_:)`): a record of several integers costs one copy into
/// the writer's storage instead of one per field. The bytes are exactly those the fields'
/// `encode(to:)` write one after the other.
///
/// ```swift
/// var group = FieldGroup()
/// if group.append(encodingOf: key), group.append(encodingOf: value) {
///     writer.write(group)
/// } else {
///     key.encode(to: &writer); value.encode(to: &writer)
/// }
/// ```
public struct FieldGroup: Sendable {
    /// The most bytes a group holds.
    public static var capacity: Int { 32 }

    /// The gathered bytes (the first `count`).
    @usableFromInline var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// The number of bytes gathered.
    @inlinable public var count: Int { _count }
    /// The storage behind `count`.
    @usableFromInline var _count = 0

    /// An empty group.
    @inlinable public init() {}

    /// Adds an integer little-endian at its full width, as `BinaryWriter.write(littleEndian:)`;
    /// returns `false`, adding nothing, when it does not fit.
    @inlinable @inline(__always)
    public mutating func append<T: FixedWidthInteger>(littleEndian value: T) -> Bool {
        let size = MemoryLayout<T>.size
        let offset = _count
        guard offset &+ size <= Self.capacity else { return false }
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
        _count = offset &+ size
        return true
    }

    /// Adds `value`'s encoding when its type encodes as fixed-width integers (`UInt64`, `Int64`,
    /// `Int`, `UInt`, `UInt32`, `Int32`, `UInt16`, `Int16`, `UInt8`, `Int8`, `Double`, `Float`,
    /// `Bool`, or an `Optional` of `UInt64`, `Int64`, `Int` or `Double`), with the bytes its
    /// `encode(to:)` writes; returns `false`, adding nothing, for other types or when the group
    /// has no room (the caller then encodes the record the usual way). The type checks fold away
    /// in specialized code.
    @inlinable @inline(__always)
    public mutating func append<T: RecordCodable>(encodingOf value: T) -> Bool {
        // Every type below takes at most 9 bytes in memory: one load rules out strings and
        // larger records where the code is not specialized.
        guard MemoryLayout<T>.size <= 9 else { return false }
        if T.self == UInt64.self { return append(littleEndian: unsafeBitCast(value, to: UInt64.self)) }
        if T.self == Int64.self { return append(littleEndian: unsafeBitCast(value, to: Int64.self)) }
        if T.self == Int.self { return append(littleEndian: Int64(unsafeBitCast(value, to: Int.self))) }
        if T.self == UInt.self { return append(littleEndian: UInt64(unsafeBitCast(value, to: UInt.self))) }
        if T.self == UInt32.self { return append(littleEndian: unsafeBitCast(value, to: UInt32.self)) }
        if T.self == Int32.self { return append(littleEndian: unsafeBitCast(value, to: Int32.self)) }
        if T.self == UInt16.self { return append(littleEndian: unsafeBitCast(value, to: UInt16.self)) }
        if T.self == Int16.self { return append(littleEndian: unsafeBitCast(value, to: Int16.self)) }
        if T.self == UInt8.self { return append(littleEndian: unsafeBitCast(value, to: UInt8.self)) }
        if T.self == Int8.self { return append(littleEndian: unsafeBitCast(value, to: Int8.self)) }
        if T.self == Double.self { return append(littleEndian: unsafeBitCast(value, to: Double.self).bitPattern) }
        if T.self == Float.self { return append(littleEndian: unsafeBitCast(value, to: Float.self).bitPattern) }
        if T.self == Bool.self { return append(littleEndian: UInt8(unsafeBitCast(value, to: Bool.self) ? 1 : 0)) }
        if T.self == UInt64?.self { return append(optional: unsafeBitCast(value, to: UInt64?.self)) }
        if T.self == Int64?.self { return append(optional: unsafeBitCast(value, to: Int64?.self)) }
        if T.self == Int?.self { return append(optional: unsafeBitCast(value, to: Int?.self)) }
        if T.self == Double?.self { return append(optional: unsafeBitCast(value, to: Double?.self)) }
        return false
    }

    /// Adds an optional as `Optional.encode(to:)` writes it: a tag byte, 0 for `nil` or 1
    /// followed by the value.
    @inlinable @inline(__always)
    mutating func append<T: RecordCodable>(optional value: T?) -> Bool {
        guard let value else { return append(littleEndian: UInt8(0)) }
        let before = _count
        guard append(littleEndian: UInt8(1)), append(encodingOf: value) else {
            _count = before
            return false
        }
        return true
    }
}

extension BinaryWriter {
    /// Writes a group's bytes with one append.
    @inlinable
    public mutating func write(_ group: FieldGroup) {
        let count = group.count
        // Four `UInt64`s: no padding, zeroed at first, every byte below `count` stored
        // little-endian by `append`, so the first `count` bytes are exactly the fields'.
        withUnsafeBytes(of: group.storage) { _bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }
}
