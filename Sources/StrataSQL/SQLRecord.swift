import Strata

/// A record type that describes itself as SQL columns, so that streams of it are tables.
///
/// JSON streams, the standard scalar types and `KeyValue` pairs of them need nothing; conform
/// your own record types and register them with ``SQLConnection/register(_:)``:
///
/// ```swift
/// extension PageView: SQLRecord {
///     static var sqlColumns: [String] { ["url", "user", "duration"] }
///     func sqlValues(into values: inout [SQLValue]) {
///         values.append(.text(url)); values.append(.integer(Int64(user))); values.append(.real(duration))
///     }
/// }
/// let sql = try SQLConnection(store: store)
/// sql.register(PageView.self)
/// ```
public protocol SQLRecord: RecordCodable {
    /// The column names, in order (besides `interval`, `time` and `partition`, which every table has).
    static var sqlColumns: [String] { get }
    /// Appends exactly one value per column of ``sqlColumns``.
    func sqlValues(into values: inout [SQLValue])
}

/// A scalar record type: one SQL value.
protocol SQLScalar: RecordCodable {
    var sqlValue: SQLValue { get }
}

extension String: SQLScalar { var sqlValue: SQLValue { .text(self) } }
extension Int: SQLScalar { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLScalar { var sqlValue: SQLValue { .integer(self) } }
extension Int32: SQLScalar { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int16: SQLScalar { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int8: SQLScalar { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension UInt32: SQLScalar { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension UInt16: SQLScalar { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension UInt8: SQLScalar { var sqlValue: SQLValue { .integer(Int64(self)) } }
/// Values above `Int64.max` become reals, as SQLite does for such integers.
extension UInt64: SQLScalar {
    var sqlValue: SQLValue { self <= UInt64(Int64.max) ? .integer(Int64(self)) : .real(Double(self)) }
}
extension UInt: SQLScalar {
    var sqlValue: SQLValue { UInt64(self).sqlValue }
}
extension Double: SQLScalar { var sqlValue: SQLValue { .real(self) } }
extension Float: SQLScalar { var sqlValue: SQLValue { .real(Double(self)) } }
extension Bool: SQLScalar { var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Bytes: SQLScalar { var sqlValue: SQLValue { .blob(bytes) } }

/// How rows of one stored record type become SQL values.
struct RecordTypeReader: Sendable {
    /// The data columns.
    var columns: [String]
    /// Decodes one record's bytes into one value per column.
    var decode: @Sendable (UnsafeRawBufferPointer, inout [SQLValue]) throws(RecordDecodingError) -> Void

    init<R: SQLRecord>(_: R.Type) {
        columns = R.sqlColumns
        decode = { bytes, values throws(RecordDecodingError) in
            var reader = BinaryReader(bytes)
            let record = try R(from: &reader)
            if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
            record.sqlValues(into: &values)
        }
    }

    init<S: SQLScalar>(scalar _: S.Type) {
        columns = ["value"]
        decode = { bytes, values throws(RecordDecodingError) in
            var reader = BinaryReader(bytes)
            let value = try S(from: &reader)
            if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
            values.append(value.sqlValue)
        }
    }

    init<K: SQLScalar, V: SQLScalar>(key _: K.Type, value _: V.Type) {
        columns = ["key", "value"]
        decode = { bytes, values throws(RecordDecodingError) in
            var reader = BinaryReader(bytes)
            let pair = try KeyValue<K, V>(from: &reader)
            if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
            values.append(pair.key.sqlValue)
            values.append(pair.value.sqlValue)
        }
    }

    /// Key types of `KeyValue` streams and states the SQL layer reads.
    static let keyTypes: [any (SQLScalar & Hashable).Type] = [
        String.self, Int.self, Int64.self, Int32.self, UInt.self, UInt64.self, UInt32.self,
    ]
    /// Value types, of `KeyValue` streams and of scalar streams.
    static let valueTypes: [any SQLScalar.Type] = [
        String.self, Int.self, Int64.self, Int32.self, Int16.self, Int8.self, UInt.self, UInt64.self, UInt32.self,
        UInt16.self, UInt8.self, Double.self, Float.self, Bool.self, Bytes.self,
    ]

    /// The readers of the standard types, by catalog name (looked up, never iterated).
    static let standard: [String: RecordTypeReader] = {
        var readers: [String: RecordTypeReader] = [:]
        func scalar<S: SQLScalar>(_ type: S.Type) { readers[S.recordTypeName] = RecordTypeReader(scalar: type) }
        func pair<K: SQLScalar, V: SQLScalar>(_ k: K.Type, _ v: V.Type) {
            readers[KeyValue<K, V>.recordTypeName] = RecordTypeReader(key: k, value: v)
        }
        func pairs<K: SQLScalar>(_ k: K.Type) { for value in valueTypes { pair(k, value) } }
        for value in valueTypes { scalar(value) }
        for key in keyTypes { pairs(key) }
        return readers
    }()
}
