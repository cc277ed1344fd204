import Strata

/// A record type the read API can serve: it appends its JSON text, and says whether it has a key.
///
/// A stream's Swift record type is not known to the server in general; it knows JSON records, the
/// standard scalar types and `KeyValue` pairs of them, which covers what ingest and the engine
/// write (the same set `strata cat` prints).
protocol JSONServable: RecordCodable {
    /// Appends the record's JSON text.
    func appendJSON(to bytes: inout [UInt8])
    /// The record as a number, for ordering state entries by value (`nil`: not a number).
    var numericValue: Double? { get }
}

extension JSONServable {
    var numericValue: Double? { nil }
}

/// A record type with a key the `key` filter compares: `KeyValue` pairs.
protocol KeyedJSONServable: JSONServable {
    /// Appends the key's JSON text.
    func appendKeyJSON(to bytes: inout [UInt8])
}

extension JSONRecord: JSONServable {
    @inline(__always)
    func appendJSON(to bytes: inout [UInt8]) { bytes.append(contentsOf: self.bytes) }
}

extension String: JSONServable {
    func appendJSON(to bytes: inout [UInt8]) { JSONText.appendString(utf8, to: &bytes) }
}

extension Bool: JSONServable {
    func appendJSON(to bytes: inout [UInt8]) { bytes.append(contentsOf: (self ? "true" : "false").utf8) }
}

extension Double: JSONServable {
    var numericValue: Double? { self }
    /// JSON has no infinities or NaN: those are `null`.
    func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: (isFinite ? description : "null").utf8)
    }
}

extension Float: JSONServable {
    var numericValue: Double? { Double(self) }
    func appendJSON(to bytes: inout [UInt8]) { Double(self).appendJSON(to: &bytes) }
}

extension Int: JSONServable {
    var numericValue: Double? { Double(self) }
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(Int64(self), to: &bytes) }
}

extension Int64: JSONServable {
    var numericValue: Double? { Double(self) }
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(self, to: &bytes) }
}

extension Int32: JSONServable {
    var numericValue: Double? { Double(self) }
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(Int64(self), to: &bytes) }
}

extension UInt: JSONServable {
    var numericValue: Double? { Double(self) }
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(UInt64(self), to: &bytes) }
}

extension UInt64: JSONServable {
    var numericValue: Double? { Double(self) }
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(self, to: &bytes) }
}

extension UInt32: JSONServable {
    var numericValue: Double? { Double(self) }
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(UInt64(self), to: &bytes) }
}

extension Bytes: JSONServable {
    /// Raw bytes are an array of numbers, which is lossless.
    func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(0x5B)
        for (i, byte) in self.bytes.enumerated() {
            if i > 0 { bytes.append(0x2C) }
            appendDecimal(UInt64(byte), to: &bytes)
        }
        bytes.append(0x5D)
    }
}

extension Optional: JSONServable where Wrapped: JSONServable {
    func appendJSON(to bytes: inout [UInt8]) {
        if let value = self { value.appendJSON(to: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }
}

extension KeyValue: JSONServable where Key: JSONServable, Value: JSONServable {
    /// `{"key":K,"value":V}`.
    func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"key":"#.utf8)
        key.appendJSON(to: &bytes)
        bytes.append(contentsOf: #","value":"#.utf8)
        value.appendJSON(to: &bytes)
        bytes.append(0x7D)
    }
}

extension KeyValue: KeyedJSONServable where Key: JSONServable, Value: JSONServable {
    func appendKeyJSON(to bytes: inout [UInt8]) { key.appendJSON(to: &bytes) }
}

/// The record types the read API serves, found by their catalog names.
enum ServableRecordTypes {
    /// Types allowed as a `KeyValue` key (and as a state's key).
    static let keyTypes: [any JSONServable.Type] = [
        String.self, Int.self, Int64.self, Int32.self, UInt.self, UInt64.self, UInt32.self,
    ]
    /// Types allowed as a `KeyValue` value, and as records of their own.
    static let valueTypes: [any JSONServable.Type] = [
        String.self, Int.self, Int64.self, Int32.self, UInt.self, UInt64.self, UInt32.self, Double.self, Float.self,
        Bool.self, Bytes.self,
    ]

    /// The servable type whose catalog name is `name`, if there is one.
    static func type(named name: String) -> (any JSONServable.Type)? {
        if name == JSONRecord.recordTypeName { return JSONRecord.self }
        if let scalar = valueTypes.first(where: { $0.recordTypeName == name }) { return scalar }
        for key in keyTypes {
            for value in valueTypes {
                for pair in keyValueTypes(key, value) where pair.recordTypeName == name { return pair }
            }
        }
        return nil
    }

    /// What `type(named:)` knows, for error messages.
    static let summary =
        "json, the standard integer, floating-point, Bool, String and Bytes types, and KeyValue pairs of them"

    private static func keyValueTypes<K: JSONServable, V: JSONServable>(_: K.Type, _: V.Type) -> [any JSONServable.Type] {
        [KeyValue<K, V>.self, KeyValue<K, V?>.self]
    }
}

/// Appends the decimal digits of `value` without building a `String`.
@inline(__always)
func appendDecimal(_ value: UInt64, to bytes: inout [UInt8]) {
    if value < 10 {
        bytes.append(0x30 + UInt8(value))
        return
    }
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits, reversed
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { scratch in
        while rest > 0 {
            scratch[count] = 0x30 + UInt8(rest % 10)
            rest /= 10
            count += 1
        }
        for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(scratch[i]) }
    }
}

/// Appends the decimal digits of a signed `value`.
@inline(__always)
func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
    if value < 0 { bytes.append(0x2D) }
    appendDecimal(value.magnitude, to: &bytes)
}
