import Foundation
import PropertyBased
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 16: `ingest(fileDescriptor:)` parses lines on several threads and appends them in input
/// order. Checked against the single-threaded path — the same lines fed one by one through
/// `ingest(line:)` — on small random inputs with malformed, blank, late and escaped lines: the
/// same summary (rejections with their line numbers and reasons), the same error at the same line
/// with fail-fast, and byte-identical blocks and seal rows in every stream.
@Suite struct ParallelJSONIngestTests {
    /// One input line per code: mostly valid page views whose time wanders (some late), plus every
    /// kind of line the parser treats differently.
    static func line(_ code: Int, index: Int) -> String {
        let ts = 1000 + index / 3 + (code % 5 == 0 ? -2 : 0)  // every fifth behind: late once sealed
        switch code % 23 {
        case 0: return ""
        case 1: return " \t "
        case 2: return "{\"ts\":\(ts),\"url\":\"/p/\(code % 7)\"}\r"  // CRLF
        case 3: return "{\"ts\":\(ts),\"url\":\"/p/\(code % 7)\""  // truncated
        case 4: return "{\"url\":\"/p/1\"}"  // no time field
        case 5: return "{\"ts\":\(ts)}"  // no key field
        case 6: return "{\"ts\":\"soon\",\"url\":\"/p/2\"}"  // a time that is not one
        case 7: return "{\"ts\":\(ts),\"url\":\"\\/p\\/\(code % 7)\"}"  // escapes in the key: same partition as /p/N
        case 8: return "{\"ts\":\(ts),\"url\":\"/p/\\q\"}"  // invalid escape
        case 9: return "[1,2]"
        case 10: return "{\"ts\":\(ts),\"url\":\"/p/\(code % 7)\",\"pad\":\"\(String(repeating: "x", count: code % 90))\"}"
        case 11: return "{\"ts\":-5,\"url\":\"/p/3\"}"  // before 1970
        default: return "{\"ts\":\(ts),\"url\":\"/p/\(code % 7)\",\"n\":\(code)}"
        }
    }

    /// 0–160 lines, a last line with or without its newline, the parse piece size, the threads.
    static let inputs = zip(Gen.int(in: 0...10_000).array(of: 0...160), Gen.bool, Gen.int(in: 1...300),
                            Gen.int(in: 2...4))

    static func text(_ codes: [Int], finalNewline: Bool) -> String {
        let lines = codes.enumerated().map { line($0.element, index: $0.offset) }
        return lines.joined(separator: "\n") + (finalNewline && !lines.isEmpty ? "\n" : "")
    }

