import CSQLite
import Strata

/// One SQL query run over one interval's JSON records, deterministically: the kernel of
/// `DStream.sql(_:)`.
///
/// The records are the table `input` (and, when given, the stream's own name): columns
/// `interval`, `time`, `record`, and a column for every field the query names (found by
/// preparing the query: a name SQLite reports as a missing column becomes a field column, whose
/// values are `json_extract(record, '$.name')`). The result rows are JSON objects with the
/// query's column names as keys, in the query's order; rows come in the query's `ORDER BY` order
/// when it has one at the top level, else sorted by their bytes.
///
/// `IntervalQuery` is `Sendable`; each run opens its own in-memory SQLite connection.
public struct IntervalQuery: Sendable {
    /// The query.
    public let sql: String
    /// Another name for `input` (the input stream's name), or `nil`.
    public let streamName: String?
    /// The fields the query names, found once at initialization.
    public let fields: [String]
    /// Whether the query orders its rows at the top level.
    public let ordered: Bool
    /// The names of the query's result columns.
    public let columnNames: [String]

    /// Checks the query (it must prepare against the input table) and finds the fields it names.
    ///
    /// - Throws: `SQLError.sqlite` with the position of the error.
    public init(_ sql: String, streamName: String? = nil) throws(SQLError) {
        self.sql = sql
        self.streamName = streamName
        ordered = Self.hasTopLevelOrderBy(sql)
        var fields: [String] = []
        var names: [String] = []
        while true {
            let database = try IntervalDatabase(fields: fields, streamName: streamName)
            do {
                names = try database.check(sql)
                break
            } catch let SQLError.sqlite(code, message, text, offset) {
                let prefix = "no such column: "
                guard message.hasPrefix(prefix), fields.count < 256 else {
                    throw SQLError.sqlite(code: code, message: message, sql: text, offset: offset)
                }
                var name = String(message.dropFirst(prefix.count))
                if let dot = name.lastIndex(of: ".") { name = String(name[name.index(after: dot)...]) }
                guard !fields.contains(name), !["interval", "time", "record"].contains(name) else {
                    throw SQLError.sqlite(code: code, message: message, sql: text, offset: offset)
                }
                fields.append(name)
            }
        }
        self.fields = fields
        columnNames = names
    }

    /// Runs the query over `records` of `interval` (interval length `length`) and returns its rows
    /// as JSON records.
    ///
    /// - Throws: `SQLError`.
    public func run(interval: Interval, length: IntervalLength, records: some Collection<JSONRecord>) throws(SQLError)
        -> [JSONRecord]
    {
        let database = try IntervalDatabase(fields: fields, streamName: streamName)
        try database.load(interval: interval, time: TimeText.iso8601(length.start(of: interval)), records: records,
                          fields: fields)
        var rows = try database.query(sql)
        if !ordered { rows.sort { $0.lexicographicallyPrecedes($1) } }
        return rows.map { JSONRecord(bytes: $0) }
    }

    /// Whether `sql` has `ORDER BY` outside parentheses, strings, identifiers and comments.
    static func hasTopLevelOrderBy(_ sql: String) -> Bool {
        let words = SQLText.topLevelTokens(sql).map(\.text)
        return zip(words, words.dropFirst()).contains { $0 == "ORDER" && $1 == "BY" }
    }

    /// Runs the query over `records` and returns its rows as values.
    func runRows(interval: Interval, length: IntervalLength, records: some Collection<JSONRecord>) throws(SQLError)
        -> (columns: [String], rows: [[SQLValue]])
    {
        let database = try IntervalDatabase(fields: fields, streamName: streamName)
        try database.load(interval: interval, time: TimeText.iso8601(length.start(of: interval)), records: records,
                          fields: fields)
        return try database.values(sql)
    }
}

/// Top-level tokens of SQL text: words (upper-cased) and commas outside parentheses, strings,
/// quoted identifiers and comments, with their byte ranges.
enum SQLText {
    struct Token {
        var text: String
        var range: Range<Int>
    }

