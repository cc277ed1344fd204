import CSQLite
import Strata
import StrataStorage
import Synchronization

/// A SQLite connection whose tables are a store's streams.
///
/// Every stream is a table, created the first time a query names it: columns `interval` (the
/// index), `time` (the interval's start, ISO 8601 UTC), `partition`, then for JSON streams one
/// column per top-level field (inferred from the stream's first sealed records; missing fields
/// are NULL) and `record` (the JSON text); for `KeyValue` streams `key` and `value`; for types
/// conforming to ``SQLRecord`` their ``SQLRecord/sqlColumns``. Constraints on `interval`,
/// `time` (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`, with the time forms `strata slice` accepts) and
/// `partition` limit which blocks are read. The table functions `state(stream, asOf)` and
/// `slice(stream, from, to)` travel in time. Only sealed intervals are visible.
///
/// ```swift
/// let sql = try SQLConnection(store: store)
/// try sql.execute("SELECT url, count(*) AS n FROM pageViews WHERE time >= '21:00' GROUP BY url") { row in
///     print(row[0], row[1])
/// }
/// ```
///
/// A connection is not `Sendable`: use it on one thread. ``interruption`` is `Sendable` and may
/// stop a running query from any thread.
///
/// ## Topics
///
/// ### Querying
///
/// - ``execute(_:columns:row:)``
/// - ``rows(_:)``
///
/// ### Tables
///
/// - ``register(_:)``
/// - ``declareColumns(_:of:)``
///
/// ### Control
///
/// - ``interruption``
/// - ``progress``
/// - ``blocksRead``
public final class SQLConnection {
    /// The SQLite connection (`sqlite3 *`); owned here, closed in `deinit`.
    private let db: OpaquePointer
    private let context: SQLContext
    /// Stops the running query from another thread.
    public let interruption: SQLInterrupt

