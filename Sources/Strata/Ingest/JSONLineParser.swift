import StrataStorage

/// What ingesting one line decided before anything is appended: a pure function of the line's
/// bytes and the stream's settings, so lines may be parsed on any thread, in any order, and
/// applied to the appender in input order afterwards.
enum ParsedLine {
    /// Spaces and tabs only (after a trailing carriage return is dropped).
    case blank
    /// Malformed: why (`JSONLineParser.reason(for:)` words it).
    case rejected(LineRejection)
    /// A record: its event time (with a time field) and partition hash (with a key field).
    case accepted(eventTime: Timestamp?, keyHash: UInt64?)
}

/// Why a parsed line was rejected, as a plain value: lines are parsed into arrays of
/// `ParsedLineSpan` on several threads, and holding no `String` keeps those arrays free of reference
/// counting (copying, appending, emptying). The reason's text is made only for a rejected line.
enum LineRejection: Equatable {
    /// Longer than `maxLineBytes` (its length without newline and carriage return).
    case overlong(length: Int)
    /// Not a valid JSON object.
    case malformed(JSONScanFailure)
    /// The stream's time field is absent.
    case missingTimeField
    /// The time field is neither a number nor an ISO 8601 time.
    case unreadableTime
    /// The time field is a number or an ISO 8601 time beyond what a timestamp holds (Int64
    /// nanoseconds since the epoch: up to 2262-04-11T23:47:16.854775807Z).
    case timeOutOfRange
    /// The time field is before 1970.
    case timeBefore1970
    /// The stream's key field is absent.
    case missingKeyField
}

/// One parsed line of a chunk: where it is in the chunk (without its newline) and the verdict.
struct ParsedLineSpan {
    var start: Int
    var end: Int
    var parsed: ParsedLine
}

/// Validates one JSON line and takes its event time and partition hash from the stream's
/// fields: the per-line work of `JSONLinesIngestor` that does not touch the appender.
///
/// `Sendable`: `parse` reads only the line and this value's settings (and the caller's scratch),
/// so any number of threads may parse lines of one input at the same time.
struct JSONLineParser: Sendable {
    let scanner: JSONLineScanner
    let timeField: String?
    let keyField: String?
    /// How the key field's text chooses the partition (the stream's, fixed at its creation).
    let keyPlacement: KeyPlacement
    let timeUnit: TimeUnit
    let maxLineBytes: Int

    init(descriptor d: StreamDescriptor, maxLineBytes: Int) {
        timeField = d.timeField
        keyField = d.keyField
        keyPlacement = d.keyPlacement ?? .fieldBytes
        timeUnit = d.timeUnit ?? .milliseconds
        self.maxLineBytes = maxLineBytes
        var fields: [String] = []
        if let t = d.timeField { fields.append(t) }
        if let k = d.keyField { fields.append(k) }
        scanner = JSONLineScanner(fields: fields)
    }

    /// What one thread keeps between the lines it parses: a buffer for unescaping a key with
    /// escapes, and the keys of the last line it scanned in full (`JSONLineShape`).
    struct Scratch {
        /// A buffer for unescaping a key with escapes.
        var key: [UInt8] = []
        /// The keys of the last line scanned in full.
        var shape = JSONLineShape()
        /// Empty buffers, no shape.
        init() {}
    }

