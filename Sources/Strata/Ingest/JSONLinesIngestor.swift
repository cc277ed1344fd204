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
    public var appenderLimits = StreamAppender<JSONRecord>.Limits()
    /// Default options.
    public init() {}
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
    /// The smallest and largest interval that received records.
    public var intervals: ClosedRange<Interval>?
    /// The newest sealed interval after the ingest.
    public var sealedThrough: Interval?
}

/// Why an ingest stopped.
public enum IngestError: Error, Sendable, CustomStringConvertible {
    /// A malformed line with `failFast` set.
    case malformedLine(IngestRejection)
    /// Reading the input failed.
    case readFailed(errno: Int32)
    /// The store refused the records.
    case storage(StorageError)

    public var description: String {
        switch self {
        case .malformedLine(let rejection): "malformed input at \(rejection)"
        case .readFailed(let code): "reading the input failed: \(String(cString: strerror(code))) (errno \(code))"
        case .storage(let error): error.description
        }
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
    public let appender: StreamAppender<JSONRecord>
    private let scanner: JSONLineScanner
    private let options: JSONIngestOptions
    private let timeUnit: TimeUnit
    private let timeField: String?
    private let keyField: String?
    private var keyScratch: [UInt8] = []
    private var lengthNanos: UInt64
    /// What was done so far.
    public private(set) var summary = IngestSummary()
    /// The interval that received the last line ingested; `nil` when that line was blank,
    /// rejected or late (filed in the late side stream).
    public private(set) var lastAcceptedInterval: Interval?

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
        timeField = d.timeField
        keyField = d.keyField
        timeUnit = d.timeUnit.flatMap(TimeUnit.init(rawValue:)) ?? .milliseconds
        lengthNanos = d.intervalLength.rawValue
        var fields: [String] = []
        if let t = d.timeField { fields.append(t) }
        if let k = d.keyField { fields.append(k) }
        scanner = JSONLineScanner(fields: fields)
        let timing: TimeAssignment = d.timeField == nil ? .arrival : .eventTime(allowedLateness: options.allowedLateness)
        appender = try stream.appender(timing: timing, limits: options.appenderLimits)
    }

    /// Ingests one line (without its newline); returns the rejection when it is malformed.
    ///
    /// - Throws: `IngestError.malformedLine` with `failFast`; `.storage` when the store fails.
    @discardableResult
    public func ingest(line rawLine: UnsafeRawBufferPointer) throws(IngestError) -> IngestRejection? {
        lastAcceptedInterval = nil
        summary.lines += 1
        summary.bytes += rawLine.count + 1
        var line = rawLine
        if line.last == 0x0d { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
            summary.blank += 1
            return nil
        }
        if line.count > options.maxLineBytes {
            return try reject("line of \(line.count) bytes exceeds the limit of \(options.maxLineBytes)")
        }
        let fields: (JSONFieldValue?, JSONFieldValue?)
        do {
            fields = try scanner.scan(line)
        } catch {
            return try reject(error.description)
        }
        var eventTime: Timestamp?
        var keyValue: JSONFieldValue?
        if let timeField {
            guard let value = fields.0 else { return try reject("missing time field \"\(timeField)\"") }
            guard let nanos = parseTime(value, in: line) else {
                return try reject("time field \"\(timeField)\" is not a \(timeUnit.rawValue) number or an ISO 8601 time")
            }
            guard nanos >= 0 else { return try reject("time field \"\(timeField)\" is before 1970") }
            eventTime = Timestamp(nanoseconds: nanos)
            keyValue = fields.1
        } else {
            keyValue = fields.0
        }
        var keyHash: UInt64?
        if let keyField {
            guard let key = keyValue else { return try reject("missing key field \"\(keyField)\"") }
            keyHash = hashKey(key, in: line)
        }
        do {
            let lateBefore = appender.lateRecords
            try appender.appendEncoded(line, keyHash: keyHash, eventTime: eventTime)
            summary.accepted += 1
            if appender.lateRecords != lateBefore {
                summary.late += 1
            } else {
                let interval = eventTime.map { Interval(UInt64($0.rawValue) / lengthNanos) }
                    ?? appender.openIntervals.last ?? Interval(0)
                lastAcceptedInterval = interval
                if let range = summary.intervals {
                    summary.intervals = min(range.lowerBound, interval)...max(range.upperBound, interval)
                } else {
                    summary.intervals = interval...interval
                }
            }
        } catch {
            throw .storage(error)
        }
        return nil
    }

    private func reject(_ reason: String) throws(IngestError) -> IngestRejection {
        let rejection = IngestRejection(line: summary.lines, reason: reason)
        summary.rejected += 1
        if summary.rejections.count < options.maxRejectionsKept { summary.rejections.append(rejection) }
        if options.failFast { throw .malformedLine(rejection) }
        return rejection
    }

    private func parseTime(_ value: JSONFieldValue, in line: UnsafeRawBufferPointer) -> Int64? {
        let bytes = UnsafeRawBufferPointer(rebasing: line[value.range])
        switch value.kind {
        case .number: return parseTimestampNanoseconds(number: bytes, unit: timeUnit)
        case .string where !value.hasEscapes: return parseISO8601Nanoseconds(bytes)
        default: return nil
        }
    }

