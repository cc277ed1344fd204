import PropertyBased
import StrataStorage
import Testing

@testable import StrataCluster

/// The byte formats of replicated streams: seal messages and subject tokens.
@Suite struct ReplicationFormatTests {
    @Test func sealMessagesRoundTripAndEveryTruncationIsCorrupt() async {
        let chunks = Gen.uint32(in: 0...9).array(of: 1...6)
        await propertyCheck(count: 60, input: Gen.uint64(), Gen.uint64(), Gen.uint32(), chunks) { interval, sequence, count, chunks throws in
            let row = SealRecord(chunks: chunks, records: UInt64(count), rawBytes: sequence / 3, storedBytes: sequence / 7).encodedRow()
            let seal = SealMessage(interval: Interval(interval), firstSequence: sequence, blockMessages: count,
                                   sealRow: interval % 4 == 0 ? [] : row)
            let bytes = seal.encoded()
            let decoded = try SealMessage(decoding: bytes, what: "test")
            #expect(decoded == seal)
            #expect(try decoded.sealRecord(partitions: UInt32(chunks.count), what: "test")
                    == (seal.sealRow.isEmpty ? nil : SealRecord(chunks: chunks, records: UInt64(count), rawBytes: sequence / 3,
                                                                storedBytes: sequence / 7)))
            for length in 0..<bytes.count {
                #expect(throws: ClusterError.self) { try SealMessage(decoding: Array(bytes.prefix(length)), what: "test") }
            }
            #expect(throws: ClusterError.self) { try SealMessage(decoding: bytes + [0], what: "test") }
        }
    }

    @Test func damagedSealRowsAndBlocksAreCorrupt() throws {
        let row = SealRecord(chunks: [1, 2], records: 3, rawBytes: 4, storedBytes: 5).encodedRow()
        for index in row.indices {
            var damaged = row
            damaged[index] ^= 0x10
            let seal = SealMessage(interval: Interval(1), firstSequence: 1, blockMessages: 3, sealRow: damaged)
            #expect(throws: ClusterError.self) { try seal.sealRecord(partitions: 2, what: "test") }
        }
        var codec = BlockCodec()
        let payload: [UInt8] = Array(repeating: 7, count: 300)
        let block = payload.withUnsafeBytes { codec.encode(payload: $0, recordCount: 3) }
        try verifyBlock(block, what: "block")
        for index in block.indices {
            var damaged = block
            damaged[index] ^= 0x01
            #expect(throws: ClusterError.self) { try verifyBlock(damaged, what: "block") }
        }
    }

    @Test func streamNamesRoundTripThroughTokens() async {
        let alphabet: [Character] = Array("ab._-Z9")
        await propertyCheck(count: 200, input: Gen.int(in: 0..<alphabet.count).array(of: 1...12)) { indexes in
            let name = String(indexes.map { alphabet[$0] })
            let names = ClusterNames(namespace: "ns", stream: name)
            #expect(names.token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
            #expect(ClusterNames.stream(ofJetStream: names.jetStreamName, namespace: "ns") == name)
        }
    }
}
