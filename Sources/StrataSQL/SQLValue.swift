import Foundation

/// One value of a result row, as SQLite typed it.
///
/// `SQLValue` is `Sendable`; it is a plain value.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    /// SQL `NULL`.
    case null
    /// A 64-bit signed integer (SQLite's `INTEGER`).
    case integer(Int64)
    /// A double (SQLite's `REAL`).
    case real(Double)
    /// UTF-8 text (SQLite's `TEXT`).
    case text(String)
    /// Bytes (SQLite's `BLOB`).
    case blob([UInt8])

    /// The value as SQLite's `CAST(… AS TEXT)` would write it; empty for `NULL`.
    public var description: String {
        switch self {
        case .null: ""
        case .integer(let value): String(value)
        case .real(let value): formatReal(value)
        case .text(let text): text
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Appends the value's JSON text: `null`, a number, a string, or for a blob an array of byte values.
    public func appendJSON(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .integer(let value): out.append(contentsOf: String(value).utf8)
        case .real(let value):
            if value.isFinite { out.append(contentsOf: formatReal(value).utf8) } else { out.append(contentsOf: "null".utf8) }
        case .text(let text): appendJSONString(text, to: &out)
        case .blob(let bytes):
            out.append(0x5B)
            for (i, byte) in bytes.enumerated() {
                if i > 0 { out.append(0x2C) }
                out.append(contentsOf: String(byte).utf8)
            }
            out.append(0x5D)
        }
    }
}

/// A double as SQLite writes it (`%!.15g`): 15 significant digits, with `.0` on whole numbers.
func formatReal(_ value: Double) -> String {
    guard value.isFinite else { return value.isNaN ? "NaN" : (value < 0 ? "-Inf" : "Inf") }
    let text = String(format15g: value)
    guard !text.contains(".") else { return text }
    // SQLite's `!` flag: a real always shows a decimal point (`10.0`, `1.0e+20`).
    if let e = text.firstIndex(of: "e") { return text[..<e] + ".0" + text[e...] }
    return text + ".0"
}

extension String {
    /// `%.15g`, through the C library.
    init(format15g value: Double) { self = String(format: "%.15g", value) }
}

/// Appends `text` as a JSON string, escaping quotes, backslashes and control characters.
func appendJSONString(_ text: String, to out: inout [UInt8]) {
    out.append(0x22)
    for byte in text.utf8 {
        switch byte {
        case 0x22: out.append(contentsOf: [0x5C, 0x22])
        case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: out.append(contentsOf: [0x5C, 0x72])
        case 0x09: out.append(contentsOf: [0x5C, 0x74])
        case 0..<0x20:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
        default: out.append(byte)
        }
    }
    out.append(0x22)
}
