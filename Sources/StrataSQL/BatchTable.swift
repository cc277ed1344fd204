import CSQLite
import Strata

/// A JSON record with the partition it was stored in: a row of a continuous query's tables.
///
/// Its bytes are the partition (4 bytes, little-endian), then the JSON text. `PartitionedJSONRecord`
/// is `Sendable`; it is a plain value.
public struct PartitionedJSONRecord: RecordCodable, Hashable, Sendable {
    /// The catalog name (of the shuffle streams of continuous queries).
    public static var recordTypeName: String { "strata.sql.partitioned-json" }
    /// The partition the record was stored in.
    public var partition: UInt32
    /// The JSON text's bytes.
    public var bytes: [UInt8]

    /// A record of `partition` with JSON text `bytes`.
    public init(partition: UInt32, bytes: [UInt8]) {
        self.partition = partition
        self.bytes = bytes
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.write(littleEndian: partition)
        bytes.withUnsafeBytes { writer.write(raw: $0) }
    }

    public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        partition = try reader.read(littleEndian: UInt32.self)
        bytes = Array(reader.readRemaining())
    }
}

/// What the batch tables of one ``IntervalDatabase`` share: the interval being queried, and each
/// table's records and fields.
///
/// Not `Sendable`: it belongs to its database's thread.
final class SQLBatchState: SQLCallbackState {
    /// One table: its field columns (names as in the records) and its records.
    struct Table {
        var fields: [String]
        var records = ContiguousArray<PartitionedJSONRecord>()
    }

    var tables: [Table]
    var interval: Int64 = 0
    var timeText: [CChar] = [0]

    init(fields: [[String]]) { tables = fields.map { Table(fields: $0) } }
}

/// One table of an interval's batch: `CREATE VIRTUAL TABLE temp.input USING strata_batch(0)`.
/// Columns `interval`, `time`, `partition`, one per field, `record`; the rows are the records in
/// their order (partition order, then stored order).
final class BatchTable: VirtualTable {
    let state: SQLBatchState
    let index: Int
    var callbacks: SQLCallbackState { state }

    init(state: SQLBatchState, arguments: [String]) throws {
        guard let first = arguments.first, let index = Int(unquoteModuleArgument(first)),
              state.tables.indices.contains(index) else {
            throw SQLError.invalidArgument("strata_batch needs the index of a batch table")
        }
        self.state = state
        self.index = index
    }

