// A hand-written, allocation-free JSON scanner for JSON-lines ingest.
//
// The per-line path (`JSONLineScanner.scan`) touches only the caller's bytes: no Foundation, no String or Array
// allocation. It fully validates one JSON object (RFC 8259 syntax, strings validated as UTF-8, nesting depth at most
// 64) and reports the raw byte ranges of up to two requested top-level fields.

/// Why a JSON line was rejected; `offset` is the byte offset within the line.
public struct JSONLineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem found in the line.
    @frozen
    public enum Reason: Sendable, Equatable {
        /// The line is empty or holds only whitespace; `offset` is the line's length.
        case empty
        /// The first non-whitespace byte is not `{`; `offset` points at it.
        case notAnObject
        /// A byte that cannot appear here (structural mistake, or a raw control character inside a string).
        case unexpectedByte(UInt8)
        /// The line ends before the object is complete (outside a string); `offset` is the line's length.
        case unexpectedEnd
        /// A string has no closing quote before the end of the line; `offset` points at its opening quote.
        case unterminatedString
        /// A backslash escape is malformed, or a `\u` escape is a lone surrogate; `offset` points at the backslash.
        case invalidEscape
        /// A number does not follow the JSON grammar (e.g. `01`, `1.`, `.5`, `+1`); `offset` points at its start.
        case invalidNumber
        /// A bare word that is not exactly `true`, `false` or `null`; `offset` points at its start.
        case invalidLiteral
        /// Something other than whitespace follows the object's closing `}`; `offset` points at it.
        case trailingBytes
        /// Objects and arrays are nested more than 64 deep; `offset` points at the bracket that is one too deep.
        case tooDeep
        /// A required field is absent (raised by callers, not by the scanner).
        case missingField(String)
        /// A field had to be a string but is not (raised by callers, not by the scanner).
        case fieldNotString(String)
        /// A field has a type the caller cannot use (raised by callers, not by the scanner).
        case fieldWrongType(String)
        /// A string holds bytes that are not valid UTF-8; `offset` points at the first byte of the bad sequence.
        case invalidUTF8
    }

    /// The kind of problem.
    public var reason: Reason
    /// The byte offset within the line at which the problem was found.
    public var offset: Int

    /// Creates an error for `reason` at byte `offset` of the line.
    public init(_ reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// One line a person can act on, e.g. `byte 17: unterminated string`.
    public var description: String {
        let what: String
        switch reason {
        case .empty: what = "empty line, expected a JSON object"
        case .notAnObject: what = "not a JSON object, a line must start with '{'"
        case .unexpectedByte(let byte): what = "unexpected \(Self.describe(byte: byte))"
        case .unexpectedEnd: what = "line ends before the JSON object is complete"
        case .unterminatedString: what = "unterminated string"
        case .invalidEscape: what = "invalid escape sequence in string"
        case .invalidNumber: what = "invalid number"
        case .invalidLiteral: what = "invalid literal, expected true, false or null"
        case .trailingBytes: what = "unexpected bytes after the closing '}'"
        case .tooDeep: what = "objects and arrays nested more than \(jsonMaximumDepth) deep"
        case .missingField(let name): what = "missing field \"\(name)\""
        case .fieldNotString(let name): what = "field \"\(name)\" must be a string"
        case .fieldWrongType(let name): what = "field \"\(name)\" has the wrong type"
        case .invalidUTF8: what = "invalid UTF-8 in string"
        }
        return "byte \(offset): \(what)"
    }

    /// Renders a byte as `'x' (0x78)` when printable ASCII, else `byte 0x0A`.
    private static func describe(byte: UInt8) -> String {
        let hex = (byte < 0x10 ? "0x0" : "0x") + String(byte, radix: 16, uppercase: true)
        if byte >= 0x21 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))' (\(hex))"
        }
        return "byte \(hex)"
    }
}

/// Why the scanner rejected a line, as a plain value: the reasons `JSONLineScanner` itself finds
/// (none carries a `String`, unlike `JSONLineError.Reason`'s caller-raised ones), so the scanner's
/// typed throws and a parsed line holding a failure stay trivially copyable. `lineError` is the
/// public form, with the same reason and offset.
struct JSONScanFailure: Error, Sendable, Equatable {
    /// The reasons the scanner finds; each is the `JSONLineError.Reason` case of the same name.
    enum Reason: Sendable, Equatable {
        case empty, notAnObject, unexpectedByte(UInt8), unexpectedEnd, unterminatedString, invalidEscape
        case invalidNumber, invalidLiteral, trailingBytes, tooDeep, invalidUTF8
    }

    /// The kind of problem.
    var reason: Reason
    /// The byte offset within the line at which the problem was found.
    var offset: Int

