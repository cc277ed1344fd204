import CSQLite
import Strata

/// One SQL query run over one interval's JSON records, deterministically: the kernel of
/// `DStream.sql(_:)`.
///
/// Each input stream's records of the interval are a table named after the stream (a query over
/// one stream may also call it `input`): columns `interval`, `time`, `partition`, a column for
/// every field the query names, and `record`. The fields are found by preparing the query: a name
/// SQLite reports as a missing column becomes a field column of every table, whose values are
/// `json_extract(record, '$.name')` (so in a join, qualify fields that are not join columns:
/// `p.url`). The tables are virtual tables over the records as they are, nothing is copied into
/// SQLite. The result rows are JSON objects with the query's column names as keys, in the query's
/// order; rows come in the query's `ORDER BY` order when it has one at the top level, else sorted
/// by their bytes.
///
/// `IntervalQuery` is `Sendable`; each run opens its own in-memory SQLite connection.
public struct IntervalQuery: Sendable {
    /// The query.
    public let sql: String
    /// The tables, one per input stream, in the order ``run(interval:length:tables:)`` takes their
    /// records: each table's names (the stream's name; for one stream also `input`).
    public let tableNames: [[String]]
    /// The first input stream's name, or `nil` when the query reads `input` only.
    public var streamName: String? { tableNames.first?.first { $0 != "input" } }
    /// The fields the query names, found once at initialization: columns of every table.
    public let fields: [String]
    /// Whether the query orders its rows at the top level.
    public let ordered: Bool
    /// The names of the query's result columns.
    public let columnNames: [String]

    /// Checks a query over one stream, the table `input`, also named `streamName` when given.
    ///
    /// - Throws: `SQLError.sqlite` with the position of the error.
    public init(_ sql: String, streamName: String? = nil) throws(SQLError) {
        var names = ["input"]
        if let streamName, streamName.lowercased() != "input" { names.append(streamName) }
        try self.init(sql, tables: [names])
    }

    /// Checks a query over several streams (a join): one table per stream, named after it.
    ///
    /// - Throws: `SQLError.sqlite` with the position of the error; `.invalidArgument` for no
    ///   streams or a name given twice.
    public init(_ sql: String, streamNames: [String]) throws(SQLError) {
        guard !streamNames.isEmpty else { throw .invalidArgument("a continuous query reads at least one stream") }
        if streamNames.count == 1 {
            try self.init(sql, streamName: streamNames[0])
            return
        }
        try self.init(sql, tables: streamNames.map { [$0] })
    }

    /// Checks a query over one stream whose name the query gives: the table `input`, and the one
    /// other table the query names (which is taken to be the stream, unchecked).
    ///
    /// - Throws: `SQLError.sqlite` with the position of the error.
    public init(namingItsStream sql: String) throws(SQLError) {
        try self.init(sql, tables: [["input"]], adoptsTableName: true)
    }

    private init(_ sql: String, tables: [[String]], adoptsTableName: Bool = false) throws(SQLError) {
        var tables = tables
        let all = tables.flatMap { $0 }.map { $0.lowercased() }
        guard Set(all).count == all.count else {
            throw .invalidArgument("a continuous query reads each stream once: \(all.joined(separator: ", "))")
        }
        self.sql = sql
        ordered = Self.hasTopLevelOrderBy(sql)
        var fields: [String] = []
        var names: [String] = []
        let fixed = ["interval", "time", "partition", "record"]
        while true {
            let database = try IntervalDatabase(tables: tables, fields: fields)
            do {
                names = try database.check(sql)
                break
            } catch let SQLError.sqlite(code, message, text, offset) {
                let noTable = "no such table: "
                if adoptsTableName, tables == [["input"]], message.hasPrefix(noTable) {
                    var name = String(message.dropFirst(noTable.count))
                    for schema in ["main.", "temp."] where name.hasPrefix(schema) { name = String(name.dropFirst(schema.count)) }
                    tables[0].append(name)
                    continue
                }
                // "no such column: [table.]NAME", or for USING: "cannot join using column NAME - column not present in both tables".
                var name: String?
                let missing = "no such column: ", using = "cannot join using column "
                if message.hasPrefix(missing) {
                    var column = String(message.dropFirst(missing.count))
                    if let dot = column.lastIndex(of: ".") { column = String(column[column.index(after: dot)...]) }
                    name = column
                } else if message.hasPrefix(using), let end = message.range(of: " - column not present") {
                    name = String(message[message.index(message.startIndex, offsetBy: using.count)..<end.lowerBound])
                }
                guard let name, fields.count < 256, !fields.contains(name), !fixed.contains(name.lowercased()) else {
                    throw SQLError.sqlite(code: code, message: message, sql: text, offset: offset)
                }
                fields.append(name)
            }
        }
        self.fields = fields
        tableNames = tables
        columnNames = names
    }