    var schema: String {
        var columns = [#""interval" INTEGER"#, #""time" TEXT"#, #""partition" INTEGER"#]
        columns += state.tables[index].fields.map(quoteIdentifier)
        columns.append(#""record" TEXT"#)
        return "CREATE TABLE x(" + columns.joined(separator: ", ") + ")"
    }

    func bestIndex(_ info: inout sqlite3_index_info) -> Int32 {
        // The plan is the columns the statement reads (`colUsed`; bit 63: any column from 63 on),
        // so that each row's JSON is scanned only as far as those fields.
        let rows = max(1, state.tables[index].records.count)
        info.estimatedRows = Int64(rows)
        info.estimatedCost = Double(rows)
        info.idxStr = sqliteMessage(String(info.colUsed, radix: 16))
        info.needToFreeIdxStr = 1
        return SQLITE_OK
    }

    func makeCursor() -> any VirtualCursor { BatchCursor(table: self) }
}

/// A scan over one batch table's records.
final class BatchCursor: VirtualCursor {
    private let table: BatchTable
    private var records = ContiguousArray<PartitionedJSONRecord>()
    private var row = 0
    private var fields: JSONFields
    private var slots: [JSONSlot]
    private var wanted: [Bool]
    private var wantedCount = 0
    private var parsedRow = -1
    private var scratch: [UInt8] = []

    init(table: BatchTable) {
        self.table = table
        let names = table.state.tables[table.index].fields
        fields = JSONFields(names: names)
        slots = [JSONSlot](repeating: JSONSlot(), count: names.count)
        wanted = [Bool](repeating: false, count: names.count)
    }

    func filter(plan: Int32, planText: String, arguments: [OpaquePointer?]) throws {
        let used = UInt64(planText, radix: 16) ?? .max
        wantedCount = 0
        for index in wanted.indices {
            let column = 3 + index
            let bit = column >= 63 ? UInt64(1) << 63 : UInt64(1) << UInt64(column)
            wanted[index] = used & bit != 0
            if wanted[index] { wantedCount += 1 }
        }
        records = table.state.tables[table.index].records
        row = 0
        parsedRow = -1
    }

    func next() throws { row += 1 }

    var atEnd: Bool { row >= records.count }

    var rowID: Int64 { Int64(row) }

    func column(_ index: Int32, into sqlContext: OpaquePointer?) throws {
        guard row < records.count else { sqlite3_result_null(sqlContext); return }
        let column = Int(index)
        switch column {
        case 0: sqlite3_result_int64(sqlContext, sqlite3_int64(table.state.interval))
        case 1:
            table.state.timeText.withUnsafeBufferPointer {
                sqlite3_result_text(sqlContext, $0.baseAddress, -1, strata_sqlite_transient())
            }
        case 2: sqlite3_result_int64(sqlContext, sqlite3_int64(records[row].partition))
        default:
            let data = column - 3
            records[row].bytes.withUnsafeBufferPointer { bytes in
                guard let base = bytes.baseAddress else {
                    if data < slots.count { sqlite3_result_null(sqlContext) } else {
                        sqlite3_result_text(sqlContext, "", 0, strata_sqlite_transient())
                    }
                    return
                }
                if data < slots.count {
                    if parsedRow != row {
                        for k in slots.indices { slots[k].kind = .absent }
                        fields.scan(UnsafeRawBufferPointer(bytes), wanted: wanted, wantedCount: max(1, wantedCount),
                                    into: &slots)
                        parsedRow = row
                    }
                    resultJSONField(sqlContext, slots[data], record: base, scratch: &scratch)
                } else {
                    sqlite3_result_text(sqlContext, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                        Int32(bytes.count), strata_sqlite_transient())
                }
            }
        }
    }
}

/// Sets a JSON field's value (found by `JSONFields.scan` in the record at `record`) as the result,
/// as `json_extract` gives it; texts are copied (`SQLITE_TRANSIENT`).
func resultJSONField(_ sqlContext: OpaquePointer?, _ slot: JSONSlot, record: UnsafePointer<UInt8>,
                     scratch: inout [UInt8]) {
    let start = record + slot.start
    switch slot.kind {
    case .absent, .null: sqlite3_result_null(sqlContext)
    case .string:
        sqlite3_result_text(sqlContext, UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self),
                            Int32(slot.count), strata_sqlite_transient())
    case .escapedString:
        scratch.removeAll(keepingCapacity: true)
        JSONFields.unescape(UnsafeBufferPointer(start: start, count: slot.count), into: &scratch)
        resultText(sqlContext, scratch)
    case .integer:
        if let value = parseJSONInteger(UnsafeBufferPointer(start: start, count: slot.count)) {
            sqlite3_result_int64(sqlContext, sqlite3_int64(value))
        } else if let value = Double(String(decoding: UnsafeBufferPointer(start: start, count: slot.count), as: UTF8.self)) {
            sqlite3_result_double(sqlContext, value)
        } else {
            sqlite3_result_null(sqlContext)
        }
    case .real:
        if let value = Double(String(decoding: UnsafeBufferPointer(start: start, count: slot.count), as: UTF8.self)) {
            sqlite3_result_double(sqlContext, value)
        } else {
            sqlite3_result_null(sqlContext)
        }
    case .trueLiteral: sqlite3_result_int64(sqlContext, 1)
    case .falseLiteral: sqlite3_result_int64(sqlContext, 0)
    case .composite:
        scratch.removeAll(keepingCapacity: true)
        JSONFields.minify(UnsafeBufferPointer(start: start, count: slot.count), into: &scratch)
        resultText(sqlContext, scratch)
    }
}

/// Decimal digits with an optional minus sign as an `Int64`, or nil on overflow or another byte.
func parseJSONInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
    var i = 0
    let negative = bytes.first == 0x2D
    if negative { i = 1 }
    guard i < bytes.count else { return nil }
    var value: Int64 = 0
    while i < bytes.count {
        let digit = Int64(bytes[i] &- 0x30)
        guard digit >= 0 && digit <= 9 else { return nil }
        let (times, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
        guard !o1, !o2 else { return nil }
        value = sum
        i += 1
    }
    return value
}
