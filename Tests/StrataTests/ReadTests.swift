import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// A record type that claims to be `Swift.Int64` but decodes only four bytes: reading an
/// `Int64` stream with it finds bytes it does not consume.
private struct FourBytes: RecordCodable, Equatable {
    static var recordTypeName: String { "Swift.Int64" }
    var value: UInt32
    func encode(to writer: inout BinaryWriter) { writer.write(value) }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) { value = try reader.read() }
}

/// A record type that claims to be `Swift.Int64` and rejects every value.
private struct Picky: RecordCodable {
    static var recordTypeName: String { "Swift.Int64" }
    func encode(to writer: inout BinaryWriter) {}
    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        throw .invalidValue(offset: reader.offset, what: "Picky")
    }
}

private func location(_ stream: String, _ interval: UInt64, _ partition: UInt32? = nil) -> StoreLocation {
    StoreLocation(stream: stream, interval: Interval(interval), partition: partition.map { PartitionIndex($0) })
}

/// Writes interval t ∈ `intervals` with `t` records `t·100 + i`; round-robin goes on across intervals.
private func fill(_ stream: StoredStream<Int64>, _ intervals: [UInt64], sealThrough: UInt64) throws {
    let appender = try stream.explicitAppender()
    for t in intervals {
        for i in 0..<Int64(t) { try appender.append(Int64(t) * 100 + i, interval: Interval(t)) }
    }
    try appender.seal(through: Interval(sealThrough))
}