    /// Opens an in-memory SQLite connection over `store`.
    ///
    /// - Throws: `SQLError.sqlite` if SQLite cannot open or register its modules.
    public init(store: Store) throws(SQLError) {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(":memory:", &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        guard rc == SQLITE_OK, let handle else {
            if let handle { sqlite3_close(handle) }
            throw .sqlite(code: rc, message: "cannot open an in-memory SQLite database", sql: "", offset: nil)
        }
        db = handle
        context = SQLContext(store: store)
        interruption = SQLInterrupt(db: handle)
        context.interruption = interruption
        let context = context
        let modules: [(String, UnsafeMutablePointer<sqlite3_module>, VirtualTableModule.Factory)] = [
            ("strata_stream", Self.streamModule, { arguments in try StreamTable(context: context, arguments: arguments) }),
            ("slice", Self.functionModule, { _ in SliceFunction(context: context) }),
            ("state", Self.functionModule, { _ in StateFunction(context: context) }),
        ]
        for (name, module, factory) in modules {
            let registration = VirtualTableModule.Registration(callbacks: context, factory: factory)
            let aux = Unmanaged.passRetained(registration).toOpaque()
            // > sqlite3_create_module_v2: the destructor is invoked on the client data when the
            // > module is replaced or the connection closes — and also if the call fails.
            let rc = sqlite3_create_module_v2(db, name, module, aux) { aux in
                if let aux { Unmanaged<VirtualTableModule.Registration>.fromOpaque(aux).release() }
            }
            guard rc == SQLITE_OK else {
                let message = String(cString: sqlite3_errmsg(db))
                sqlite3_close(db)
                throw .sqlite(code: rc, message: message, sql: "", offset: nil)
            }
        }
    }

    deinit {
        interruption.detach()
        // Every statement is finalized before execute returns, so the connection closes now.
        sqlite3_close(db)
    }

    // `sqlite3_module` tables live as long as the process: SQLite keeps pointers to them.
    // nonisolated(unsafe): written once, at initialization, and only read afterwards (by SQLite).
    nonisolated(unsafe) private static let streamModule = VirtualTableModule.make(eponymousOnly: false)
    nonisolated(unsafe) private static let functionModule = VirtualTableModule.make(eponymousOnly: true)

    // MARK: Tables

    /// Makes streams of `R` readable as tables with `R.sqlColumns`.
    public func register<R: SQLRecord>(_ type: R.Type) {
        context.registered[R.recordTypeName] = RecordTypeReader(type)
    }

    /// Makes `stream` (a JSON stream) a table with exactly these field columns, instead of inferring them.
    ///
    /// - Throws: `.unknownStream`, or `.sqlite` if the table is already in use by this connection.
    public func declareColumns(_ fields: [String], of stream: String) throws(SQLError) {
        let arguments = ([stream] + fields).map(quoteIdentifier).joined(separator: ", ")
        try run("DROP TABLE IF EXISTS temp.\(quoteIdentifier(stream))")
        try run("CREATE VIRTUAL TABLE temp.\(quoteIdentifier(stream)) USING strata_stream(\(arguments))")
    }

    /// Called as scans move from interval to interval (on the querying thread).
    public var progress: ((SQLScanProgress) -> Void)? {
        get { context.progress }
        set { context.progress = newValue }
    }

    /// How many blocks this connection's scans have read.
    public var blocksRead: Int { context.blocksRead }

    /// Whether a stream is internal (late records, dead letters, an engine's shuffles, states and
    /// changes): hidden from listings, but a table when a query names it.
    public static func isInternal(_ descriptor: StreamDescriptor) -> Bool {
        if descriptor.lateRecordsOf != nil { return true }
        let parts = descriptor.name.split(separator: ".")
        if let last = parts.last, parts.count > 1, ["late", "dead"].contains(last) { return true }
        return parts.dropLast().contains { part in
            part.count > 1 && part.first == "v" && part.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
        }
    }

    // MARK: Querying

    /// Runs every statement of `sql` in order, calling `columns` with each statement's column
    /// names (before its rows, also when it has none) and `row` with each row.
    ///
    /// - Parameters:
    ///   - sql: One or more SQL statements.
    ///   - columns: Called once per statement that returns columns.
    ///   - row: Called per row; the row is valid only during the call.
    /// - Returns: The number of statements run: 0 when `sql` holds only whitespace, `;` and comments.
    /// - Throws: `SQLError.sqlite` with SQLite's message and the error's offset in `sql`;
    ///   `.unknownStream`; `.interrupted`; `.storage` / `.timeTravel` from reading the store;
    ///   `.invalidArgument` for `window(STREAM, N)`, which only continuous queries have (use
    ///   `slice`); whatever `columns` or `row` throw.
    @discardableResult
    public func execute(_ sql: String, columns: ([String]) throws -> Void = { _ in },
                        row: (SQLRow) throws -> Void) throws -> Int {
        if let call = WindowSyntax.calls(in: sql).first {
            throw SQLError.invalidArgument("window(\(call.replacement), \(call.length)) is the last \(call.length) "
                + "intervals of each interval of a continuous query (strata sql --continuous); over the store, "
                + "ask for intervals with slice('STREAM', FROM, TO) or WHERE interval BETWEEN …")
        }
        let text = Array(sql.utf8CString)
        var offset = 0
        var statements = 0
        interruption.reset()
        while offset < text.count - 1 {
            context.pendingError = nil
            let (statement, next) = try prepare(text, at: offset, sql: sql)
            offset = next
            guard let statement else { continue }  // only whitespace or a comment
            defer { sqlite3_finalize(statement) }
            statements += 1
            let count = Int(sqlite3_column_count(statement))
            if count > 0 {
                var names: [String] = []
                for i in 0..<count { names.append(sqlite3_column_name(statement, Int32(i)).map { String(cString: $0) } ?? "") }
                try columns(names)
            }
            while true {
                let rc = sqlite3_step(statement)
                if rc == SQLITE_ROW {
                    try row(SQLRow(statement: statement, count: count))
                    continue
                }
                if rc == SQLITE_DONE { break }
                if let pending = context.pendingError { throw pending }
                if rc == SQLITE_INTERRUPT { throw SQLError.interrupted }
                throw SQLError.sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql, offset: nil)
            }
        }
        return statements
    }