    /// A failure for `reason` at byte `offset` of the line.
    @inline(__always)
    init(_ reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// The same failure as a `JSONLineError`.
    var lineError: JSONLineError {
        let kind: JSONLineError.Reason
        switch reason {
        case .empty: kind = .empty
        case .notAnObject: kind = .notAnObject
        case .unexpectedByte(let byte): kind = .unexpectedByte(byte)
        case .unexpectedEnd: kind = .unexpectedEnd
        case .unterminatedString: kind = .unterminatedString
        case .invalidEscape: kind = .invalidEscape
        case .invalidNumber: kind = .invalidNumber
        case .invalidLiteral: kind = .invalidLiteral
        case .trailingBytes: kind = .trailingBytes
        case .tooDeep: kind = .tooDeep
        case .invalidUTF8: kind = .invalidUTF8
        }
        return JSONLineError(kind, offset: offset)
    }
}

/// The deepest allowed nesting of objects and arrays; the line's own object counts as level 1.
let jsonMaximumDepth = 64

/// The kind and raw bytes of a top-level field value.
package struct JSONFieldValue: Sendable, Equatable {
    /// The JSON type of a value.
    package enum Kind: Sendable, Equatable { case string, number, bool, null, object, array }
    /// The JSON type of the value.
    package var kind: Kind
    /// Byte range within the line: for strings the content between the quotes (still escaped), otherwise the token.
    package var range: Range<Int>
    /// True when a string value contains at least one backslash escape (always false for other kinds).
    package var hasEscapes: Bool

    /// Creates a value description.
    package init(kind: Kind, range: Range<Int>, hasEscapes: Bool = false) {
        self.kind = kind
        self.range = range
        self.hasEscapes = hasEscapes
    }
}

/// Validates JSON lines and extracts up to two top-level fields without allocating.
///
/// Keys are matched on their unescaped bytes, so `"t\u0073"` matches a field named `ts`. Only keys of the line's own
/// object are considered; a key of the same name inside a nested object or array is not a match. When a key occurs
/// more than once, the first occurrence wins (later ones are still validated, but ignored).
package struct JSONLineScanner: Sendable {
    /// UTF-8 bytes of the first requested field name, empty when unused.
    private let field0: [UInt8]
    /// UTF-8 bytes of the second requested field name, empty when unused.
    private let field1: [UInt8]
    /// Whether a first field was requested.
    private let wants0: Bool
    /// Whether a second field was requested.
    private let wants1: Bool
    /// Whether the full scan skips digit runs byte by byte instead of eight bytes at a time: the
    /// plain path, kept for tests that check the word-at-a-time path against it (the shape's
    /// scan, `scanFields(_:shape:)` on a line of the shape's keys, always reads words).
    private let bytewise: Bool

    /// Field names to extract (top-level keys only), up to 2: e.g. a time field and a key field.
    ///
    /// - Parameter bytewise: The full scan skips digit runs one byte at a time (the plain path;
    ///   for tests). The results and failures are the same either way.
    package init(fields: [String], bytewise: Bool = false) {
        precondition(fields.count <= 2, "JSONLineScanner extracts at most 2 fields, got \(fields.count)")
        self.bytewise = bytewise
        wants0 = fields.count > 0
        wants1 = fields.count > 1
        field0 = wants0 ? Array(fields[0].utf8) : []
        field1 = wants1 ? Array(fields[1].utf8) : []
    }

    /// Validates that `line` is exactly one JSON object and returns the requested top-level fields (nil if absent).
    ///
    /// RFC 8259 syntax; leading and trailing ASCII whitespace (space, tab, CR, LF) is allowed; strings must be valid
    /// UTF-8 and `\u` escapes must not be lone surrogates; nesting depth is limited to 64. Values are returned in the
    /// order of the names given at init.
    package func scan(_ line: UnsafeRawBufferPointer) throws(JSONLineError) -> (JSONFieldValue?, JSONFieldValue?) {
        do {
            return try scanFields(line)
        } catch {
            throw error.lineError
        }
    }

    /// `scan(_:)` with its failure as a plain value (`JSONScanFailure`): what the ingest's per-line
    /// path calls, so that neither throwing nor keeping a failure touches a reference count.
    func scanFields(_ line: UnsafeRawBufferPointer) throws(JSONScanFailure) -> (JSONFieldValue?, JSONFieldValue?) {
        var unused = JSONLineShape()
        return try scanFields(line, recording: &unused, record: false)
    }

    /// `scanFields(_:)` that first tries the keys of the last line this thread scanned in full
    /// (`shape`), and remembers the keys of a line it has to scan in full.
    ///
    /// The result and the failure are `scanFields(_:)`'s for every line: a line whose keys are
    /// the shape's bytes, in the shape's order, is scanned as `scanFields(_:)` scans it except
    /// that each key is compared with the shape's bytes (one or two 8-byte words) instead of being
    /// scanned as a string and compared with the field names — the shape's keys are plain strings
    /// the full scan accepted, so the same bytes scan the same way. Any other line, and any line
    /// the shape's scan would fail, is scanned again in full from its start, which reports the
    /// failure. One shape per thread (it is the caller's, as `inout`).
    func scanFields(_ line: UnsafeRawBufferPointer,
                    shape: inout JSONLineShape) throws(JSONScanFailure) -> (JSONFieldValue?, JSONFieldValue?) {
        if !shape.keys.isEmpty {
            var value0: JSONFieldValue?
            var value1: JSONFieldValue?
            let scanned = shape.keys.withUnsafeBufferPointer { keys in
                scanByShape(line, keys, &value0, &value1)
            }
            if scanned { return (value0, value1) }
        }
        return try scanFields(line, recording: &shape, record: true)
    }

    /// Scans `line` the way `scanFields(_:recording:record:)` does, with each top-level key
    /// compared with the next of `keys` instead of scanned; false when a key differs, the line
    /// has more or fewer keys, or any part of it fails (the caller then scans it in full).
    ///
    /// The common values are scanned here, on a position held in a register, without a call:
    /// a string up to its closing quote eight bytes at a time while its bytes are plain ASCII,
    /// and an integer eight digits at a time up to a byte that cannot continue it
    /// (`JSONShapeScan`); a string holding an escape, a control byte or non-ASCII, any other
    /// number (fraction, exponent, or a byte that continues it) and any other value are scanned
    /// from their first byte by the full scan's own code (`JSONCursor`), so each value's result
    /// and each failure are the full scan's.
    @inline(__always)
    private func scanByShape(_ line: UnsafeRawBufferPointer, _ keys: UnsafeBufferPointer<JSONShapeKey>,
                             _ value0: inout JSONFieldValue?, _ value1: inout JSONFieldValue?) -> Bool {
        guard let base = line.baseAddress else { return false }
        let bytes = JSONShapeScan(base: base, count: line.count)
        var index = bytes.skipWhitespace(from: 0)
        guard index < bytes.count, bytes[index] == JSONByte.openBrace else { return false }
        index &+= 1
        let last = keys.count &- 1
        var k = 0
        while true {
            let key = keys[k]
            index = bytes.skipWhitespace(from: index)
            guard bytes.startsWith(key, at: index) else { return false }
            index &+= key.length
            index = bytes.skipWhitespace(from: index)
            guard index < bytes.count else { return false }
            let start = index
            let first = bytes[index]
            let value: JSONFieldValue
            if first == JSONByte.quote, let end = bytes.plainStringEnd(afterQuoteAt: start) {
                value = JSONFieldValue(kind: .string, range: (start &+ 1)..<end)
                index = end &+ 1
            } else if let end = bytes.integerEnd(at: start, first: first) {
                value = JSONFieldValue(kind: .number, range: start..<end)
                index = end
            } else {
                guard let (slowValue, slowEnd) = bytes.scanValueInFull(at: start) else { return false }
                value = slowValue
                index = slowEnd
            }
            if key.isField0 && value0 == nil { value0 = value }
            if key.isField1 && value1 == nil { value1 = value }
            guard let next = bytes.separator(at: index, last: k == last) else { return false }
            index = next
            if k == last { break }
            k &+= 1
        }
        return bytes.skipWhitespace(from: index) == bytes.count
    }

    /// The full scan; with `record`, a line it accepts whose keys all fit a shape
    /// (`JSONShapeKey.init(line:quote:keyEnd:field0:field1:)`, at most `JSONLineShape.maximumKeys`)
    /// becomes `shape`.
    private func scanFields(_ line: UnsafeRawBufferPointer, recording shape: inout JSONLineShape,
                            record: Bool) throws(JSONScanFailure) -> (JSONFieldValue?, JSONFieldValue?) {
        var recordable = record
        if record { shape.candidate.removeAll(keepingCapacity: true) }
        var cursor = JSONCursor(line, bytewise: bytewise)
        cursor.skipWhitespace()
        guard cursor.index < cursor.count else { throw JSONScanFailure(.empty, offset: cursor.index) }
        guard cursor.current == JSONByte.openBrace else { throw JSONScanFailure(.notAnObject, offset: cursor.index) }
        cursor.index += 1
        cursor.skipWhitespace()

        var value0: JSONFieldValue?
        var value1: JSONFieldValue?
        if try cursor.peek() == JSONByte.closeBrace {
            cursor.index += 1
        } else {
            while true {
                let quote = try cursor.peek()
                guard quote == JSONByte.quote else {
                    throw JSONScanFailure(.unexpectedByte(quote), offset: cursor.index)
                }
                let keyStart = cursor.index + 1
                let keyEscaped = try cursor.scanString()
                let keyEnd = cursor.index - 1
                let match0 = wants0 && value0 == nil && keyMatches(line, keyStart, keyEnd, keyEscaped, field0)
                let match1 = wants1 && value1 == nil && keyMatches(line, keyStart, keyEnd, keyEscaped, field1)
                if recordable {
                    if !keyEscaped, shape.candidate.count < JSONLineShape.maximumKeys,
                       let key = JSONShapeKey(line: line, quote: keyStart - 1, keyEnd: keyEnd,
                                              field0: wants0 && keyMatches(line, keyStart, keyEnd, false, field0),
                                              field1: wants1 && keyMatches(line, keyStart, keyEnd, false, field1)) {
                        shape.candidate.append(key)
                    } else {
                        recordable = false
                    }
                }

                cursor.skipWhitespace()
                try cursor.expect(JSONByte.colon)
                cursor.skipWhitespace()
                let value = try cursor.scanTopLevelValue()
                if match0 { value0 = value }
                if match1 { value1 = value }

                cursor.skipWhitespace()
                let next = try cursor.peek()
                cursor.index += 1
                if next == JSONByte.comma {
                    cursor.skipWhitespace()
                    continue
                }
                if next == JSONByte.closeBrace { break }
                throw JSONScanFailure(.unexpectedByte(next), offset: cursor.index - 1)
            }
        }
        cursor.skipWhitespace()
        guard cursor.index == cursor.count else { throw JSONScanFailure(.trailingBytes, offset: cursor.index) }
        if recordable && !shape.candidate.isEmpty { swap(&shape.keys, &shape.candidate) }
        return (value0, value1)
    }

    /// Whether the key at `start..<end` of `line` (escaped if `escaped`) equals `field`.
    @inline(__always)
    private func keyMatches(
        _ line: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ escaped: Bool, _ field: [UInt8]
    ) -> Bool {
        if escaped { return escapedKeyEquals(line, start, end, field) }
        guard end - start == field.count else { return false }
        return field.withUnsafeBufferPointer { name in
            var index = 0
            while index < name.count {
                if line[start + index] != name[index] { return false }
                index += 1
            }
            return true
        }
    }

    /// Compares a key containing escapes (already validated) with `field`, unescaping on the fly.
    private func escapedKeyEquals(_ line: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ field: [UInt8]) -> Bool {
        field.withUnsafeBufferPointer { name in
            var position = start
            var matched = 0
            while position < end {
                let byte = line[position]
                if byte != JSONByte.backslash {
                    guard matched < name.count, name[matched] == byte else { return false }
                    matched += 1
                    position += 1
                    continue
                }
                let escape = decodeJSONEscape(line, at: position, end: end)
                guard escape.length > 0 else { return false }
                position += escape.length
                let utf8 = UTF8Bytes(escape.scalar)
                for index in 0..<utf8.count {
                    guard matched < name.count, name[matched] == utf8.byte(index) else { return false }
                    matched += 1
                }
            }
            return matched == name.count
        }
    }
}

// MARK: - Shape

/// The top-level keys of the last JSON line one thread scanned in full, for
/// `JSONLineScanner.scanFields(_:shape:)`: lines of one input mostly repeat their keys, so
/// comparing a line's keys with these bytes replaces scanning each key as a string and comparing
/// it with the requested field names. Empty until a line is scanned in full.
struct JSONLineShape {
    /// The most keys a shape holds; a line with more is always scanned in full.
    static let maximumKeys = 32
    /// The keys in line order; empty: no shape yet.
    fileprivate(set) var keys: [JSONShapeKey] = []
    /// The keys of the line being scanned in full, kept for its storage (no allocation per line).
    fileprivate var candidate: [JSONShapeKey] = []

