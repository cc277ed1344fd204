import StrataStorage

/// An insert-only hash table of keys by their encoded bytes: the index of every distinct key in
/// first-seen order, without a `String` hash or `Hasher` per record.
///
/// Keys are equal when their encoded bytes are (the record codec's encoding), which is how the
/// engine's shuffles route keys. Probing uses a fast multiply-xorshift hash of those bytes (no
/// per-process seed); XXH64 of the encoded key, which routes it to a partition, is computed once
/// per distinct key and kept. A `String` key is looked up by its UTF-8 bytes directly (its
/// encoding is a length and those bytes, so equality is the same) without being encoded. Lookup
/// only: nothing iterates the table, so its layout never reaches an output.
///
/// Not `Sendable`: each partition's task has its own.
@usableFromInline
struct EncodedKeyTable {
    /// One distinct key: where its bytes are in `arena`, and the first 16 of them (zero-padded),
    /// so that a short key is compared without touching the arena.
    @usableFromInline
    struct Entry {
        @usableFromInline var start: Int
        @usableFromInline var count: Int
        @usableFromInline var head: (UInt64, UInt64)

        @inlinable
        init(start: Int, count: Int, head: (UInt64, UInt64)) {
            self.start = start
            self.count = count
            self.head = head
        }
    }

    /// Open addressing, linear probing: `(entry index + 1) << 32 | upper 32 bits of the probing
    /// hash`, or 0 for an empty slot, so that most mismatches are seen without loading the entry.
    /// Power-of-two count.
    @usableFromInline var slots: [UInt64]
    /// The entries, in first-seen order.
    @usableFromInline var entries: [Entry]
    /// XXH64 of each entry's encoded key (for routing).
    @usableFromInline var routingHashes: [UInt64]
    /// Every entry's bytes, back to back.
    @usableFromInline var arena: [UInt8]

    @inlinable
    init() {
        slots = [UInt64](repeating: 0, count: 64)
        entries = []
        routingHashes = []
        arena = []
    }

    /// The number of distinct keys.
    @inlinable
    var count: Int { entries.count }

    /// The XXH64 of entry `index`'s encoded key.
    @inlinable
    func hash(of index: Int) -> UInt64 { routingHashes[index] }

    /// The index of `key`'s entry, and whether it was inserted now (the keys' first-seen order).
    ///
    /// - Parameter scratch: A writer to encode keys into (reused from call to call).
    /// - Complexity: O(encoded key length) expected.
    @inlinable
    mutating func index<Key: RecordCodable>(of key: Key, scratch: inout BinaryWriter) -> (index: Int, inserted: Bool) {
        if Key.self == String.self, var string = key as? String {
            let found = string.withUTF8 { index(ofBytes: UnsafeRawBufferPointer($0)) }
            if found.inserted {
                scratch.removeAll()
                scratch.write(string: string)
                routingHashes.append(XXH64.hash(scratch.bytes))
            }
            return found
        }
        scratch.removeAll()
        key.encode(to: &scratch)
        return scratch.bytes.withUnsafeBytes { index(ofEncoded: $0) }
    }

    /// The index of the entry with these encoded bytes, inserting it when new.
    ///
    /// - Precondition: the table holds encoded keys (it was never given a `String` key).
    @inlinable
    mutating func index(ofEncoded key: UnsafeRawBufferPointer) -> (index: Int, inserted: Bool) {
        let found = index(ofBytes: key)
        if found.inserted { routingHashes.append(XXH64.hash(key)) }
        return found
    }

