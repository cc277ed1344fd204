/// A JSON text being written into bytes: the receiver's responses and dead-letter records.
///
/// The caller writes keys in sorted order, so output is canonical. Strings are escaped as RFC 8259
/// requires; bytes that are not valid UTF-8 become U+FFFD, so any input line can be quoted.
/// Not a hot path per record: it runs once per response and once per rejected line.
struct JSONText {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []
    /// Whether the next member or element needs a comma before it.
    private var needsComma = false

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// Starts an object, as a value or a member value.
    mutating func beginObject() {
        separate()
        bytes.append(0x7B)
        needsComma = false
    }

    /// Ends the innermost object.
    mutating func endObject() {
        bytes.append(0x7D)
        needsComma = true
    }

    /// Starts an array.
    mutating func beginArray() {
        separate()
        bytes.append(0x5B)
        needsComma = false
    }

    /// Ends the innermost array.
    mutating func endArray() {
        bytes.append(0x5D)
        needsComma = true
    }

    /// Writes a member's key; its value follows.
    mutating func key(_ name: String) {
        separate()
        Self.appendString(Array(name.utf8), to: &bytes)
        bytes.append(0x3A)
        needsComma = false
    }

    /// Writes a string value.
    mutating func string(_ value: String) {
        separate()
        Self.appendString(Array(value.utf8), to: &bytes)
        needsComma = true
    }

    /// Writes a value that is already JSON text, as it is.
    mutating func raw(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    /// Writes a number; JSON has no infinities or NaN, so those are `null`.
    mutating func number(_ value: Double) {
        separate()
        bytes.append(contentsOf: (value.isFinite ? value.description : "null").utf8)
        needsComma = true
    }

    /// Writes raw bytes as a string value (invalid UTF-8 becomes U+FFFD).
    mutating func string(bytes value: UnsafeRawBufferPointer) {
        separate()
        Self.appendString(value, to: &bytes)
        needsComma = true
    }

    /// Writes an integer value.
    mutating func integer<I: BinaryInteger>(_ value: I) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    /// Writes a Boolean value.
    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    /// Writes `null`.
    mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// Writes an optional integer, `null` when absent.
    mutating func integer<I: BinaryInteger>(_ value: I?) {
        if let value { integer(value) } else { null() }
    }

    /// Writes an optional string, `null` when absent.
    mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    private mutating func separate() {
        if needsComma { bytes.append(0x2C) }
    }

    /// Appends `value` as a JSON string literal.
    static func appendString<C: Collection>(_ value: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(0x22)
        // Decoding replaces each invalid UTF-8 sequence with U+FFFD.
        var iterator = value.makeIterator()
        var decoder = UTF8()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): appendEscaped(scalar, to: &out)
            case .error: appendEscaped("\u{FFFD}", to: &out)
            case .emptyInput: break decoding
            }
        }
        out.append(0x22)
    }

    private static func appendEscaped(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        switch scalar.value {
        case 0x22: out.append(contentsOf: [0x5C, 0x22])
        case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: out.append(contentsOf: [0x5C, 0x72])
        case 0x09: out.append(contentsOf: [0x5C, 0x74])
        case 0x08: out.append(contentsOf: [0x5C, 0x62])
        case 0x0C: out.append(contentsOf: [0x5C, 0x66])
        case 0..<0x20:
            let high = UInt8(truncatingIfNeeded: scalar.value >> 4), low = UInt8(truncatingIfNeeded: scalar.value & 0xF)
            out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, 0x30 + high, low < 10 ? 0x30 + low : 0x57 + low])
        default:
            if let encoded = UTF8.encode(scalar) { out.append(contentsOf: encoded) }
        }
    }
}
