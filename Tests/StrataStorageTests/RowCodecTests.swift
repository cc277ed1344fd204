import PropertyBased
import Testing

@testable import StrataStorage

/// One sample value of every row type, with the exact bytes this format version writes for it:
/// rows written before the row codecs shared one frame (`RowCodec`) decode to the same values,
/// and the same values encode to the same bytes.
private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

private func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        out.append(UInt8(hex[index..<next], radix: 16) ?? 0)
        index = next
    }
    return out
}

private let sampleDescriptor = StreamDescriptor(
    id: StreamID(rawValue: 7), name: "views", recordType: "json", intervalLength: .seconds(1), partitions: 4,
    retention: .intervals(10), timeField: "ts", keyField: "url", timeUnit: .milliseconds, lateRecordsOf: nil,
    keyPlacement: .fieldBytes)  // a version 1 row, as written before the placement was recorded
private let sampleFrontier = StreamFrontier(sealedThrough: Interval(9), firstInterval: Interval(2),
                                            retainedFrom: Interval(3), lateRecords: 4)
private let sampleSeal = SealRecord(chunks: [1, 0, 2, 1], records: 90, rawBytes: 4000, storedBytes: 1500)
private let sampleProgress = ProgressMark(interval: Interval(41), fingerprint: 0xfeed_beef)
private let sampleStats: VertexStats = {
    var s = VertexStats()
    s.inputs = ["views"]
    s.recoveries = 2
    s.speculativeLaunches = 3
    s.retries = 4
    s.outputs = ["counts"]
    s.speculativeWins = 1
    s.resumes = 5
    s.crashRecoveries = 6
    s.restartsAfterFailure = 7
    s.snapshotsWritten = 8
    s.runState = .stoppedCleanly
    s.lastStart = .resumed
    s.lastStartProgress = Interval(40)
    return s
}()
private let sampleTiming = VertexTiming(interval: Interval(12), processingNanoseconds: 1_500_000,
                                        schedulingDelayNanoseconds: 20_000, recordsIn: 1000, recordsOut: 10,
                                        speculativeLaunches: 1, speculativeWins: 1, retries: 2)
private let sampleState = StateDescriptor(stream: "p.v1.out", vertex: "p.v1", kind: .keyedState, keyType: "String",
                                          valueType: "Int64", changes: "p.v1.changes")
private let sampleSource = SourceRecord(position: InputPosition(lines: 3, bytes: 120, token: [9, 8]),
                                        maxEventTime: -5, finished: true, processID: 4242, nextRoundRobinPartition: 2)
/// A source row of version 1, written before the round-robin partition was kept: it reads as partition 0.
private let sampleSourceV1 = SourceRecord(position: InputPosition(lines: 3, bytes: 120, token: [9, 8]),
                                          maxEventTime: -5, finished: true, processID: 4242)

@Suite struct RowCodecTests {
    @Test func everyRowTypeKeepsItsBytes() throws {
        let golden = [
            ("catalog", hex(sampleDescriptor.encodedRow()), GoldenRows.catalog),
            ("frontier", hex(sampleFrontier.encodedRow()), GoldenRows.frontier),
            ("seal", hex(sampleSeal.encodedRow()), GoldenRows.seal),
            ("progress", hex(sampleProgress.encodedRow()), GoldenRows.progress),
            ("vertex stats", hex(sampleStats.encodedRow()), GoldenRows.stats),
            ("vertex timing", hex(sampleTiming.encodedRow()), GoldenRows.timing),
            ("state", hex(sampleState.encodedRow()), GoldenRows.state),
            ("source", hex(sampleSource.encodedRow()), GoldenRows.source),
        ]
        for (what, written, pinned) in golden { #expect(written == pinned, "\(what) row") }
    }

    @Test func rowsWrittenBeforeDecodeToTheSameValues() throws {
        #expect(try bytes(GoldenRows.catalog).withUnsafeBytes { try StreamDescriptor(row: $0) } == sampleDescriptor)
        #expect(try bytes(GoldenRows.frontier).withUnsafeBytes { try StreamFrontier(row: $0) } == sampleFrontier)
        #expect(try bytes(GoldenRows.seal).withUnsafeBytes { try SealRecord(row: $0, partitions: 4) } == sampleSeal)
        #expect(try bytes(GoldenRows.progress).withUnsafeBytes { try ProgressMark(row: $0) } == sampleProgress)
        #expect(try bytes(GoldenRows.stats).withUnsafeBytes { try VertexStats(row: $0) } == sampleStats)
        #expect(try bytes(GoldenRows.timing).withUnsafeBytes { try VertexTiming(row: $0) } == sampleTiming)
        #expect(try bytes(GoldenRows.state).withUnsafeBytes { try StateDescriptor(stream: "p.v1.out", row: $0) }
                == sampleState)
        #expect(try bytes(GoldenRows.source).withUnsafeBytes { try SourceRecord(row: $0) } == sampleSource)
        #expect(try bytes(GoldenRows.sourceV1).withUnsafeBytes { try SourceRecord(row: $0) } == sampleSourceV1)
    }

