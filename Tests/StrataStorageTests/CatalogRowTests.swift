import PropertyBased
import Testing

@testable import StrataStorage

private func descriptor(_ row: [UInt8]) throws -> StreamDescriptor { try row.withUnsafeBytes { try StreamDescriptor(row: $0) } }
private func frontier(_ row: [UInt8]) throws -> StreamFrontier { try row.withUnsafeBytes { try StreamFrontier(row: $0) } }
private func seal(_ row: [UInt8], partitions: UInt32) throws -> SealRecord {
    try row.withUnsafeBytes { try SealRecord(row: $0, partitions: partitions) }
}

/// Random short names and optional fields.
private let name = Gen.letterOrNumber.string(of: 1...12)
private let retention = zip(Gen.int(in: 0...2), Gen.uint64()).map { kind, n -> Retention in
    switch kind {
    case 0: .forever
    case 1: .intervals(n)
    default: .nanoseconds(n)
    }
}

@Suite struct CatalogRowTests {
    @Test func descriptorRowHasExactBytes() throws {
        let d = StreamDescriptor(id: StreamID(rawValue: 1), name: "s", recordType: "t", intervalLength: .seconds(1), partitions: 2)
        let golden: [UInt8] = [
            0x01,  // row version
            0x01, 0x00, 0x00, 0x00,  // id
            0x01, 0x73,  // name "s"
            0x01, 0x74,  // record type "t"
            0x00, 0xCA, 0x9A, 0x3B, 0x00, 0x00, 0x00, 0x00,  // interval length 1e9 ns
            0x02, 0x00, 0x00, 0x00,  // partitions
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // retention forever, amount 0
            0x00, 0x00, 0x00, 0x00,  // time field, key field, time unit, late-of: nil
            0x65, 0x01, 0x1F, 0x05, 0x68, 0x25, 0x0F, 0x43,  // XXH64 of the above, little-endian
        ]
        #expect(d.encodedRow() == golden)
        #expect(try descriptor(golden) == d)
    }

