import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 16: the ingest's per-line path keeps a rejection as a plain value (`LineRejection`, with
/// the scanner's `JSONScanFailure`) and words it only for a rejected line; the appender returns
/// the interval a record went to. These pin what a person sees — every reason's exact words and
/// line number — and where records go, so that the faster path changes neither.
@Suite struct JSONLineRejectionTests {
    /// A stream keyed by url with time field `ts` in seconds; `lines` ingested one by one.
    private static func ingest(_ lines: [String], keyed: Bool = true, timeField: String? = "ts", partitions: Int = 3,
                       maxLineBytes: Int = 120) throws -> (IngestSummary, [Interval?], PlacedRecords) {
        try withStore { store in
            let stream = try store.jsonStream("views", interval: .seconds(1), partitions: partitions,
                                              timeField: timeField, keyField: keyed ? "url" : nil, timeUnit: .seconds)
            var options = JSONIngestOptions()
            options.maxLineBytes = maxLineBytes
            let ingestor = try JSONLinesIngestor(stream: stream, options: options)
            var intervals: [Interval?] = []
            for line in lines {
                let bytes = Array(line.utf8)
                try bytes.withUnsafeBytes { _ = try ingestor.ingest(line: $0) }
                intervals.append(ingestor.lastAcceptedInterval)
            }
            let summary = try ingestor.finish()
            var placed: [Placement] = []
            let records = try store.stream(named: "views", of: JSONRecord.self)
            if let range = summary.intervals {
                for batch in try records.read(range) {
                    for (p, partition) in batch.partitions.enumerated() {
                        for record in partition { placed.append(.init(interval: batch.interval, partition: p, text: record.text)) }
                    }
                }
            }
            return (summary, intervals, PlacedRecords(placed: placed))
        }
    }

