import PropertyBased
import StrataTestSupport
import Testing

@testable import StrataStorage

/// The block of the two `String` records "a" and "bc": stored uncompressed (LZ4 would not shrink
/// it). Header layout as documented in BlockHeader.swift; checksum from reference XXH64.
let goldenPlainBlock: [UInt8] = [
    0x53, 0x54, 0x42, 0x4B,  // magic STBK
    0x01,  // format version 1
    0x00,  // codec: none
    0x00, 0x00,  // reserved
    0x00, 0x00, 0x00, 0x02,  // record count 2
    0x00, 0x00, 0x00, 0x07,  // raw length 7
    0x00, 0x00, 0x00, 0x07,  // stored length 7
    0x00, 0x00, 0x00, 0x00,  // reserved
    0x7B, 0xAC, 0x54, 0x9D, 0x73, 0x17, 0xC8, 0xFB,  // XXH64(payload, seed: XXH64(header[0..<24]))
    0x02, 0x01, 0x61,  // frame: length 2, String "a"
    0x03, 0x02, 0x62, 0x63,  // frame: length 3, String "bc"
]

/// A hand-made LZ4 block: one 31-byte frame (length 30, then 30 × "x") as literals [1E 78],
/// a match of 24 at offset 1, and 5 final literals.
let goldenLZ4Block: [UInt8] = [
    0x53, 0x54, 0x42, 0x4B, 0x01,
    0x01,  // codec: LZ4
    0x00, 0x00,
    0x00, 0x00, 0x00, 0x01,  // 1 record
    0x00, 0x00, 0x00, 0x1F,  // raw length 31
    0x00, 0x00, 0x00, 0x0C,  // stored length 12
    0x00, 0x00, 0x00, 0x00,
    0xF9, 0x87, 0xCD, 0x15, 0xFB, 0x56, 0xD7, 0x79,
    0x2F, 0x1E, 0x78, 0x01, 0x00, 0x05, 0x50, 0x78, 0x78, 0x78, 0x78, 0x78,
]

/// Records that compress well (repeated text) or not at all (random bytes).
private func sampleRecords(seed: UInt64, count: Int, compressible: Bool) -> [Bytes] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { i in
        let length = Int(rng.next() % 300)
        if compressible { return Bytes([UInt8](repeating: UInt8(i % 7), count: length)) }
        return Bytes(rng.bytes(length))
    }
}

@Suite struct BlockCodecTests {
    @Test func smallBlockHasExactBytes() throws {
        #expect(makeBlock(["a", "bc"]) == goldenPlainBlock)
        var codec = BlockCodec()
        let (header, frames) = try unpackBlock(goldenPlainBlock, codec: &codec)
        #expect(header.codec == .none)
        #expect(header.recordCount == 2)
        #expect(header.rawLength == 7)
        #expect(header.storedLength == 7)
        #expect(header.checksum == 0x7BAC_549D_7317_C8FB)
        #expect(frames == [[1, 0x61], [2, 0x62, 0x63]])
        #expect(blockVerifyError(goldenPlainBlock, codec: &codec) == nil)
    }

    @Test func handMadeLZ4BlockDecodes() throws {
        var codec = BlockCodec()
        let (header, frames) = try unpackBlock(goldenLZ4Block, codec: &codec)
        #expect(header.codec == .lz4)
        #expect(header.recordCount == 1)
        #expect(header.rawLength == 31)
        #expect(header.storedLength == 12)
        #expect(frames == [[UInt8](repeating: 0x78, count: 30)])
        #expect(try decoded(frames[0], as: JSONRecord.self).text == String(repeating: "x", count: 30))
    }

    @Test func emptyPayloadIsAnEmptyPlainBlock() throws {
        let block = makeBlock([Int64]())
        #expect(block.count == BlockHeader.size)
        var codec = BlockCodec()
        let (header, frames) = try unpackBlock(block, codec: &codec)
        #expect(header.codec == .none)
        #expect(header.recordCount == 0)
        #expect(frames.isEmpty)
    }

    @Test func compressiblePayloadUsesLZ4() throws {
        let records = [String](repeating: "the same text over and over ", count: 50)
        let block = makeBlock(records)
        var codec = BlockCodec()
        let (header, frames) = try unpackBlock(block, codec: &codec)
        #expect(header.codec == .lz4)
        #expect(header.storedLength < header.rawLength)
        #expect(block.count == BlockHeader.size + header.storedLength)
        #expect(try frames.map { try decoded($0, as: String.self) } == records)
    }

    @Test func framesLongerThan127BytesUseMultiByteLengths() throws {
        var builder = PayloadBuilder(capacity: 0)
        builder.append(Bytes([UInt8](repeating: 1, count: 126)))  // 127 bytes: one-byte prefix
        builder.append(Bytes([UInt8](repeating: 2, count: 127)))  // 128 bytes: two-byte prefix
        builder.append(Bytes([UInt8](repeating: 3, count: 20_000)))  // 20,003 bytes: three-byte prefix
        #expect(builder.recordCount == 3)
        let payload = builder.writer.bytes
        #expect(payload[0] == 0x7F)
        #expect(payload[128] == 0x80 && payload[129] == 0x01)
        #expect(Array(payload[258..<261]) == [0xA3, 0x9C, 0x01])
        #expect(payload.count == 1 + 127 + 2 + 128 + 3 + 20_003)
        // Framing already-encoded bytes gives the same payload.
        var again = PayloadBuilder(capacity: 0)
        for record in [126, 127, 20_000].enumerated().map({ Bytes([UInt8](repeating: UInt8($0.offset + 1), count: $0.element)) }) {
            encoded(record).withUnsafeBytes { again.append(encoded: $0) }
        }
        #expect(again.writer.bytes == payload)
        #expect(again.recordCount == 3)
    }

