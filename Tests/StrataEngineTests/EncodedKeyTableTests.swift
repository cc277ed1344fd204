import PropertyBased
import Testing

@testable import StrataEngine
import Strata

/// `EncodedKeyTable` against a dictionary of byte arrays: same indices, first-seen order, across growth.
@Suite struct EncodedKeyTableTests {
    /// Keys of 0–40 bytes from a small alphabet, so that they repeat and share prefixes and heads.
    static let keys = Gen.uint8(in: 0...2).array(of: 0...40).array(of: 0...300)

    /// The window's emission order: keys sorted by their first 16 bytes as big-endian words, then
    /// by `precedes`, is exactly the byte order of `precedes` alone (zeros, shared heads, prefixes).
    @Test func sortingHeadsOrderKeysAsTheirBytesDo() async {
        await propertyCheck(count: 60, input: Self.keys) { keys in
            for a in keys.prefix(40) {
                for b in keys.prefix(40) {
                    let (headA, headB) = (sortingHead(of: a), sortingHead(of: b))
                    if headA != headB { #expect((headA < headB) == precedes(a, b), "\(a) \(b)") }
                    if a.count <= 16, b.count <= 16, a != b, headA == headB {
                        // Equal heads of short keys: one is the other with trailing zeros.
                        #expect(a.count != b.count)
                    }
                }
            }
        }
    }

    @Test func indicesMatchFirstSeenOrderOfEqualBytes() async {
        await propertyCheck(count: 40, input: Self.keys) { keys in
            var table = EncodedKeyTable()
            var model: [[UInt8]: Int] = [:]  // lookup only
            for key in keys {
                let expected = model[key]
                let (index, inserted) = key.withUnsafeBytes { table.index(ofEncoded: $0) }
                #expect(inserted == (expected == nil))
                #expect(index == expected ?? model.count)
                if expected == nil { model[key] = index }
                #expect(table.hash(of: index) == XXH64.hash(key))
            }
            #expect(table.count == model.count)
        }
    }

    @Test func stringKeysUseTheirUTF8AndRouteByTheirEncoding() async {
        await propertyCheck(count: 40, input: Self.keys) { keys in
            var table = EncodedKeyTable()
            var scratch = BinaryWriter()
            var model: [String: Int] = [:]  // lookup only
            for key in keys {
                let string = String(decoding: key.map { $0 + 0x61 }, as: UTF8.self)  // a, b, c
                let (index, inserted) = table.index(of: string, scratch: &scratch)
                #expect(inserted == (model[string] == nil))
                #expect(index == model[string] ?? model.count)
                if model[string] == nil { model[string] = index }
                var encoded = BinaryWriter()
                string.encode(to: &encoded)
                #expect(table.hash(of: index) == XXH64.hash(encoded.bytes))
            }
        }
    }

    /// `find` of a `String` key (its UTF-8 read in place) agrees with `index(of:)`: the index of a
    /// key inserted before, `nil` for one never inserted, short (at most 16 bytes) and long alike.
    @Test func stringKeysAreFoundWhereTheyWereInserted() async {
        await propertyCheck(count: 40, input: Self.keys) { keys in
            var table = EncodedKeyTable(routing: false)
            var scratch = BinaryWriter()
            var model: [String: Int] = [:]  // lookup only
            for (position, key) in keys.enumerated() {
                let string = String(decoding: key.map { $0 + 0x61 }, as: UTF8.self)  // a, b, c
                #expect(table.find(string, scratch: &scratch) == model[string])
                if position % 2 == 0 {
                    let (index, _) = table.index(of: string, scratch: &scratch)
                    if model[string] == nil { model[string] = index }
                    #expect(table.find(string, scratch: &scratch) == index)
                }
            }
        }
    }

    /// The combine kernel over a batch of 9000 distinct keys among 30 000 pairs (`String` keys of
    /// 6–28 characters and `Int64` keys): the keys in first-seen order with their sums, as a dictionary
    /// and an array of first positions say.
    @Test func combineOfManyDistinctKeysKeepsFirstSeenOrder() {
        var strings = ContiguousArray<KeyValue<String, Int64>>()
        var integers = ContiguousArray<KeyValue<Int64, Int64>>()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for position in 0..<30_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let key = position < 9_000 ? position : Int((state >> 33) % 9_000)
            strings.append(KeyValue("url-\(key)-" + String(repeating: "x", count: key % 20), Int64(position % 7)))
            integers.append(KeyValue(Int64(key) * 1_000_003, Int64(position % 5)))
        }
        func check<Key: RecordCodable & Hashable>(_ pairs: ContiguousArray<KeyValue<Key, Int64>>) {
            var order: [Key] = []
            var sums: [Key: Int64] = [:]  // lookup only
            for pair in pairs {
                if sums[pair.key] == nil { order.append(pair.key) }
                sums[pair.key, default: 0] += pair.value
            }
            let combined = combineByKey(pairs, +)
            #expect(combined.map(\.key) == order)
            #expect(combined.allSatisfy { sums[$0.key] == $0.value })
        }
        check(strings)
        check(integers)
    }