    /// Runs the query over interval `interval` (of length `length`), `tables[k]` holding the
    /// records of the k-th table of ``tableNames``, and returns its rows as JSON records.
    ///
    /// - Throws: `SQLError`; `.invalidArgument` when `tables` does not have one batch per table.
    public func run(interval: Interval, length: IntervalLength,
                    tables: [ContiguousArray<PartitionedJSONRecord>]) throws(SQLError) -> [JSONRecord] {
        let database = try load(interval: interval, length: length, tables: tables)
        var rows = try database.query(sql)
        if !ordered { rows.sort { $0.lexicographicallyPrecedes($1) } }
        return rows.map { JSONRecord(bytes: $0) }
    }

    /// What identifies the query in the fingerprint of the vertex that runs it: its tables and its
    /// text with runs of whitespace outside strings and quoted identifiers collapsed to one space
    /// (``SQLText/normalized(_:)``). A continuous program whose query changes is then refused
    /// under its old name, like any changed program.
    public var definition: String {
        "sql(" + tableNames.map { $0.joined(separator: "=") }.joined(separator: ",") + ") " + SQLText.normalized(sql)
    }

    /// Runs the query and returns its rows as values.
    func runRows(interval: Interval, length: IntervalLength, tables: [ContiguousArray<PartitionedJSONRecord>])
        throws(SQLError) -> (columns: [String], rows: [[SQLValue]])
    {
        try load(interval: interval, length: length, tables: tables).values(sql)
    }

    private func load(interval: Interval, length: IntervalLength, tables: [ContiguousArray<PartitionedJSONRecord>])
        throws(SQLError) -> IntervalDatabase
    {
        guard tables.count == tableNames.count else {
            throw .invalidArgument("the query reads \(tableNames.count) table(s), given \(tables.count) batch(es)")
        }
        let database = try IntervalDatabase(tables: tableNames, fields: fields)
        database.load(interval: interval, time: TimeText.iso8601(length.start(of: interval)), tables: tables)
        return database
    }

    /// Whether `sql` has `ORDER BY` outside parentheses, strings, identifiers and comments.
    static func hasTopLevelOrderBy(_ sql: String) -> Bool {
        let words = SQLText.topLevelTokens(sql).map(\.text)
        return zip(words, words.dropFirst()).contains { $0 == "ORDER" && $1 == "BY" }
    }

}

/// Top-level tokens of SQL text: words (upper-cased) and commas outside parentheses, strings,
/// quoted identifiers and comments, with their byte ranges.
enum SQLText {
    struct Token {
        var text: String
        var range: Range<Int>
    }