    /// The index of the entry with these bytes, inserting it when new (the caller appends its
    /// routing hash).
    @inlinable
    mutating func index(ofBytes key: UnsafeRawBufferPointer) -> (index: Int, inserted: Bool) {
        let head = Self.head(of: key)
        let hash = key.count <= 16 ? Self.probingHash(head: head, count: key.count) : Self.probingHash(key)
        let fingerprint = hash >> 32
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slots[slot]
            if word == 0 { break }
            if word & 0xFFFF_FFFF == fingerprint {
                let index = Int(word >> 32) - 1
                let entry = entries[index]
                if entry.count == key.count, entry.head == head,
                   key.count <= 16 || arena.withUnsafeBytes({
                       Self.equal(UnsafeRawBufferPointer(rebasing: $0[entry.start..<entry.start + entry.count]), key)
                   }) {
                    return (index, false)
                }
            }
            slot = (slot + 1) & mask
        }
        let index = entries.count
        entries.append(Entry(start: arena.count, count: key.count, head: head))
        if key.count > 16 { arena.append(contentsOf: key) }
        slots[slot] = UInt64(index + 1) << 32 | fingerprint
        if entries.count * 2 > slots.count { grow() }
        return (index, true)
    }

    /// The first 16 bytes of `key` as two little-endian words, zero-padded.
    ///
    /// Built from loads of 8, 4, 2 and 1 bytes that never straddle an 8-byte boundary of the key,
    /// without a `memcpy` call: a key just copied to the stack (a small `String`'s UTF-8) is read
    /// back through store forwarding rather than by a load spanning two stores.
    @inlinable @inline(__always)
    static func head(of key: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        let count = key.count
        if count >= 16 {
            return (key.loadUnaligned(fromByteOffset: 0, as: UInt64.self), key.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        if count >= 8 {
            return (key.loadUnaligned(fromByteOffset: 0, as: UInt64.self), partialWord(key, at: 8, count: count - 8))
        }
        return (partialWord(key, at: 0, count: count), 0)
    }

    /// `count` (< 8) bytes of `bytes` from `offset` as a little-endian word, zero-padded.
    @inlinable @inline(__always)
    static func partialWord(_ bytes: UnsafeRawBufferPointer, at offset: Int, count: Int) -> UInt64 {
        var word: UInt64 = 0
        var i = 0
        if count & 4 != 0 {
            word = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            i = 4
        }
        if count & 2 != 0 {
            word |= UInt64(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + i, as: UInt16.self))) << (8 * UInt64(i))
            i += 2
        }
        if count & 1 != 0 { word |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return word
    }

    /// The probing hash of a key of at most 16 bytes, from its head words.
    @inlinable @inline(__always)
    static func probingHash(head: (UInt64, UInt64), count: Int) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count)
        hash = (hash ^ head.0) &* 0xBF58_476D_1CE4_E5B9
        hash ^= hash >> 31
        hash = (hash ^ head.1) &* 0x94D0_49BB_1331_11EB
        hash ^= hash >> 29
        hash ^= hash >> 32
        hash &*= 0xD6E8_FEB8_6659_FD93
        hash ^= hash >> 32
        return hash
    }

    /// Whether two byte strings of the same length are equal, word by word.
    @inlinable
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset + 8 <= a.count {
            if a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != b.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                return false
            }
            offset += 8
        }
        while offset < a.count {
            if a[offset] != b[offset] { return false }
            offset += 1
        }
        return true
    }

    /// A fast 64-bit hash of keys longer than 16 bytes for probing: 8-byte words folded with
    /// multiply-xorshift steps (SplitMix64's constants), then a final avalanche. Not part of any
    /// format; fixed, so that probing is the same in every process.
    @inlinable @inline(__always)
    static func probingHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: bytes.count)
        var offset = 0
        while offset + 8 <= bytes.count {
            hash = (hash ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
            offset += 8
        }
        if offset < bytes.count {
            let word = partialWord(bytes, at: offset, count: bytes.count - offset)
            hash = (hash ^ word) &* 0x94D0_49BB_1331_11EB
            hash ^= hash >> 29
        }
        hash ^= hash >> 32
        hash &*= 0xD6E8_FEB8_6659_FD93
        hash ^= hash >> 32
        return hash
    }

    /// Doubles the slots and re-places every entry, re-hashing its bytes (kept in its head when
    /// at most 16, else in the arena).
    @usableFromInline
    mutating func grow() {
        var bigger = [UInt64](repeating: 0, count: slots.count * 2)
        let mask = bigger.count - 1
        for (index, entry) in entries.enumerated() {
            let hash: UInt64
            if entry.count <= 16 {
                hash = Self.probingHash(head: entry.head, count: entry.count)
            } else {
                hash = arena.withUnsafeBytes {
                    Self.probingHash(UnsafeRawBufferPointer(rebasing: $0[entry.start..<entry.start + entry.count]))
                }
            }
            var slot = Int(truncatingIfNeeded: hash) & mask
            while bigger[slot] != 0 { slot = (slot + 1) & mask }
            bigger[slot] = UInt64(index + 1) << 32 | hash >> 32
        }
        slots = bigger
    }
}