    @Test func reduceByKeyOfLongStringKeysMatchesADictionary() throws {
        let words = (0..<5_000).map { "a-rather-long-key-number-\($0 % 613)" }
        let counts = try Dataset(words, partitions: 3).map { KeyValue($0, Int64(1)) }.reduceByKey(partitions: 2, +).collect()
        var model: [String: Int64] = [:]
        for word in words { model[word, default: 0] += 1 }
        #expect(counts.count == model.count)
        #expect(counts.allSatisfy { model[$0.key] == $0.value })
    }

    /// Removal (the keyed state tables' swap-remove) against an array of byte arrays: after any
    /// mix of inserts and removals, every key is found at the model's index and removed keys are
    /// absent, through tombstone reuse, rebuilds and arena compaction.
    @Test func removalsKeepIndicesLikeASwapRemovingArray() async {
        let ops = zip(Gen.uint8(in: 0...2).array(of: 0...40), Gen.bool).array(of: 0...600)
        await propertyCheck(count: 30, input: ops) { ops in
            var table = EncodedKeyTable()
            var model: [[UInt8]] = []
            for (key, isRemoval) in ops {
                if isRemoval, let at = model.firstIndex(of: key) {
                    #expect(key.withUnsafeBytes { table.find(bytes: $0) } == at)
                    table.remove(at: at)
                    model.swapAt(at, model.count - 1)
                    model.removeLast()
                } else {
                    let (index, inserted) = key.withUnsafeBytes { table.index(ofEncoded: $0) }
                    #expect(inserted == !model.contains(key))
                    if inserted { model.append(key) }
                    #expect(index == model.firstIndex(of: key))
                }
            }
            #expect(table.count == model.count)
            for (index, key) in model.enumerated() {
                #expect(key.withUnsafeBytes { table.find(bytes: $0) } == index)
                #expect(table.hash(of: index) == XXH64.hash(key))
                #expect(table.withBytes(of: index) { Array($0) } == key)
            }
        }
    }

