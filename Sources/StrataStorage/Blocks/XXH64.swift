/// XXH64 (xxHash, 64-bit), the one hash of the on-disk format: block and row checksums and the
/// partition of a key. Part of format version 1: it never changes within a format version, and
/// golden values from the reference implementation pin it in the tests.
public enum XXH64 {
    @usableFromInline static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    @usableFromInline static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    @usableFromInline static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    @usableFromInline static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    @usableFromInline static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inlinable @inline(__always)
    static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        var acc = acc &+ input &* prime2
        acc = (acc << 31) | (acc >> 33)
        return acc &* prime1
    }

    @inlinable @inline(__always)
    static func merge(_ acc: UInt64, _ value: UInt64) -> UInt64 {
        let acc = acc ^ round(0, value)
        return acc &* prime1 &+ prime4
    }

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    /// The XXH64 digest of `bytes` with `seed`.
    ///
    /// - Complexity: O(n), several GB/s.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        digest(PlainInput(bytes: bytes), seed: seed)
    }

    /// The XXH64 digest of `bytes` read with its first `headCount` bytes replaced by the low
    /// `headCount` bytes of `head` (little-endian: the first byte is `head`'s lowest): the digest of
    /// a short prefix followed by text already in memory, without copying the text, when the
    /// `headCount` bytes before the text may be read (they are read, then replaced). The partition
    /// hash of a JSON key's `String` encoding (LEB128 length, then the text) is taken this way.
    ///
    /// - Precondition: `0 <= headCount <= min(8, bytes.count)`.
    /// - Complexity: O(n), as `hash(_:seed:)`.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer, replacingFirst headCount: Int, with head: UInt64,
                            seed: UInt64 = 0) -> UInt64 {
        precondition(headCount >= 0 && headCount <= 8 && headCount <= bytes.count, "XXH64 head of \(headCount) bytes")
        return digest(PatchedHeadInput(bytes: bytes, headCount: headCount, head: head), seed: seed)
    }

    /// The algorithm, over any byte source (specialized for each: no existential, no per-call cost).
    @inlinable @inline(__always)
    static func digest<Input: XXH64Input>(_ bytes: Input, seed: UInt64) -> UInt64 {
        let count = bytes.count
        var offset = 0
        var h: UInt64
        if count >= 32 {
            var v1 = seed &+ prime1 &+ prime2
            var v2 = seed &+ prime2
            var v3 = seed
            var v4 = seed &- prime1
            let limit = count - 32
            while offset <= limit {
                v1 = round(v1, bytes.word(at: offset))
                v2 = round(v2, bytes.word(at: offset + 8))
                v3 = round(v3, bytes.word(at: offset + 16))
                v4 = round(v4, bytes.word(at: offset + 24))
                offset += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = seed &+ prime5
        }
        h = h &+ UInt64(count)
        while offset + 8 <= count {
            let k = round(0, bytes.word(at: offset))
            h ^= k
            h = rotl(h, 27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= count {
            h ^= UInt64(bytes.halfWord(at: offset)) &* prime1
            h = rotl(h, 23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < count {
            h ^= UInt64(bytes.byte(at: offset)) &* prime5
            h = rotl(h, 11) &* prime1
            offset += 1
        }
        h ^= h >> 33
        h = h &* prime2
        h ^= h >> 29
        h = h &* prime3
        h ^= h >> 32
        return h
    }

    /// The XXH64 digest of an array's bytes.
    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }
}

/// A byte source XXH64 reads: little-endian loads of 8, 4 and 1 bytes at an offset.
@usableFromInline
protocol XXH64Input {
    var count: Int { get }
    func word(at offset: Int) -> UInt64
    func halfWord(at offset: Int) -> UInt32
    func byte(at offset: Int) -> UInt8
}

/// The bytes of a buffer as they are.
@usableFromInline
struct PlainInput: XXH64Input {
    @usableFromInline let bytes: UnsafeRawBufferPointer

    @inlinable init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    @inlinable var count: Int { bytes.count }

    @inlinable @inline(__always)
    func word(at offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    func halfWord(at offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    func byte(at offset: Int) -> UInt8 { bytes[offset] }
}

/// The bytes of a buffer with its first `headCount` (at most 8) replaced by `head`'s low bytes.
@usableFromInline
struct PatchedHeadInput: XXH64Input {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline let headCount: Int
    @usableFromInline let head: UInt64

    @inlinable init(bytes: UnsafeRawBufferPointer, headCount: Int, head: UInt64) {
        self.bytes = bytes
        self.headCount = headCount
        self.head = head
    }

    @inlinable var count: Int { bytes.count }

    /// The bits of `width` bytes loaded at `offset` that come from `head` (none at or past `headCount`).
    @inlinable @inline(__always)
    func headMask(at offset: Int, width: Int) -> UInt64 {
        let replaced = Swift.min(width, headCount - offset)
        return replaced >= 8 ? ~0 : (1 << UInt64(8 * replaced)) &- 1
    }

    @inlinable @inline(__always)
    func word(at offset: Int) -> UInt64 {
        let raw = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        guard offset < headCount else { return raw }
        let mask = headMask(at: offset, width: 8)
        return (raw & ~mask) | ((head >> UInt64(8 * offset)) & mask)
    }

    @inlinable @inline(__always)
    func halfWord(at offset: Int) -> UInt32 {
        let raw = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        guard offset < headCount else { return UInt32(truncatingIfNeeded: raw) }
        let mask = headMask(at: offset, width: 4)
        return UInt32(truncatingIfNeeded: (raw & ~mask) | ((head >> UInt64(8 * offset)) & mask))
    }

    @inlinable @inline(__always)
    func byte(at offset: Int) -> UInt8 {
        offset < headCount ? UInt8(truncatingIfNeeded: head >> UInt64(8 * offset)) : bytes[offset]
    }
}