@Suite struct ReadTests {
    @Test func rangeReadsIncludeEmptyIntervals() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 2)
            try fill(stream, [2, 3, 5], sealThrough: 6)
            let batches = try stream.read(Interval(2)...Interval(6))
            #expect(batches.map(\.interval) == (2...6).map { Interval($0) })
            #expect(batches.map(\.partitions) == [
                [[200], [201]],
                [[300, 302], [301]],
                [[], []],
                [[501, 503], [500, 502, 504]],  // round-robin continues across intervals
                [[], []],
            ])
            let one = try stream.read(Interval(3)...Interval(5), partition: PartitionIndex(1))
            #expect(one.map(\.partitions) == [[[], [301]], [[], []], [[], [500, 502, 504]]])
            #expect(try stream.read(Interval(6)...Interval(6)).map(\.count) == [0])
        }
    }

    @Test func forEachVisitsIntervalPartitionChunkSequenceOrder() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 2)
            try fill(stream, [2, 3, 5], sealThrough: 5)
            var seen: [String] = []
            try stream.forEach(in: Interval(2)...Interval(5)) { interval, partition, record in
                seen.append("\(interval)/\(partition)/\(record)")
            }
            #expect(seen == ["2/0/200", "2/1/201", "3/0/300", "3/0/302", "3/1/301",
                             "5/0/501", "5/0/503", "5/1/500", "5/1/502", "5/1/504"])
            var onlyOne: [Int64] = []
            try stream.forEach(in: Interval(2)...Interval(5), partition: PartitionIndex(1)) { _, p, record in
                #expect(p == PartitionIndex(1))
                onlyOne.append(record)
            }
            #expect(onlyOne == [201, 301, 500, 502, 504])
        }
    }

    @Test func rangeReadsCheckBothEnds() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 2)
            try fill(stream, [2, 3], sealThrough: 4)
            #expect(throws: StorageError.notSealed(location("r", 5), newestSealed: Interval(4))) {
                try stream.read(Interval(2)...Interval(5))
            }
            #expect(throws: StorageError.beforeStreamStart(location("r", 1), firstInterval: Interval(2))) {
                try stream.read(Interval(1)...Interval(3))
            }
            #expect(throws: StorageError.partitionOutOfRange(location("r", 2, 2), partitions: 2)) {
                try stream.forEach(in: Interval(2)...Interval(3), partition: PartitionIndex(2)) { _, _, _ in }
            }
            // An error thrown by the body stops the walk and comes out as it is.
            struct Stop: Error {}
            var calls = 0
            #expect(throws: Stop.self) {
                try stream.forEach(in: Interval(2)...Interval(3)) { _, _, _ in
                    calls += 1
                    throw Stop()
                }
            }
            #expect(calls == 1)
        }
    }

    @Test func readNewestReadsTheNewestSealedInterval() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 2)
            #expect(try stream.readNewest() == nil)
            try fill(stream, [2], sealThrough: 2)
            let newest = try #require(try stream.readNewest())
            #expect(newest.interval == Interval(2))
            #expect(newest.partitions == [[200], [201]])
            #expect(try stream.readNewest(partition: PartitionIndex(1))?.partitions == [[], [201]])
            try fill(stream, [], sealThrough: 3)
            #expect(try stream.readNewest()?.interval == Interval(3))
            #expect(try stream.readNewest()?.count == 0)
        }
    }

    @Test func intervalOfATimeUsesTheStreamsLength() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .milliseconds(250), partitions: 1)
            #expect(stream.interval(containing: Timestamp(milliseconds: 1_000)) == Interval(4))
            #expect(stream.interval(containing: Timestamp(milliseconds: 1_249)) == Interval(4))
            #expect(stream.interval(containing: Timestamp(nanoseconds: -1)) == nil)
        }
    }

    /// Intact records the reading type rejects are `.recordRejected`, not corruption (issue 10, item 11).
    @Test func recordsThatDoNotDecodeAreRejectedWithTheirLocationAndType() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 2)
            try fill(stream, [3], sealThrough: 3)
            let narrow = try store.stream(named: "r", of: FourBytes.self)
            #expect(throws: StorageError.recordRejected(location("r", 3, 0), record: 0, recordType: FourBytes.recordTypeName,
                                                       .trailingBytes(offset: 4))) {
                try narrow.read(Interval(3))
            }
            let picky = try store.stream(named: "r", of: Picky.self)
            #expect(throws: StorageError.recordRejected(location("r", 3, 1), record: 0, recordType: Picky.recordTypeName,
                                                       .invalidValue(offset: 0, what: "Picky"))) {
                try picky.read(Interval(3), partition: PartitionIndex(1))
            }
            // The stream's own type still reads it.
            #expect(try stream.read(Interval(3)).partitions == [[300, 302], [301]])
        }
    }

    @Test func jsonStreamsKeepTheirBytes() throws {
        try withStore { store in
            let stream = try store.jsonStream("j", interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            let lines = [#"{"a":1}"#, #"{"b":"é"}"#, "[]"]
            for line in lines { try appender.append(JSONRecord(bytes: Array(line.utf8)), interval: Interval(0)) }
            try appender.seal(through: Interval(0))
            #expect(try stream.read(Interval(0)).records.map(\.text) == lines)
            #expect(stream.descriptor.recordType == "json")
            #expect(stream.descriptor.timeUnit == nil)
        }
    }

    @Test func everyStandardTypeRoundTripsThroughAStream() throws {
        try withStore { store in
            func roundTrip<R: RecordCodable & Equatable>(_ name: String, _ records: [R]) throws {
                let stream = try store.stream(name, of: R.self, interval: .seconds(1), partitions: 1)
                let appender = try stream.explicitAppender()
                for record in records { try appender.append(record, interval: Interval(0)) }
                try appender.seal(through: Interval(0))
                #expect(try stream.read(Interval(0)).records == records, "\(name)")
            }
            try roundTrip("int64", [Int64.min, -1, 0, .max])
            try roundTrip("int", [Int.min, 0, 42])
            try roundTrip("uint8", [UInt8(0), 255])
            try roundTrip("double", [0.5, -.infinity, .greatestFiniteMagnitude])
            try roundTrip("bool", [true, false])
            try roundTrip("string", ["", "héllo", String(repeating: "z", count: 1_000)])
            try roundTrip("optional", [Int32?.none, 5])
            try roundTrip("array", [[UInt16](), [1, 2, 3]])
            try roundTrip("kv", [KeyValue("a", [true]), KeyValue("", [])])
            try roundTrip("bytes", [Bytes([]), Bytes([0, 1, 2])])
            try roundTrip("events", [Event(interval: 1, sequence: 2, user: "u", payload: Bytes([9])), Event(interval: 0, sequence: 0)])
            // A record that encodes to nothing is framed with a zero length and still counted.
            try roundTrip("json", [JSONRecord(bytes: []), JSONRecord(bytes: Array("{}".utf8))])
        }
    }
}

@Suite struct ParallelReadTests {
    @Test func forEachIntervalGivesWhatReadGivesInOrder() throws {
        try withStore { store in
            let stream = try store.stream("p", of: Int64.self, interval: .seconds(1), partitions: 3)
            try fill(stream, [2, 3, 5, 9], sealThrough: 10)
            var seen: [IntervalBatch<Int64>] = []
            try stream.forEachInterval(in: Interval(2)...Interval(10)) { seen.append($0) }
            let expected = try stream.read(Interval(2)...Interval(10))
            #expect(seen.map(\.interval) == expected.map(\.interval))
            #expect(seen.map(\.partitions) == expected.map(\.partitions))
            #expect(seen.map(\.count) == [2, 3, 0, 5, 0, 0, 0, 9, 0])
        }
    }

    @Test func forEachIntervalChecksTheRangeFirst() throws {
        try withStore { store in
            let stream = try store.stream("p", of: Int64.self, interval: .seconds(1), partitions: 2)
            try fill(stream, [2, 3], sealThrough: 4)
            #expect(throws: StorageError.notSealed(location("p", 5), newestSealed: Interval(4))) {
                try stream.forEachInterval(in: Interval(2)...Interval(5)) { _ in }
            }
            #expect(throws: StorageError.beforeStreamStart(location("p", 1), firstInterval: Interval(2))) {
                try stream.forEachInterval(in: Interval(1)...Interval(3)) { _ in }
            }
        }
    }
}

@Suite struct StoreDirectoryTests {
    @Test func missingParentDirectoriesAreCreated() throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("a/b/c/store")
        do {
            let store = try Store(at: path)
            _ = try store.stream("s", of: Int64.self, interval: .seconds(1), partitions: 1)
        }
        #expect(try Store.open(at: path).streams().map(\.descriptor.name) == ["s", "s.late"])
    }
}
