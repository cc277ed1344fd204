/// Why a record could not be decoded from its bytes.
@frozen
public enum RecordDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes ended before the value did.
    case truncated(offset: Int)
    /// A varint was longer than 10 bytes or overflowed 64 bits.
    case invalidVarint(offset: Int)
    /// A value had a byte pattern the type does not allow (a Bool of 2, an Optional tag of 7, …).
    case invalidValue(offset: Int, what: String)
    /// String bytes were not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// Bytes were left over after the record.
    case trailingBytes(offset: Int)

    public var description: String {
        switch self {
        case .truncated(let o): "record truncated at byte \(o)"
        case .invalidVarint(let o): "invalid varint at byte \(o)"
        case .invalidValue(let o, let what): "invalid \(what) at byte \(o)"
        case .invalidUTF8(let o): "invalid UTF-8 in string at byte \(o)"
        case .trailingBytes(let o): "unexpected bytes after the record at byte \(o)"
        }
    }
}

/// Reads values from the bytes of one record; every read checks the remaining length first.
///
/// A reader borrows memory owned by someone else: it must not outlive the buffer it was made from.
public struct BinaryReader {
    /// The record's bytes.
    public let buffer: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    public var offset: Int

    /// Creates a reader over `buffer`, starting at its first byte.
    @inlinable
    public init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        self.offset = 0
    }

    /// The number of bytes not yet read.
    @inlinable public var remaining: Int { buffer.count - offset }

    /// Reads one byte.
    @inlinable
    public mutating func readByte() throws(RecordDecodingError) -> UInt8 {
        guard offset < buffer.count else { throw .truncated(offset: offset) }
        defer { offset += 1 }
        return buffer[offset]
    }

    /// Reads a fixed-width little-endian integer.
    @inlinable
    public mutating func read<T: FixedWidthInteger>(littleEndian: T.Type) throws(RecordDecodingError) -> T {
        guard remaining >= MemoryLayout<T>.size else { throw .truncated(offset: offset) }
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Reads an unsigned LEB128 varint.
    @inlinable
    public mutating func readVarint() throws(RecordDecodingError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < buffer.count else { throw .truncated(offset: offset) }
            let byte = buffer[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw .invalidVarint(offset: start) }
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { throw .invalidVarint(offset: start) }
        }
    }

    /// Reads a varint length that must fit in the remaining bytes.
    @inlinable
    public mutating func readLength() throws(RecordDecodingError) -> Int {
        let start = offset
        let length = try readVarint()
        guard length <= UInt64(remaining) else { throw .truncated(offset: start) }
        return Int(length)
    }

    /// Reads `count` raw bytes; the returned buffer borrows the reader's memory.
    @inlinable
    public mutating func readRaw(count: Int) throws(RecordDecodingError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw .truncated(offset: offset) }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
    }

    /// Reads a varint length and that many bytes; the returned buffer borrows the reader's memory.
    @inlinable
    public mutating func readLengthPrefixed() throws(RecordDecodingError) -> UnsafeRawBufferPointer {
        let length = try readLength()
        return try readRaw(count: length)
    }

    /// Reads every byte not yet read.
    @inlinable
    public mutating func readRemaining() -> UnsafeRawBufferPointer {
        defer { offset = buffer.count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset...])
    }

    /// Reads a length-prefixed UTF-8 string, rejecting invalid UTF-8.
    ///
    /// ASCII, the common case, is checked 8 bytes at a time and needs no further validation.
    @inlinable
    public mutating func readString() throws(RecordDecodingError) -> String {
        let start = offset
        let raw = try readLengthPrefixed()
        if Self.isASCII(raw) { return String(decoding: raw, as: UTF8.self) }
        guard let string = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(offset: start) }
        return string
    }

    /// Whether every byte is below 0x80.
    @inlinable
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        var seen: UInt64 = 0
        while i + 8 <= bytes.count {
            seen |= bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            seen |= UInt64(bytes[i])
            i += 1
        }
        return seen & 0x8080_8080_8080_8080 == 0
    }

    /// Reads any record value by its own decoding.
    @inlinable
    public mutating func read<R: RecordCodable>(_ type: R.Type = R.self) throws(RecordDecodingError) -> R {
        try R(from: &self)
    }
}
