import CSQLite

/// A virtual table's Swift side: SQLite calls it through the C callbacks of ``VirtualTableModule``.
///
/// A table declares its schema (`schema`), chooses a plan (`bestIndex`) and opens cursors.
/// Everything runs on the thread stepping the statement; a table belongs to one connection.
protocol VirtualTable: AnyObject {
    /// Where the table's callbacks leave the error they threw.
    var callbacks: SQLCallbackState { get }
    /// The `CREATE TABLE x(…)` statement given to `sqlite3_declare_vtab`.
    var schema: String { get }
    /// Fills in the plan for one set of constraints; `SQLITE_CONSTRAINT` marks a plan unusable.
    func bestIndex(_ info: inout sqlite3_index_info) -> Int32
    /// A new cursor.
    func makeCursor() -> any VirtualCursor
}

/// A cursor over a virtual table's rows.
protocol VirtualCursor: AnyObject {
    /// Starts a scan with the plan `bestIndex` chose and its arguments.
    func filter(plan: Int32, planText: String, arguments: [OpaquePointer?]) throws
    /// Moves to the next row.
    func next() throws
    /// Whether the scan is past its last row.
    var atEnd: Bool { get }
    /// Sets column `index` of the current row as the result of `sqlContext`.
    func column(_ index: Int32, into sqlContext: OpaquePointer?) throws
    /// The current row's id.
    var rowID: Int64 { get }
    /// Gives the cursor its C struct, whose fast path (`fast`, `repeat`, `fast_values`) it may
    /// use to let SQLite step through runs of equal rows without calling it.
    func attach(_ raw: UnsafeMutablePointer<strata_vtab_cursor>)
}

extension VirtualCursor {
    func attach(_ raw: UnsafeMutablePointer<strata_vtab_cursor>) {}
}

/// The owner object behind `strata_vtab.owner`.
private final class TableBox {
    let table: any VirtualTable
    init(_ table: any VirtualTable) { self.table = table }
}

/// The owner object behind `strata_vtab_cursor.owner`.
private final class CursorBox {
    let cursor: any VirtualCursor
    init(_ cursor: any VirtualCursor) { self.cursor = cursor }
}

/// Makes SQLite's copy of an error message (SQLite frees `zErrMsg` with `sqlite3_free`).
func sqliteMessage(_ text: String) -> UnsafeMutablePointer<CChar>? {
    let bytes = Array(text.utf8)
    guard let raw = sqlite3_malloc64(UInt64(bytes.count + 1)) else { return nil }
    let pointer = raw.bindMemory(to: CChar.self, capacity: bytes.count + 1)
    for (i, byte) in bytes.enumerated() { pointer[i] = CChar(bitPattern: byte) }
    pointer[bytes.count] = 0
    return pointer
}

/// The C side of Strata's virtual tables: one `sqlite3_module` per kind, whose callbacks find
/// their Swift owner through `strata_vtab.owner` / `strata_vtab_cursor.owner` (retained).
enum VirtualTableModule {
    /// What `xCreate`/`xConnect` build from the module arguments after the module, database and
    /// table names.
    typealias Factory = ([String]) throws -> any VirtualTable

    /// The factory of each module, by the aux pointer SQLite hands back.
    final class Registration {
        let callbacks: SQLCallbackState
        let factory: Factory
        init(callbacks: SQLCallbackState, factory: @escaping Factory) {
            self.callbacks = callbacks
            self.factory = factory
        }
    }

