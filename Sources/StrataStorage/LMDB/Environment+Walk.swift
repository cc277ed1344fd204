import CLMDB
import Glibc

/// One finding of the structural walk: which database, and what is wrong with it.
///
/// `StructureProblem` is `Sendable`; it is a plain value.
public struct StructureProblem: Sendable, Equatable, CustomStringConvertible {
    /// The LMDB database (`main`, `free-list`, or a named database).
    public var database: String
    /// What was found.
    public var what: String

    public var description: String { "database \(database): \(what)" }
}

/// What the structural walk visited and found.
///
/// `StructureReport` is `Sendable`; it is a plain value.
public struct StructureReport: Sendable, Equatable {
    /// Databases walked, the main and free-list databases included.
    public var databases = 0
    /// Entries visited over all databases.
    public var entries = 0
    /// Pages accounted for: meta pages, every database's pages and the free pages.
    public var pages: UInt64 = 0
    /// Everything found wrong.
    public var problems: [StructureProblem] = []
    /// Whether nothing is wrong.
    public var isClean: Bool { problems.isEmpty }

    /// An empty report: nothing walked, nothing found.
    public init() {}
}

extension Environment {
    /// Walks every database of the environment with cursors, in one read transaction: keys must
    /// rise strictly, entry counts must match `mdb_stat`, every value is read in full, and every page
    /// up to the last one in use must be either in a database or on the free list (LMDB's own audit,
    /// `mdb_audit` in `mdb.c`).
    ///
    /// Damage LMDB cannot report as an error makes it assert (`abort`) or fault (SIGBUS) during the
    /// walk: run it where that cannot take down what matters (`strata verify` runs it in a child
    /// process).
    ///
    /// - Parameter expected: the named databases the store must have.
    /// - Complexity: reads the whole data file once.
    package func walkStructure(expected: [String]) throws(StorageError) -> StructureReport {
        var report = StructureReport()
        do {
            try read { txn in
                var envInfo = MDB_envinfo()
                mdb_env_info(handle, &envInfo)
                let lastPage = UInt64(envInfo.me_last_pgno)
                // The main database lists the named databases.
                var names: [String] = []
                var mainDBI: MDB_dbi = 0
                try check(mdb_dbi_open(txn.handle, nil, 0, &mainDBI), "mdb_dbi_open", path)
                let main = walk(txn, dbi: mainDBI, name: "main", lastPage: lastPage, report: &report) { key in
                    names.append(String(decoding: key, as: UTF8.self))
                }
                for name in expected where !names.contains(name) {
                    report.problems.append(StructureProblem(database: name, what: "missing from the main database"))
                }
                var pages = 2 + main
                for name in names {
                    var dbi: MDB_dbi = 0
                    let rc = mdb_dbi_open(txn.handle, name, 0, &dbi)
                    guard rc == 0 else {
                        report.problems.append(StructureProblem(
                            database: name, what: "cannot be opened: \(LMDBCode.name(of: rc)) (\(LMDBCode.message(for: rc)))"))
                        continue
                    }
                    pages += walk(txn, dbi: dbi, name: name, lastPage: lastPage, report: &report) { _ in }
                }
                // The free list: key = transaction ID, value = a page-number list (count, then numbers).
                var freePages: UInt64 = 0
                pages += walk(txn, dbi: 0, name: "free-list", lastPage: lastPage, report: &report) { _ in } value: { value in
                    guard value.count >= 8 else { return false }
                    let count = UInt64(littleEndian: value.loadUnaligned(as: UInt64.self))
                    guard count <= UInt64(value.count / 8 - 1) else { return false }
                    freePages += count
                    return true
                }
                pages += freePages
                report.pages = pages
                if report.problems.isEmpty && pages != lastPage + 1 {
                    report.problems.append(StructureProblem(
                        database: "all", what: "\(pages) pages are accounted for (in databases, free, or meta), "
                            + "but \(lastPage + 1) are in use"))
                }
            }
        } catch {
            throw StorageError(wrapping: error)
        }
        return report
    }

    /// Walks one database; returns its page count from `mdb_stat` (0 when it could not be read).
    private func walk(_ txn: borrowing Transaction, dbi: MDB_dbi, name: String, lastPage: UInt64,
                      report: inout StructureReport, key keyBody: (UnsafeRawBufferPointer) -> Void,
                      value valueBody: (UnsafeRawBufferPointer) -> Bool = { _ in true }) -> UInt64 {
        func problem(_ what: String) { report.problems.append(StructureProblem(database: name, what: what)) }
        var stat = MDB_stat()
        let rc = mdb_stat(txn.handle, dbi, &stat)
        guard rc == 0 else {
            problem("mdb_stat failed: \(LMDBCode.name(of: rc))")
            return 0
        }
        report.databases += 1
        let pages = UInt64(stat.ms_branch_pages) &+ UInt64(stat.ms_leaf_pages) &+ UInt64(stat.ms_overflow_pages)
        guard pages <= lastPage, stat.ms_depth <= 64, UInt64(stat.ms_entries) <= lastPage &* UInt64(pageSize) else {
            problem("its record claims \(pages) pages, depth \(stat.ms_depth) and \(stat.ms_entries) entries, "
                    + "more than the \(lastPage + 1) pages in use hold")
            return pages
        }
        var entries = 0
        var previous: [UInt8] = []
        do {
            try withRawCursor(txn, dbi: dbi) { cursor in
                var entry = try cursor.first()
                while let (key, value) = entry {
                    entries += 1
                    report.entries += 1
                    // Strictly rising keys are what keeps this loop finite on a damaged tree.
                    if entries > 1, !previous.lexicographicallyPrecedes(key) {
                        problem("keys out of order after entry \(entries - 1)")
                        return
                    }
                    guard entries <= stat.ms_entries else {
                        problem("more entries than the \(stat.ms_entries) its record counts")
                        return
                    }
                    previous.removeAll(keepingCapacity: true)
                    previous.append(contentsOf: key)
                    keyBody(key)
                    // Read every byte: a value the file does not hold faults here, in the walk.
                    _ = XXH64.hash(value)
                    if !valueBody(value) { problem("entry \(entries) has a malformed value") }
                    entry = try cursor.next()
                }
            }
        } catch {
            problem("walk stopped at entry \(entries + 1): \(error)")
            return pages
        }
        if entries != stat.ms_entries {
            problem("\(entries) entries found, its record counts \(stat.ms_entries)")
        }
        return pages
    }

    private func withRawCursor(_ txn: borrowing Transaction, dbi: MDB_dbi,
                               _ body: (inout Cursor) throws -> Void) throws {
        var cursorHandle: OpaquePointer?
        try check(mdb_cursor_open(txn.handle, dbi, &cursorHandle), "mdb_cursor_open", path)
        guard let cursorHandle else { throw StorageError.lmdb(code: -1, call: "mdb_cursor_open", context: path) }
        var cursor = Cursor(handle: cursorHandle, bounds: txn.bounds)
        try body(&cursor)
    }
}