    /// The verdict on `rawLine` (without its newline; a trailing carriage return is dropped).
    ///
    /// - Parameter scratch: This thread's scratch (one per thread); the verdict does not depend on it.
    func parse(_ rawLine: UnsafeRawBufferPointer, scratch: inout Scratch) -> ParsedLine {
        var line = rawLine
        if line.last == 0x0d { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if isBlank(line) { return .blank }
        if line.count > maxLineBytes {
            return .rejected(.overlong(length: line.count))
        }
        let fields: (JSONFieldValue?, JSONFieldValue?)
        do {
            fields = try scanner.scanFields(line, shape: &scratch.shape)
        } catch {
            return .rejected(.malformed(error))
        }
        var eventTime: Timestamp?
        var keyValue: JSONFieldValue?
        if timeField != nil {
            guard let value = fields.0 else { return .rejected(.missingTimeField) }
            guard let nanos = parseTime(value, in: line) else { return .rejected(timeRejection(value, in: line)) }
            guard nanos >= 0 else { return .rejected(.timeBefore1970) }
            eventTime = Timestamp(nanoseconds: nanos)
            keyValue = fields.1
        } else {
            keyValue = fields.0
        }
        var keyHash: UInt64?
        if keyField != nil {
            guard let key = keyValue else { return .rejected(.missingKeyField) }
            keyHash = hashKey(key, in: line, scratch: &scratch.key)
        }
        return .accepted(eventTime: eventTime, keyHash: keyHash)
    }

    /// The reason reported for a rejected line, naming the stream's fields and limits.
    func reason(for rejection: LineRejection) -> String {
        switch rejection {
        case .overlong(let length): "line of \(length) bytes exceeds the limit of \(maxLineBytes)"
        case .malformed(let failure): failure.lineError.description
        case .missingTimeField: "missing time field \"\(timeField ?? "")\""
        case .unreadableTime: "time field \"\(timeField ?? "")\" is neither a number of \(timeUnit.plural) nor an ISO 8601 time"
        case .timeOutOfRange: "time field \"\(timeField ?? "")\" is out of range: \(timeRangeText)"
        case .timeBefore1970: "time field \"\(timeField ?? "")\" is before 1970"
        case .missingKeyField: "missing key field \"\(keyField ?? "")\""
        }
    }

    /// The event times a timestamp holds (Int64 nanoseconds since the epoch, none before 1970),
    /// also as numbers of the stream's time unit.
    private var timeRangeText: String {
        let last = Int64.max / timeUnit.nanosecondsPerUnit
        return "event times go from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z (0 to \(last) \(timeUnit.plural))"
    }

    /// Whether the line holds only spaces and tabs (a JSON line starts with `{` at once, so the
    /// first byte decides almost every line).
    @inline(__always)
    private func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        for byte in line where byte != 0x20 && byte != 0x09 { return false }
        return true
    }

    private func parseTime(_ value: JSONFieldValue, in line: UnsafeRawBufferPointer) -> Int64? {
        let bytes = UnsafeRawBufferPointer(rebasing: line[value.range])
        switch value.kind {
        case .number: return parseTimestampNanoseconds(number: bytes, unit: timeUnit)
        case .string where !value.hasEscapes: return parseISO8601Nanoseconds(bytes)
        default: return nil
        }
    }

    /// Why a time field that `parseTime` refused was refused: out of range when it is a JSON
    /// number (the scanner checked its grammar, which the number parser accepts whole, so only
    /// its size fails) or an ISO 8601 time that reads with its year set to 2000 (a valid date of
    /// its own year: `2023-02-29` stays unreadable); unreadable otherwise. Runs for rejected lines
    /// only, never on the parse path of an accepted one.
    @inline(never)
    private func timeRejection(_ value: JSONFieldValue, in line: UnsafeRawBufferPointer) -> LineRejection {
        switch value.kind {
        case .number:
            return .timeOutOfRange
        case .string where !value.hasEscapes:
            var text = Array(UnsafeRawBufferPointer(rebasing: line[value.range]))
            guard text.count >= 10, text[0..<4].allSatisfy({ $0 &- 0x30 < 10 }),
                  let year = Int(String(decoding: text[0..<4], as: UTF8.self)),
                  let month = Int(String(decoding: text[5..<7], as: UTF8.self)),
                  let day = Int(String(decoding: text[8..<10], as: UTF8.self)),
                  (1...12).contains(month), day <= daysInMonth(year: year, month: month)
            else { return .unreadableTime }
            text.replaceSubrange(0..<4, with: Array("2000".utf8))
            let readsIn2000 = text.withUnsafeBytes { parseISO8601Nanoseconds($0) } != nil
            return readsIn2000 ? .timeOutOfRange : .unreadableTime
        default:
            return .unreadableTime
        }
    }

