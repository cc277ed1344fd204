import CLMDB

/// A live LMDB transaction; one owner commits or aborts it exactly once.
///
/// Values it returns point into the memory map and are valid only until the next write in this
/// transaction or its end (lmdb.h, `mdb_get`): they are only handed to non-escaping closures.
package struct Transaction: ~Copyable {
    let handle: OpaquePointer
    let environment: OpaquePointer
    package let writable: Bool
    /// Whether this value owns the handle (and aborts it when it goes away). A read nested in
    /// another read of its thread may share the outer one's handle without owning it
    /// (`Environment.read`).
    let owned: Bool
    /// The mapped range values may lie in.
    let bounds: MappedBounds

    init(handle: OpaquePointer, environment: OpaquePointer, writable: Bool, bounds: MappedBounds, owned: Bool = true) {
        self.handle = handle
        self.environment = environment
        self.writable = writable
        self.bounds = bounds
        self.owned = owned
    }

    /// Runs `body` in a nested transaction: its changes are kept only if it returns normally.
    ///
    /// The corresponding LMDB call is `mdb_txn_begin` with this transaction as parent.
    package func nested<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        guard writable else { throw StorageError.misuse("nested transaction in a read-only transaction") }
        var child: OpaquePointer?
        try check(mdb_txn_begin(environment, handle, 0, &child), "mdb_txn_begin")
        guard let child else { throw StorageError.lmdb(code: -1, call: "mdb_txn_begin", context: "nested") }
        let transaction = Transaction(handle: child, environment: environment, writable: true, bounds: bounds)
        let result = try body(transaction)
        try transaction.commit()
        return result
    }

    /// lmdb.h: the handle is freed by commit *even when commit fails*, so `deinit` (which aborts)
    /// must not run afterwards.
    consuming func commit() throws {
        let handle = self.handle
        discard self
        let rc = mdb_txn_commit(handle)
        if rc == MDB_MAP_FULL { throw Environment.MapFullSignal() }
        try check(rc, "mdb_txn_commit")
    }

    deinit { if owned { mdb_txn_abort(handle) } }

    /// The transaction's ID: for a write transaction, the ID of the last committed transaction
    /// plus one (so a gap since this process's last commit means another process wrote).
    ///
    /// The corresponding LMDB call is `mdb_txn_id`.
    package var id: Int { Int(mdb_txn_id(handle)) }

    /// Calls `body` with the value stored under `key`, or `nil` when there is none.
    package func withValue<R>(_ db: Database, key: UnsafeRawBufferPointer,
                              _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return try body(nil) }
        try check(rc, "mdb_get")
        return try body(try bounds.checked(v, "mdb_get"))
    }

    /// Stores `value` under `key`, replacing any value there.
    ///
    /// The corresponding LMDB call is `mdb_put`; `MDB_MAP_FULL` makes the enclosing `write` grow
    /// the map and run again.
    package func put(_ db: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        guard writable else { throw StorageError.misuse("put in a read-only transaction") }
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(handle, db.dbi, &k, &v, 0)
        if rc == MDB_MAP_FULL { throw Environment.MapFullSignal() }
        try check(rc, "mdb_put")
    }

    /// Deletes the value under `key`; returns whether there was one.
    @discardableResult
    package func delete(_ db: Database, key: UnsafeRawBufferPointer) throws -> Bool {
        guard writable else { throw StorageError.misuse("delete in a read-only transaction") }
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(handle, db.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        if rc == MDB_MAP_FULL { throw Environment.MapFullSignal() }
        try check(rc, "mdb_del")
        return true
    }

    /// Runs `body` with a cursor over `db`; the cursor is closed before this returns.
    package func withCursor<R>(_ db: Database, _ body: (inout Cursor) throws -> R) throws -> R {
        var cursorHandle: OpaquePointer?
        try check(mdb_cursor_open(handle, db.dbi, &cursorHandle), "mdb_cursor_open")
        guard let cursorHandle else { throw StorageError.lmdb(code: -1, call: "mdb_cursor_open", context: "") }
        var cursor = Cursor(handle: cursorHandle, bounds: bounds)
        return try body(&cursor)
    }
}

/// A position in one database of one transaction; closed when it goes out of scope.
///
/// Keys and values it returns are valid until the cursor moves or its transaction ends.
package struct Cursor: ~Copyable {
    let handle: OpaquePointer
    let bounds: MappedBounds

    deinit { mdb_cursor_close(handle) }

    /// One entry: the key and value bytes, both pointing into the map.
    package typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    private func get(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        var k = MDB_val()
        if let key { k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress)) }
        var v = MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get")
        return (try bounds.checked(k, "mdb_cursor_get"), try bounds.checked(v, "mdb_cursor_get"))
    }

    /// Moves to the first entry whose key is `>= key` (`MDB_SET_RANGE`).
    package mutating func seek(atLeast key: UnsafeRawBufferPointer) throws -> Entry? { try get(MDB_SET_RANGE, key: key) }
    /// Moves to the next entry (`MDB_NEXT`).
    package mutating func next() throws -> Entry? { try get(MDB_NEXT) }
    /// Moves to the previous entry (`MDB_PREV`).
    package mutating func previous() throws -> Entry? { try get(MDB_PREV) }
    /// Moves to the first entry (`MDB_FIRST`).
    package mutating func first() throws -> Entry? { try get(MDB_FIRST) }
    /// Moves to the last entry (`MDB_LAST`).
    package mutating func last() throws -> Entry? { try get(MDB_LAST) }
    /// The entry under the cursor (`MDB_GET_CURRENT`).
    package mutating func current() throws -> Entry? { try get(MDB_GET_CURRENT) }

    /// Deletes the entry under the cursor (`mdb_cursor_del`); the cursor then points at the next entry.
    package mutating func deleteCurrent() throws {
        let rc = mdb_cursor_del(handle, 0)
        if rc == MDB_MAP_FULL { throw Environment.MapFullSignal() }
        try check(rc, "mdb_cursor_del")
    }
}

/// The part of the address space LMDB's map covers, and the part of it the data file backs.
///
/// A key or value inside the map must end inside the file: past it, reading faults (SIGBUS). A key
/// or value outside the map is a page this write transaction copied into memory (a dirty page).
struct MappedBounds: Sendable {
    let start: UInt
    let mapEnd: UInt
    let fileEnd: UInt

    /// `value` as a buffer, once it is known to be readable.
    ///
    /// - Throws: `.damaged` naming the call when the value runs past the end of the data file.
    @inline(__always)
    func checked(_ value: MDB_val, _ call: StaticString) throws(StorageError) -> UnsafeRawBufferPointer {
        let address = UInt(bitPattern: value.mv_data)
        if address >= start && address < mapEnd {
            let (end, overflow) = address.addingReportingOverflow(UInt(value.mv_size))
            if overflow || end > fileEnd {
                throw .damaged(path: "", what: "\(call) returned \(value.mv_size) bytes at file offset "
                               + "\(address - start), past the end of the pages in use (\(fileEnd - start) bytes): "
                               + "a B-tree node's size is damaged")
            }
        }
        return UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
    }
}