    @Test func builderResetKeepsNothing() {
        var builder = PayloadBuilder(capacity: 16)
        builder.append(Int64(1))
        builder.reset()
        #expect(builder.byteCount == 0)
        #expect(builder.recordCount == 0)
        builder.append(UInt8(9))
        #expect(builder.writer.bytes == [1, 9])
    }

    @Test func recordsRoundTripThroughBlocks() async throws {
        await propertyCheck(count: 60, input: Gen.uint64(), Gen.int(in: 0...60), Gen.bool) { seed, count, compressible throws in
            let records = sampleRecords(seed: seed, count: count, compressible: compressible)
            let block = makeBlock(records)
            var codec = BlockCodec()
            let (header, frames) = try unpackBlock(block, codec: &codec)
            #expect(header.recordCount == records.count)
            #expect(try frames.map { try decoded($0, as: Bytes.self) } == records)
            let rawLength = records.reduce(0) { total, r in
                let n = encoded(r).count
                return total + n + (n < 128 ? 1 : 2)
            }
            #expect(header.rawLength == rawLength)
            if compressible && rawLength > 200 { #expect(header.codec == .lz4) }
            if !compressible && rawLength > 2_000 { #expect(header.codec == .none) }
            #expect(blockVerifyError(block, codec: &codec) == nil)
        }
    }

    @Test func oneCodecDecodesBlocksOfManySizes() throws {
        // The scratch buffer grows and is reused; a smaller block after a larger one must not see stale bytes.
        var codec = BlockCodec()
        for (i, count) in [200, 3, 1_000, 0, 17].enumerated() {
            let records = sampleRecords(seed: UInt64(i), count: count, compressible: true)
            let (_, frames) = try unpackBlock(makeBlock(records), codec: &codec)
            #expect(try frames.map { try decoded($0, as: Bytes.self) } == records)
        }
    }

    @Test func headerParsingRejectsBadFieldsWithTheirOwnErrors() {
        func parseError(_ bytes: [UInt8]) -> Corruption? {
            do {
                _ = try bytes.withUnsafeBytes { buffer in try BlockHeader(parsing: buffer) }
                return nil
            } catch {
                return error as? Corruption
            }
        }
        var block = goldenPlainBlock
        #expect(parseError(block) == nil)
        #expect(parseError(Array(block[0..<31])) == .truncated(expected: 32, actual: 31))
        #expect(parseError(Array(block[0..<35])) == .truncated(expected: 39, actual: 35))
        #expect(parseError(block + [0]) == .truncated(expected: 39, actual: 40))
        block[0] = 0x73
        #expect(parseError(block) == .badMagic)
        block = goldenPlainBlock
        block[4] = 2
        #expect(parseError(block) == .unsupportedVersion(2))
        block = goldenPlainBlock
        block[5] = 2
        #expect(parseError(block) == .unknownCodec(2))
        for reserved in [6, 7, 20, 21, 22, 23] {
            block = goldenPlainBlock
            block[reserved] = 1
            #expect(parseError(block) == .reservedFieldSet, "byte \(reserved)")
        }
        block = goldenPlainBlock
        block[15] = 8  // raw length 8, stored 7, uncompressed
        #expect(parseError(block) == .badFraming(offset: 0))
        block = goldenPlainBlock
        block[11] = 8  // 8 records in 7 bytes
        #expect(parseError(block) == .recordCountMismatch(header: 8, found: 7))
        block = goldenLZ4Block
        block[12] = 0x05  // raw length over 64 MiB
        #expect(parseError(block) == .badFraming(offset: 0))
    }

    @Test func framingErrorsAreReportedAfterTheChecksum() {
        // Re-checksummed blocks with damaged framing: only the framing check can catch them.
        func resealed(_ payload: [UInt8], count: Int) -> [UInt8] {
            var block = goldenPlainBlock
            block.removeSubrange(32...)
            block.append(contentsOf: payload)
            block.withUnsafeMutableBytes { out in
                out.storeBytes(of: UInt32(count).bigEndian, toByteOffset: 8, as: UInt32.self)
                out.storeBytes(of: UInt32(payload.count).bigEndian, toByteOffset: 12, as: UInt32.self)
                out.storeBytes(of: UInt32(payload.count).bigEndian, toByteOffset: 16, as: UInt32.self)
                let checksum = BlockHeader.computeChecksum(UnsafeRawBufferPointer(out))
                out.storeBytes(of: checksum.bigEndian, toByteOffset: 24, as: UInt64.self)
            }
            return block
        }
        var codec = BlockCodec()
        #expect(blockVerifyError(resealed([2, 1, 0x61, 3, 2, 0x62, 0x63], count: 2), codec: &codec) == nil)
        #expect(blockVerifyError(resealed([2, 1, 0x61, 9, 2, 0x62, 0x63], count: 2), codec: &codec) == .badFraming(offset: 3))
        #expect(blockVerifyError(resealed([2, 1, 0x61, 3, 2, 0x62, 0x63], count: 1), codec: &codec)
                    == .recordCountMismatch(header: 1, found: 2))
        #expect(blockVerifyError(resealed([2, 1, 0x61, 3, 2, 0x62, 0x63], count: 3), codec: &codec)
                    == .recordCountMismatch(header: 3, found: 2))
        #expect(blockVerifyError(resealed([0x80, 0x80, 0x80, 0x80, 0x01, 0], count: 1), codec: &codec) == .badFraming(offset: 0))
        #expect(blockVerifyError(resealed([0x80], count: 1), codec: &codec) == .badFraming(offset: 0))
        // A zero-length frame is a valid (empty) record.
        #expect(blockVerifyError(resealed([0, 0], count: 2), codec: &codec) == nil)
    }
}
