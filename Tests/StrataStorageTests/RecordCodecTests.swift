import PropertyBased
import Testing

@testable import StrataStorage

/// Random Unicode strings, including multi-byte scalars.
private let unicodeString = Gen.uint32(in: 0...0x10FFFF).array(of: 0...12).map { scalars in
    var view = String.UnicodeScalarView()
    for value in scalars { if let scalar = Unicode.Scalar(value) { view.append(scalar) } }
    return String(view)
}

/// Asserts that `value` encodes to exactly `bytes` and decodes back to itself.
private func expectGolden<R: RecordCodable & Equatable>(_ value: R, _ bytes: [UInt8],
                                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(encoded(value) == bytes, sourceLocation: sourceLocation)
    #expect(try decoded(bytes, as: R.self) == value, sourceLocation: sourceLocation)
}

/// Asserts that a value round-trips and that every strict prefix of its bytes is `.truncated`.
private func expectRoundTrip<R: RecordCodable & Equatable>(_ value: R, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let bytes = encoded(value)
    #expect(try decoded(bytes, as: R.self) == value, sourceLocation: sourceLocation)
    for cut in 0..<bytes.count {
        let error = decodingError(Array(bytes[0..<cut]), as: R.self)
        guard case .truncated = error else {
            Issue.record("prefix of \(cut) of \(bytes.count) bytes gave \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
    }
}

@Suite struct RecordEncodingGoldenTests {
    @Test func fixedWidthIntegersAreLittleEndianAtFullWidth() throws {
        try expectGolden(Int64(-2), [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        try expectGolden(Int64(0x0102_0304_0506_0708), [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01])
        try expectGolden(Int64.min, [0, 0, 0, 0, 0, 0, 0, 0x80])
        try expectGolden(Int(0x0102_0304_0506_0708), [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01])
        try expectGolden(Int(-1), [UInt8](repeating: 0xFF, count: 8))
        try expectGolden(UInt(7), [7, 0, 0, 0, 0, 0, 0, 0])
        try expectGolden(UInt8(0xAB), [0xAB])
        try expectGolden(Int8(-1), [0xFF])
        try expectGolden(Int16(0x0102), [0x02, 0x01])
        try expectGolden(UInt16(0xBEEF), [0xEF, 0xBE])
        try expectGolden(Int32(-2), [0xFE, 0xFF, 0xFF, 0xFF])
        try expectGolden(UInt32(0xDEAD_BEEF), [0xEF, 0xBE, 0xAD, 0xDE])
        try expectGolden(UInt64.max, [UInt8](repeating: 0xFF, count: 8))
    }

    @Test func floatsAreTheirIEEEBitPatternsLittleEndian() throws {
        try expectGolden(Double(1.5), [0, 0, 0, 0, 0, 0, 0xF8, 0x3F])
        try expectGolden(Double(-0.0), [0, 0, 0, 0, 0, 0, 0, 0x80])
        try expectGolden(Double.infinity, [0, 0, 0, 0, 0, 0, 0xF0, 0x7F])
        try expectGolden(Float(1.5), [0, 0, 0xC0, 0x3F])
        // NaN payloads survive bit for bit.
        let nan = Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)
        #expect(encoded(nan) == [0xEF, 0xBE, 0xAD, 0xDE, 0, 0, 0xF8, 0x7F])
        #expect(try decoded(encoded(nan), as: Double.self).bitPattern == 0x7FF8_0000_DEAD_BEEF)
    }

    @Test func boolIsOneByte() throws {
        try expectGolden(true, [1])
        try expectGolden(false, [0])
    }

    @Test func stringIsVarintLengthThenUTF8() throws {
        try expectGolden("", [0])
        try expectGolden("abc", [3, 0x61, 0x62, 0x63])
        try expectGolden("héllo", [6, 0x68, 0xC3, 0xA9, 0x6C, 0x6C, 0x6F])
        try expectGolden("😀", [4, 0xF0, 0x9F, 0x98, 0x80])
        try expectGolden(String(repeating: "a", count: 127), [0x7F] + [UInt8](repeating: 0x61, count: 127))
        try expectGolden(String(repeating: "a", count: 128), [0x80, 0x01] + [UInt8](repeating: 0x61, count: 128))
        try expectGolden(String(repeating: "b", count: 300), [0xAC, 0x02] + [UInt8](repeating: 0x62, count: 300))
    }

    @Test func optionalIsATagByteThenTheValue() throws {
        try expectGolden(Int32?.none, [0])
        try expectGolden(Int32?.some(7), [1, 7, 0, 0, 0])
        try expectGolden(String?.some(""), [1, 0])
        try expectGolden(Bool??.some(.none), [1, 0])
        try expectGolden(Bool??.some(.some(true)), [1, 1, 1])
    }

    @Test func arrayIsAVarintCountThenTheElements() throws {
        try expectGolden([UInt16](), [0])
        try expectGolden([UInt16(1), 0x0203], [2, 0x01, 0x00, 0x03, 0x02])
        try expectGolden(["a", ""], [2, 1, 0x61, 0])
        try expectGolden([[UInt8(9)], []], [2, 1, 9, 0])
        try expectGolden([UInt8?.none, 5], [2, 0, 1, 5])
        try expectGolden([UInt8](repeating: 1, count: 200), [0xC8, 0x01] + [UInt8](repeating: 1, count: 200))
    }

    @Test func keyValueIsTheKeyThenTheValue() throws {
        try expectGolden(KeyValue("k", Int64(1)), [1, 0x6B, 1, 0, 0, 0, 0, 0, 0, 0])
        try expectGolden(KeyValue(UInt8(2), [true]), [2, 1, 1])
        #expect(KeyValue("user", 3).partitionKey == "user")
    }

    @Test func bytesAreLengthPrefixed() throws {
        try expectGolden(Bytes([]), [0])
        try expectGolden(Bytes([1, 2, 3]), [3, 1, 2, 3])
        try expectGolden(Bytes([UInt8](repeating: 0xAA, count: 130)), [0x82, 0x01] + [UInt8](repeating: 0xAA, count: 130))
    }

    @Test func jsonRecordIsItsBytesUnframed() throws {
        let text = Array(#"{"a":1}"#.utf8)
        try expectGolden(JSONRecord(bytes: text), text)
        try expectGolden(JSONRecord(bytes: []), [])
        #expect(JSONRecord(bytes: text).text == #"{"a":1}"#)
        #expect(JSONRecord.recordTypeName == "json")
    }

    @Test func varintBoundaries() throws {
        let cases: [(UInt64, [UInt8])] = [
            (0, [0x00]), (1, [0x01]), (127, [0x7F]), (128, [0x80, 0x01]), (300, [0xAC, 0x02]),
            (16383, [0xFF, 0x7F]), (16384, [0x80, 0x80, 0x01]),
            (1 << 63, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            (.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in cases {
            var writer = BinaryWriter()
            writer.write(varint: value)
            #expect(writer.bytes == bytes, "varint \(value)")
            let back = bytes.withUnsafeBytes { buffer -> UInt64? in
                var reader = BinaryReader(buffer)
                let v = try? reader.readVarint()
                return reader.remaining == 0 ? v : nil
            }
            #expect(back == value, "varint \(value)")
        }
    }

    @Test func recordTypeNameDefaultsToTheQualifiedTypeName() throws {
        #expect(Int64.recordTypeName == "Swift.Int64")
        #expect(KeyValue<String, Int64>.recordTypeName == "StrataStorage.KeyValue<Swift.String, Swift.Int64>")
    }
}

@Suite struct RecordDecodingErrorTests {
    @Test func boolRejectsBytesOtherThanZeroAndOne() throws {
        for byte in UInt8(2)...255 {
            #expect(decodingError([byte], as: Bool.self) == .invalidValue(offset: 0, what: "Bool"))
        }
        #expect(decodingError([1, 2], as: [Bool].self) == .invalidValue(offset: 1, what: "Bool"))
    }

    @Test func optionalRejectsTagsOtherThanZeroAndOne() throws {
        #expect(decodingError([7], as: UInt8?.self) == .invalidValue(offset: 0, what: "Optional tag"))
        #expect(decodingError([2, 0], as: UInt8?.self) == .invalidValue(offset: 0, what: "Optional tag"))
        #expect(decodingError([1, 0], as: [UInt8?].self) == nil)
        #expect(decodingError([3, 0, 1, 5, 9], as: [UInt8?].self) == .invalidValue(offset: 4, what: "Optional tag"))
    }

    @Test func stringRejectsInvalidUTF8() throws {
        #expect(decodingError([2, 0xC3, 0x28], as: String.self) == .invalidUTF8(offset: 0))
        #expect(decodingError([1, 0xFF], as: String.self) == .invalidUTF8(offset: 0))
        #expect(decodingError([3, 0xED, 0xA0, 0x80], as: String.self) == .invalidUTF8(offset: 0))  // a surrogate
        #expect(decodingError([1, 0x80], as: String.self) == .invalidUTF8(offset: 0))
        #expect(decodingError([2, 1, 0x61, 1, 0xC0], as: [String].self) == .invalidUTF8(offset: 3))
    }

    @Test func lengthsPastTheEndAreTruncated() throws {
        #expect(decodingError([5, 0x61], as: String.self) == .truncated(offset: 0))
        #expect(decodingError([4, 1, 2], as: Bytes.self) == .truncated(offset: 0))
        #expect(decodingError([9, 1, 2], as: [UInt8].self) == .truncated(offset: 0))
        // Two four-byte elements announced, five bytes present.
        #expect(decodingError([2, 1, 0, 0, 0, 2], as: [UInt32].self) == .truncated(offset: 5))
        #expect(decodingError([0x01, 0x02, 0x03], as: Int64.self) == .truncated(offset: 0))
        #expect(decodingError([1, 0, 0], as: Int32?.self) == .truncated(offset: 1))
    }

    @Test func emptyInputIsTruncatedForEveryFramedType() throws {
        #expect(decodingError([], as: Int64.self) == .truncated(offset: 0))
        #expect(decodingError([], as: Int.self) == .truncated(offset: 0))
        #expect(decodingError([], as: UInt8.self) == .truncated(offset: 0))
        #expect(decodingError([], as: Double.self) == .truncated(offset: 0))
        #expect(decodingError([], as: Bool.self) == .truncated(offset: 0))
        #expect(decodingError([], as: String.self) == .truncated(offset: 0))
        #expect(decodingError([], as: Int64?.self) == .truncated(offset: 0))
        #expect(decodingError([], as: [Int64].self) == .truncated(offset: 0))
        #expect(decodingError([], as: KeyValue<String, Int64>.self) == .truncated(offset: 0))
        #expect(decodingError([], as: Bytes.self) == .truncated(offset: 0))
        #expect(decodingError([], as: JSONRecord.self) == nil)
    }

    @Test func varintOverflowIsRejected() throws {
        // Ten bytes whose last carries more than the 64th bit.
        let tooBig: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]
        #expect(decodingError(tooBig, as: [UInt8].self) == .invalidVarint(offset: 0))
        // Eleven bytes: a continuation bit on the tenth.
        let tooLong: [UInt8] = [UInt8](repeating: 0x80, count: 10) + [0x00]
        #expect(decodingError(tooLong, as: [UInt8].self) == .invalidVarint(offset: 0))
        #expect(decodingError([0x80, 0x80], as: String.self) == .truncated(offset: 2))
        #expect(decodingError([1] + tooBig, as: [String].self) == .invalidVarint(offset: 1))
        // The largest count is a valid varint, but no input holds that many elements.
        let maxCount: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(decodingError(maxCount, as: [UInt8].self) == .truncated(offset: 0))
    }

    @Test func trailingBytesAreNotPartOfTheRecord() throws {
        #expect(decodingError([1, 0], as: Bool.self) == .trailingBytes(offset: 1))
        #expect(decodingError([0, 0], as: String.self) == .trailingBytes(offset: 1))
    }

    @Test func everyPrefixOfAnEncodingIsTruncated() throws {
        try expectRoundTrip(KeyValue("clé", [Int64(1), -5, .max]))
        try expectRoundTrip([String?.some("x"), nil, "héllo"])
        try expectRoundTrip([[UInt16]?.some([1, 2]), nil, []])
        try expectRoundTrip(Bytes([UInt8](repeating: 7, count: 200)))
        try expectRoundTrip(String(repeating: "é", count: 100))
        try expectRoundTrip(Double.pi)
        try expectRoundTrip(Int.min)
    }

    @Test func readerPrimitivesCheckTheRemainingLength() throws {
        let bytes: [UInt8] = [1, 2, 3]
        bytes.withUnsafeBytes { buffer in
            var reader = BinaryReader(buffer)
            #expect(throws: RecordDecodingError.truncated(offset: 0)) { try reader.read(littleEndian: UInt32.self) }
            #expect(throws: RecordDecodingError.truncated(offset: 0)) { try reader.readRaw(count: 4) }
            #expect(throws: RecordDecodingError.truncated(offset: 0)) { try reader.readRaw(count: -1) }
            #expect((try? reader.readRaw(count: 2)).map(Array.init) == [1, 2])
            #expect(reader.remaining == 1)
            #expect(Array(reader.readRemaining()) == [3])
            #expect(reader.remaining == 0)
            #expect(throws: RecordDecodingError.truncated(offset: 3)) { try reader.readByte() }
        }
    }

    @Test func garbageNeverCrashesTheDecoder() async throws {
        await propertyCheck(count: 500, input: Gen.uint8().array(of: 0...40)) { bytes throws in
            // Whatever happens, it is a value or a RecordDecodingError (typed throws), never a trap.
            if let value = try? decoded(bytes, as: [KeyValue<String, [Int32?]>].self) {
                #expect(try decoded(encoded(value), as: [KeyValue<String, [Int32?]>].self) == value)
            }
            if let value = try? decoded(bytes, as: [Bool?].self), let first = bytes.first, first < 0x80 {
                #expect(encoded(value) == bytes)  // bools, tags and one-byte counts are canonical
            }
            _ = try? decoded(bytes, as: [Double].self)
            _ = try? decoded(bytes, as: Bytes.self)
        }
    }
}

@Suite struct RecordCodecPropertyTests {
    @Test func integersRoundTrip() async throws {
        await propertyCheck(input: Gen.int64(), Gen.int(), Gen.uint64(), Gen.uint8()) { a, b, c, d throws in
            try expectRoundTrip(a)
            try expectRoundTrip(b)
            try expectRoundTrip(c)
            try expectRoundTrip(d)
            #expect(encoded(b) == encoded(Int64(b)))
        }
        await propertyCheck(input: Gen.int8(), Gen.int16(), Gen.int32(), Gen.uint32()) { a, b, c, d throws in
            try expectRoundTrip(a)
            try expectRoundTrip(b)
            try expectRoundTrip(c)
            try expectRoundTrip(d)
        }
    }

    @Test func doublesRoundTripBitForBit() async throws {
        await propertyCheck(input: Gen.uint64()) { bits throws in
            let value = Double(bitPattern: bits)
            #expect(encoded(value).count == 8)
            #expect(try decoded(encoded(value), as: Double.self).bitPattern == bits)
        }
    }

    @Test func stringsRoundTrip() async throws {
        await propertyCheck(input: unicodeString) { string throws in
            try expectRoundTrip(string)
            #expect(encoded(string).count == string.utf8.count + (string.utf8.count < 128 ? 1 : 2))
        }
    }

    @Test func optionalsAndArraysRoundTrip() async throws {
        await propertyCheck(input: Gen.int64().optional.array(of: 0...20), Gen.bool.array(of: 0...150)) { a, b throws in
            try expectRoundTrip(a)
            try expectRoundTrip(b)
        }
    }

    @Test func nestedArraysOfOptionalsRoundTrip() async throws {
        let inner = Gen.uint16().array(of: 0...5).optional
        await propertyCheck(input: inner.array(of: 0...8).array(of: 0...4)) { nested throws in
            try expectRoundTrip(nested)
        }
    }

    @Test func keyValuesAndBytesRoundTrip() async throws {
        await propertyCheck(input: unicodeString, Gen.double(in: -1e9...1e9).array(of: 0...6), Gen.uint8().array(of: 0...300)) {
            key, values, raw throws in
            try expectRoundTrip(KeyValue(key, values))
            try expectRoundTrip(KeyValue(Bytes(raw), String?.some(key)))
            try expectRoundTrip(Bytes(raw))
            #expect(try decoded(encoded(JSONRecord(bytes: raw)), as: JSONRecord.self) == JSONRecord(bytes: raw))
        }
    }
}
