import PropertyBased
import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 16: an event-time appender finds a record's interval without a division while the times
/// stay in the interval of the record before (`StreamAppender.eventTimeInterval(_:)`). Each
/// record's interval must still be its time divided by the interval length, whatever came before:
/// times at and next to interval boundaries, back and forth, far apart, and interval 0 first.
@Suite struct EventTimeIntervalTests {
    /// Ingests lines with the times `milliseconds` into a stream of `length` intervals (nothing is
    /// sealed, so nothing is late) and checks the interval of each line.
    private static func expectIntervals(_ milliseconds: [Int64], length: IntervalLength, lengthMilliseconds: Int64,
                                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        try withStore { store in
            let stream = try store.jsonStream("views", interval: length, partitions: 2, timeField: "ts",
                                              keyField: "url")
            var options = JSONIngestOptions()
            options.allowedLateness = .seconds(1 << 40)
            options.sealAtEnd = false
            let ingestor = try JSONLinesIngestor(stream: stream, options: options)
            for time in milliseconds {
                let line = Array(#"{"ts":\#(time),"url":"/p/\#(time % 7)"}"#.utf8)
                let rejection = try line.withUnsafeBytes { try ingestor.ingest(line: $0) }
                #expect(rejection == nil, sourceLocation: sourceLocation)
                let expected = Interval(UInt64(time / lengthMilliseconds))
                #expect(ingestor.lastAcceptedInterval == expected, "time \(time) ms", sourceLocation: sourceLocation)
            }
            _ = try ingestor.finish()
        }
    }

    @Test func boundariesBackAndForth() throws {
        var times: [Int64] = [0, 1, 999, 1000, 999, 0, 1999, 2000, 5000, 4999, 1000, 0, 1_000_000_000, 999_999_999]
        for k: Int64 in [1, 2, 3, 1763900000] {
            times += [k * 1000 - 1, k * 1000, k * 1000 + 1, k * 1000 + 999, k * 1000 - 1, (k + 1) * 1000]
        }
        try Self.expectIntervals(times, length: .seconds(1), lengthMilliseconds: 1000)
        try Self.expectIntervals(times, length: .milliseconds(7), lengthMilliseconds: 7)
    }

    @Test func randomTimes() async {
        // Times near 0, within minutes, within hours and up to 2027, mixed in one input.
        let time = zip(Gen.int(in: 0...3), Gen.int64(in: 0...1_800_000_000_000))
        await propertyCheck(count: 20, input: time.array(of: 1...60)) { draws in
            let times = draws.map { scale, value in value % [2_000, 100_000, 10_000_000, 1_800_000_000_000][scale] }
            try Self.expectIntervals(times, length: .seconds(1), lengthMilliseconds: 1000)
        }
    }
}