    static func topLevelTokens(_ sql: String) -> [Token] {
        let bytes = Array(sql.utf8)
        var depth = 0
        var i = 0
        var tokens: [Token] = []
        func isWord(_ c: UInt8) -> Bool {
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || (c >= 0x30 && c <= 0x39)
        }
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case 0x27, 0x22, 0x60:  // ' " `
                i += 1
                while i < bytes.count, bytes[i] != c { i += 1 }
                i += 1
                continue
            case 0x5B:  // [identifier]
                while i < bytes.count, bytes[i] != 0x5D { i += 1 }
                i += 1
                continue
            case 0x2D where i + 1 < bytes.count && bytes[i + 1] == 0x2D:
                while i < bytes.count, bytes[i] != 0x0A { i += 1 }
                continue
            case 0x2F where i + 1 < bytes.count && bytes[i + 1] == 0x2A:
                i += 2
                while i + 1 < bytes.count, !(bytes[i] == 0x2A && bytes[i + 1] == 0x2F) { i += 1 }
                i += 2
                continue
            case 0x28: depth += 1
            case 0x29: depth -= 1
            case 0x2C where depth == 0: tokens.append(Token(text: ",", range: i..<(i + 1)))
            default:
                if isWord(c) {
                    var j = i
                    while j < bytes.count, isWord(bytes[j]) { j += 1 }
                    if depth == 0 {
                        tokens.append(Token(text: String(decoding: bytes[i..<j], as: UTF8.self).uppercased(), range: i..<j))
                    }
                    i = j
                    continue
                }
            }
            i += 1
        }
        return tokens
    }
}

/// An in-memory SQLite database holding one interval's records in the table `input`.
final class IntervalDatabase {
    private let db: OpaquePointer

    init(fields: [String], streamName: String?) throws(SQLError) {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(":memory:", &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        guard rc == SQLITE_OK, let handle else {
            if let handle { sqlite3_close(handle) }
            throw .sqlite(code: rc, message: "cannot open an in-memory SQLite database", sql: "", offset: nil)
        }
        db = handle
        let columns = [#""interval" INTEGER"#, #""time" TEXT"#] + fields.map(quoteIdentifier) + [#""record" TEXT"#]
        try exec("CREATE TABLE input(" + columns.joined(separator: ", ") + ")")
        if let streamName, streamName.lowercased() != "input" {
            try exec("CREATE VIEW \(quoteIdentifier(streamName)) AS SELECT * FROM input")
        }
    }

    deinit { sqlite3_close(db) }

    private func exec(_ sql: String) throws(SQLError) {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else {
            throw .sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql, offset: nil)
        }
    }

    /// Prepares `sql` without running it; returns its column names.
    func check(_ sql: String) throws(SQLError) -> [String] {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        guard rc == SQLITE_OK else {
            let offset = sqlite3_error_offset(db)
            throw .sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql,
                          offset: offset >= 0 ? Int(offset) : nil)
        }
        guard let statement else { throw .invalidArgument("the continuous query is empty") }
        return (0..<sqlite3_column_count(statement)).map { sqlite3_column_name(statement, $0).map { String(cString: $0) } ?? "" }
    }

