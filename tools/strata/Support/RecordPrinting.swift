import Strata

/// A record type `cat` can print: it appends its JSON text.
///
/// The CLI cannot know a stream's Swift record type in general; it knows JSON records, the
/// standard scalar types and `KeyValue` pairs of them, which covers what the engine writes.
protocol JSONPrintable: RecordCodable {
    /// Appends the record's JSON text.
    func appendJSON(to bytes: inout [UInt8])
}

extension JSONRecord: JSONPrintable {
    @inline(__always)
    func appendJSON(to bytes: inout [UInt8]) { bytes.append(contentsOf: self.bytes) }
}

extension String: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendJSONString(self, to: &bytes) }
}

extension Bool: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { bytes.append(contentsOf: (self ? "true" : "false").utf8) }
}

extension Double: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendJSONNumber(self, to: &bytes) }
}

extension Float: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendJSONNumber(Double(self), to: &bytes) }
}

extension Int: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(Int64(self), to: &bytes) }
}

extension Int64: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(self, to: &bytes) }
}

extension Int32: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(Int64(self), to: &bytes) }
}

extension UInt: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(UInt64(self), to: &bytes) }
}

extension UInt64: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(self, to: &bytes) }
}

extension UInt32: JSONPrintable {
    func appendJSON(to bytes: inout [UInt8]) { appendDecimal(UInt64(self), to: &bytes) }
}

extension Bytes: JSONPrintable {
    /// Raw bytes print as an array of numbers, which is lossless.
    func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(0x5B)
        for (i, byte) in self.bytes.enumerated() {
            if i > 0 { bytes.append(0x2C) }
            appendDecimal(UInt64(byte), to: &bytes)
        }
        bytes.append(0x5D)
    }
}

extension KeyValue: JSONPrintable where Key: JSONPrintable, Value: JSONPrintable {
    /// `{"key":K,"value":V}`.
    func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"key":"#.utf8)
        key.appendJSON(to: &bytes)
        bytes.append(contentsOf: #","value":"#.utf8)
        value.appendJSON(to: &bytes)
        bytes.append(0x7D)
    }
}

/// The record types `cat` can print, found by their catalog names.
enum PrintableRecordTypes {
    /// Types allowed as a `KeyValue` key.
    static let keyTypes: [any JSONPrintable.Type] = [
        String.self, Int.self, Int64.self, Int32.self, UInt.self, UInt64.self, UInt32.self,
    ]
    /// Types allowed as a `KeyValue` value, and as records of their own.
    static let valueTypes: [any JSONPrintable.Type] = [
        String.self, Int.self, Int64.self, Int32.self, UInt.self, UInt64.self, UInt32.self, Double.self, Float.self,
        Bool.self, Bytes.self,
    ]

    /// The printable type whose catalog name is `name`, if there is one.
    static func type(named name: String) -> (any JSONPrintable.Type)? {
        if name == JSONRecord.recordTypeName { return JSONRecord.self }
        if let scalar = valueTypes.first(where: { $0.recordTypeName == name }) { return scalar }
        for key in keyTypes {
            for value in valueTypes {
                let pair = keyValueType(key, value)
                if pair.recordTypeName == name { return pair }
            }
        }
        return nil
    }

    /// The names `type(named:)` knows, for the error message.
    static var summary: String {
        "json, the standard integer, floating-point, Bool, String and Bytes types, and KeyValue pairs of them"
    }

    private static func keyValueType<K: JSONPrintable, V: JSONPrintable>(_: K.Type, _: V.Type) -> any JSONPrintable.Type {
        KeyValue<K, V>.self
    }
}