    /// No shape yet.
    init() {}
}

/// One key of a `JSONLineShape`: the bytes from its opening quote to the colon right after its
/// closing quote (`"url":`, at most 16 bytes), as two little-endian words with masks.
struct JSONShapeKey {
    /// Bytes 0–7 (byte `i` in bits `8i..<8i+8`), zero past `length`.
    let word0: UInt64
    /// Bytes 8–15, zero past `length`.
    let word1: UInt64
    /// All ones in the bytes of `word0` below `length`.
    let mask0: UInt64
    /// All ones in the bytes of `word1` below `length`.
    let mask1: UInt64
    /// The number of bytes, quotes and colon included (3…16).
    let length: Int
    /// Whether the key is the scanner's first requested field.
    let isField0: Bool
    /// Whether the key is the scanner's second requested field.
    let isField1: Bool

    /// The key whose opening quote is at `quote` and closing quote at `keyEnd` of `line`, when
    /// a colon follows the closing quote at once and the bytes fit 16; `nil` otherwise. The
    /// caller has scanned the key as a string without escapes.
    init?(line: UnsafeRawBufferPointer, quote: Int, keyEnd: Int, field0: Bool, field1: Bool) {
        let length = keyEnd + 2 - quote
        guard length <= 16, keyEnd + 1 < line.count, line[keyEnd + 1] == JSONByte.colon else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        var masks: (UInt64, UInt64) = (0, 0)
        for i in 0..<length {
            let byte = UInt64(line[quote + i]) << UInt64(8 * (i & 7))
            let ones = UInt64(0xFF) << UInt64(8 * (i & 7))
            if i < 8 {
                words.0 |= byte
                masks.0 |= ones
            } else {
                words.1 |= byte
                masks.1 |= ones
            }
        }
        (word0, word1, mask0, mask1) = (words.0, words.1, masks.0, masks.1)
        self.length = length
        isField0 = field0
        isField1 = field1
    }
}

// MARK: - Shape scan

/// The bytes of one line as `JSONLineScanner.scanByShape` reads them: a position is a plain
/// `Int` the caller keeps (in a register), and every read is checked against `count` by this
/// type's own functions — no other bounds checks. A word read near the line's end has zeros in
/// place of the bytes past it; a zero byte is a control byte, a non-digit and no key's byte, so
/// each scan below stops at the line's end as it stops at any byte that ends its run.
private struct JSONShapeScan {
    /// The line's first byte.
    let base: UnsafeRawPointer
    /// The line's length.
    let count: Int

