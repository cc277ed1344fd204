import PropertyBased
import Testing

@testable import StrataStorage

/// The little-endian bytes of an integer at its full width, by shifting (independent of the
/// writer's memory copies).
private func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// `Optional.encode(to:)`'s bytes as the format states them: 0, or 1 and the value's bytes.
private func optional(_ bytes: [UInt8]?) -> [UInt8] {
    bytes.map { [1] + $0 } ?? [0]
}

/// Asserts that `KeyValue(key, value)` encodes to `key · value` (the plain model) and decodes back.
private func expectPair<K: RecordCodable & Equatable, V: RecordCodable & Equatable>(
    _ key: K, _ value: V, _ keyBytes: [UInt8], _ valueBytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let pair = KeyValue(key, value)
    #expect(encoded(pair) == keyBytes + valueBytes, sourceLocation: sourceLocation)
    #expect(try decoded(keyBytes + valueBytes, as: KeyValue<K, V>.self) == pair, sourceLocation: sourceLocation)
}

@Suite struct BinaryWriterFieldGroupTests {
    /// Pairs of fixed-width fields, written with one append, give the bytes of the fields
    /// written one after the other.
    @Test func integerPairsEncodeAsTheirFieldsInOrder() async {
        await propertyCheck(count: 300, input: Gen.uint64(), Gen.uint64(), Gen.bool) { a, b, present throws in
            try expectPair(a, Int64(bitPattern: b), littleEndian(a), littleEndian(Int64(bitPattern: b)))
            try expectPair(Int(bitPattern: UInt(a)), UInt(b), littleEndian(Int64(bitPattern: a)), littleEndian(b))
            try expectPair(UInt32(truncatingIfNeeded: a), Int32(truncatingIfNeeded: b),
                           littleEndian(UInt32(truncatingIfNeeded: a)), littleEndian(Int32(truncatingIfNeeded: b)))
            try expectPair(UInt16(truncatingIfNeeded: a), Int16(truncatingIfNeeded: b),
                           littleEndian(UInt16(truncatingIfNeeded: a)), littleEndian(Int16(truncatingIfNeeded: b)))
            try expectPair(UInt8(truncatingIfNeeded: a), Int8(truncatingIfNeeded: b),
                           [UInt8(truncatingIfNeeded: a)], [UInt8(truncatingIfNeeded: b)])
            try expectPair(a, present, littleEndian(a), [present ? 1 : 0])
            let double = Double(bitPattern: a), float = Float(bitPattern: UInt32(truncatingIfNeeded: b))
            #expect(encoded(KeyValue(double, float)) == littleEndian(a) + littleEndian(float.bitPattern))
            // Optional values: the tag byte, then the value when present.
            let some: Int64? = present ? Int64(bitPattern: b) : nil
            try expectPair(a, some, littleEndian(a), optional(some.map(littleEndian)))
            let unsigned: UInt64? = present ? b : nil
            try expectPair(Int64(bitPattern: a), unsigned, littleEndian(Int64(bitPattern: a)),
                           optional(unsigned.map(littleEndian)))
            let int: Int? = present ? Int(bitPattern: UInt(b)) : nil
            try expectPair(a, int, littleEndian(a), optional(int.map { littleEndian(Int64($0)) }))
            let real: Double? = present ? Double(bitPattern: b) : nil
            #expect(encoded(KeyValue(a, real)) == littleEndian(a) + optional(real.map { littleEndian($0.bitPattern) }))
            // Optional keys and values together: 18 bytes, still one group.
            let key: UInt64? = present ? nil : a
            try expectPair(key, unsigned, optional(key.map(littleEndian)), optional(unsigned.map(littleEndian)))
            // An optional on its own.
            #expect(encoded(some) == optional(some.map(littleEndian)))
        }
    }

    /// Records with a field the group does not take are encoded field by field, as before.
    @Test func otherFieldsAreEncodedFieldByField() throws {
        try expectPair("user", Int64(5), [4] + Array("user".utf8), littleEndian(Int64(5)))
        try expectPair(UInt64(7), "x", littleEndian(UInt64(7)), [1, 0x78])
        try expectPair(UInt64(7), [Int64(1), 2], littleEndian(UInt64(7)), [2] + littleEndian(Int64(1)) + littleEndian(Int64(2)))
        try expectPair(UInt64(7), Optional("ab"), littleEndian(UInt64(7)), [1, 2, 0x61, 0x62])
        try expectPair(UInt64(7), Optional<String>.none, littleEndian(UInt64(7)), [0])
        try expectPair(KeyValue(UInt64(1), UInt64(2)), Int64(3),
                       littleEndian(UInt64(1)) + littleEndian(UInt64(2)), littleEndian(Int64(3)))
        #expect(encoded(Optional(UInt8(9))) == [1, 9])
        #expect(encoded(Optional(Optional(UInt64(3)))) == [1, 1] + littleEndian(UInt64(3)))
    }

    /// A group takes 32 bytes: a field that does not fit is refused and leaves the group as it
    /// was, and a group is written as the bytes of its fields.
    @Test func aFullGroupRefusesFields() {
        var group = FieldGroup()
        let added1 = group.append(littleEndian: UInt64(1))
        #expect(added1)
        let added2 = group.append(littleEndian: UInt64(2))
        #expect(added2)
        let added3 = group.append(littleEndian: UInt64(3))
        #expect(added3)
        let added4 = group.append(littleEndian: UInt32(4))
        #expect(added4)
        let added5 = group.append(littleEndian: UInt16(5))
        #expect(added5)
        let added6 = group.append(encodingOf: true)
        #expect(added6)
        #expect(group.count == 31)
        let added7 = group.append(littleEndian: UInt16(6))
        #expect(!added7)
        let added8 = group.append(encodingOf: Optional(UInt64(6)))
        #expect(!added8)
        #expect(group.count == 31)
        let added9 = group.append(encodingOf: Optional<UInt64>.none)
        #expect(added9)
        let added10 = group.append(littleEndian: UInt8(7))
        #expect(!added10)
        var writer = BinaryWriter(capacity: 0)
        writer.write(byte: 0xAA)
        writer.write(group)
        let expected: [UInt8] = [0xAA] + littleEndian(UInt64(1)) + littleEndian(UInt64(2)) + littleEndian(UInt64(3))
            + littleEndian(UInt32(4)) + littleEndian(UInt16(5)) + [1, 0]
        #expect(writer.bytes == expected)
        writer.write(FieldGroup())
        #expect(writer.bytes == expected)
    }
}
