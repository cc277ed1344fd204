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