    /// The byte at `index` (< `count`).
    @inline(__always)
    subscript(index: Int) -> UInt8 { base.load(fromByteOffset: index, as: UInt8.self) }

    /// The eight bytes from `index` (< `count`) as a little-endian word (byte `index` lowest),
    /// zero in the bytes past the line's end.
    @inline(__always)
    func word(at index: Int) -> UInt64 {
        if index &+ 8 <= count {
            return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        }
        if count >= 8 {
            // The line's last eight bytes, shifted down so that byte `index` is the lowest.
            let tail = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self))
            return tail >> UInt64(truncatingIfNeeded: 8 &* (index &- (count &- 8)))
        }
        var word: UInt64 = 0
        var position = index
        while position < count {
            word |= UInt64(self[position]) << UInt64(truncatingIfNeeded: 8 &* (position &- index))
            position &+= 1
        }
        return word
    }

    /// The first position from `index` that is not JSON whitespace (space, tab, CR, LF), or `count`.
    @inline(__always)
    func skipWhitespace(from index: Int) -> Int {
        var position = index
        while position < count {
            let byte = self[position]
            if byte > 0x20 { return position }
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return position }
            position &+= 1
        }
        return position
    }

    /// Whether the bytes from `index` are all of `key`'s (its quotes and colon included). A key's
    /// bytes are never zero (the full scan accepted it as a string without escapes, which holds
    /// no control byte), so a key running past the line's end differs from the zeros read there.
    @inline(__always)
    func startsWith(_ key: JSONShapeKey, at index: Int) -> Bool {
        guard index < count, (word(at: index) ^ key.word0) & key.mask0 == 0 else { return false }
        if key.length <= 8 { return true }
        guard index &+ 8 < count else { return false }
        return (word(at: index &+ 8) ^ key.word1) & key.mask1 == 0
    }

    /// The position of the closing quote of the string whose opening quote is at `quote`, when
    /// every byte between is plain ASCII (no backslash, no control byte, none at or above 0x80);
    /// `nil` otherwise, and when the line ends first. Eight bytes at a time.
    @inline(__always)
    func plainStringEnd(afterQuoteAt quote: Int) -> Int? {
        var position = quote &+ 1
        while position < count {
            let special = jsonStringSpecialBytes(word(at: position))
            if special != 0 {
                position &+= special.trailingZeroBitCount &>> 3
                return position < count && self[position] == JSONByte.quote ? position : nil
            }
            position &+= 8
        }
        return nil
    }

    /// The end of the integer at `start` (whose byte is `first`): `-?(0|[1-9][0-9]*)` followed by
    /// the line's end or a byte that cannot continue a number (`isWordByte`), its digits read
    /// eight at a time; `nil` when `start` holds no such integer (not a number, a fraction, an
    /// exponent, a malformed number), which the full scan then reads.
    @inline(__always)
    func integerEnd(at start: Int, first: UInt8) -> Int? {
        var position = start
        var digit = first
        if first == JSONByte.minus {
            position &+= 1
            guard position < count else { return nil }
            digit = self[position]
        }
        if digit == JSONByte.zero {
            position &+= 1
        } else if digit &- JSONByte.zero < 10 {
            position &+= 1
            while position < count {
                let nonDigits = jsonNonDigitBytes(word(at: position))
                if nonDigits != 0 {
                    position &+= nonDigits.trailingZeroBitCount &>> 3
                    break
                }
                position &+= 8
            }
        } else {
            return nil
        }
        if position < count && isWordByte(self[position]) { return nil }
        return position
    }

    /// The position after the separator that follows a value ending at `index`: the comma
    /// before the next key, or the closing brace after the `last` one (whitespace before it
    /// skipped); `nil` when another byte, or the line's end, is there.
    @inline(__always)
    func separator(at index: Int, last: Bool) -> Int? {
        let position = skipWhitespace(from: index)
        guard position < count, self[position] == (last ? JSONByte.closeBrace : JSONByte.comma) else { return nil }
        return position &+ 1
    }

    /// The value at `start`, read by the full scan's code (`JSONCursor.scanTopLevelValue`), and
    /// the position after it; `nil` when it fails. Out of line: for the values the loop above does
    /// not read itself.
    @inline(never)
    func scanValueInFull(at start: Int) -> (JSONFieldValue, Int)? {
        var cursor = JSONCursor(UnsafeRawBufferPointer(start: base, count: count))
        cursor.index = start
        do {
            let value = try cursor.scanTopLevelValue()
            return (value, cursor.index)
        } catch {
            return nil
        }
    }
}