    /// A module whose tables are created with `CREATE VIRTUAL TABLE` (`eponymousOnly: false`), or a
    /// table-valued function that exists under the module's name only (`eponymousOnly: true`).
    static func make(eponymousOnly: Bool) -> UnsafeMutablePointer<sqlite3_module> {
        var module = sqlite3_module()
        module.iVersion = 1
        module.xCreate = eponymousOnly ? nil : VirtualTableModule.connect
        module.xConnect = VirtualTableModule.connect
        module.xBestIndex = { vtab, info in
            guard let vtab, let info else { return SQLITE_ERROR }
            return VirtualTableModule.table(vtab).bestIndex(&info.pointee)
        }
        module.xDisconnect = VirtualTableModule.disconnect
        module.xDestroy = VirtualTableModule.disconnect
        module.xOpen = { vtab, cursorOut in
            guard let vtab, let cursorOut else { return SQLITE_ERROR }
            let cursor = VirtualTableModule.table(vtab).makeCursor()
            let raw = UnsafeMutablePointer<strata_vtab_cursor>.allocate(capacity: 1)
            raw.initialize(to: strata_vtab_cursor())
            raw.pointee.owner = Unmanaged.passRetained(CursorBox(cursor)).toOpaque()
            cursor.attach(raw)
            cursorOut.pointee = UnsafeMutableRawPointer(raw).assumingMemoryBound(to: sqlite3_vtab_cursor.self)
            return SQLITE_OK
        }
        module.xClose = { cursor in
            guard let cursor else { return SQLITE_OK }
            let raw = UnsafeMutableRawPointer(cursor).assumingMemoryBound(to: strata_vtab_cursor.self)
            if let owner = raw.pointee.owner { Unmanaged<CursorBox>.fromOpaque(owner).release() }
            raw.deinitialize(count: 1)
            raw.deallocate()
            return SQLITE_OK
        }
        module.xFilter = { cursor, plan, planText, count, values in
            guard let cursor else { return SQLITE_ERROR }
            var arguments: [OpaquePointer?] = []
            for i in 0..<Int(count) { arguments.append(values?[i]) }
            let text = planText.map { String(cString: $0) } ?? ""
            return VirtualTableModule.run(cursor) { try VirtualTableModule.owner(cursor).filter(plan: plan, planText: text, arguments: arguments) }
        }
        // xNext, xEof and xColumn run once per row: a run of equal rows (see `strata_vtab_cursor`)
        // is stepped here, without reaching the Swift cursor.
        module.xNext = { cursor in
            guard let cursor else { return SQLITE_ERROR }
            let raw = UnsafeMutableRawPointer(cursor).assumingMemoryBound(to: strata_vtab_cursor.self)
            if raw.pointee.fast != 0 && raw.pointee.repeat > 1 {
                raw.pointee.repeat -= 1
                return SQLITE_OK
            }
            return VirtualTableModule.run(cursor) { try VirtualTableModule.owner(cursor).next() }
        }
        module.xEof = { cursor in
            guard let cursor else { return 1 }
            let raw = UnsafeMutableRawPointer(cursor).assumingMemoryBound(to: strata_vtab_cursor.self)
            if raw.pointee.fast != 0 { return raw.pointee.at_end != 0 ? 1 : 0 }
            return VirtualTableModule.owner(cursor).atEnd ? 1 : 0
        }
        module.xColumn = { cursor, sqlContext, index in
            guard let cursor else { return SQLITE_ERROR }
            let raw = UnsafeMutableRawPointer(cursor).assumingMemoryBound(to: strata_vtab_cursor.self)
            if raw.pointee.fast != 0, index >= 0, index < raw.pointee.fast_count, let values = raw.pointee.fast_values {
                let value = values[Int(index)]
                switch value.type {
                case SQLITE_INTEGER: sqlite3_result_int64(sqlContext, value.integer); return SQLITE_OK
                case SQLITE_FLOAT: sqlite3_result_double(sqlContext, value.real); return SQLITE_OK
                case SQLITE_TEXT:
                    sqlite3_result_text(sqlContext, value.text, value.length, strata_sqlite_transient())
                    return SQLITE_OK
                case SQLITE_BLOB:
                    sqlite3_result_blob(sqlContext, value.text.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(bitPattern: 1),
                                        value.length, strata_sqlite_transient())
                    return SQLITE_OK
                case SQLITE_NULL: sqlite3_result_null(sqlContext); return SQLITE_OK
                default: break
                }
            }
            return VirtualTableModule.run(cursor) { try VirtualTableModule.owner(cursor).column(index, into: sqlContext) }
        }
        module.xRowid = { cursor, rowID in
            guard let cursor else { return SQLITE_ERROR }
            rowID?.pointee = sqlite3_int64(VirtualTableModule.owner(cursor).rowID)
            return SQLITE_OK
        }
        let pointer = UnsafeMutablePointer<sqlite3_module>.allocate(capacity: 1)
        pointer.initialize(to: module)
        return pointer
    }