    @Test func everyRejectionIsWordedAndNumberedAsBefore() throws {
        let long = "{\"ts\":5,\"url\":\"/p/1\",\"pad\":\"" + String(repeating: "x", count: 120) + "\"}"
        let lines = [
            "{\"ts\":5,\"url\":\"/p/1\"}",
            "[1,2]",
            "{\"url\":\"/p/1\"}",
            "{\"ts\":\"soon\",\"url\":\"/p/2\"}",
            "{\"ts\":-5,\"url\":\"/p/3\"}",
            "{\"ts\":5}",
            "{\"ts\":5,\"url\":\"/p/\\q\"}",
            long,
            "{\"ts\":5,\"url\":\"/p/1\"",
            "{\"ts\":5,\"url\":\"/p/1\"} x",
            "{\"ts\":05,\"url\":\"/p/1\"}",
            "{\"ts\":5,\"url\":\"/p/1\",\"ok\":tru}",
            "{\"ts\":5,\"url\":\"/p/\u{1}\"}",
            "{\"ts\":5,\"url\":\"/p/1\";}",
            "  ",
            "{\"ts\":6,\"url\":\"/p/2\"}",
        ]
        let (summary, _, _) = try Self.ingest(lines)
        #expect(summary.lines == 16 && summary.accepted == 2 && summary.blank == 1 && summary.rejected == 13)
        #expect(summary.rejections.map(\.description) == [
            "line 2: byte 0: not a JSON object, a line must start with '{'",
            "line 3: missing time field \"ts\"",
            "line 4: time field \"ts\" is neither a number of seconds nor an ISO 8601 time",
            "line 5: time field \"ts\" is before 1970",
            "line 6: missing key field \"url\"",
            "line 7: byte 18: invalid escape sequence in string",
            "line 8: line of \(long.utf8.count) bytes exceeds the limit of 120",
            "line 9: byte 20: line ends before the JSON object is complete",
            "line 10: byte 22: unexpected bytes after the closing '}'",
            "line 11: byte 6: invalid number",
            "line 12: byte 26: invalid literal, expected true, false or null",
            "line 13: byte 18: unexpected byte 0x01",
            "line 14: byte 20: unexpected ';' (0x3B)",
        ])
    }

    /// A time that reads but does not fit a timestamp (Int64 nanoseconds since 1970) is rejected
    /// as out of range, naming the range in the stream's unit; a malformed one stays unreadable.
    @Test func aTimeBeyondTheTimestampRangeIsOutOfRangeNotUnreadable() throws {
        let lines = [
            "{\"ts\":9223372036854775807,\"url\":\"/p\"}",
            "{\"ts\":\"9999-12-31T23:59:59Z\",\"url\":\"/p\"}",
            "{\"ts\":9223372037,\"url\":\"/p\"}",
            "{\"ts\":1e400,\"url\":\"/p\"}",
            "{\"ts\":\"2262-04-11T23:47:17Z\",\"url\":\"/p\"}",
            "{\"ts\":\"2262-04-11T23:47:16+00:00\",\"url\":\"/p\"}",
            "{\"ts\":\"2023-02-29T00:00:00Z\",\"url\":\"/p\"}",
            "{\"ts\":\"9999-13-01T00:00:00Z\",\"url\":\"/p\"}",
            "{\"ts\":\"99999-01-01\",\"url\":\"/p\"}",
            "{\"ts\":9223372036,\"url\":\"/p\"}",
        ]
        let (summary, intervals, _) = try Self.ingest(lines)
        let outOfRange = "time field \"ts\" is out of range: event times go from 1970-01-01T00:00:00Z to "
            + "2262-04-11T23:47:16.854775807Z (0 to 9223372036 seconds)"
        let unreadable = "time field \"ts\" is neither a number of seconds nor an ISO 8601 time"
        #expect(summary.rejections.map(\.description) == [
            "line 1: " + outOfRange,
            "line 2: " + outOfRange,
            "line 3: " + outOfRange,
            "line 4: " + outOfRange,
            "line 5: " + outOfRange,
            "line 7: " + unreadable,
            "line 8: " + unreadable,
            "line 9: " + unreadable,
        ])
        // The last second that fits is a time like any other.
        #expect(intervals[5] == Interval(9_223_372_036) && intervals[9] == Interval(9_223_372_036))
    }

    /// `scanFields` (the ingest's plain-value failure) and `scan` (the public `JSONLineError`)
    /// agree on every truncation and every single-byte change of a line.
    @Test func scanFieldsAgreesWithScanOnEveryTruncationAndByteChange() {
        let scanner = JSONLineScanner(fields: ["ts", "url"])
        let line = Array("{\"ts\":1763900000000,\"url\":\"/p/\\u00e9é\",\"n\":[1,{\"a\":null}],\"b\":true}".utf8)
        var variants: [[UInt8]] = (0...line.count).map { Array(line[..<$0]) }
        for i in line.indices {
            for byte: UInt8 in [0x00, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x2C, 0x3A, 0x31, 0x2E, 0x65, 0x80, 0xC3, 0xFF, 0x20] {
                var changed = line
                changed[i] = byte
                variants.append(changed)
            }
        }
        for variant in variants {
            variant.withUnsafeBytes { bytes in
                let viaScan = Result { () throws(JSONLineError) in try scanner.scan(bytes) }
                let viaFields = Result { () throws(JSONScanFailure) in try scanner.scanFields(bytes) }
                switch (viaScan, viaFields) {
                case (.success(let a), .success(let b)):
                    #expect(a.0 == b.0 && a.1 == b.1)
                case (.failure(let a), .failure(let b)):
                    #expect(a == b.lineError, "\(String(decoding: variant, as: UTF8.self))")
                default:
                    Issue.record("scan and scanFields disagree on \(String(decoding: variant, as: UTF8.self))")
                }
            }
        }
    }

    /// Records go to partition `XXH64(encoded String key) mod n` (the key's LEB128 length, then its
    /// UTF-8: where the engine routes the `String`; a mask for a power of two, a division
    /// otherwise); the interval reported for each line is the one it went to, and a late line
    /// reports none.
    @Test(arguments: [1, 3, 4, 8])
    func recordsGoToTheirKeysPartitionAndIntervals(partitions: Int) throws {
        let urls = (0..<40).map { "/p/\($0 * 7919 % 1000)" }
        var lines = urls.enumerated().map { "{\"ts\":\(10 + $0.offset / 8),\"url\":\"\($0.element)\"}" }
        lines.append("{\"ts\":1,\"url\":\"/late\"}")  // behind the watermark once 10…14 are sealed
        let (summary, intervals, snapshot) = try Self.ingest(lines, partitions: partitions)
        for placement in snapshot.placed {
            let url = placement.text.split(separator: "\"")[5]
            let hash = ([UInt8(url.utf8.count)] + Array(url.utf8)).withUnsafeBytes { XXH64.hash($0) }
            #expect(placement.partition == Int(hash % UInt64(partitions)), "\(placement.text)")
        }
        #expect(Array(intervals.prefix(40)) == urls.indices.map { Optional(Interval(UInt64(10 + $0 / 8))) })
        #expect(summary.intervals == Interval(10)...Interval(14))
        #expect(snapshot.placed.count + Int(summary.late) == 41)
        if summary.late == 1 { #expect(intervals.last == .some(nil)) }
    }

    /// Without a time field (arrival time) each accepted line reports the interval it went to.
    @Test func arrivalTimeLinesReportTheirInterval() throws {
        let (summary, intervals, snapshot) = try Self.ingest(["{\"url\":\"/a\"}", "x", "{\"url\":\"/b\"}"], timeField: nil)
        #expect(summary.accepted == 2 && summary.rejected == 1)
        #expect(intervals[1] == nil)
        let first = try #require(intervals[0]), last = try #require(intervals[2])
        #expect(first <= last)
        #expect(summary.intervals == first...last)
        #expect(Set(snapshot.placed.map(\.interval)) == Set([first, last]))
    }
}

/// Where a record of a test stream was stored.
private struct Placement: Equatable {
    var interval: Interval
    var partition: Int
    var text: String
}

/// The records of a test stream with their places, in stored order.
private struct PlacedRecords {
    var placed: [Placement]
}