// MARK: - Cursor

/// Byte values the scanner looks for.
enum JSONByte {
    static var quote: UInt8 { 0x22 }
    static var backslash: UInt8 { 0x5C }
    static var slash: UInt8 { 0x2F }
    static var openBrace: UInt8 { 0x7B }
    static var closeBrace: UInt8 { 0x7D }
    static var openBracket: UInt8 { 0x5B }
    static var closeBracket: UInt8 { 0x5D }
    static var colon: UInt8 { 0x3A }
    static var comma: UInt8 { 0x2C }
    static var minus: UInt8 { 0x2D }
    static var plus: UInt8 { 0x2B }
    static var dot: UInt8 { 0x2E }
    static var zero: UInt8 { 0x30 }
    static var nine: UInt8 { 0x39 }
}

/// A read position in one line; all scanning state lives on the stack.
private struct JSONCursor {
    /// The line being scanned.
    let bytes: UnsafeRawBufferPointer
    /// `bytes.count`, cached.
    let count: Int
    /// Offset of the next byte to read.
    var index: Int
    /// Whether `skipDigits` goes byte by byte (the plain path) rather than eight bytes at a time.
    let bytewise: Bool

    /// Starts at the beginning of `bytes`.
    init(_ bytes: UnsafeRawBufferPointer, bytewise: Bool = false) {
        self.bytes = bytes
        self.count = bytes.count
        self.index = 0
        self.bytewise = bytewise
    }

    /// The byte at `index`; the caller has checked `index < count`.
    @inline(__always)
    var current: UInt8 { bytes[index] }

    /// The byte at `index`, or `.unexpectedEnd` at the end of the line.
    @inline(__always)
    func peek() throws(JSONScanFailure) -> UInt8 {
        guard index < count else { throw JSONScanFailure(.unexpectedEnd, offset: index) }
        return bytes[index]
    }

    /// Consumes `byte` or throws.
    @inline(__always)
    mutating func expect(_ byte: UInt8) throws(JSONScanFailure) {
        let found = try peek()
        guard found == byte else { throw JSONScanFailure(.unexpectedByte(found), offset: index) }
        index += 1
    }

    /// Skips JSON whitespace (space, tab, CR, LF).
    @inline(__always)
    mutating func skipWhitespace() {
        while index < count {
            let byte = bytes[index]
            if byte > 0x20 { return }
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            index += 1
        }
    }

    /// `scanValue(depth: 1)` with its two common cases, a string and a number, inlined into the
    /// caller (the top-level object's loop): the same result and the same failures, without a
    /// call per value.
    @inline(__always)
    mutating func scanTopLevelValue() throws(JSONScanFailure) -> JSONFieldValue {
        let start = index
        let byte = try peek()
        if byte == JSONByte.quote {
            let escaped = try scanString()
            return JSONFieldValue(kind: .string, range: (start + 1)..<(index - 1), hasEscapes: escaped)
        }
        if byte == JSONByte.minus || byte &- JSONByte.zero < 10 {
            try scanNumber()
            return JSONFieldValue(kind: .number, range: start..<index)
        }
        return try scanValue(depth: 1)
    }