    /// Inserts the records, their fields extracted as `json_extract` would.
    func load(interval: Interval, time: String, records: some Collection<JSONRecord>, fields: [String]) throws(SQLError) {
        try exec("BEGIN")
        var statement: OpaquePointer?
        let placeholders = Array(repeating: "?", count: fields.count + 3).joined(separator: ", ")
        let insert = "INSERT INTO input VALUES (\(placeholders))"
        guard sqlite3_prepare_v2(db, insert, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw .sqlite(code: sqlite3_errcode(db), message: String(cString: sqlite3_errmsg(db)), sql: insert, offset: nil)
        }
        defer { sqlite3_finalize(statement) }
        var scanner = JSONFields(names: fields)
        var slots = [JSONSlot](repeating: JSONSlot(), count: fields.count)
        let wanted = [Bool](repeating: true, count: fields.count)
        var scratch: [UInt8] = []
        for record in records {
            sqlite3_reset(statement)
            sqlite3_bind_int64(statement, 1, sqlite3_int64(bitPattern: interval.rawValue))
            sqlite3_bind_text(statement, 2, time, -1, strata_sqlite_transient())
            for k in slots.indices { slots[k].kind = .absent }
            record.bytes.withUnsafeBytes { raw in
                scanner.scan(raw, wanted: wanted, wantedCount: fields.count, into: &slots)
                for (k, slot) in slots.enumerated() {
                    let value = fieldValue(slot, in: raw, scratch: &scratch)
                    bind(value, at: Int32(k + 3), statement)
                }
                if let base = raw.baseAddress {
                    sqlite3_bind_text(statement, Int32(fields.count + 3), base.assumingMemoryBound(to: CChar.self),
                                      Int32(raw.count), strata_sqlite_transient())
                } else {
                    sqlite3_bind_text(statement, Int32(fields.count + 3), "", 0, strata_sqlite_transient())
                }
            }
            let rc = sqlite3_step(statement)
            guard rc == SQLITE_DONE else {
                throw .sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: insert, offset: nil)
            }
        }
        try exec("COMMIT")
    }

    private func bind(_ value: SQLValue, at index: Int32, _ statement: OpaquePointer) {
        switch value {
        case .null: sqlite3_bind_null(statement, index)
        case .integer(let v): sqlite3_bind_int64(statement, index, sqlite3_int64(v))
        case .real(let v): sqlite3_bind_double(statement, index, v)
        case .text(let text): sqlite3_bind_text(statement, index, text, -1, strata_sqlite_transient())
        case .blob(let bytes):
            _ = bytes.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), strata_sqlite_transient()) }
        }
    }

    /// Runs the query and returns its column names and rows.
    func values(_ sql: String) throws(SQLError) -> (columns: [String], rows: [[SQLValue]]) {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw .sqlite(code: sqlite3_errcode(db), message: String(cString: sqlite3_errmsg(db)), sql: sql, offset: nil)
        }
        defer { sqlite3_finalize(statement) }
        let count = Int(sqlite3_column_count(statement))
        let columns = (0..<count).map { sqlite3_column_name(statement, Int32($0)).map { String(cString: $0) } ?? "" }
        var rows: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                throw .sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql, offset: nil)
            }
            rows.append(SQLRow(statement: statement, count: count).values)
        }
        return (columns, rows)
    }

    /// Runs the query and returns each row as a JSON object's bytes, keys in column order.
    func query(_ sql: String) throws(SQLError) -> [[UInt8]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            let offset = sqlite3_error_offset(db)
            throw .sqlite(code: sqlite3_errcode(db), message: String(cString: sqlite3_errmsg(db)), sql: sql,
                          offset: offset >= 0 ? Int(offset) : nil)
        }
        defer { sqlite3_finalize(statement) }
        let count = Int(sqlite3_column_count(statement))
        var keys: [[UInt8]] = []
        var seen: [String: Int] = [:]
        for i in 0..<count {
            let name = sqlite3_column_name(statement, Int32(i)).map { String(cString: $0) } ?? ""
            let n = (seen[name] ?? 0) + 1
            seen[name] = n
            var key: [UInt8] = []
            SQLValue.text(n == 1 ? name : "\(name):\(n)").appendJSON(to: &key)
            keys.append(key)
        }
        var rows: [[UInt8]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                throw .sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql, offset: nil)
            }
            let row = SQLRow(statement: statement, count: count)
            var bytes: [UInt8] = [0x7B]
            for i in 0..<count {
                if i > 0 { bytes.append(0x2C) }
                bytes.append(contentsOf: keys[i])
                bytes.append(0x3A)
                row[i].appendJSON(to: &bytes)
            }
            bytes.append(0x7D)
            rows.append(bytes)
        }
        return rows
    }
}

/// A JSON field's value as `json_extract` gives it.
func fieldValue(_ slot: JSONSlot, in record: UnsafeRawBufferPointer, scratch: inout [UInt8]) -> SQLValue {
    let bytes = record.bindMemory(to: UInt8.self)
    guard slot.kind != .absent, slot.start + slot.count <= bytes.count else { return .null }
    let field = UnsafeBufferPointer(rebasing: bytes[slot.start..<(slot.start + slot.count)])
    switch slot.kind {
    case .absent, .null: return .null
    case .string: return .text(String(decoding: field, as: UTF8.self))
    case .escapedString:
        scratch.removeAll(keepingCapacity: true)
        JSONFields.unescape(field, into: &scratch)
        return .text(String(decoding: scratch, as: UTF8.self))
    case .integer:
        if let value = Int64(String(decoding: field, as: UTF8.self)) { return .integer(value) }
        return Double(String(decoding: field, as: UTF8.self)).map(SQLValue.real) ?? .null
    case .real: return Double(String(decoding: field, as: UTF8.self)).map(SQLValue.real) ?? .null
    case .trueLiteral: return .integer(1)
    case .falseLiteral: return .integer(0)
    case .composite:
        scratch.removeAll(keepingCapacity: true)
        JSONFields.minify(field, into: &scratch)
        return .text(String(decoding: scratch, as: UTF8.self))
    }
}