    /// The stream's blocks (key and bytes) and seal rows, per stream, in name order.
    static func image(of store: Store) throws -> [String] {
        var image: [String] = []
        for descriptor in try store.log.descriptors().sorted(by: { $0.name < $1.name }) {
            try store.log.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, bytes in
                image.append("\(descriptor.name) \(key.interval.rawValue)/\(key.partition.rawValue)/\(key.chunk.rawValue) "
                             + Array(bytes).map { String($0, radix: 16) }.joined(separator: ","))
                return true
            }
            if let sealed = try store.log.frontier(of: descriptor).sealedThrough {
                for (interval, seal) in try store.log.sealRecords(of: descriptor, in: Interval(0)...sealed) {
                    image.append("\(descriptor.name) seal \(interval.rawValue) \(seal.encodedRow())")
                }
            }
        }
        return image
    }

    struct Outcome: Equatable {
        var summary: IngestSummary?
        var failedAt: IngestRejection?
        var image: [String]
    }

    static func options(failFast: Bool, parallelism: Int) -> JSONIngestOptions {
        var options = JSONIngestOptions()
        options.failFast = failFast
        options.parallelism = parallelism
        options.maxLineBytes = 120  // the padded lines cross it
        return options
    }

    /// Ingests `text` into a new store: line by line through `ingest(line:)` (the reference), or
    /// through a file and `ingest(fileDescriptor:)` with `parallelism` threads.
    /// The read end of a pipe that a thread of its own fills with `bytes`, `slice` bytes per
    /// write, then closes: the ingest reads it in many small pieces, as from `cat FILE | …`.
    static func pipeInput(_ bytes: [UInt8], slice: Int) throws -> Int32 {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let writeEnd = ends[1]
        let writer = Thread {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { raw in write(writeEnd, raw.baseAddress, min(slice, raw.count)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                offset += n
            }
            close(writeEnd)
        }
        writer.start()
        return ends[0]
    }

    static func ingest(_ text: String, keyed: Bool, failFast: Bool, parallelism: Int?, pieceBytes: Int,
                       viaPipe: Bool = false, chunkBytes: Int? = nil, stopAfterAsks: Int? = nil) throws -> Outcome {
        try withStore { store in
            let stream = try store.jsonStream("views", interval: .seconds(1), partitions: 3, timeField: "ts",
                                              keyField: keyed ? "url" : nil, timeUnit: .seconds)
            let ingestor = try JSONLinesIngestor(
                stream: stream, options: options(failFast: failFast, parallelism: parallelism ?? 1))
            ingestor.parsePieceBytes = pieceBytes
            if let chunkBytes { ingestor.readChunkBytes = chunkBytes }
            var asks = 0
            let stop = { () -> Bool in
                asks += 1
                return stopAfterAsks.map { asks > $0 } ?? false
            }
            var failedAt: IngestRejection?
            do {
                if parallelism == nil {
                    // Split the bytes (a String would keep "\r\n" together as one Character).
                    let utf8 = Array(text.utf8)
                    var lines = utf8.split(separator: 0x0a, omittingEmptySubsequences: false)
                    if utf8.last == 0x0a || utf8.isEmpty { lines.removeLast() }
                    for (i, line) in lines.enumerated() {
                        let last = i == lines.count - 1 && utf8.last != 0x0a
                        let bytes = Array(line)
                        try bytes.withUnsafeBytes { raw in
                            _ = try ingestor.ingest(line: raw, inputBytes: bytes.count + (last ? 0 : 1))
                        }
                    }
                } else if viaPipe {
                    let fd = try pipeInput(Array(text.utf8), slice: pieceBytes)
                    defer {
                        // Read to the end whatever happened, so that the writer never writes to a
                        // closed pipe (SIGPIPE) nor waits forever.
                        var sink = [UInt8](repeating: 0, count: 4096)
                        while true {
                            let n = sink.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                            if n > 0 || (n < 0 && errno == EINTR) { continue }
                            break
                        }
                        close(fd)
                    }
                    try ingestor.ingest(fileDescriptor: fd, stop: stop)
                } else {
                    let directory = try TemporaryDirectory()
                    let path = directory.appending("input.jsonl")
                    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                    let fd = open(path, O_RDONLY)
                    defer { close(fd) }
                    try ingestor.ingest(fileDescriptor: fd, stop: stop)
                }
            } catch let error as IngestError {
                guard case .malformedLine(let rejection) = error else { throw error }
                failedAt = rejection
            }
            let summary = stopAfterAsks == nil ? try ingestor.finish() : try ingestor.stop()
            return Outcome(summary: summary, failedAt: failedAt, image: try image(of: store))
        }
    }

    @Test func parallelParseStoresTheBytesOfTheSingleThreadedPath() async {
        await propertyCheck(count: 12, input: Self.inputs) { codes, finalNewline, pieceBytes, threads in
            let text = Self.text(codes, finalNewline: finalNewline)
            for keyed in [true, false] {
                let reference = try Self.ingest(text, keyed: keyed, failFast: false, parallelism: nil, pieceBytes: pieceBytes)
                let parallel = try Self.ingest(text, keyed: keyed, failFast: false, parallelism: threads, pieceBytes: pieceBytes)
                #expect(parallel == reference, "keyed \(keyed), \(threads) threads, pieces of \(pieceBytes) bytes")
            }
            let piped = try Self.ingest(text, keyed: true, failFast: false, parallelism: threads, pieceBytes: pieceBytes,
                                        viaPipe: true)
            let reference = try Self.ingest(text, keyed: true, failFast: false, parallelism: nil, pieceBytes: pieceBytes)
            #expect(piped == reference, "through a pipe, \(threads) threads, writes and pieces of \(pieceBytes) bytes")
        }
    }

    @Test func failFastStopsAtTheSameLineWithTheSameErrorAndStoresTheSame() async {
        await propertyCheck(count: 8, input: Self.inputs) { codes, finalNewline, pieceBytes, threads in
            let text = Self.text(codes, finalNewline: finalNewline)
            let reference = try Self.ingest(text, keyed: true, failFast: true, parallelism: nil, pieceBytes: pieceBytes)
            let parallel = try Self.ingest(text, keyed: true, failFast: true, parallelism: threads, pieceBytes: pieceBytes)
            #expect(parallel == reference, "\(threads) threads, pieces of \(pieceBytes) bytes")
        }
    }

    /// A larger input than the property cases, with default pieces: many pieces per read, helpers
    /// and the ingesting thread sharing them.
    @Test func aFewThousandLinesInDefaultPiecesMatchTheSingleThreadedPath() throws {
        let codes = (0..<20_000).map { ($0 &* 2_654_435_761) % 10_007 }
        let text = Self.text(codes, finalNewline: true)
        let reference = try Self.ingest(text, keyed: true, failFast: false, parallelism: nil, pieceBytes: 256 << 10)
        let parallel = try Self.ingest(text, keyed: true, failFast: false, parallelism: 2, pieceBytes: 256 << 10)
        #expect(reference.summary?.rejected ?? 0 > 0 && reference.summary?.late ?? 0 > 0)
        #expect(parallel == reference)
    }

    /// 0–160 lines, a last line with or without its newline, the parse piece size, the threads, the
    /// read size (chunks of a few lines: many chunk boundaries, lines longer than a chunk).
    static let chunkedInputs = zip(Gen.int(in: 0...10_000).array(of: 0...160), Gen.bool, Gen.int(in: 1...40),
                                   Gen.int(in: 2...4), Gen.int(in: 16...400))

    /// Issue 16: the next chunk is read and parsed ahead while the lines of the one before are
    /// appended. With reads of a few lines, from a file and from a pipe, the stored bytes, the
    /// rejections with their line numbers, and fail-fast's error are those of the single-threaded
    /// path.
    @Test func readingAheadAcrossChunksStoresTheBytesOfTheSingleThreadedPath() async {
        await propertyCheck(count: 12, input: Self.chunkedInputs) { codes, finalNewline, pieces, threads, chunkBytes in
            let text = Self.text(codes, finalNewline: finalNewline)
            let setting: Comment = "\(threads) threads, reads of \(chunkBytes) B, pieces of \(pieces) B"
            for failFast in [false, true] {
                let reference = try Self.ingest(text, keyed: true, failFast: failFast, parallelism: nil, pieceBytes: pieces)
                let file = try Self.ingest(text, keyed: true, failFast: failFast, parallelism: threads, pieceBytes: pieces,
                                           chunkBytes: chunkBytes)
                #expect(file == reference, "file, fail-fast \(failFast), \(setting)")
                let piped = try Self.ingest(text, keyed: true, failFast: failFast, parallelism: threads, pieceBytes: pieces,
                                            viaPipe: true, chunkBytes: chunkBytes)
                #expect(piped == reference, "pipe, fail-fast \(failFast), \(setting)")
            }
        }
    }

    /// Issue 16: `stop` said yes after some reads, with a chunk read ahead: what is stored is
    /// exactly the lines before the stop point, as the single-threaded path stores them, and no
    /// line is cut.
    @Test func stoppingWhileAChunkIsReadAheadStoresALinePrefix() async {
        let inputs = zip(Gen.int(in: 0...10_000).array(of: 0...160), Gen.bool, Gen.int(in: 1...40),
                         Gen.int(in: 2...4), Gen.int(in: 16...400), Gen.int(in: 0...12))
        await propertyCheck(count: 12, input: inputs) { codes, finalNewline, pieceBytes, threads, chunkBytes, asks in
            let text = Self.text(codes, finalNewline: finalNewline)
            let stopped = try Self.ingest(text, keyed: true, failFast: false, parallelism: threads,
                                          pieceBytes: pieceBytes, chunkBytes: chunkBytes, stopAfterAsks: asks)
            let lines = try #require(stopped.summary?.lines)
            // The same lines fed one by one, then stopped as well.
            let prefix = Self.text(Array(codes.prefix(lines)), finalNewline: true)
            let reference = try Self.ingest(prefix, keyed: true, failFast: false, parallelism: nil,
                                            pieceBytes: pieceBytes, stopAfterAsks: 0)
            #expect(stopped.image == reference.image, "stop after \(asks) asks, \(threads) threads, reads of \(chunkBytes) B")
            #expect(stopped.summary?.rejections == reference.summary?.rejections)
            #expect(stopped.summary?.bytes == reference.summary?.bytes)
            #expect(stopped.summary?.interrupted == true || lines == codes.count)
        }
    }

    @Test func textLinesBecomeLineRecords() throws {
        try withStore { store in
            let stream = try store.jsonStream("log", interval: .seconds(1), partitions: 1)
            var options = JSONIngestOptions()
            options.maxLineBytes = 40
            let ingestor = try JSONLinesIngestor(stream: stream, options: options)
            let directory = try TemporaryDirectory()
            let path = directory.appending("input.txt")
            let long = String(repeating: "y", count: 60)
            try Data("plain\r\nsay \"hi\"\\\n\n\(long)\nlast".utf8).write(to: URL(fileURLWithPath: path))
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            try ingestor.ingestTextLines(fileDescriptor: fd)
            let summary = try ingestor.finish()
            #expect(summary.lines == 5 && summary.accepted == 4 && summary.rejected == 1)
            #expect(summary.rejections.map(\.line) == [4])
            var texts: [String] = []
            for batch in try stream.read(try #require(summary.intervals)) {
                for record in batch.records { texts.append(String(decoding: record.bytes, as: UTF8.self)) }
            }
            #expect(texts == [#"{"line":"plain"}"#, #"{"line":"say \"hi\"\\"}"#, #"{"line":""}"#, #"{"line":"last"}"#])
        }
    }
}