    /// Scans any JSON value at `index`; `depth` is the nesting level of the container holding it.
    mutating func scanValue(depth: Int) throws(JSONScanFailure) -> JSONFieldValue {
        let start = index
        let byte = try peek()
        switch byte {
        case JSONByte.quote:
            let escaped = try scanString()
            return JSONFieldValue(kind: .string, range: (start + 1)..<(index - 1), hasEscapes: escaped)
        case JSONByte.minus, JSONByte.zero...JSONByte.nine:
            try scanNumber()
            return JSONFieldValue(kind: .number, range: start..<index)
        case JSONByte.openBrace:
            try scanContainer(depth: depth + 1, closer: JSONByte.closeBrace)
            return JSONFieldValue(kind: .object, range: start..<index)
        case JSONByte.openBracket:
            try scanContainer(depth: depth + 1, closer: JSONByte.closeBracket)
            return JSONFieldValue(kind: .array, range: start..<index)
        case 0x74:  // t
            try scanLiteral(0x74, 0x72, 0x75, 0x65, nil)  // true
            return JSONFieldValue(kind: .bool, range: start..<index)
        case 0x66:  // f
            try scanLiteral(0x66, 0x61, 0x6C, 0x73, 0x65)  // false
            return JSONFieldValue(kind: .bool, range: start..<index)
        case 0x6E:  // n
            try scanLiteral(0x6E, 0x75, 0x6C, 0x6C, nil)  // null
            return JSONFieldValue(kind: .null, range: start..<index)
        case JSONByte.plus, JSONByte.dot:
            throw JSONScanFailure(.invalidNumber, offset: start)
        case 0x41...0x5A, 0x61...0x7A:  // other letters: a misspelt literal
            throw JSONScanFailure(.invalidLiteral, offset: start)
        default:
            throw JSONScanFailure(.unexpectedByte(byte), offset: start)
        }
    }

    /// Scans an object or array whose opening bracket is at `index`, at nesting level `depth`.
    mutating func scanContainer(depth: Int, closer: UInt8) throws(JSONScanFailure) {
        guard depth <= jsonMaximumDepth else { throw JSONScanFailure(.tooDeep, offset: index) }
        let isObject = closer == JSONByte.closeBrace
        index += 1
        skipWhitespace()
        if try peek() == closer {
            index += 1
            return
        }
        while true {
            if isObject {
                let quote = try peek()
                guard quote == JSONByte.quote else { throw JSONScanFailure(.unexpectedByte(quote), offset: index) }
                _ = try scanString()
                skipWhitespace()
                try expect(JSONByte.colon)
                skipWhitespace()
            }
            _ = try scanValue(depth: depth)
            skipWhitespace()
            let next = try peek()
            index += 1
            if next == JSONByte.comma {
                skipWhitespace()
                continue
            }
            if next == closer { return }
            throw JSONScanFailure(.unexpectedByte(next), offset: index - 1)
        }
    }

    /// Scans a string whose opening quote is at `index`; leaves `index` after the closing quote.
    /// Returns whether the string contains escapes.
    @inline(__always)
    mutating func scanString() throws(JSONScanFailure) -> Bool {
        let open = index
        index += 1
        var escaped = false
        while true {
            // Fast path: skip 8 plain ASCII bytes at a time.
            while index + 8 <= count {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let special = jsonStringSpecialBytes(word)
                if special == 0 {
                    index += 8
                } else {
                    index += special.trailingZeroBitCount >> 3
                    break
                }
            }
            guard index < count else { throw JSONScanFailure(.unterminatedString, offset: open) }
            let byte = bytes[index]
            if byte == JSONByte.quote {
                index += 1
                return escaped
            } else if byte == JSONByte.backslash {
                escaped = true
                let escape = decodeJSONEscape(bytes, at: index, end: count)
                if escape.length > 0 {
                    index += escape.length
                } else if escape.length < 0 {
                    throw JSONScanFailure(.unterminatedString, offset: open)
                } else {
                    throw JSONScanFailure(.invalidEscape, offset: index)
                }
            } else if byte < 0x20 {
                throw JSONScanFailure(.unexpectedByte(byte), offset: index)
            } else if byte >= 0x80 {
                try scanUTF8Sequence(byte)
            } else {
                index += 1
            }
        }
    }

