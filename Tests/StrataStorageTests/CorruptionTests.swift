import PropertyBased
import Testing

@testable import StrataStorage

/// Small blocks of both codecs, each a few records.
private func smallBlocks() -> [(String, [UInt8])] {
    let lz4 = makeBlock([String](repeating: "abcabcabcabcabcabcabc", count: 4))
    let plain = makeBlock([Int64(1), -1, .max])
    return [("golden plain", goldenPlainBlock), ("golden LZ4", goldenLZ4Block), ("LZ4", lz4), ("plain", plain)]
}

/// Every decoder of a stored row, with a valid row for it; names as in `.badRow` messages.
private func rowDecoders() -> [(String, [UInt8], ([UInt8]) throws -> Void)] {
    let descriptor = StreamDescriptor(id: StreamID(rawValue: 7), name: "views", recordType: "PageView",
                                      intervalLength: .seconds(1), partitions: 4, retention: .intervals(10),
                                      timeField: "ts", keyField: "user", timeUnit: .milliseconds, lateRecordsOf: nil)
    let frontier = StreamFrontier(sealedThrough: Interval(9), firstInterval: Interval(2), retainedFrom: Interval(3), lateRecords: 4)
    let seal = SealRecord(chunks: [1, 0, 3, 2], records: 100, rawBytes: 4_000, storedBytes: 2_100)
    return [
        ("catalog", descriptor.encodedRow(), { row in
            _ = try row.withUnsafeBytes { try StreamDescriptor(row: $0) }
        }),
        ("frontier", frontier.encodedRow(), { row in
            _ = try row.withUnsafeBytes { try StreamFrontier(row: $0) }
        }),
        ("seal", seal.encodedRow(), { row in
            _ = try row.withUnsafeBytes { try SealRecord(row: $0, partitions: 4) }
        }),
    ]
}

@Suite struct CorruptionTests {
    @Test func everySingleByteChangeOfASmallBlockIsDetected() {
        var codec = BlockCodec()
        for (name, block) in smallBlocks() {
            #expect(blockVerifyError(block, codec: &codec) == nil, "\(name) is valid")
            var undetected: [String] = []
            for index in block.indices {
                for mask in UInt8(1)...255 {
                    var damaged = block
                    damaged[index] ^= mask
                    if blockVerifyError(damaged, codec: &codec) == nil { undetected.append("byte \(index) ^ \(mask)") }
                }
            }
            #expect(undetected.isEmpty, "\(name): \(undetected.prefix(10))")
        }
    }

    @Test func everyTruncationAndExtensionOfASmallBlockIsDetected() {
        var codec = BlockCodec()
        for (name, block) in smallBlocks() {
            for length in 0..<block.count {
                let error = blockVerifyError(Array(block[0..<length]), codec: &codec)
                if length < BlockHeader.size {
                    #expect(error == .truncated(expected: BlockHeader.size, actual: length), "\(name) cut to \(length)")
                } else {
                    #expect(error == .truncated(expected: block.count, actual: length), "\(name) cut to \(length)")
                }
            }
            for extra in [[UInt8(0)], [0xFF, 0xFF], [UInt8](repeating: 0, count: 64)] {
                #expect(blockVerifyError(block + extra, codec: &codec) != nil, "\(name) + \(extra.count) bytes")
            }
        }
    }

    @Test func damagedBlocksNeverYieldRecords() {
        // The reading path (withVerifiedPayload, then RecordFrames) must fail as verify does.
        var codec = BlockCodec()
        for (name, block) in smallBlocks() {
            var yielded = 0
            for index in block.indices {
                for mask: UInt8 in [0x01, 0x80, 0xFF] {
                    var damaged = block
                    damaged[index] ^= mask
                    if (try? unpackBlock(damaged, codec: &codec)) != nil { yielded += 1 }
                }
            }
            #expect(yielded == 0, "\(name)")
        }
    }

    @Test func randomBytesAreNeverABlock() async {
        await propertyCheck(count: 300, input: Gen.uint8().array(of: 0...100)) { bytes throws in
            var codec = BlockCodec()
            #expect(blockVerifyError(bytes, codec: &codec) != nil)
            // With a valid-looking header in front, still rejected.
            var block = Array(goldenLZ4Block[0..<BlockHeader.size]) + bytes
            block.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(bytes.count).bigEndian, toByteOffset: 16, as: UInt32.self) }
            #expect(blockVerifyError(block, codec: &codec) != nil)
        }
    }

    @Test func lz4RejectsDamagedStreamsEvenWithAMatchingChecksum() {
        // Damage the LZ4 stream, then recompute the checksum: decompression itself must refuse.
        var codec = BlockCodec()
        var accepted: [String] = []
        for index in BlockHeader.size..<goldenLZ4Block.count {
            for mask in UInt8(1)...255 {
                var block = goldenLZ4Block
                block[index] ^= mask
                block.withUnsafeMutableBytes { out in
                    let checksum = BlockHeader.computeChecksum(UnsafeRawBufferPointer(out))
                    out.storeBytes(of: checksum.bigEndian, toByteOffset: 24, as: UInt64.self)
                }
                // Some changes still decode to 31 bytes of valid framing (e.g. another literal
                // byte); what matters is that nothing traps and that the result is checked.
                do {
                    let (header, frames) = try unpackBlock(block, codec: &codec)
                    #expect(header.rawLength == 31)
                    #expect(frames.count == 1)
                    accepted.append("\(index)^\(mask)")
                } catch let error as Corruption {
                    #expect(error == .decompressionFailed || error == .badFraming(offset: 0)
                                || { if case .recordCountMismatch = error { return true } else { return false } }(),
                            "byte \(index) ^ \(mask): \(error)")
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
        // Changing the frame length (byte 33) always breaks the framing; changing a trailing
        // literal (bytes 39–43) always decodes to another well-framed record.
        #expect(!accepted.contains { $0.hasPrefix("33^") })
        #expect(accepted.filter { $0.hasPrefix("39^") }.count == 255)
    }

    @Test func everySingleByteChangeOfARowIsDetected() {
        for (name, row, decode) in rowDecoders() {
            #expect(throws: Never.self, "\(name) is valid") { try decode(row) }
            var undetected: [String] = []
            for index in row.indices {
                for mask in UInt8(1)...255 {
                    var damaged = row
                    damaged[index] ^= mask
                    do { try decode(damaged); undetected.append("byte \(index) ^ \(mask)") } catch {}
                }
            }
            #expect(undetected.isEmpty, "\(name): \(undetected.prefix(10))")
        }
    }

    @Test func everyTruncationAndExtensionOfARowIsDetected() {
        for (name, row, decode) in rowDecoders() {
            for length in 0..<row.count {
                #expect(throws: Corruption.self, "\(name) cut to \(length)") { try decode(Array(row[0..<length])) }
            }
            for length in 0..<8 {
                #expect(throws: Corruption.badRow("\(name) row (too short)"), "\(name) cut to \(length)") {
                    try decode(Array(row[0..<length]))
                }
            }
            #expect(throws: Corruption.self, "\(name) + 1 byte") { try decode(row + [0]) }
        }
    }

    @Test func randomBytesAreNeverARow() async {
        await propertyCheck(count: 300, input: Gen.uint8().array(of: 0...80)) { bytes throws in
            for (name, _, decode) in rowDecoders() {
                #expect(throws: Corruption.self, "\(name)") { try decode(bytes) }
                // Even with a valid checksum the body must parse strictly, without trapping.
                let sealed = RowChecksum.seal(bytes)
                do { try decode(sealed) } catch {}
            }
        }
    }
}