    @Test func progressTimingStateAndSourceRowsRoundTrip() async {
        await propertyCheck(input: Gen.uint64(), Gen.uint64()) { interval, fingerprint throws in
            let mark = ProgressMark(interval: Interval(interval), fingerprint: fingerprint)
            #expect(try mark.encodedRow().withUnsafeBytes { try ProgressMark(row: $0) } == mark)
        }
        await propertyCheck(input: Gen.uint64(), Gen.uint64(), Gen.uint32(), Gen.uint32()) { a, b, c, d throws in
            let timing = VertexTiming(interval: Interval(a), processingNanoseconds: b, schedulingDelayNanoseconds: a ^ b,
                                      recordsIn: b &+ 1, recordsOut: a, speculativeLaunches: c, speculativeWins: d,
                                      retries: c ^ d)
            #expect(try timing.encodedRow().withUnsafeBytes { try VertexTiming(row: $0) } == timing)
        }
        let text = Gen.letterOrNumber.string(of: 0...12)
        await propertyCheck(input: text, text, text, text, Gen.bool) { vertex, key, value, changes, keyed throws in
            let state = StateDescriptor(stream: "s", vertex: vertex, kind: keyed ? .keyedState : .runningReduce,
                                        keyType: key, valueType: value, changes: changes)
            #expect(try state.encodedRow().withUnsafeBytes { try StateDescriptor(stream: "s", row: $0) } == state)
        }
        await propertyCheck(input: Gen.uint64(), Gen.uint64(), Gen.int64().optional, Gen.bool, Gen.int32()) {
            lines, offset, eventTime, finished, pid throws in
            let source = SourceRecord(position: InputPosition(lines: lines, bytes: offset, token: [UInt8](repeating: 7, count: Int(lines % 9))),
                                      maxEventTime: eventTime, finished: finished, processID: pid,
                                      nextRoundRobinPartition: UInt32(truncatingIfNeeded: offset))
            #expect(try source.encodedRow().withUnsafeBytes { try SourceRecord(row: $0) } == source)
        }
    }

    /// Every truncation and every single-byte change of every sample row is a `.badRow`, never a
    /// crash and never a different value.
    @Test func everyTruncationAndByteFlipOfEveryRowIsRefused() throws {
        let decoders: [(String, [UInt8], ([UInt8]) throws -> Void)] = [
            ("catalog", bytes(GoldenRows.catalog), { b in _ = try b.withUnsafeBytes { try StreamDescriptor(row: $0) } }),
            ("frontier", bytes(GoldenRows.frontier), { b in _ = try b.withUnsafeBytes { try StreamFrontier(row: $0) } }),
            ("seal", bytes(GoldenRows.seal), { b in _ = try b.withUnsafeBytes { try SealRecord(row: $0, partitions: 4) } }),
            ("progress", bytes(GoldenRows.progress), { b in _ = try b.withUnsafeBytes { try ProgressMark(row: $0) } }),
            ("stats", bytes(GoldenRows.stats), { b in _ = try b.withUnsafeBytes { try VertexStats(row: $0) } }),
            ("timing", bytes(GoldenRows.timing), { b in _ = try b.withUnsafeBytes { try VertexTiming(row: $0) } }),
            ("state", bytes(GoldenRows.state), { b in _ = try b.withUnsafeBytes { try StateDescriptor(stream: "s", row: $0) } }),
            ("source", bytes(GoldenRows.source), { b in _ = try b.withUnsafeBytes { try SourceRecord(row: $0) } }),
            ("source v1", bytes(GoldenRows.sourceV1), { b in _ = try b.withUnsafeBytes { try SourceRecord(row: $0) } }),
        ]
        for (what, row, decode) in decoders {
            try decode(row)
            for length in 0..<row.count {
                #expect(throws: Corruption.self, "\(what) row cut to \(length) bytes") { try decode(Array(row[..<length])) }
            }
            for index in row.indices {
                var flipped = row
                flipped[index] ^= 0x5a
                #expect(throws: Corruption.self, "\(what) row, byte \(index) changed") { try decode(flipped) }
            }
        }
    }
}

/// The bytes of the sample rows, as written by format version 1 before and after `RowCodec` (and
/// by the row versions after it, where a row has them).
private enum GoldenRows {
    static let catalog =
        "0107000000057669657773046a736f6e00ca9a3b0000000004000000010a0000000000000001027473010375726c01026d73006615c98c20ee5bf9"
    static let frontier = "010309000000000000000200000000000000030000000000000004000000000000007042ac625723059f"
    static let seal =
        "015a00000000000000a00f000000000000dc050000000000000401000000000000000200000001000000cf0d1f33a6d75550"
    static let progress = "012900000000000000efbeedfe00000000b9b37ad5b7ae1b90"
    static let stats =
        "03010576696577730200000000000000030000000000000004000000000000000106636f756e7473010000000000000005000000000000000600000000000000070000000000000008000000000000000202012800000000000000a40987f5d28bbafe"
    static let timing =
        "010c0000000000000060e3160000000000204e000000000000e8030000000000000a000000000000000100000001000000020000002bb272c4e7a9ae35"
    static let state = "0104702e76310206537472696e6705496e7436340c702e76312e6368616e676573bec1db2cb18d34f9"
    /// Version 2: the round-robin partition (u32) follows the token.
    static let source = "020303000000000000007800000000000000fbffffffffffffff92100000020908020000009fa0a8fb418344db"
    static let sourceV1 = "010303000000000000007800000000000000fbffffffffffffff92100000020908c097364bde31b8e5"
}