    /// Validates one multi-byte UTF-8 sequence starting with `lead` at `index` and steps over it.
    mutating func scanUTF8Sequence(_ lead: UInt8) throws(JSONScanFailure) {
        // Second-byte bounds exclude overlongs, surrogates (ED A0..BF) and code points above U+10FFFF.
        var length = 0
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw JSONScanFailure(.invalidUTF8, offset: index)
        }
        guard index + length <= count else { throw JSONScanFailure(.invalidUTF8, offset: index) }
        let second = bytes[index + 1]
        guard second >= low && second <= high else { throw JSONScanFailure(.invalidUTF8, offset: index) }
        var position = index + 2
        while position < index + length {
            guard bytes[position] & 0xC0 == 0x80 else { throw JSONScanFailure(.invalidUTF8, offset: index) }
            position += 1
        }
        index += length
    }

    /// Scans a number per the JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    @inline(__always)
    mutating func scanNumber() throws(JSONScanFailure) {
        let start = index
        if bytes[index] == JSONByte.minus { index += 1 }
        guard index < count else { throw JSONScanFailure(.invalidNumber, offset: start) }
        let first = bytes[index]
        if first == JSONByte.zero {
            index += 1
        } else if first > JSONByte.zero && first <= JSONByte.nine {
            index += 1
            skipDigits()
        } else {
            throw JSONScanFailure(.invalidNumber, offset: start)
        }
        if index < count && bytes[index] == JSONByte.dot {
            index += 1
            guard skipDigits() else { throw JSONScanFailure(.invalidNumber, offset: start) }
        }
        if index < count && (bytes[index] | 0x20) == 0x65 {  // e or E
            index += 1
            if index < count && (bytes[index] == JSONByte.plus || bytes[index] == JSONByte.minus) { index += 1 }
            guard skipDigits() else { throw JSONScanFailure(.invalidNumber, offset: start) }
        }
        // A number glued to more number-ish bytes (`01`, `1.2.3`, `1x`) is one bad token, not two.
        if index < count && isWordByte(bytes[index]) { throw JSONScanFailure(.invalidNumber, offset: start) }
    }

    /// Skips ASCII digits; returns whether there was at least one.
    @inline(__always)
    @discardableResult
    mutating func skipDigits() -> Bool {
        let start = index
        // Eight bytes at a time while they are all digits; the first word holding a non-digit
        // tells how many digits precede it. The last (< 8) bytes one by one.
        while !bytewise && index + 8 <= count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let nonDigits = jsonNonDigitBytes(word)
            if nonDigits != 0 {
                index += nonDigits.trailingZeroBitCount >> 3
                return index > start
            }
            index += 8
        }
        while index < count && bytes[index] &- JSONByte.zero < 10 { index += 1 }
        return index > start
    }

    /// Consumes the literal spelled by the given bytes (4 or 5 of them) or throws `.invalidLiteral`.
    @inline(__always)
    mutating func scanLiteral(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8?) throws(JSONScanFailure) {
        let start = index
        let length = b4 == nil ? 4 : 5
        guard index + length <= count, bytes[index] == b0, bytes[index + 1] == b1, bytes[index + 2] == b2,
            bytes[index + 3] == b3
        else { throw JSONScanFailure(.invalidLiteral, offset: start) }
        if let b4 {
            guard bytes[index + 4] == b4 else { throw JSONScanFailure(.invalidLiteral, offset: start) }
        }
        index += length
        if index < count && isWordByte(bytes[index]) { throw JSONScanFailure(.invalidLiteral, offset: start) }
    }
}

/// Whether `byte` could continue a number or literal token: ASCII letter, digit, `.`, `+` or `-`.
@inline(__always)
private func isWordByte(_ byte: UInt8) -> Bool {
    let lower = byte | 0x20
    return (byte &- JSONByte.zero < 10) || (lower >= 0x61 && lower <= 0x7A) || byte == JSONByte.dot
        || byte == JSONByte.plus || byte == JSONByte.minus
}

/// For 8 bytes (little-endian), a mask with bit 7 of each byte set exactly where that byte is not an ASCII digit
/// (`0`–`9`); zero when all eight are digits. Exact per byte (no borrow crosses bytes), so the lowest set bit
/// marks the first non-digit.
@inline(__always)
func jsonNonDigitBytes(_ word: UInt64) -> UInt64 {
    let lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
    let highs: UInt64 = 0x8080_8080_8080_8080
    let low7 = word & lows  // each byte's low 7 bits: adding below cannot carry into the next byte
    let atLeast0x30 = (low7 &+ 0x5050_5050_5050_5050) & highs  // low7 + 0x50 >= 0x80 ⇔ low7 >= 0x30
    let atLeast0x3A = (low7 &+ 0x4646_4646_4646_4646) & highs  // low7 + 0x46 >= 0x80 ⇔ low7 >= 0x3A
    let digits = atLeast0x30 & ~atLeast0x3A & ~word  // and the byte's own bit 7 clear
    return ~digits & highs
}

/// For 8 bytes (little-endian), a mask whose lowest set bit lies in the first byte that is `"`, `\`, below 0x20 or
/// at least 0x80; zero when there is none. (Bits above the first hit may be spurious.)
@inline(__always)
private func jsonStringSpecialBytes(_ word: UInt64) -> UInt64 {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    let quotes = word ^ (ones &* 0x22)
    let backslashes = word ^ (ones &* 0x5C)
    let hasQuote = (quotes &- ones) & ~quotes
    let hasBackslash = (backslashes &- ones) & ~backslashes
    let hasControl = (word &- ones &* 0x20) & ~word
    return (hasQuote | hasBackslash | hasControl | word) & highs
}

// MARK: - Escapes

/// Decodes the backslash escape at `start` of `bytes` (not reading at or past `end`).
///
/// Returns the scalar and the escape's length in bytes; length 0 means invalid (unknown escape, bad hex, lone or
/// reversed surrogate) and a negative length means the escape is cut off by `end`.
func decodeJSONEscape(_ bytes: UnsafeRawBufferPointer, at start: Int, end: Int) -> (scalar: UInt32, length: Int) {
    guard start + 1 < end else { return (0, -1) }
    switch bytes[start + 1] {
    case JSONByte.quote: return (0x22, 2)
    case JSONByte.backslash: return (0x5C, 2)
    case JSONByte.slash: return (0x2F, 2)
    case 0x62: return (0x08, 2)  // b
    case 0x66: return (0x0C, 2)  // f
    case 0x6E: return (0x0A, 2)  // n
    case 0x72: return (0x0D, 2)  // r
    case 0x74: return (0x09, 2)  // t
    case 0x75:  // u
        let first = decodeHex4(bytes, at: start + 2, end: end)
        guard first >= 0 else { return (0, first == -1 ? -1 : 0) }
        let high = UInt32(first)
        if high < 0xD800 || high > 0xDFFF { return (high, 6) }
        guard high <= 0xDBFF else { return (0, 0) }  // a low surrogate first
        guard start + 6 < end else { return (0, -1) }
        guard bytes[start + 6] == JSONByte.backslash else { return (0, 0) }
        guard start + 7 < end else { return (0, -1) }
        guard bytes[start + 7] == 0x75 else { return (0, 0) }
        let second = decodeHex4(bytes, at: start + 8, end: end)
        guard second >= 0 else { return (0, second == -1 ? -1 : 0) }
        let low = UInt32(second)
        guard low >= 0xDC00 && low <= 0xDFFF else { return (0, 0) }
        return (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), 12)
    default:
        return (0, 0)
    }
}