    /// `sql` with each run of whitespace outside strings, quoted identifiers and comments made one
    /// space, and none at either end: what stays the same when a query is only laid out again.
    static func normalized(_ sql: String) -> String {
        let bytes = Array(sql.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        var pendingSpace = false
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }
        while i < bytes.count {
            let c = bytes[i]
            if isSpace(c) {
                pendingSpace = !out.isEmpty
                i += 1
                continue
            }
            if pendingSpace { out.append(0x20); pendingSpace = false }
            var end = i + 1
            switch c {
            case 0x27, 0x22, 0x60:  // ' " ` (a doubled quote inside reads as two quoted runs: same bytes)
                while end < bytes.count, bytes[end] != c { end += 1 }
                end = min(end + 1, bytes.count)
            case 0x5B:  // [identifier]
                while end < bytes.count, bytes[end] != 0x5D { end += 1 }
                end = min(end + 1, bytes.count)
            case 0x2D where i + 1 < bytes.count && bytes[i + 1] == 0x2D:
                while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            case 0x2F where i + 1 < bytes.count && bytes[i + 1] == 0x2A:
                end = i + 2
                while end + 1 < bytes.count, !(bytes[end] == 0x2A && bytes[end + 1] == 0x2F) { end += 1 }
                end = min(end + 2, bytes.count)
            default: break
            }
            out.append(contentsOf: bytes[i..<end])
            i = end
        }
        return String(decoding: out, as: UTF8.self)
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

/// An in-memory SQLite database whose tables are one interval's batches (``BatchTable``).
final class IntervalDatabase {
    private let db: OpaquePointer
    private let state: SQLBatchState

    // The module lives as long as the process: SQLite keeps a pointer to it.
    // nonisolated(unsafe): written once, at initialization, and only read afterwards (by SQLite).
    nonisolated(unsafe) private static let batchModule = VirtualTableModule.make(eponymousOnly: false)

    /// Opens the database with one batch table per element of `tables` (under each of its names),
    /// each with the field columns `fields`.
    init(tables: [[String]], fields: [String]) throws(SQLError) {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(":memory:", &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        guard rc == SQLITE_OK, let handle else {
            if let handle { sqlite3_close(handle) }
            throw .sqlite(code: rc, message: "cannot open an in-memory SQLite database", sql: "", offset: nil)
        }
        db = handle
        let state = SQLBatchState(fields: tables.map { _ in fields })
        self.state = state
        let registration = VirtualTableModule.Registration(callbacks: state) { arguments in
            try BatchTable(state: state, arguments: arguments)
        }
        // > sqlite3_create_module_v2: the destructor is invoked on the client data when the
        // > module is replaced or the connection closes — and also if the call fails.
        let created = sqlite3_create_module_v2(db, "strata_batch", Self.batchModule,
                                               Unmanaged.passRetained(registration).toOpaque()) { aux in
            if let aux { Unmanaged<VirtualTableModule.Registration>.fromOpaque(aux).release() }
        }
        guard created == SQLITE_OK else {
            throw .sqlite(code: created, message: String(cString: sqlite3_errmsg(db)), sql: "", offset: nil)
        }
        for (index, names) in tables.enumerated() {
            for name in names {
                try exec("CREATE VIRTUAL TABLE temp.\(quoteIdentifier(name)) USING strata_batch(\(index))")
            }
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
        guard sqlite3_stmt_readonly(statement) != 0 else {
            throw .invalidArgument("a continuous query only reads")
        }
        return (0..<sqlite3_column_count(statement)).map { sqlite3_column_name(statement, $0).map { String(cString: $0) } ?? "" }
    }

    /// Makes `tables` the records of the batch tables: nothing is copied.
    func load(interval: Interval, time: String, tables: [ContiguousArray<PartitionedJSONRecord>]) {
        state.interval = Int64(bitPattern: interval.rawValue)
        state.timeText = Array(time.utf8CString)
        for (index, records) in tables.enumerated() where index < state.tables.count {
            state.tables[index].records = records
        }
    }

    /// Fails with the error a table callback left, else SQLite's.
    private func failure(_ rc: Int32, _ sql: String) -> SQLError {
        if let pending = state.pendingError { return pending }
        return .sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql, offset: nil)
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
            guard rc == SQLITE_ROW else { throw failure(rc, sql) }
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
            guard rc == SQLITE_ROW else { throw failure(rc, sql) }
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
