import PropertyBased
import Testing

@testable import StrataStorage

private func bytes(_ key: BlockKey) -> [UInt8] { key.withEncodedBytes { Array($0) } }
private func bytes(_ key: SealKey) -> [UInt8] { key.withEncodedBytes { Array($0) } }

private func blockKey(_ t: (UInt32, UInt64, UInt32, UInt32)) -> BlockKey {
    BlockKey(stream: StreamID(rawValue: t.0), interval: Interval(t.1), partition: PartitionIndex(t.2), chunk: ChunkIndex(rawValue: t.3))
}

/// Values near the edges, where a little-endian or signed comparison would sort differently.
private let edgy32 = Gen<UInt32?>.element(of: [0, 1, 0xFF, 0x100, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, .max]).map { $0! }
private let edgy64 = Gen<UInt64?>.element(of: [0, 1, 0xFF, 0x100, 1 << 32, 0x7FFF_FFFF_FFFF_FFFF, 1 << 63, .max]).map { $0! }

@Suite struct KeyTests {
    @Test func blockKeyIsTwentyBytesBigEndian() {
        let key = BlockKey(stream: StreamID(rawValue: 1), interval: Interval(0x0102_0304_0506_0708),
                           partition: PartitionIndex(3), chunk: ChunkIndex(rawValue: 0x0A0B_0C0D))
        #expect(bytes(key) == [0x00, 0x00, 0x00, 0x01,
                               0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                               0x00, 0x00, 0x00, 0x03,
                               0x0A, 0x0B, 0x0C, 0x0D])
        #expect(BlockKey.encodedCount == 20)
        #expect(key.description == "stream 1 interval 72623859790382856 partition 3 chunk 168496141")
    }

    @Test func sealKeyIsTwelveBytesBigEndian() {
        let key = SealKey(stream: StreamID(rawValue: 0xA1B2_C3D4), interval: Interval(258))
        #expect(bytes(key) == [0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 0, 0, 0, 0x01, 0x02])
        #expect(SealKey.encodedCount == 12)
    }

    @Test func streamKeyIsFourBytesBigEndian() {
        #expect(StreamKey(StreamID(rawValue: 0x0102_0304)).withEncodedBytes { Array($0) } == [1, 2, 3, 4])
    }

    @Test func decodingRejectsEveryWrongLength() {
        let raw = [UInt8](repeating: 0x11, count: 40)
        for length in 0...40 {
            raw.withUnsafeBytes { buffer in
                let slice = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
                #expect((BlockKey(decoding: slice) != nil) == (length == 20), "length \(length)")
                #expect((SealKey(decoding: slice) != nil) == (length == 12), "length \(length)")
            }
        }
    }

    @Test func blockKeysRoundTrip() async {
        await propertyCheck(input: Gen.uint32(), Gen.uint64(), Gen.uint32(), Gen.uint32()) { s, i, p, c throws in
            let key = blockKey((s, i, p, c))
            #expect(key.withEncodedBytes { BlockKey(decoding: $0) } == key)
            let seal = SealKey(stream: StreamID(rawValue: s), interval: Interval(i))
            #expect(seal.withEncodedBytes { SealKey(decoding: $0) } == seal)
        }
    }

    @Test func blockKeyBytesSortLikeTuples() async {
        let small = zip(Gen.uint32(in: 0...3), Gen.uint64(in: 0...5), Gen.uint32(in: 0...3), Gen.uint32(in: 0...3))
        await propertyCheck(count: 300, input: small, small) { a, b throws in
            let byBytes = bytes(blockKey(a)).lexicographicallyPrecedes(bytes(blockKey(b)))
            #expect(byBytes == ((a.0, a.1, a.2, a.3) < (b.0, b.1, b.2, b.3)))
            #expect((bytes(blockKey(a)) == bytes(blockKey(b))) == (a == b))
        }
        let wide = zip(edgy32, edgy64, edgy32, edgy32)
        await propertyCheck(count: 300, input: wide, wide) { a, b throws in
            let byBytes = bytes(blockKey(a)).lexicographicallyPrecedes(bytes(blockKey(b)))
            #expect(byBytes == ((a.0, a.1, a.2, a.3) < (b.0, b.1, b.2, b.3)))
        }
    }

    @Test func sealKeyBytesSortLikeTuples() async {
        let key = zip(edgy32, edgy64)
        await propertyCheck(count: 300, input: key, key) { a, b throws in
            let ka = SealKey(stream: StreamID(rawValue: a.0), interval: Interval(a.1))
            let kb = SealKey(stream: StreamID(rawValue: b.0), interval: Interval(b.1))
            #expect(bytes(ka).lexicographicallyPrecedes(bytes(kb)) == ((a.0, a.1) < (b.0, b.1)))
        }
    }
}

