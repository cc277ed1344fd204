import Glibc
import StrataStorage

/// Options for ingesting JSON lines into a JSON stream.
public struct JSONIngestOptions: Sendable {
    /// How far event time may run behind the largest time seen before an interval is sealed.
    public var allowedLateness: Duration = .zero
    /// Stop at the first malformed line instead of counting it and going on.
    public var failFast = false
    /// At the end of input, seal every interval that received records, so all of it is readable.
    public var sealAtEnd = true
    /// The longest line accepted, in bytes (without its newline); longer lines are rejected with
    /// a reason naming this limit. `ingest(fileDescriptor:)` grows its read buffer as far as a
    /// line of this length needs, so any value holds, also above its 4 MiB read size.
    public var maxLineBytes = 1 << 20
    /// How many rejected lines are kept with their reasons (all are counted).
    public var maxRejectionsKept = 1000
    /// The limits of the ingestor's appender: set `holdsCommitsUntilFlush` to commit what is
    /// ingested together with state of your own, through `appender.flush(together:)`.
    public var appenderLimits = StreamAppender.Limits()
    /// The input whose position is committed with the records, for an exactly-once resume;
    /// `nil`: none (the appender commits as its batches fill).
    public var source: IngestSource?
    /// With a `source`, the input bytes read between two commits (each commit carries the
    /// position). Smaller means less to read again after an interruption, larger fewer commits.
    public var commitBytes = 4 << 20
    /// Seal every interval holding records once no line has arrived for this long (event time:
    /// like Flink's idleness, so that a quiet input does not hold intervals open; arrival time
    /// seals elapsed intervals without waiting for the next line anyway). `nil`: never.
    public var idleSeal: Duration?
    /// The threads that validate and parse lines in `ingest(fileDescriptor:)`: the calling thread
    /// and up to `parallelism - 1` helper jobs on Dispatch's global queue (never Swift's
    /// cooperative pool). Lines are still appended in input order on the calling thread, so the
    /// stored bytes, the rejections and their line numbers are the same for every value. Default:
    /// the number of online processors, at most 8; `1` parses on the calling thread alone.
    public var parallelism = JSONIngestOptions.defaultParallelism
    /// Default options.
    public init() {}

    /// The number of online processors, at least 1 and at most 8.
    public static let defaultParallelism = min(8, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
}

/// The input an ingest reads, for committing its position with the records.
public enum IngestSource: Sendable, Equatable {
    /// A named input: its position is committed with the records under this name, and an ingest
    /// of the same name skips what an earlier run committed (`JSONLinesIngestor.skipCommittedInput`).
    case named(String)
    /// An input without a name (`strata ingest` from standard input without `--source`): its
    /// position is committed, so that after an interruption the store knows exactly what to
    /// feed again, but nothing is skipped automatically.
    case unnamed
}

/// One rejected input line.
public struct IngestRejection: Sendable, Equatable, CustomStringConvertible {
    /// The 1-based line number in the input.
    public var line: Int
    /// Why it was rejected.
    public var reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// What an ingest did.
public struct IngestSummary: Sendable, Equatable {
    /// Lines read, blank lines included.
    public var lines = 0
    /// Records appended.
    public var accepted = 0
    /// Lines rejected as malformed.
    public var rejected = 0
    /// Blank lines skipped.
    public var blank = 0
    /// Accepted records that were late and went to the late side stream.
    public var late: UInt64 = 0
    /// The first rejected lines, with reasons, up to `maxRejectionsKept`.
    public var rejections: [IngestRejection] = []
    /// Input bytes read.
    public var bytes = 0
    /// Lines and bytes at the input's start skipped because an earlier run of the same source
    /// committed them.
    public var skipped = InputPosition()
    /// Whether reading stopped before the input's end because `stop` said so.
    public var interrupted = false
    /// Commits made by idle sealing (`idleSeal`, or arrival intervals that ended).
    public var idleSeals = 0
    /// The smallest and largest interval that received records.
    public var intervals: ClosedRange<Interval>?
    /// The newest sealed interval after the ingest.
    public var sealedThrough: Interval?
}

/// Why an ingest stopped.
@frozen
public enum IngestError: Error, Sendable, CustomStringConvertible {
    /// A malformed line with `failFast` set.
    case malformedLine(IngestRejection)
    /// Reading the input failed.
    case readFailed(errno: Int32)
    /// The store refused the records.
    case storage(StorageError)
    /// The input is not the one whose position the source committed: it ends before that
    /// position, or its lines do not end where the position says.
    case inputMismatch(source: String, reason: String)

