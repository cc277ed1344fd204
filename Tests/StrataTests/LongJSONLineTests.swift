import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// Issue 10, item 9: `ingest(fileDescriptor:)` read with a fixed 4 MiB buffer, so `maxLineBytes` above
// 4 MiB had no effect and rejections named the wrong limit.

@Suite struct LongJSONLineTests {
    /// A JSON line of exactly `bytes` bytes (without its newline).
    func line(bytes: Int, ts: Int = 1000) -> String {
        let head = "{\"ts\":\(ts),\"pad\":\"", tail = "\"}"
        return head + String(repeating: "x", count: bytes - head.utf8.count - tail.utf8.count) + tail
    }

    /// Ingests `text` through a file descriptor, as `strata ingest` does.
    func ingest(_ text: String, maxLineBytes: Int, into store: Store) throws -> IngestSummary {
        let stream = try store.jsonStream("events", interval: .seconds(1), partitions: 1, timeField: "ts",
                                          timeUnit: .seconds)
        var options = JSONIngestOptions()
        options.maxLineBytes = maxLineBytes
        let ingestor = try JSONLinesIngestor(stream: stream, options: options)
        let directory = try TemporaryDirectory()
        let path = directory.appending("input.jsonl")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        try ingestor.ingest(fileDescriptor: fd)
        return try ingestor.finish()
    }

    @Test func issue10_item9_linesAboveTheReadBufferAreIngestedUpToTheConfiguredLimit() throws {
        let big = JSONLinesIngestor.chunkSize + (1 << 20)  // 5 MiB: more than one read
        try withStore { store in
            let summary = try ingest(line(bytes: 40) + "\n" + line(bytes: big) + "\r\n" + line(bytes: 50, ts: 1001) + "\n",
                                     maxLineBytes: big, into: store)
            #expect(summary.accepted == 3 && summary.rejected == 0 && summary.lines == 3)
            let stream = try store.stream(named: "events", of: JSONRecord.self)
            #expect(try stream.read(Interval(1000)).records.map(\.bytes.count).sorted() == [40, big])
        }
    }

    @Test func issue10_item9_longerLinesAreRejectedNamingTheConfiguredLimit() throws {
        let limit = JSONLinesIngestor.chunkSize + (1 << 20)
        for (length, maxLineBytes) in [(limit + 1, limit), (limit + 3, limit), (3 << 20, 1 << 20), (9 << 20, 6 << 20)] {
            try withStore { store in
                let text = line(bytes: 40) + "\n" + line(bytes: length) + "\n" + line(bytes: 60, ts: 1001)
                let summary = try ingest(text, maxLineBytes: maxLineBytes, into: store)
                #expect(summary.accepted == 2 && summary.rejected == 1 && summary.lines == 3)
                #expect(summary.rejections == [IngestRejection(
                    line: 2, reason: "line of \(length) bytes exceeds the limit of \(maxLineBytes)")])
                #expect(summary.bytes == text.utf8.count + 1)  // the last line's missing newline counts
            }
        }
    }

    @Test func issue10_item9_anOverlongLastLineWithoutNewlineIsRejected() throws {
        try withStore { store in
            let summary = try ingest(line(bytes: 40) + "\n" + line(bytes: 300), maxLineBytes: 100, into: store)
            #expect(summary.rejections == [IngestRejection(line: 2, reason: "line of 300 bytes exceeds the limit of 100")])
            #expect(summary.accepted == 1 && summary.lines == 2)
        }
    }
}