    /// The streams the statements of `sql` read, in the order SQLite first needs them (prepared, not run).
    ///
    /// - Throws: what preparing throws: `.sqlite`, `.unknownStream`.
    public func streamsNamed(by sql: String) throws -> [String] {
        let text = Array(sql.utf8CString)
        var offset = 0
        var names: [String] = []
        while offset < text.count - 1 {
            context.pendingError = nil
            let (statement, next) = try prepare(text, at: offset, sql: sql)
            offset = next
            sqlite3_finalize(statement)
        }
        // The stream tables the connection holds are the ones queries named so far.
        let list = "SELECT name FROM temp.sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        try execute(list) { row in if let name = row.text(0) { names.append(name) } }
        return names
    }

    /// The version of the SQLite library in use (`3.40.1`).
    ///
    /// The corresponding SQLite call is `sqlite3_libversion`.
    public static var sqliteVersion: String { String(cString: sqlite3_libversion()) }

    /// Whether `sql` ends with a complete statement: a `;` outside strings, identifiers, comments
    /// and trigger bodies (for prompts that read statements over several lines).
    ///
    /// The corresponding SQLite call is `sqlite3_complete`.
    public static func isComplete(_ sql: String) -> Bool { sqlite3_complete(sql) != 0 }

    /// The user streams (the tables a query may name without knowing them), in name order;
    /// internal streams are left out (see ``isInternal(_:)``).
    ///
    /// - Throws: `SQLError.storage` when the store's catalog cannot be read.
    public func streamNames() throws(SQLError) -> [String] {
        do { return try context.userStreamNames() } catch { throw SQLError(wrapping: error) }
    }

    /// Runs `sql` and returns the last statement's columns and rows.
    ///
    /// - Throws: what ``execute(_:columns:row:)`` throws.
    public func rows(_ sql: String) throws -> SQLResult {
        var result = SQLResult(columns: [], rows: [])
        try execute(sql, columns: { names in result = SQLResult(columns: names, rows: []) }) { row in
            result.rows.append(row.values)
        }
        return result
    }

    /// Runs a statement that returns no rows.
    private func run(_ sql: String) throws(SQLError) {
        do {
            try execute(sql) { _ in }
        } catch {
            throw SQLError(wrapping: error)
        }
    }

    /// Prepares the statement at byte `offset`, creating stream tables the statement names.
    private func prepare(_ text: [CChar], at offset: Int, sql: String) throws -> (OpaquePointer?, Int) {
        var created: Set<String> = []
        while true {
            var statement: OpaquePointer?
            var next = offset
            let (rc, errorOffset): (Int32, Int32) = text.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return (SQLITE_OK, -1) }
                var tail: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v2(db, base + offset, Int32(buffer.count - 1 - offset), &statement, &tail)
                next = tail.map { $0 - base } ?? buffer.count - 1
                return (rc, sqlite3_error_offset(db))
            }
            if rc == SQLITE_OK { return (statement, max(next, offset + 1)) }
            let message = String(cString: sqlite3_errmsg(db))
            if let pending = context.pendingError { throw pending }
            if let name = Self.missingTable(in: message), !created.contains(name) {
                created.insert(name)
                try createStreamTable(named: name)
                continue
            }
            throw SQLError.sqlite(code: rc, message: message, sql: sql,
                                  offset: errorOffset >= 0 ? offset + Int(errorOffset) : nil)
        }
    }

    /// The table name of a "no such table" message.
    static func missingTable(in message: String) -> String? {
        let prefix = "no such table: "
        guard message.hasPrefix(prefix) else { return nil }
        var name = String(message.dropFirst(prefix.count))
        for schema in ["main.", "temp."] where name.hasPrefix(schema) { name = String(name.dropFirst(schema.count)) }
        return name
    }

    /// Creates the table of the stream a query named (exactly, else the one stream whose name
    /// matches ignoring case, as SQL names do).
    private func createStreamTable(named name: String) throws {
        let descriptors = try context.log.descriptors()
        let stream: String
        if descriptors.contains(where: { $0.name == name }) {
            stream = name
        } else {
            let matches = descriptors.filter { $0.name.lowercased() == name.lowercased() }
            guard matches.count == 1, let match = matches.first else {
                throw SQLError.unknownStream(name, known: try context.userStreamNames())
            }
            stream = match.name
        }
        let create = "CREATE VIRTUAL TABLE temp.\(quoteIdentifier(stream)) USING strata_stream(\(quoteIdentifier(stream)))"
        let rc = sqlite3_exec(db, create, nil, nil, nil)
        guard rc == SQLITE_OK else {
            if let pending = context.pendingError { throw pending }
            throw SQLError.sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: create, offset: nil)
        }
    }
}