    public var description: String {
        switch self {
        case .malformedLine(let rejection): "malformed input at \(rejection)"
        case .readFailed(let code): "reading the input failed: \(String(cString: strerror(code))) (errno \(code))"
        case .storage(let error): error.description
        case .inputMismatch(let source, let reason): "the input is not the one source \(source) committed: \(reason)"
        }
    }
}

extension IngestError: StorageErrorCarrying {
    /// The storage error of `.storage`; `nil` for malformed input, read failures and mismatches.
    public var storageError: StorageError? {
        if case .storage(let error) = self { return error }
        return nil
    }
}

/// Ingests JSON lines into a JSON stream: validates each line, takes event time and key from the
/// stream's fields, and appends the line's bytes as they are. Malformed lines are counted and
/// reported with their line numbers, and never stop the rest (unless `failFast`).
///
/// The parser is hand-written and allocation-free per line (Foundation's `JSONDecoder` is two
/// orders of magnitude slower). Not `Sendable`: one ingestor per input.
public final class JSONLinesIngestor {
    private let stream: StoredStream<JSONRecord>
    /// The appender the ingestor writes through: flush and seal with it (`flush(together:)`,
    /// `sealWithoutWaiting(through:)`) when the ingest is long-running. Records appended to it
    /// directly are not counted in `summary`.
    public let appender: StreamAppender
    private let parser: JSONLineParser
    private let options: JSONIngestOptions
    // An ingestor is used by one thread at a time (it is not `Sendable`), so the run-time
    // exclusivity checks on its per-line state (about 6 % of the ingest's CPU, measured) are off.
    @exclusivity(unchecked) private var parseScratch = JSONLineParser.Scratch()
    private var lengthNanos: UInt64
    /// Result arrays of the last chunk parsed, reused for their capacity.
    private var spareParses: [[ParsedLineSpan]] = []
    /// The parse helper jobs and the chunk parses they serve.
    private let parseHelpers: ParseHelpers
    /// What was done so far.
    @exclusivity(unchecked) public private(set) var summary = IngestSummary()
    /// The interval that received the last line ingested; `nil` when that line was blank,
    /// rejected or late (filed in the late side stream).
    @exclusivity(unchecked) public private(set) var lastAcceptedInterval: Interval?
    /// With a `source`: the input's position after the last line ingested (lines and bytes from
    /// the input's start, skipped ones included).
    @exclusivity(unchecked) public private(set) var position = InputPosition()
    /// With a `source`: the position of the newest commit known to be durable. After an
    /// interruption or a failed commit, the input from here on is what has to be fed again.
    public private(set) var committedPosition = InputPosition()
    /// The commit in flight and its position.
    private var inFlight: (CommitAcknowledgement, InputPosition)?
    @exclusivity(unchecked) private var sinceCommit = 0

    /// Prepares to ingest into `stream`, using its catalog's time and key fields.
    ///
    /// - Throws: `.misuse` when the stream is not a JSON stream.
    public init(stream: StoredStream<JSONRecord>, options: JSONIngestOptions = JSONIngestOptions()) throws(StorageError) {
        let d = stream.descriptor
        guard d.recordType == JSONRecord.recordTypeName else {
            throw .misuse("stream \(d.name) holds \(d.recordType), not JSON")
        }
        self.stream = stream
        self.options = options
        parseHelpers = ParseHelpers(limit: options.parallelism - 1)
        lengthNanos = d.intervalLength.rawValue
        parser = JSONLineParser(descriptor: d, maxLineBytes: options.maxLineBytes)
        let timing: TimeAssignment = d.timeField == nil ? .arrival : .eventTime(allowedLateness: options.allowedLateness)
        switch options.source {
        case nil:
            appender = try stream.makeEncodedAppender(timing: timing, limits: options.appenderLimits)
        case .named(let name):
            guard SourceRecord.isValidName(name) else {
                throw .misuse("invalid source name \"\(name)\": use 1–200 characters of A–Z a–z 0–9 . _ -")
            }
            appender = try stream.makeEncodedAppender(timing: timing, limits: options.appenderLimits, source: name)
        case .unnamed:
            appender = try stream.makeEncodedAppender(timing: timing, limits: options.appenderLimits, source: "")
        }
        if case .named = options.source { committedPosition = appender.resumePosition }
    }