@Suite struct IdentifierTests {
    @Test func intervalOfATimeIsItsFloorDivision() {
        let second = IntervalLength.seconds(1)
        #expect(second.rawValue == 1_000_000_000)
        #expect(second.interval(containing: Timestamp(nanoseconds: 0)) == Interval(0))
        #expect(second.interval(containing: Timestamp(nanoseconds: 999_999_999)) == Interval(0))
        #expect(second.interval(containing: Timestamp(nanoseconds: 1_000_000_000)) == Interval(1))
        #expect(second.interval(containing: Timestamp(nanoseconds: -1)) == nil)
        #expect(second.start(of: Interval(3)) == Timestamp(seconds: 3))
        #expect(second.start(of: Interval(.max)) == Timestamp(rawValue: .max))
        #expect(IntervalLength.milliseconds(250).interval(containing: Timestamp(milliseconds: 1_000)) == Interval(4))
    }

    @Test func timestampsSaturate() {
        #expect(Timestamp(milliseconds: 5).rawValue == 5_000_000)
        #expect(Timestamp(seconds: -2).rawValue == -2_000_000_000)
        #expect(Timestamp(seconds: .max).rawValue == .max)
        #expect(Timestamp(milliseconds: .min).rawValue == .min)
    }

    @Test func intervalLengthsParseAndPrint() {
        #expect(IntervalLength(parsing: "500ms") == .milliseconds(500))
        #expect(IntervalLength(parsing: "1s") == .seconds(1))
        #expect(IntervalLength(parsing: "2m") == .seconds(120))
        #expect(IntervalLength(parsing: "1h") == .seconds(3600))
        #expect(IntervalLength(parsing: "1000us") == .milliseconds(1))
        #expect(IntervalLength(parsing: "999us") == nil)  // under 1 ms
        #expect(IntervalLength(parsing: "0s") == nil)
        #expect(IntervalLength(parsing: "s") == nil)
        #expect(IntervalLength(parsing: "1d") == nil)
        #expect(IntervalLength(parsing: "-1s") == nil)
        #expect(IntervalLength.seconds(2).description == "2s")
        #expect(IntervalLength.milliseconds(100).description == "100ms")
        #expect(IntervalLength(rawValue: 250_000).description == "250us")
        #expect(IntervalLength(rawValue: 5).description == "5ns")
    }

    @Test func retentionCountsKeptIntervals() {
        let second = IntervalLength.seconds(1)
        #expect(Retention.forever.keptIntervals(intervalLength: second) == nil)
        #expect(Retention.intervals(3).keptIntervals(intervalLength: second) == 3)
        #expect(Retention.intervals(0).keptIntervals(intervalLength: second) == 1)
        #expect(Retention.nanoseconds(2_500_000_000).keptIntervals(intervalLength: second) == 3)
        #expect(Retention.nanoseconds(1).keptIntervals(intervalLength: second) == 1)
        #expect(Retention.duration(.seconds(10)) == .nanoseconds(10_000_000_000))
        #expect(Retention.duration(.milliseconds(1500)).keptIntervals(intervalLength: second) == 2)
    }

    /// `--keep 5124096h` once wrapped to about 25 minutes and dropped what it was asked to keep.
    @Test func retentionLongerThanNanosecondsCanCountSaturatesInsteadOfWrapping() {
        #expect(Retention.duration(.seconds(5_124_096 * 3600)) == .nanoseconds(.max))
        #expect(Retention.duration(.seconds(Int64.max)) == .nanoseconds(.max))
        #expect(Retention.duration(.seconds(18_446_744_073)) == .nanoseconds(18_446_744_073_000_000_000))
        #expect(Retention.duration(.seconds(-5)) == .nanoseconds(0))
    }

    /// A retention on a stream with an interval length near `UInt64.max` nanoseconds once trapped
    /// on every seal (arithmetic overflow rounding up).
    @Test func keptIntervalsDoNotOverflowForHugeLengths() {
        let huge = IntervalLength(rawValue: 18_446_744_073_000_000_000)
        #expect(Retention.nanoseconds(3_600_000_000_000).keptIntervals(intervalLength: huge) == 1)
        #expect(Retention.nanoseconds(.max).keptIntervals(intervalLength: huge) == 2)
        #expect(Retention.nanoseconds(.max).keptIntervals(intervalLength: IntervalLength(rawValue: 1)) == .max)
        #expect(Retention.nanoseconds(0).keptIntervals(intervalLength: huge) == 1)
    }

    @Test func streamNamesAreValidated() {
        for name in ["a", "page-views", "A.b_c-9", String(repeating: "x", count: 200)] {
            #expect(StreamDescriptor.isValidName(name), "\(name)")
        }
        for name in ["", "a b", "ü", "a/b", "a:b", String(repeating: "x", count: 201), "tab\t"] {
            #expect(!StreamDescriptor.isValidName(name), "\(name)")
        }
    }
}