/// Reads 4 hex digits at `start`: the value, -1 if `end` comes first, or -2 for a non-hex digit.
@inline(__always)
private func decodeHex4(_ bytes: UnsafeRawBufferPointer, at start: Int, end: Int) -> Int {
    var value = 0
    for position in start..<(start + 4) {
        guard position < end else { return -1 }
        let byte = bytes[position]
        let digit: Int
        switch byte {
        case 0x30...0x39: digit = Int(byte) - 0x30
        case 0x41...0x46: digit = Int(byte) - 0x41 + 10
        case 0x61...0x66: digit = Int(byte) - 0x61 + 10
        default: return -2
        }
        value = value << 4 | digit
    }
    return value
}

/// Up to 4 UTF-8 bytes of one scalar, held inline.
private struct UTF8Bytes {
    /// The bytes, first in the lowest 8 bits.
    var packed: UInt32
    /// How many bytes are used.
    var count: Int

    /// Encodes `scalar` (a valid Unicode scalar value).
    init(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            packed = scalar
            count = 1
        case 0x80..<0x800:
            packed = (0xC0 | scalar >> 6) | (0x80 | scalar & 0x3F) << 8
            count = 2
        case 0x800..<0x10000:
            packed = (0xE0 | scalar >> 12) | (0x80 | scalar >> 6 & 0x3F) << 8 | (0x80 | scalar & 0x3F) << 16
            count = 3
        default:
            packed = (0xF0 | scalar >> 18) | (0x80 | scalar >> 12 & 0x3F) << 8 | (0x80 | scalar >> 6 & 0x3F) << 16
                | (0x80 | scalar & 0x3F) << 24
            count = 4
        }
    }

    /// The byte at `index` (< count).
    @inline(__always)
    func byte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: packed >> (8 * UInt32(index))) }
}

/// Unescapes a JSON string's content bytes into `output` (appending, UTF-8), handling `\uXXXX` and surrogate pairs.
///
/// `bytes` is the range reported by `JSONFieldValue` for a string (already validated by the scanner); bytes outside
/// escapes are copied as they are. Throws `.invalidEscape` (offset within `bytes`) for a malformed escape or a lone
/// surrogate.
package func unescapeJSONString(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(JSONLineError) {
    let count = bytes.count
    output.reserveCapacity(output.count + count)
    var runStart = 0
    var position = 0
    while position < count {
        guard bytes[position] == JSONByte.backslash else {
            position += 1
            continue
        }
        appendRun(bytes, runStart..<position, to: &output)
        let escape = decodeJSONEscape(bytes, at: position, end: count)
        guard escape.length > 0 else { throw JSONLineError(.invalidEscape, offset: position) }
        let utf8 = UTF8Bytes(escape.scalar)
        for index in 0..<utf8.count { output.append(utf8.byte(index)) }
        position += escape.length
        runStart = position
    }
    appendRun(bytes, runStart..<count, to: &output)
}

/// Appends `bytes` (UTF-8) to `output` as a quoted JSON string literal, escaping `"`, `\` and control characters.
///
/// Control characters use `\n \r \t \b \f` where they exist and `\u00xx` (lowercase hex) otherwise; all other bytes,
/// including non-ASCII UTF-8 and DEL, are copied unchanged.
package func appendJSONStringLiteral(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
    let count = bytes.count
    output.reserveCapacity(output.count + count + 2)
    output.append(JSONByte.quote)
    var runStart = 0
    var position = 0
    while position < count {
        let byte = bytes[position]
        guard byte < 0x20 || byte == JSONByte.quote || byte == JSONByte.backslash else {
            position += 1
            continue
        }
        appendRun(bytes, runStart..<position, to: &output)
        output.append(JSONByte.backslash)
        switch byte {
        case JSONByte.quote, JSONByte.backslash: output.append(byte)
        case 0x08: output.append(0x62)  // b
        case 0x0C: output.append(0x66)  // f
        case 0x0A: output.append(0x6E)  // n
        case 0x0D: output.append(0x72)  // r
        case 0x09: output.append(0x74)  // t
        default:  // u00xx
            output.append(0x75)
            output.append(JSONByte.zero)
            output.append(JSONByte.zero)
            output.append(lowercaseHexDigit(byte >> 4))
            output.append(lowercaseHexDigit(byte & 0xF))
        }
        position += 1
        runStart = position
    }
    appendRun(bytes, runStart..<count, to: &output)
    output.append(JSONByte.quote)
}

/// The lowercase hex digit for `value` (0...15).
@inline(__always)
private func lowercaseHexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x61 + value - 10 }

/// Appends `bytes[range]` to `output` (nothing when the range is empty).
@inline(__always)
private func appendRun(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, to output: inout [UInt8]) {
    guard !range.isEmpty else { return }
    output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[range]))
}