    /// A keyed JSON stream's row as builds before key placement wrote it (version 1, no placement
    /// byte) reads back as `fieldBytes`, and such a descriptor is written as exactly that row; a new
    /// keyed stream's row is version 2 with the placement after the version 1 fields.
    @Test func keyPlacementRowVersions() throws {
        var w = BinaryWriter(capacity: 64)
        w.write(byte: 1)  // row version 1
        w.write(UInt32(3)); w.write("views"); w.write("json"); w.write(UInt64(1_000_000_000)); w.write(UInt32(4))
        w.write(byte: 0); w.write(UInt64(0))  // retention forever
        w.write(Optional("ts")); w.write(Optional("url")); w.write(Optional("ms")); w.write(String?.none)
        let old = RowChecksum.seal(w.bytes)
        let read = try descriptor(old)
        #expect(read.keyField == "url" && read.keyPlacement == .fieldBytes)
        #expect(read.encodedRow() == old)

        var new = read
        new.keyPlacement = .stringKey
        let row = new.encodedRow()
        #expect(row.first == 2)
        #expect(Array(row.dropFirst().dropLast(9)) == Array(old.dropFirst().dropLast(8)))
        #expect(row[row.count - 9] == 1)  // stringKey
        #expect(try descriptor(row) == new)
        #expect(StreamDescriptor(id: StreamID(rawValue: 1), name: "s", recordType: "json", intervalLength: .seconds(1),
                                 partitions: 2, keyField: "k").keyPlacement == .stringKey)
        #expect(StreamDescriptor(id: StreamID(rawValue: 1), name: "s", recordType: "json", intervalLength: .seconds(1),
                                 partitions: 2, keyPlacement: .stringKey).keyPlacement == nil)

        // A version 2 row with an unknown placement, or a placement without a key field, is corrupt.
        var unknown = Array(row.dropLast(8))
        unknown[unknown.count - 1] = 9
        #expect(throws: Corruption.self) { try descriptor(RowChecksum.seal(unknown)) }
        var keyless = BinaryWriter(capacity: 64)
        keyless.write(byte: 2)
        keyless.write(UInt32(3)); keyless.write("views"); keyless.write("json"); keyless.write(UInt64(1_000_000_000))
        keyless.write(UInt32(4)); keyless.write(byte: 0); keyless.write(UInt64(0))
        keyless.write(String?.none); keyless.write(String?.none); keyless.write(String?.none); keyless.write(String?.none)
        keyless.write(byte: 1)
        #expect(throws: Corruption.self) { try descriptor(RowChecksum.seal(keyless.bytes)) }
    }

    @Test func frontierRowHasExactBytes() throws {
        let f = StreamFrontier(sealedThrough: Interval(5), firstInterval: Interval(2), retainedFrom: Interval(1), lateRecords: 3)
        let golden: [UInt8] = [
            0x01, 0x03,  // version, flags: sealed and first present
            0x05, 0, 0, 0, 0, 0, 0, 0,
            0x02, 0, 0, 0, 0, 0, 0, 0,
            0x01, 0, 0, 0, 0, 0, 0, 0,
            0x03, 0, 0, 0, 0, 0, 0, 0,
            0x83, 0x55, 0x8F, 0x11, 0x20, 0x1B, 0xED, 0x7D,
        ]
        #expect(f.encodedRow() == golden)
        #expect(try frontier(golden) == f)
        let empty: [UInt8] = [0x01, 0x00] + [UInt8](repeating: 0, count: 32) + [0xB4, 0x10, 0x96, 0xDB, 0x2B, 0xCF, 0x44, 0x68]
        #expect(StreamFrontier().encodedRow() == empty)
        #expect(try frontier(empty) == StreamFrontier())
    }

    @Test func sealRowHasExactBytes() throws {
        let s = SealRecord(chunks: [1, 0, 2], records: 10, rawBytes: 100, storedBytes: 90)
        let golden: [UInt8] = [
            0x01,
            0x0A, 0, 0, 0, 0, 0, 0, 0,
            0x64, 0, 0, 0, 0, 0, 0, 0,
            0x5A, 0, 0, 0, 0, 0, 0, 0,
            0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0,
            0x40, 0x73, 0x82, 0x6E, 0xEB, 0x34, 0x15, 0x5E,
        ]
        #expect(s.encodedRow() == golden)
        #expect(try seal(golden, partitions: 3) == s)
        #expect(throws: Corruption.badRow("seal row")) { try seal(golden, partitions: 4) }
    }

    @Test func descriptorRowsRoundTrip() async {
        await propertyCheck(input: Gen.uint32(), name, name, Gen.uint64(in: 1 ... .max), Gen.uint32(in: 1...4096), retention,
                            name.optional, name.optional) { id, streamName, type, length, partitions, retention, field, late throws in
            let d = StreamDescriptor(id: StreamID(rawValue: id), name: streamName, recordType: type,
                                     intervalLength: IntervalLength(rawValue: length), partitions: partitions,
                                     retention: retention, timeField: field, keyField: late,
                                     timeUnit: field.map { _ in TimeUnit.allCases[Int(id % 4)] },
                                     lateRecordsOf: late)
            #expect(try descriptor(d.encodedRow()) == d)
        }
    }

    @Test func frontierRowsRoundTrip() async {
        await propertyCheck(input: Gen.uint64().optional, Gen.uint64().optional, Gen.uint64(), Gen.uint64()) { sealed, first, from, late throws in
            let f = StreamFrontier(sealedThrough: sealed.map(Interval.init(_:)), firstInterval: first.map(Interval.init(_:)),
                                   retainedFrom: Interval(from), lateRecords: late)
            #expect(try frontier(f.encodedRow()) == f)
        }
    }

    @Test func sealRowsRoundTrip() async {
        await propertyCheck(input: Gen.uint32().array(of: 1...64), Gen.uint64(), Gen.uint64(), Gen.uint64()) { chunks, records, raw, stored throws in
            let s = SealRecord(chunks: chunks, records: records, rawBytes: raw, storedBytes: stored)
            #expect(try seal(s.encodedRow(), partitions: UInt32(chunks.count)) == s)
        }
    }

    @Test func checksummedRowsWithBadContentsAreBadRows() throws {
        let d = StreamDescriptor(id: StreamID(rawValue: 1), name: "s", recordType: "t", intervalLength: .seconds(1), partitions: 2)
        var body = Array(d.encodedRow().dropLast(8))
        // A row version this build does not know.
        body[0] = 3
        #expect(throws: Corruption.badRow("catalog row version 3; this build reads versions 1–2")) { try descriptor(RowChecksum.seal(body)) }
        // An unknown retention kind (byte 21).
        body = Array(d.encodedRow().dropLast(8))
        body[21] = 3
        #expect(throws: Corruption.badRow("catalog row retention")) { try descriptor(RowChecksum.seal(body)) }
        // Zero partitions (bytes 17–20).
        body = Array(d.encodedRow().dropLast(8))
        body[17] = 0
        #expect(throws: Corruption.badRow("catalog row")) { try descriptor(RowChecksum.seal(body)) }
        // A zero interval length.
        body = Array(d.encodedRow().dropLast(8))
        for i in 9..<17 { body[i] = 0 }
        #expect(throws: Corruption.badRow("catalog row")) { try descriptor(RowChecksum.seal(body)) }
        // Bytes after the last field.
        body = Array(d.encodedRow().dropLast(8)) + [0]
        #expect(throws: Corruption.badRow("catalog row")) { try descriptor(RowChecksum.seal(body)) }
        // A field cut short.
        body = Array(d.encodedRow().dropLast(9))
        #expect(throws: Corruption.badRow("catalog row (record truncated at byte 33)")) { try descriptor(RowChecksum.seal(body)) }
        // An optional tag of 5.
        body = Array(d.encodedRow().dropLast(8))
        body[30] = 5
        #expect(throws: Corruption.badRow("catalog row (invalid Optional tag at byte 30)")) { try descriptor(RowChecksum.seal(body)) }
        // A time unit this build does not know ("x" where "s" was): refused, never read as milliseconds.
        let timed = StreamDescriptor(id: StreamID(rawValue: 1), name: "n", recordType: "t", intervalLength: .seconds(1),
                                     partitions: 2, timeField: "f", timeUnit: .seconds)
        body = Array(timed.encodedRow().dropLast(8))
        let unitAt = try #require(body.lastIndex(of: UInt8(ascii: "s")))
        body[unitAt] = UInt8(ascii: "x")
        #expect(throws: Corruption.badRow("catalog row time unit")) { try descriptor(RowChecksum.seal(body)) }

        var f = Array(StreamFrontier().encodedRow().dropLast(8))
        f[1] = 4  // unknown flag
        #expect(throws: Corruption.badRow("frontier row")) { try frontier(RowChecksum.seal(f)) }
        f[1] = 0
        f[0] = 9
        #expect(throws: Corruption.badRow("frontier row version 9; this build reads version 1")) { try frontier(RowChecksum.seal(f)) }

        var s = Array(SealRecord(chunks: [1], records: 1, rawBytes: 1, storedBytes: 1).encodedRow().dropLast(8))
        s[0] = 0
        #expect(throws: Corruption.badRow("seal row version 0; this build reads version 1")) { try seal(RowChecksum.seal(s), partitions: 1) }
    }

    @Test func rowChecksumIsXXH64LittleEndian() throws {
        let sealed = RowChecksum.seal([1, 2, 3])
        let digest = XXH64.hash([1, 2, 3])
        #expect(sealed == [1, 2, 3] + (0..<8).map { UInt8(truncatingIfNeeded: digest >> (8 * $0)) })
        let body = try sealed.withUnsafeBytes { try Array(RowChecksum.verified($0, what: "x")) }
        #expect(body == [1, 2, 3])
        #expect(throws: Corruption.badRow("x (too short)")) {
            try [UInt8](repeating: 0, count: 7).withUnsafeBytes { try RowChecksum.verified($0, what: "x") }
        }
        // Eight bytes: an empty body and its checksum.
        let empty = RowChecksum.seal([])
        #expect(empty.count == 8)
        #expect(try empty.withUnsafeBytes { try RowChecksum.verified($0, what: "x").count } == 0)
    }

    @Test func lateStreamNameAndFirstReadable() {
        let d = StreamDescriptor(id: StreamID(rawValue: 1), name: "views", recordType: "t", intervalLength: .seconds(1), partitions: 1)
        #expect(d.lateStreamName == "views.late")
        #expect(StreamFrontier().firstReadable == nil)
        #expect(StreamFrontier(sealedThrough: Interval(5), firstInterval: Interval(2)).firstReadable == Interval(2))
        #expect(StreamFrontier(sealedThrough: Interval(5), firstInterval: Interval(2), retainedFrom: Interval(4)).firstReadable == Interval(4))
        #expect(StreamFrontier(sealedThrough: Interval(5), firstInterval: Interval(2), retainedFrom: Interval(6)).firstReadable == nil)
        #expect(StreamFrontier(sealedThrough: Interval(5)).firstReadable == nil)
    }
}
