import StrataStorage

/// A hash table of keys by their encoded bytes: the index of every distinct key, in first-seen
/// order while nothing is removed, without a `String` hash or `Hasher` per record.
///
/// **The engine's one key rule: keys are equal when their encoded bytes are** (the record codec's
/// encoding), which is also how shuffles route keys (XXH64 of those bytes). Every keyed operator
/// (combineByKey and reduceByKey, key groups of the joins and cogroup, keyed state, sliding
/// windows, running reduce, state as of, the time-travel `Dataset`) looks keys up here, never
/// through `Hashable`, so a result never depends on the partition count: `"\u{E9}"` and
/// `"e\u{301}"` (equal Strings) are two keys, and so are `-0.0` and `0.0`; a NaN key equals
/// itself.
///
/// Probing uses a fast multiply-xorshift hash of those bytes (no per-process seed). Each slot holds,
/// beside its entry's index, a tag (24 bits of that hash and the key's length) and the key's first
/// 8 bytes, so that a probe compares in the slot array and a key of at most 8 bytes (an integer,
/// a short string) is found without loading its entry: one cache miss per lookup into a large
/// table rather than two. Fixed-width integer keys are looked up by their 8 (or 4) little-endian
/// bytes, their encoding, without a `BinaryWriter`. XXH64 of the
/// encoded key, which routes it to a partition, is computed once per distinct key and kept when
/// asked (`routing`). A `String` key is looked up by its UTF-8 bytes directly (its encoding is a
/// length and those bytes, so equality is the same) without being encoded. Nothing iterates the
/// slots, so the table's layout never reaches an output.
///
/// Removal (`remove(at:)`) moves the last entry into the freed index, as the state tables do
/// with their entries; it leaves a tombstone slot, cleared when the table is rebuilt.
///
/// Not `Sendable`: each partition's task has its own.
@usableFromInline
package struct EncodedKeyTable {
    /// One distinct key: where its bytes are in `arena`, and the first 16 of them (zero-padded),
    /// so that a short key is compared without touching the arena.
    @usableFromInline
    package struct Entry {
        @usableFromInline package var start: Int
        @usableFromInline package var count: Int
        @usableFromInline package var head: (UInt64, UInt64)

        @inlinable
        package init(start: Int, count: Int, head: (UInt64, UInt64)) {
            self.start = start
            self.count = count
            self.head = head
        }
    }

    /// Open addressing, linear probing, two words per slot (`slotCount` slots, a power of two):
    /// word `2 s` is `(entry index + 1) << 32 | tag` (`tag(hash:count:)`), 0 for an empty slot
    /// and `tombstone` for a removed one; word `2 s + 1` is the key's first 8 bytes (`head.0`).
    /// A 16-byte slot never straddles a cache line, and a key of at most 8 bytes matches when
    /// both words do, without its entry.
    @usableFromInline package var slots: [UInt64]
    /// The entries, in first-seen order.
    @usableFromInline package var entries: [Entry]
    /// XXH64 of each entry's encoded key (for routing).
    @usableFromInline package var routingHashes: [UInt64]
    /// Every entry's bytes, back to back.
    @usableFromInline package var arena: [UInt8]

    /// Whether `routingHashes` is kept (a table that never routes skips the XXH64 per new key).
    @usableFromInline package let routing: Bool
    /// Removed slots (a slot word with no entry index), reclaimed by the next rebuild.
    @usableFromInline package var tombstones = 0
    /// Arena bytes of removed entries, reclaimed by the next rebuild.
    @usableFromInline package var garbage = 0

    /// An empty table.
    ///
    /// - Parameters:
    ///   - routing: Keep XXH64 of each key's encoding (`hash(of:)`); default true.
    ///   - capacity: Distinct keys to make room for up front (growing re-places every key).
    @inlinable
    package init(routing: Bool = true, capacity: Int = 0) {
        var slotCount = 64
        while slotCount < capacity * 2, slotCount < 1 << 30 { slotCount *= 2 }
        slots = [UInt64](repeating: 0, count: 2 * slotCount)
        entries = []
        routingHashes = []
        arena = []
        self.routing = routing
    }

    /// The tombstone slot word: no entry index (the upper half of a live slot is never 0).
    @inlinable static var tombstone: UInt64 { 1 }

    /// The number of slots (half the words of `slots`).
    @inlinable var slotCount: Int { slots.count &>> 1 }

    /// The low half of a live slot's first word: 24 bits of the probing hash (not the bits that
    /// choose the slot) above the key's length, capped at 255. With equal first 8 bytes, keys of
    /// at most 8 bytes with equal tags are equal.
    @inlinable @inline(__always)
    static func tag(hash: UInt64, count: Int) -> UInt64 {
        (hash >> 40) << 8 | UInt64(truncatingIfNeeded: min(count, 255))
    }

    /// Calls `body` with the encoding of `key` when it is a fixed-width integer encoded as its
    /// little-endian bytes (`UInt64`, `Int64`, `Int`, `UInt32`, `Int32`), without a writer;
    /// `nil` for other types (the checks fold away in specialized code).
    @inlinable @inline(__always)
    static func withIntegerEncoding<Key: RecordCodable, R>(of key: Key, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        if Key.self == UInt64.self { return withUnsafeBytes(of: unsafeBitCast(key, to: UInt64.self).littleEndian, body) }
        if Key.self == Int64.self { return withUnsafeBytes(of: unsafeBitCast(key, to: Int64.self).littleEndian, body) }
        if Key.self == Int.self { return withUnsafeBytes(of: Int64(unsafeBitCast(key, to: Int.self)).littleEndian, body) }
        if Key.self == UInt32.self { return withUnsafeBytes(of: unsafeBitCast(key, to: UInt32.self).littleEndian, body) }
        if Key.self == Int32.self { return withUnsafeBytes(of: unsafeBitCast(key, to: Int32.self).littleEndian, body) }
        return nil
    }

    /// The number of distinct keys.
    @inlinable
    package var count: Int { entries.count }

    /// The XXH64 of entry `index`'s encoded key.
    ///
    /// - Precondition: the table was made with `routing`.
    @inlinable
    package func hash(of index: Int) -> UInt64 { routingHashes[index] }

    /// The index of `key`'s entry, and whether it was inserted now (the keys' first-seen order).
    ///
    /// - Parameter scratch: A writer to encode keys into (reused from call to call).
    /// - Complexity: O(encoded key length) expected.
    @inlinable
    package mutating func index<Key: RecordCodable>(of key: Key, scratch: inout BinaryWriter)
        -> (index: Int, inserted: Bool)
    {
        if Key.self == String.self, let string = key as? String {
            // A native `String` is contiguous: its UTF-8 is read in place, without the copy
            // (and retain) that the mutating `withUTF8` needs; any other is made contiguous.
            let found: (index: Int, inserted: Bool)
            if let inPlace = string.utf8.withContiguousStorageIfAvailable({ index(ofBytes: UnsafeRawBufferPointer($0)) }) {
                found = inPlace
            } else {
                var copy = string
                found = copy.withUTF8 { index(ofBytes: UnsafeRawBufferPointer($0)) }
            }
            if found.inserted, routing {
                scratch.removeAll()
                scratch.write(string: string)
                routingHashes.append(XXH64.hash(scratch.bytes))
            }
            return found
        }
        if let found = Self.withIntegerEncoding(of: key, { index(ofEncoded: $0) }) { return found }
        scratch.removeAll()
        key.encode(to: &scratch)
        return scratch.bytes.withUnsafeBytes { index(ofEncoded: $0) }
    }

    /// The index of `key`'s entry, `nil` when absent (nothing is inserted).
    ///
    /// - Complexity: O(encoded key length) expected.
    @inlinable
    package func find<Key: RecordCodable>(_ key: Key, scratch: inout BinaryWriter) -> Int? {
        if Key.self == String.self, let string = key as? String {
            if let found = string.utf8.withContiguousStorageIfAvailable({ find(bytes: UnsafeRawBufferPointer($0)) }) {
                return found
            }
            var copy = string
            return copy.withUTF8 { find(bytes: UnsafeRawBufferPointer($0)) }
        }
        if let found = Self.withIntegerEncoding(of: key, { find(bytes: $0) }) { return found }
        scratch.removeAll()
        key.encode(to: &scratch)
        return scratch.bytes.withUnsafeBytes { find(bytes: $0) }
    }

    /// The index of the entry with these encoded bytes, inserting it when new.
    ///
    /// - Precondition: the table holds encoded keys (it was never given a `String` key).
    @inlinable
    package mutating func index(ofEncoded key: UnsafeRawBufferPointer) -> (index: Int, inserted: Bool) {
        let found = index(ofBytes: key)
        if found.inserted, routing { routingHashes.append(XXH64.hash(key)) }
        return found
    }

    /// Where `key`'s bytes are: its entry's index and slot, or the slot a new entry takes.
    @inlinable @inline(__always)
    func probe(_ key: UnsafeRawBufferPointer, head: (UInt64, UInt64), hash: UInt64) -> (index: Int?, slot: Int) {
        let tag = Self.tag(hash: hash, count: key.count)
        let mask = slotCount &- 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        var free = -1
        while true {
            let word = slots[2 &* slot]
            if word == 0 { break }
            if word == Self.tombstone {
                if free < 0 { free = slot }
            } else if word & 0xFFFF_FFFF == tag, slots[2 &* slot &+ 1] == head.0 {
                // Same tag (so same length up to 255) and first 8 bytes: a key of at most 8
                // bytes is equal; a longer one is compared with its entry.
                let index = Int(truncatingIfNeeded: word >> 32) &- 1
                if key.count <= 8 { return (index, slot) }
                let entry = entries[index]
                if entry.count == key.count, entry.head.1 == head.1,
                   key.count <= 16 || arena.withUnsafeBytes({
                       Self.equal(UnsafeRawBufferPointer(rebasing: $0[entry.start..<entry.start + entry.count]), key)
                   }) {
                    return (index, slot)
                }
            }
            slot = (slot &+ 1) & mask
        }
        return (nil, free >= 0 ? free : slot)
    }

    /// The probing hash of `key`, whose head words are `head`.
    @inlinable @inline(__always)
    static func probingHash(_ key: UnsafeRawBufferPointer, head: (UInt64, UInt64)) -> UInt64 {
        key.count <= 16 ? probingHash(head: head, count: key.count) : probingHash(key)
    }

    /// The index of the entry with these bytes, `nil` when absent.
    @inlinable
    package func find(bytes key: UnsafeRawBufferPointer) -> Int? {
        let head = Self.head(of: key)
        return probe(key, head: head, hash: Self.probingHash(key, head: head)).index
    }

    /// The index of the entry with these bytes, inserting it when new (the caller appends its
    /// routing hash).
    @inlinable
    package mutating func index(ofBytes key: UnsafeRawBufferPointer) -> (index: Int, inserted: Bool) {
        let head = Self.head(of: key)
        let hash = Self.probingHash(key, head: head)
        let found = probe(key, head: head, hash: hash)
        if let index = found.index { return (index, false) }
        let index = entries.count
        entries.append(Entry(start: arena.count, count: key.count, head: head))
        if key.count > 16 { arena.append(contentsOf: key) }
        if slots[2 &* found.slot] == Self.tombstone { tombstones -= 1 }
        slots[2 &* found.slot] = UInt64(index + 1) << 32 | Self.tag(hash: hash, count: key.count)
        slots[2 &* found.slot &+ 1] = head.0
        if (entries.count + tombstones) * 2 > slotCount { rebuild() }
        return (index, true)
    }

    /// Removes entry `index`; the last entry takes its index (its routing hash moves with it).
    ///
    /// - Precondition: `index` is an entry's.
    /// - Complexity: O(encoded key length) expected.
    @inlinable
    package mutating func remove(at index: Int) {
        let last = entries.count - 1
        let removedSlot = slot(of: index)
        slots[2 * removedSlot] = Self.tombstone
        slots[2 * removedSlot + 1] = 0
        tombstones += 1
        if entries[index].count > 16 { garbage += entries[index].count }
        if index != last {
            let moved = slot(of: last)
            slots[2 * moved] = UInt64(index + 1) << 32 | slots[2 * moved] & 0xFFFF_FFFF
            entries[index] = entries[last]
            if routing { routingHashes[index] = routingHashes[last] }
        }
        entries.removeLast()
        if routing { routingHashes.removeLast() }
    }

    /// The slot holding entry `index`.
    @inlinable
    func slot(of index: Int) -> Int {
        let entry = entries[index]
        let hash = entry.count <= 16
            ? Self.probingHash(head: entry.head, count: entry.count)
            : arena.withUnsafeBytes { Self.probingHash(UnsafeRawBufferPointer(rebasing: $0[entry.start..<entry.start + entry.count])) }
        let mask = slotCount - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[2 * slot] >> 32 != UInt64(index + 1) { slot = (slot + 1) & mask }
        return slot
    }

    /// Calls `body` with the bytes of entry `index` (its UTF-8 for a `String` table).
    @inlinable
    package func withBytes<R>(of index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let entry = entries[index]
        if entry.count > 16 {
            return try arena.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[entry.start..<entry.start + entry.count])) }
        }
        var head = (UInt64(littleEndian: entry.head.0), UInt64(littleEndian: entry.head.1))
        return try withUnsafeBytes(of: &head) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<entry.count])) }
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

    /// Re-places every entry in fresh slots (twice as many unless tombstones made the table
    /// full), re-hashing its bytes (kept in its head when at most 16, else in the arena), and
    /// compacts the arena when removed keys left much of it unused.
    @usableFromInline
    package mutating func rebuild() {
        if garbage > 4096, garbage * 2 > arena.count {
            var compacted: [UInt8] = []
            compacted.reserveCapacity(arena.count - garbage)
            for index in entries.indices where entries[index].count > 16 {
                let entry = entries[index]
                entries[index].start = compacted.count
                compacted.append(contentsOf: arena[entry.start..<entry.start + entry.count])
            }
            arena = compacted
            garbage = 0
        }
        let count = entries.count * 4 > slotCount ? slotCount * 2 : slotCount
        var fresh = [UInt64](repeating: 0, count: 2 * count)
        let mask = count - 1
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
            while fresh[2 * slot] != 0 { slot = (slot + 1) & mask }
            fresh[2 * slot] = UInt64(index + 1) << 32 | Self.tag(hash: hash, count: entry.count)
            fresh[2 * slot + 1] = entry.head.0
        }
        slots = fresh
        tombstones = 0
    }
}