    /// The partition hash of a key field, by the stream's placement (`KeyPlacement`) of its text: a
    /// string's unescaped UTF-8, or any other value's JSON text (a string whose escapes do not
    /// decode, which the scanner has refused before, by its raw bytes).
    private func hashKey(_ value: JSONFieldValue, in line: UnsafeRawBufferPointer, scratch: inout [UInt8]) -> UInt64 {
        let bytes = UnsafeRawBufferPointer(rebasing: line[value.range])
        guard value.kind == .string, value.hasEscapes else {
            guard keyPlacement == .stringKey else { return XXH64.hash(bytes) }
            return Self.stringKeyHash(ofTextAt: value.range, in: line)
        }
        scratch.removeAll(keepingCapacity: true)
        if (try? unescapeJSONString(bytes, into: &scratch)) == nil {
            return Self.partitionHash(ofKeyText: bytes, placement: keyPlacement)
        }
        return scratch.withUnsafeBytes { Self.partitionHash(ofKeyText: $0, placement: keyPlacement) }
    }

    /// The `stringKey` partition hash of the key text at `range` of `line`, without copying the
    /// text: XXH64 over the bytes from the length prefix's width before the text to its end, those
    /// first bytes read as the LEB128 length (`XXH64.hash(_:replacingFirst:with:)`). A key's text
    /// always has readable bytes before it (at least `{"":` and, for a string, its quote: 4 or 5,
    /// and a prefix is 1 byte below 128 bytes of text, 2 below 16 384, 3 below 2 097 152); a key too
    /// close to the line's start for its prefix is hashed by `partitionHash(ofKeyText:placement:)`.
    /// Both give the same digest.
    @inline(__always)
    static func stringKeyHash(ofTextAt range: Range<Int>, in line: UnsafeRawBufferPointer) -> UInt64 {
        var length = UInt64(range.count), head: UInt64 = 0, headCount = 0
        while length >= 0x80, headCount < 8 {
            head |= ((length & 0x7F) | 0x80) << UInt64(8 * headCount)
            length >>= 7
            headCount += 1
        }
        guard length < 0x80, headCount < 8, range.lowerBound > headCount else {
            return partitionHash(ofKeyText: UnsafeRawBufferPointer(rebasing: line[range]), placement: .stringKey)
        }
        head |= length << UInt64(8 * headCount)
        headCount += 1
        return XXH64.hash(UnsafeRawBufferPointer(rebasing: line[(range.lowerBound - headCount)..<range.upperBound]),
                          replacingFirst: headCount, with: head)
    }

    /// The partition hash of a key's text under `placement`: `XXH64(text)` for `fieldBytes`; for
    /// `stringKey`, XXH64 of the text's `String` encoding (LEB128 length, then the bytes: what the
    /// engine hashes to route a `String` key), assembled in a temporary buffer (on the stack for a
    /// key of usual length: nothing allocated per line).
    @inline(__always)
    static func partitionHash(ofKeyText text: UnsafeRawBufferPointer, placement: KeyPlacement) -> UInt64 {
        guard placement == .stringKey else { return XXH64.hash(text) }
        return withUnsafeTemporaryAllocation(byteCount: text.count + 10, alignment: 8) { buffer in
            var length = UInt64(text.count), prefix = 0
            while length >= 0x80 {
                buffer[prefix] = UInt8(truncatingIfNeeded: length) | 0x80
                length >>= 7
                prefix += 1
            }
            buffer[prefix] = UInt8(truncatingIfNeeded: length)
            prefix += 1
            if let source = text.baseAddress, let target = buffer.baseAddress {
                (target + prefix).copyMemory(from: source, byteCount: text.count)
            }
            return XXH64.hash(UnsafeRawBufferPointer(rebasing: buffer[0..<prefix + text.count]))
        }
    }
}
