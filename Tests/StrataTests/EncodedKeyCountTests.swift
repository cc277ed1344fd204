import PropertyBased
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// `StoredStream.countByEncodedKey` (issue 16: aggregations over encoded key bytes) against the
/// decoding path it replaces, `slice(...).map { KeyValue(key, 1) }.reduceByKey(+)`: the same pairs
/// in the same partitions and order, for a key first or after another field, and the errors of a
/// key that does not decode.
@Suite struct EncodedKeyCountTests {
    /// Keys with repeats, non-ASCII bytes and two canonically equal spellings (two keys by bytes).
    static let keys = ["/a", "/b", "/é", "/e\u{301}", "", "/a/very/long/path/beyond/sixteen/bytes", "/ü"]

    @Test func countsEqualTheDecodedSliceReduction() async {
        let input = zip(Gen.int(in: 0...300).array(of: 1...6), Gen.int(in: 1...5), Gen.int(in: 1...4))
        await propertyCheck(count: 12, input: input) { codes, partitions, outputs in
            try withStore { store in
                let keyFirst = try store.stream("first", of: KeyValue<String, Int64>.self, interval: .seconds(1),
                                                partitions: partitions)
                let keySecond = try store.stream("second", of: KeyValue<Int64, String>.self, interval: .seconds(1),
                                                 partitions: partitions)
                let a = try keyFirst.explicitAppender(), b = try keySecond.explicitAppender()
                for (t, code) in codes.enumerated() {
                    for i in 0..<(code % 40) {
                        let key = Self.keys[(code + i * i) % Self.keys.count]
                        try a.append(KeyValue(key, Int64(i)), interval: Interval(UInt64(t)))
                        try b.append(KeyValue(Int64(i), key), interval: Interval(UInt64(t)))
                    }
                }
                let last = Interval(UInt64(codes.count - 1))
                try a.seal(through: last)
                try b.seal(through: last)
                guard let from = try keyFirst.frontier().firstInterval else { return }
                let expected = try keyFirst.slice(from: from, through: last).map { KeyValue($0.key, Int64(1)) }
                    .reduceByKey(partitions: outputs, +).partitions()
                let first = try keyFirst.countByEncodedKey(from: from, through: last, as: String.self,
                                                           partitions: outputs) { record in
                    try record.encodedBytes(of: String.self)
                }
                #expect(try first.partitions() == expected)
                let second = try keySecond.countByEncodedKey(from: from, through: last, as: String.self,
                                                             partitions: outputs) { record in
                    try record.skip(Int64.self)
                    return try record.encodedBytes(of: String.self)
                }
                // This stream is partitioned by its Int64 key: its records lie in another order.
                let expectedSecond = try keySecond.slice(from: from, through: last).map { KeyValue($0.value, Int64(1)) }
                    .reduceByKey(partitions: outputs, +).partitions()
                #expect(try second.partitions() == expectedSecond)
                #expect(Set(expectedSecond.joined().map { "\($0)" }) == Set(expected.joined().map { "\($0)" }))
            }
        }
    }

    @Test func aKeyThatDoesNotDecodeIsARejectedRecordNamingWhere() throws {
        try withStore { store in
            let stream = try store.stream("s", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(KeyValue("ok", 1), interval: Interval(3))
            try appender.append(KeyValue("zzzz", 2), interval: Interval(3))
            try appender.seal(through: Interval(3))
            // Only the length prefix of the key: "zzzz" then lacks its bytes.
            let error = #expect(throws: StorageError.self) {
                try stream.countByEncodedKey(from: Interval(3), through: Interval(3), as: String.self) { record in
                    let start = record.offset
                    let length = try record.readRaw(count: 1)
                    guard length[0] == 2 else { return length }
                    _ = try record.readRaw(count: 2)
                    return UnsafeRawBufferPointer(rebasing: record.buffer[start..<record.offset])
                }
            }
            guard case .recordRejected(let location, let record, _, _) = error else {
                Issue.record("expected recordRejected, got \(String(describing: error))")
                return
            }
            #expect(location.stream == "s")
            #expect(location.interval == Interval(3))
            #expect(record == 1)
            #expect(throws: TimeTravelError.self) {
                try stream.countByEncodedKey(from: Interval(4), through: Interval(3), as: String.self) { record in
                    try record.encodedBytes(of: String.self)
                }
            }
        }
    }
}
