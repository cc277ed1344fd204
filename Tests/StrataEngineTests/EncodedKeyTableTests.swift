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
}