    fileprivate static let connect: @convention(c) (
        OpaquePointer?, UnsafeMutableRawPointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?,
        UnsafeMutablePointer<UnsafeMutablePointer<sqlite3_vtab>?>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> Int32 = { db, aux, count, argv, vtabOut, errorOut in
        guard let aux, let vtabOut else { return SQLITE_ERROR }
        let registration = Unmanaged<Registration>.fromOpaque(aux).takeUnretainedValue()
        var arguments: [String] = []
        if count > 3 { for i in 3..<Int(count) { arguments.append(argv?[i].map { String(cString: $0) } ?? "") } }
        do {
            let table = try registration.factory(arguments)
            let rc = table.schema.withCString { sqlite3_declare_vtab(db, $0) }
            guard rc == SQLITE_OK else {
                errorOut?.pointee = sqliteMessage("declaring \(table.schema): \(String(cString: sqlite3_errmsg(db)))")
                return rc
            }
            let raw = UnsafeMutablePointer<strata_vtab>.allocate(capacity: 1)
            raw.initialize(to: strata_vtab())
            raw.pointee.owner = Unmanaged.passRetained(TableBox(table)).toOpaque()
            vtabOut.pointee = UnsafeMutableRawPointer(raw).assumingMemoryBound(to: sqlite3_vtab.self)
            return SQLITE_OK
        } catch {
            let wrapped = SQLError(wrapping: error)
            registration.callbacks.pendingError = wrapped
            errorOut?.pointee = sqliteMessage(wrapped.description)
            return SQLITE_ERROR
        }
    }

    fileprivate static let disconnect: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?) -> Int32 = { vtab in
        guard let vtab else { return SQLITE_OK }
        let raw = UnsafeMutableRawPointer(vtab).assumingMemoryBound(to: strata_vtab.self)
        if let owner = raw.pointee.owner { Unmanaged<TableBox>.fromOpaque(owner).release() }
        if let message = raw.pointee.base.zErrMsg { sqlite3_free(message) }
        raw.deinitialize(count: 1)
        raw.deallocate()
        return SQLITE_OK
    }

    fileprivate static func table(_ vtab: UnsafeMutablePointer<sqlite3_vtab>) -> any VirtualTable {
        let raw = UnsafeMutableRawPointer(vtab).assumingMemoryBound(to: strata_vtab.self)
        // The owner is set in connect before SQLite sees the vtab and released only in disconnect.
        return Unmanaged<TableBox>.fromOpaque(raw.pointee.owner).takeUnretainedValue().table
    }

    fileprivate static func owner(_ cursor: UnsafeMutablePointer<sqlite3_vtab_cursor>) -> any VirtualCursor {
        let raw = UnsafeMutableRawPointer(cursor).assumingMemoryBound(to: strata_vtab_cursor.self)
        // Set in xOpen, released only in xClose.
        return Unmanaged<CursorBox>.fromOpaque(raw.pointee.owner).takeUnretainedValue().cursor
    }

    /// Runs a cursor callback; a thrown error becomes the vtab's message and the context's
    /// pending error, which the connection rethrows typed.
    fileprivate static func run(_ cursor: UnsafeMutablePointer<sqlite3_vtab_cursor>, _ body: () throws -> Void) -> Int32 {
        do {
            try body()
            return SQLITE_OK
        } catch {
            let wrapped = SQLError(wrapping: error)
            if let vtab = cursor.pointee.pVtab {
                table(vtab).callbacks.pendingError = wrapped
                if let old = vtab.pointee.zErrMsg { sqlite3_free(old) }
                vtab.pointee.zErrMsg = sqliteMessage(wrapped.description)
            }
            if case .interrupted = wrapped { return SQLITE_INTERRUPT }
            return SQLITE_ERROR
        }
    }
}