/// Stops a connection's running query from any thread (`sqlite3_interrupt`).
///
/// `SQLInterrupt` is `Sendable`. Interrupting when nothing runs does nothing; after the
/// connection is gone, nothing either.
public final class SQLInterrupt: Sendable {
    /// `@unchecked Sendable`: `sqlite3_interrupt` may be called from any thread while the
    /// connection is open (sqlite3.h), and the mutex keeps it from racing with the close.
    private struct Handle: @unchecked Sendable { var db: OpaquePointer? }
    private let handle: Mutex<Handle>
    /// Set by `interrupt()`, for scans that run inside one SQLite callback (grouping).
    private let flag = Atomic<Bool>(false)

    init(db: OpaquePointer) { handle = Mutex(Handle(db: db)) }

    /// Makes the running query fail with ``SQLError/interrupted`` as soon as SQLite notices.
    ///
    /// The corresponding SQLite call is `sqlite3_interrupt`.
    public func interrupt() {
        flag.store(true, ordering: .relaxed)
        handle.withLock { if let db = $0.db { sqlite3_interrupt(db) } }
    }

    var requested: Bool { flag.load(ordering: .relaxed) }

    func reset() { flag.store(false, ordering: .relaxed) }

    func detach() { handle.withLock { $0.db = nil } }
}

/// One result row, valid only during the callback that receives it.
public struct SQLRow {
    let statement: OpaquePointer
    /// The number of columns.
    public let count: Int

    /// Column `index`'s value.
    public subscript(index: Int) -> SQLValue {
        let i = Int32(index)
        switch sqlite3_column_type(statement, i) {
        case SQLITE_INTEGER: return .integer(Int64(sqlite3_column_int64(statement, i)))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, i))
        case SQLITE_NULL: return .null
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, i))
            guard count > 0, let bytes = sqlite3_column_blob(statement, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default:
            guard let text = sqlite3_column_text(statement, i) else { return .text("") }
            let count = Int(sqlite3_column_bytes(statement, i))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        }
    }

    /// Column `index` as SQLite converts it to text (`sqlite3_column_text`); `nil` for NULL.
    public func text(_ index: Int) -> String? {
        let i = Int32(index)
        guard sqlite3_column_type(statement, i) != SQLITE_NULL, let text = sqlite3_column_text(statement, i) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, i))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// Every column's value.
    public var values: [SQLValue] { (0..<count).map { self[$0] } }
}

/// The columns and rows of a query.
///
/// `SQLResult` is `Sendable`; it is a plain value.
public struct SQLResult: Sendable, Equatable {
    /// Column names.
    public var columns: [String]
    /// Rows, each with one value per column.
    public var rows: [[SQLValue]]
}