    /// Keys that agree on everything a slot holds (length, first 8 bytes and the 24 bits of the
    /// probing hash in the tag), found by search, against a dictionary: a slot match must still
    /// tell them apart by their entries, through growth, removals, tombstone reuse and rebuilds.
    @Test func keysEqualInTheirSlotsStayDistinctKeys() {
        let prefix = Array("sessions".utf8)
        var byTag: [[UInt64]: [[UInt8]]] = [:]  // lookup only; groups sorted below
        for n in 0..<(1 << 17) {
            withUnsafeBytes(of: UInt32(n).littleEndian) { counter in
                for padding in [0, 12] {  // 12 bytes (head and tag), 24 bytes (arena)
                    let key = prefix + Array(counter) + [UInt8](repeating: 0x2E, count: padding)
                    let tag = key.withUnsafeBytes { bytes in
                        let head = EncodedKeyTable.head(of: bytes)
                        return EncodedKeyTable.tag(hash: EncodedKeyTable.probingHash(bytes, head: head), count: bytes.count)
                    }
                    byTag[[tag, UInt64(key.count)], default: []].append(key)
                }
            }
        }
        let colliding = byTag.values.filter { $0.count > 1 }.sorted { $0[0].lexicographicallyPrecedes($1[0]) }
        #expect(colliding.count > 100, "\(colliding.count) groups of keys equal in their slots")
        // Each group's keys one after another, with short keys between them (integers, whose
        // slots match on their bytes alone).
        var keys: [[UInt8]] = []
        for (n, group) in colliding.enumerated() {
            keys += group
            keys.append(withUnsafeBytes(of: UInt64(n).littleEndian) { Array($0) })
            keys.append(Array(prefix.prefix(n % 9)))
        }
        var table = EncodedKeyTable()
        var model: [[UInt8]] = []
        var indexOf: [[UInt8]: Int] = [:]  // lookup only
        func check() {
            #expect(table.count == model.count)
            for (index, key) in model.enumerated() {
                #expect(key.withUnsafeBytes { table.find(bytes: $0) } == index)
                #expect(table.withBytes(of: index) { Array($0) } == key)
                #expect(table.hash(of: index) == XXH64.hash(key))
            }
        }
        for round in 0..<3 {
            for key in keys {
                let (index, inserted) = key.withUnsafeBytes { table.index(ofEncoded: $0) }
                #expect(inserted == (indexOf[key] == nil))
                if inserted {
                    indexOf[key] = model.count
                    model.append(key)
                }
                #expect(index == indexOf[key])
            }
            check()
            // Remove every other key of the colliding groups (the swap-remove of the state
            // tables), then look every key up: removed ones are absent.
            for (n, key) in keys.enumerated() where (n + round) % 2 == 0 {
                guard let at = indexOf[key] else { continue }
                table.remove(at: at)
                indexOf[key] = nil
                let last = model.removeLast()
                if at < model.count {
                    model[at] = last
                    indexOf[last] = at
                }
            }
            for key in keys where indexOf[key] == nil {
                #expect(key.withUnsafeBytes { table.find(bytes: $0) } == nil)
            }
            check()
        }
    }

    /// Integer keys are looked up by their little-endian bytes, which are their encodings: the
    /// same indices and routing hashes as the encoded bytes, and `String` keys beside them.
    @Test func integerKeysAreTheirEncodedBytes() async {
        await propertyCheck(count: 40, input: Gen.uint64(in: 0...40).array(of: 0...300)) { values in
            var byInteger = EncodedKeyTable()
            var byBytes = EncodedKeyTable()
            var scratch = BinaryWriter()
            for value in values {
                let found: (index: Int, inserted: Bool)
                switch value % 4 {
                case 0: found = byInteger.index(of: value, scratch: &scratch)
                case 1: found = byInteger.index(of: Int64(bitPattern: value), scratch: &scratch)
                case 2: found = byInteger.index(of: Int(bitPattern: UInt(value)), scratch: &scratch)
                default: found = byInteger.index(of: value >> 1, scratch: &scratch)
                }
                var encoded = BinaryWriter()
                (value % 4 == 3 ? value >> 1 : value).encode(to: &encoded)
                let expected = encoded.bytes.withUnsafeBytes { byBytes.index(ofEncoded: $0) }
                #expect(found.index == expected.index && found.inserted == expected.inserted)
                #expect(byInteger.hash(of: found.index) == XXH64.hash(encoded.bytes))
                #expect(byInteger.find(UInt64(value % 4 == 3 ? value >> 1 : value), scratch: &scratch) == found.index)
            }
            var small = EncodedKeyTable()
            for value in values {
                var encoded = BinaryWriter()
                UInt32(truncatingIfNeeded: value).encode(to: &encoded)
                let expected = encoded.bytes.withUnsafeBytes { small.find(bytes: $0) }
                #expect(small.find(UInt32(truncatingIfNeeded: value), scratch: &scratch) == expected)
                #expect(small.find(Int32(truncatingIfNeeded: value), scratch: &scratch) == expected)
                _ = small.index(of: Int32(truncatingIfNeeded: value), scratch: &scratch)
            }
        }
    }
}