    /// What an earlier ingest of the unnamed input (`IngestSource.unnamed`) into this stream left
    /// when it was interrupted before its input's end: the position it had committed and its
    /// pid. Its input from that position on is not in the stream. `nil` when it finished, or
    /// when the source is not `.unnamed`.
    public var interruptedUnnamedRun: (position: InputPosition, processID: Int32?)? {
        guard options.source == .unnamed, appender.resumeRecord != nil, !appender.resumedInputFinished else { return nil }
        return (appender.resumePosition, appender.resumeProcessID)
    }

    /// Ingests one line (without its newline); returns the rejection when it is malformed.
    ///
    /// - Throws: `IngestError.malformedLine` with `failFast`; `.storage` when the store fails.
    @discardableResult
    public func ingest(line rawLine: UnsafeRawBufferPointer) throws(IngestError) -> IngestRejection? {
        try ingest(line: rawLine, inputBytes: rawLine.count + 1)
    }

    /// Ingests one record line that stands for `inputBytes` bytes of the input (its line and
    /// newline as read, when the record was made from it); returns the rejection when it is
    /// malformed. With a `source`, commits with the position every `commitBytes`.
    ///
    /// - Throws: `IngestError.malformedLine` with `failFast` (the line is not counted in the
    ///   position); `.storage` when the store fails.
    @discardableResult
    public func ingest(line rawLine: UnsafeRawBufferPointer, inputBytes: Int) throws(IngestError) -> IngestRejection? {
        let parsed = parser.parse(rawLine, scratch: &parseScratch)
        return try apply(parsed, line: rawLine, inputBytes: inputBytes)
    }

    /// Applies a parsed line (without its newline) that stands for `inputBytes` bytes of the
    /// input: counts it, appends its record or records its rejection, and with a `source` commits
    /// with the position every `commitBytes`. Lines are applied in input order, on one thread.
    private func apply(_ parsed: ParsedLine, line rawLine: UnsafeRawBufferPointer,
                       inputBytes: Int) throws(IngestError) -> IngestRejection? {
        let rejection = try applyLine(parsed, rawLine)
        guard options.source != nil else { return rejection }
        position.lines += 1
        position.bytes += UInt64(inputBytes)
        sinceCommit += inputBytes
        if sinceCommit >= options.commitBytes { try commitPosition() }
        return rejection
    }