    /// The partition hash of a key field: XXH64 of a string's unescaped UTF-8, or of any other
    /// value's JSON text.
    private func hashKey(_ value: JSONFieldValue, in line: UnsafeRawBufferPointer) -> UInt64 {
        let bytes = UnsafeRawBufferPointer(rebasing: line[value.range])
        guard value.kind == .string, value.hasEscapes else { return XXH64.hash(bytes) }
        keyScratch.removeAll(keepingCapacity: true)
        if (try? unescapeJSONString(bytes, into: &keyScratch)) == nil { return XXH64.hash(bytes) }
        return keyScratch.withUnsafeBytes { XXH64.hash($0) }
    }

    /// Reads `fd` to its end, ingesting each line; calls `progress` about every 2^20 lines.
    ///
    /// Reads in chunks of 4 MiB; a line longer than the buffer grows it, up to what a line of
    /// `maxLineBytes` (plus a carriage return) needs, so any line within the limit is ingested
    /// whole. A longer line is rejected, naming its length and the configured limit, and skipped
    /// to its newline without being held in memory.
    ///
    /// - Throws: `IngestError`. Records appended before the error stay in the appender's buffers;
    ///   call `finish()` to seal and flush them (the CLI does, after `--fail-fast`).
    public func ingest(fileDescriptor fd: Int32, progress: (IngestSummary) -> Void = { _ in }) throws(IngestError) {
        // The most an unfinished line may take before it is known to be over the limit: the
        // line, a carriage return, and one byte more.
        let (maxPending, overflow) = max(0, options.maxLineBytes).addingReportingOverflow(2)
        let largest = overflow ? Int.max : maxPending
        var buffer = [UInt8](repeating: 0, count: min(Self.chunkSize, largest))
        var carried = 0  // bytes of an unfinished line at the start of `buffer`
        var skipped: Int?  // bytes of an overlong line skipped so far, while skipping it
        var nextProgress = 1 << 20
        while true {
            if carried == buffer.count {
                if buffer.count < largest {
                    // A line longer than the buffer but perhaps within the limit: grow geometrically.
                    let grown = buffer.count > largest / 2 ? largest : max(buffer.count * 2, 1)
                    buffer.append(contentsOf: repeatElement(0, count: grown - buffer.count))
                } else {
                    // Longer than any line within the limit: skip to its end, then reject it.
                    skipped = (skipped ?? 0) + carried
                    carried = 0
                }
            }
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return read(fd, base + carried, raw.count - carried)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .readFailed(errno: errno)
            }
            if n == 0 {
                if let length = skipped {
                    try rejectOverlong(length: length + carried)
                } else if carried > 0 {
                    try Self.typed {
                        try buffer.withUnsafeBytes { raw in
                            _ = try ingest(line: UnsafeRawBufferPointer(rebasing: raw[0..<carried]))
                        }
                    }
                }
                break
            }
            let filled = carried + n
            var lineStart = 0
            try Self.typed { try buffer.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var i = carried
                while i < filled {
                    guard let newline = memchr(base + i, 0x0a, filled - i) else { break }
                    let end = base.distance(to: UnsafeRawPointer(newline))
                    if let length = skipped {
                        try rejectOverlong(length: length + end - lineStart)
                        skipped = nil
                    } else {
                        _ = try ingest(line: UnsafeRawBufferPointer(rebasing: raw[lineStart..<end]))
                    }
                    lineStart = end + 1
                    i = lineStart
                }
            } }
            if summary.lines >= nextProgress {
                progress(summary)
                nextProgress = summary.lines + (1 << 20)
            }
            // Move the unfinished line to the front.
            carried = filled - lineStart
            if carried > 0 && lineStart > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    guard let base = raw.baseAddress else { return }
                    base.copyMemory(from: base + lineStart, byteCount: carried)
                }
            }
        }
    }

    /// The read size of `ingest(fileDescriptor:)`, and its buffer's size unless a line needs more.
    static let chunkSize = 4 << 20

    /// Counts and rejects a line of `length` bytes (without its newline) that was too long to hold.
    private func rejectOverlong(length: Int) throws(IngestError) {
        lastAcceptedInterval = nil
        summary.lines += 1
        summary.bytes += length + 1  // and its newline, as `ingest(line:)` counts
        _ = try reject("line of \(length) bytes exceeds the limit of \(options.maxLineBytes)")
    }

    /// Runs `body`, which throws only `IngestError`s, with typed throws.
    private static func typed(_ body: () throws -> Void) throws(IngestError) {
        do {
            try body()
        } catch let error as IngestError {
            throw error
        } catch {
            throw .storage(StorageError(wrapping: error))
        }
    }

    /// Ends the ingest: seals what `sealAtEnd` asks for and waits until everything is durable.
    public func finish() throws(IngestError) -> IngestSummary {
        do {
            if options.sealAtEnd {
                try appender.sealAll()
            } else {
                try appender.flush()
            }
            summary.sealedThrough = try stream.frontier().sealedThrough
        } catch {
            throw .storage(error)
        }
        return summary
    }
}
