import Strata

/// A JSON value for `--json` output off the hot path: objects print with sorted keys.
enum JSONValue {
    case string(String)
    case integer(Int64)
    case unsigned(UInt64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value's JSON text on one line; object keys in sorted (byte) order.
    var text: String {
        var bytes: [UInt8] = []
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the value's JSON text.
    func append(to bytes: inout [UInt8]) {
        switch self {
        case .string(let text): appendJSONString(text, to: &bytes)
        case .integer(let value): appendDecimal(value, to: &bytes)
        case .unsigned(let value): appendDecimal(value, to: &bytes)
        case .double(let value): appendJSONNumber(value, to: &bytes)
        case .bool(let value): bytes.append(contentsOf: (value ? "true" : "false").utf8)
        case .null: bytes.append(contentsOf: "null".utf8)
        case .array(let values):
            bytes.append(0x5B)
            for (i, value) in values.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                value.append(to: &bytes)
            }
            bytes.append(0x5D)
        case .object(let members):
            bytes.append(0x7B)
            // Sorted by UTF-8 bytes, as JSONEncoder's .sortedKeys does for ASCII keys.
            for (i, key) in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { bytes.append(0x2C) }
                appendJSONString(key, to: &bytes)
                bytes.append(0x3A)
                members[key, default: .null].append(to: &bytes)
            }
            bytes.append(0x7D)
        }
    }
}

extension JSONValue {
    /// An interval index, or `null`.
    static func interval(_ interval: Interval?) -> JSONValue {
        interval.map { .unsigned($0.rawValue) } ?? .null
    }

    /// A string, or `null`.
    static func optional(_ text: String?) -> JSONValue {
        text.map { .string($0) } ?? .null
    }
}

/// Appends `text` as a quoted JSON string literal.
func appendJSONString(_ text: String, to bytes: inout [UInt8]) {
    var text = text
    text.withUTF8 { appendJSONStringLiteral(UnsafeRawBufferPointer($0), to: &bytes) }
}

/// Appends a double as a JSON number; JSON has no infinities or NaN, so those print as `null`.
func appendJSONNumber(_ value: Double, to bytes: inout [UInt8]) {
    guard value.isFinite else {
        bytes.append(contentsOf: "null".utf8)
        return
    }
    // Swift's description is the shortest text that reads back as the same double, and is valid
    // JSON for finite values ("1.5", "1e-05", "-0.0").
    bytes.append(contentsOf: value.description.utf8)
}