    private func applyLine(_ parsed: ParsedLine, _ rawLine: UnsafeRawBufferPointer) throws(IngestError) -> IngestRejection? {
        lastAcceptedInterval = nil
        summary.lines += 1
        summary.bytes += rawLine.count + 1
        let eventTime: Timestamp?, keyHash: UInt64?
        switch parsed {
        case .blank:
            summary.blank += 1
            return nil
        case .rejected(let rejection):
            return try reject(parser.reason(for: rejection))
        case .accepted(let time, let hash):
            eventTime = time
            keyHash = hash
        }
        var line = rawLine
        if line.last == 0x0d { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        do {
            let interval = try appender.appendEncoded(line, keyHash: keyHash, eventTime: eventTime)
            summary.accepted += 1
            if let interval {
                lastAcceptedInterval = interval
                if let range = summary.intervals {
                    if interval < range.lowerBound || interval > range.upperBound {
                        summary.intervals = min(range.lowerBound, interval)...max(range.upperBound, interval)
                    }
                } else {
                    summary.intervals = interval...interval
                }
            } else {
                summary.late += 1
            }
        } catch {
            throw .storage(error)
        }
        return nil
    }

    private func reject(_ reason: String) throws(IngestError) -> IngestRejection {
        let rejection = IngestRejection(line: Int(summary.skipped.lines) + summary.lines, reason: reason)
        summary.rejected += 1
        if summary.rejections.count < options.maxRejectionsKept { summary.rejections.append(rejection) }
        if options.failFast { throw .malformedLine(rejection) }
        return rejection
    }

    /// Reads `fd` to its end, ingesting each line; calls `progress` about every 2^20 lines.
    ///
    /// Reads in chunks of 4 MiB. With `parallelism` above 1 and input ready without waiting, the
    /// next chunk is read into a second buffer, and helpers parse it, while the lines of the one
    /// before are appended (at most two chunks in memory); the lines read are appended before a
    /// read that could wait. A line longer than the buffer grows it, up to what a line of
    /// `maxLineBytes` (plus a carriage return) needs, so any line within the limit is ingested
    /// whole. A longer line is rejected, naming its length and the configured limit, and skipped
    /// to its newline without being held in memory.
    ///
    /// - Throws: `IngestError`. Records appended before the error stay in the appender's buffers;
    ///   call `finish()` to seal and flush them (the CLI does, after `--fail-fast`).
    public func ingest(fileDescriptor fd: Int32, progress: (IngestSummary) -> Void = { _ in }) throws(IngestError) {
        try ingest(fileDescriptor: fd, stop: { false }, progress: progress)
    }

    /// Reads `fd` to its end or until `stop` returns true, ingesting each line; calls `progress`
    /// about every 2^20 lines.
    ///
    /// `stop` is asked whenever a read is interrupted by a signal (install handlers without
    /// `SA_RESTART`) and between reads; when it says so, reading ends with `summary.interrupted`
    /// set and the lines read so far ingested. Call `stop()` (not `finish()`) then, to commit
    /// without sealing. While waiting for input, `idleSeal` seals what is open.
    ///
    /// - Throws: `IngestError`, as `ingest(fileDescriptor:progress:)`.
    public func ingest(fileDescriptor fd: Int32, stop: () -> Bool,
                       progress: (IngestSummary) -> Void = { _ in }) throws(IngestError) {
        // The most an unfinished line may take before it is known to be over the limit: the
        // line, a carriage return, and one byte more.
        let (maxPending, overflow) = max(0, options.maxLineBytes).addingReportingOverflow(2)
        let largest = overflow ? Int.max : maxPending
        let readSize = min(max(1, readChunkBytes), largest)
        // The buffer read into; the other one holds the chunk read before, while its lines wait
        // to be appended (allocated when a chunk is first read ahead): at most two chunks.
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readSize, alignment: 16)
        var other: UnsafeMutableRawBufferPointer?
        defer {
            buffer.deallocate()
            other?.deallocate()
        }
        // The chunk in `other` whose lines helpers parse while the next one is read: appended
        // before anything later is (lines are appended in input order), before a read that could
        // wait, and before stopping. Declared after the buffers, so that on an error its helpers
        // are done with it before the buffers are freed.
        var pending: (parse: ChunkParse, base: UnsafeRawPointer)?
        defer { if let pending { spareParses += parseHelpers.finish(pending.parse) } }
        func appendPending() throws(IngestError) {
            guard let chunk = pending else { return }
            pending = nil
            defer { spareParses += parseHelpers.finish(chunk.parse) }
            try appendParsed(chunk.parse, base: chunk.base)
        }
        var carried = 0  // bytes of an unfinished line at the start of `buffer`
        var skipped: Int?  // bytes of an overlong line skipped so far, while skipping it
        var nextProgress = 1 << 20
        while true {
            if carried == buffer.count {
                if buffer.count < largest {
                    // A line longer than the buffer but perhaps within the limit: grow geometrically.
                    let grown = buffer.count > largest / 2 ? largest : max(buffer.count * 2, 1)
                    let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: grown, alignment: 16)
                    larger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: carried)
                    buffer.deallocate()
                    buffer = larger
                } else {
                    // Longer than any line within the limit: skip to its end, then reject it.
                    skipped = (skipped ?? 0) + carried
                    carried = 0
                }
            }
            // A read that could wait comes only after the lines read so far are appended.
            if pending != nil && !Self.inputReady(fd) { try appendPending() }
            if stop() {
                try appendPending()
                summary.interrupted = true
                return
            }
            guard try waitForInput(fd, stop: stop) else {
                try appendPending()
                summary.interrupted = true
                return
            }
            let base = buffer.baseAddress!
            let n = read(fd, base + carried, buffer.count - carried)
            if n < 0 {
                // Not retryingOnInterrupt: the signal may be a stop request, which the loop's top checks.
                if errno == EINTR { continue }
                let code = errno
                try appendPending()  // read before the failure, as without reading ahead
                throw .readFailed(errno: code)
            }
            // At the input's end: the unfinished last line (without a newline) is a line too.
            func endOfInput() throws(IngestError) {
                try appendPending()
                if let length = skipped {
                    try rejectOverlong(length: length + carried, newline: false)
                } else if carried > 0 {
                    // The last line has no newline: it stands for its own bytes only.
                    _ = try ingest(line: UnsafeRawBufferPointer(start: buffer.baseAddress, count: carried),
                                   inputBytes: carried)
                }
            }
            if n == 0 {
                try endOfInput()
                break
            }
            var filled = carried + n
            // A pipe gives at most its capacity (64 KiB) per read: while more input is ready at
            // once, read on, so that the lines parsed together are enough to share between
            // threads. Never waits: lines read are ingested before any read that could block.
            var ended = false
            if options.parallelism > 1 {
                while filled < min(buffer.count, readChunkBytes), Self.inputReady(fd) {
                    let more = retryingOnInterrupt { read(fd, base + filled, buffer.count - filled) }
                    guard more > 0 else {
                        ended = more == 0  // an error is read (and reported) again by the next read
                        break
                    }
                    filled += more
                }
            }
            var lineStart = 0
            var readAhead = false  // whether this chunk's lines wait in `pending`
            if let first = memchr(base + carried, 0x0a, filled - carried) {
                var end = base.distance(to: first)
                if let length = skipped {
                    // The newline ends the overlong line being skipped.
                    try appendPending()
                    try rejectOverlong(length: length + end)
                    skipped = nil
                    lineStart = end + 1
                }
                // Complete lines end at the last newline; what follows it is carried.
                end = filled - 1
                while end >= lineStart && buffer[end] != 0x0a { end -= 1 }
                if end >= lineStart {
                    let count = end + 1 - lineStart
                    if options.parallelism > 1 && count >= 2 * parsePieceBytes {
                        // Helpers start on these lines while the chunk before is appended and the
                        // next one read.
                        let parse = ChunkParse(base: base + lineStart, count: count, parser: parser,
                                               pieceBytes: max(1, parsePieceBytes), spare: &spareParses)
                        parseHelpers.publish(parse)
                        let previous = pending
                        pending = (parse, UnsafeRawPointer(base + lineStart))
                        if let previous {
                            defer { spareParses += parseHelpers.finish(previous.parse) }
                            try appendParsed(previous.parse, base: previous.base)
                        }
                        readAhead = true
                    } else {
                        try appendPending()
                        try ingestLinesHere(base + lineStart, count: count)
                    }
                    lineStart = end + 1
                }
            }
            if summary.lines >= nextProgress {
                progress(summary)
                nextProgress = summary.lines + (1 << 20)
            }
            carried = filled - lineStart
            if readAhead {
                // This chunk stays until its lines are appended: the unfinished line goes to the
                // front of the other buffer (free now: its chunk was appended), which is read next.
                var next = other
                    ?? UnsafeMutableRawBufferPointer.allocate(byteCount: max(readSize, carried), alignment: 16)
                if next.count < carried {
                    next.deallocate()
                    next = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count, alignment: 16)
                }
                if carried > 0 { next.baseAddress!.copyMemory(from: base + lineStart, byteCount: carried) }
                other = buffer
                buffer = next
            } else if carried > 0 && lineStart > 0 {
                // Move the unfinished line to the front.
                base.copyMemory(from: base + lineStart, byteCount: carried)
            }
            if ended {
                // The last read found the end: reading again could wait (a terminal after Ctrl-D).
                if carried == buffer.count && buffer.count >= largest {
                    skipped = (skipped ?? 0) + carried
                    carried = 0
                }
                try endOfInput()
                break
            }
        }
    }

    /// The longest line accepted (`JSONIngestOptions.maxLineBytes`).
    var lineLimit: Int { options.maxLineBytes }

    /// Whether `fd` has input to read (or its end) without waiting.
    private static func inputReady(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) > 0
    }

    /// The read size of `ingest(fileDescriptor:)`, and its buffers' size unless a line needs more.
    static let chunkSize = 4 << 20

    /// The read size of `ingest(fileDescriptor:)` (`chunkSize`; smaller in tests, to cross many
    /// chunk boundaries with small inputs).
    var readChunkBytes = JSONLinesIngestor.chunkSize

    /// About how many bytes of lines one thread parses at a time in `ingest(fileDescriptor:)`
    /// (a piece ends at a newline); less than two pieces' worth is parsed on the calling thread.
    var parsePieceBytes = 256 << 10

    /// Ingests `count` bytes of complete lines, each ending with its newline, parsing them on
    /// this thread.
    private func ingestLinesHere(_ base: UnsafeRawPointer, count: Int) throws(IngestError) {
        var lineStart = 0
        while lineStart < count, let newline = memchr(base + lineStart, 0x0a, count - lineStart) {
            let end = base.distance(to: UnsafeRawPointer(newline))
            _ = try ingest(line: UnsafeRawBufferPointer(start: base + lineStart, count: end - lineStart))
            lineStart = end + 1
        }
    }

    /// Appends the lines of `parse` (of the chunk at `base`) in input order, parsing on this
    /// thread the pieces no helper has claimed. The caller finishes `parse` afterwards.
    private func appendParsed(_ parse: ChunkParse, base: UnsafeRawPointer) throws(IngestError) {
        for piece in 0..<parse.pieceCount {
            let lines = parse.lines(ofPiece: piece, scratch: &parseScratch)
            for span in lines.pointee {
                let line = UnsafeRawBufferPointer(start: base + span.start, count: span.end - span.start)
                _ = try apply(span.parsed, line: line, inputBytes: line.count + 1)
            }
        }
    }

    /// Counts and rejects a line of `length` bytes (without its newline) that was too long to hold.
    private func rejectOverlong(length: Int, newline: Bool = true) throws(IngestError) {
        try rejectLine("line of \(length) bytes exceeds the limit of \(options.maxLineBytes)", lineBytes: length,
                       inputBytes: length + (newline ? 1 : 0))
    }

    /// Counts and rejects, for `reason`, a line of `lineBytes` bytes (without its newline) that
    /// stands for `inputBytes` bytes of the input, without parsing it.
    func rejectLine(_ reason: String, lineBytes: Int, inputBytes: Int) throws(IngestError) {
        lastAcceptedInterval = nil
        summary.lines += 1
        summary.bytes += lineBytes + 1  // and its newline, as `ingest(line:)` counts
        _ = try reject(reason)
        guard options.source != nil else { return }
        position.lines += 1
        position.bytes += UInt64(inputBytes)
        sinceCommit += inputBytes
        if sinceCommit >= options.commitBytes { try commitPosition() }
    }

    /// Runs `body`, which throws only `IngestError`s, with typed throws.
    static func typed(_ body: () throws -> Void) throws(IngestError) {
        do {
            try body()
        } catch let error as IngestError {
            throw error
        } catch {
            throw .storage(StorageError(wrapping: error))
        }
    }

    /// Ends the ingest: seals what `sealAtEnd` asks for and waits until everything is durable.
    /// With a `source`, the last commit carries the input's final position, marked finished.
    public func finish() throws(IngestError) -> IngestSummary {
        do {
            if options.source != nil {
                if options.sealAtEnd { try appender.sealAllWithoutWaiting() }
                try commitPosition(finished: true)
                try waitForCommits()
            } else if options.sealAtEnd {
                try appender.sealAll()
            } else {
                try appender.flush()
            }
            summary.sealedThrough = try stream.frontier().sealedThrough
        } catch let error as IngestError {
            throw error
        } catch {
            throw .storage(StorageError(wrapping: error))
        }
        return summary
    }

    /// Ends an interrupted ingest: commits the lines read so far (with their position, given a
    /// `source`) without sealing anything, since the input has not ended, and waits until it is
    /// durable. Afterwards `committedPosition` is where to feed the input again.
    public func stop() throws(IngestError) -> IngestSummary {
        do {
            if options.source != nil {
                try commitPosition()
                try waitForCommits()
            } else {
                try appender.flush()
            }
            summary.sealedThrough = try stream.frontier().sealedThrough
        } catch let error as IngestError {
            throw error
        } catch {
            throw .storage(StorageError(wrapping: error))
        }
        return summary
    }

    // MARK: Resuming

    /// Reads and drops the start of `fd` that the earlier runs of this named source committed,
    /// checking that its lines end where the committed position says; returns that position.
    ///
    /// Call it before `ingest(fileDescriptor:)` with the same input as the earlier run (or that
    /// input with more appended): the records continue exactly after the last committed one.
    ///
    /// - Throws: `.inputMismatch` when the input ends before the position, or holds another
    ///   number of lines up to it; `.readFailed`.
    @discardableResult
    public func skipCommittedInput(fileDescriptor fd: Int32) throws(IngestError) -> InputPosition {
        guard case .named(let name) = options.source else { return InputPosition() }
        let target = appender.resumePosition
        guard target.bytes > 0 || target.lines > 0 else { return target }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var remaining = target.bytes
        var newlines: UInt64 = 0
        var lastByte: UInt8 = 0x0A
        while remaining > 0 {
            let want = Int(min(UInt64(buffer.count), remaining))
            let n = buffer.withUnsafeMutableBytes { raw in retryingOnInterrupt { read(fd, raw.baseAddress, want) } }
            if n < 0 { throw .readFailed(errno: errno) }
            if n == 0 {
                throw .inputMismatch(source: name, reason: "it ends after \(target.bytes - remaining) bytes, but "
                    + "\(target.lines) lines (\(target.bytes) bytes) of it are already committed")
            }
            for byte in buffer[0..<n] where byte == 0x0A { newlines += 1 }
            lastByte = buffer[n - 1]
            remaining -= UInt64(n)
        }
        // A last line without a newline counts only when the earlier run's input ended there.
        let lines = lastByte == 0x0A ? newlines : newlines + 1
        guard lines == target.lines else {
            throw .inputMismatch(source: name, reason: "its first \(target.bytes) bytes hold \(lines) lines, "
                + "but the committed position is line \(target.lines) at byte \(target.bytes)")
        }
        if lastByte != 0x0A {
            // The earlier run ended at an input's end without a newline; this input goes on, so
            // the rest of that line would be a new record: refuse rather than split a line.
            var next: UInt8 = 0
            let n = read(fd, &next, 1)
            if n == 1 && next != 0x0A {
                throw .inputMismatch(source: name, reason: "the committed position ends inside line \(target.lines)")
            }
            if n == 1 {
                position.bytes += 1
            }
        }
        position.lines += target.lines
        position.bytes += target.bytes
        summary.skipped = InputPosition(lines: position.lines, bytes: position.bytes)
        committedPosition = InputPosition(lines: position.lines, bytes: position.bytes)
        return summary.skipped
    }

    /// Commits what was ingested since the last commit together with `position`; waits for the
    /// commit before it (one in flight while the next is read).
    private func commitPosition(finished: Bool = false) throws(IngestError) {
        sinceCommit = 0
        do {
            let acknowledgement = try appender.commit(position: position, finished: finished)
            try waitForCommits()  // the previous one; this one stays in flight
            inFlight = (acknowledgement, position)
        } catch {
            throw .storage(error)
        }
    }

    /// Waits for the commit in flight, if any, and records its position as committed.
    private func waitForCommits() throws(StorageError) {
        guard let (acknowledgement, committed) = inFlight else { return }
        inFlight = nil
        try acknowledgement.wait()
        committedPosition = committed
    }

    /// Waits until `fd` has input to read (true) or `stop` says to stop (false), sealing while
    /// the input is quiet as `idleSeal` and arrival time ask. For a reading loop of your own
    /// (`ingest(fileDescriptor:stop:progress:)` calls it before each read).
    ///
    /// - Throws: `.storage` when a seal's commit fails.
    public func waitForInput(fileDescriptor fd: Int32, stop: () -> Bool) throws(IngestError) -> Bool {
        try waitForInput(fd, stop: stop)
    }

    /// Notes that a reading loop of the caller's own stopped before the input's end
    /// (`summary.interrupted`): `stop()` then commits without sealing.
    public func markInterrupted() { summary.interrupted = true }

    private func waitForInput(_ fd: Int32, stop: () -> Bool) throws(IngestError) -> Bool {
        var idleSince = ContinuousClock.now
        var sealedWhileIdle = false
        if options.source != nil && sinceCommit > 0 {
            // The input paused: commit what was read rather than hold it while waiting.
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) == 0 {
                try commitPosition()
                do { try waitForCommits() } catch { throw .storage(error) }
            }
        }
        while true {
            var timeout: Duration? = nil
            if let idle = options.idleSeal, !sealedWhileIdle, appender.holdsUnsealedRecords {
                timeout = idle - (ContinuousClock.now - idleSince)
            }
            if let untilNext = arrivalIntervalEnd() { timeout = min(timeout ?? untilNext, untilNext) }
            guard let wait = timeout else { return true }  // a blocking read() follows
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: max(0, wait.components.seconds * 1000
                + Int64(wait.components.attoseconds / 1_000_000_000_000_000) + 1))
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 {
                guard errno == EINTR else { return true }  // let read() report it
                if stop() { return false }
                continue
            }
            if stop() { return false }
            if let idle = options.idleSeal, !sealedWhileIdle, ContinuousClock.now - idleSince >= idle,
               appender.holdsUnsealedRecords {
                try sealIdle(through: nil)
                sealedWhileIdle = true
                idleSince = ContinuousClock.now
            } else if case .arrival = appender.timing, let through = elapsedArrivalInterval(),
                      let last = appender.newestUnsealedInterval, last <= through {
                try sealIdle(through: through)
            }
        }
    }

    /// With arrival time and an open interval, how long until the current interval ends.
    private func arrivalIntervalEnd() -> Duration? {
        guard case .arrival(let clock) = appender.timing, appender.newestUnsealedInterval != nil else { return nil }
        let now = clock.now().rawValue
        guard now >= 0 else { return nil }
        let length = Int64(clamping: lengthNanos)
        let rest = length - now % length
        return .nanoseconds(rest)
    }

    /// With arrival time, the newest interval that has ended.
    private func elapsedArrivalInterval() -> Interval? {
        guard case .arrival(let clock) = appender.timing else { return nil }
        let now = clock.now().rawValue
        guard now >= 0, UInt64(now) / lengthNanos > 0 else { return nil }
        return Interval(UInt64(now) / lengthNanos - 1)
    }

    /// Seals through `through` while the input is quiet, or (`nil`) every interval holding
    /// records, late ones included, and commits.
    private func sealIdle(through: Interval?) throws(IngestError) {
        do {
            if let through {
                try appender.sealWithoutWaiting(through: through)
            } else {
                try appender.sealAllWithoutWaiting()
            }
            if options.source != nil {
                try commitPosition()
                try waitForCommits()
            } else {
                try appender.flush()
            }
        } catch let error as IngestError {
            throw error
        } catch {
            throw .storage(StorageError(wrapping: error))
        }
        summary.idleSeals += 1
    }
}
