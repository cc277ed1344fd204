import Glibc

/// The checks made on a store's `data.mdb` before LMDB maps it.
///
/// LMDB trusts its meta pages: a data file shorter than the meta page's last page, or a meta page
/// whose root points outside the file, makes the first read fault (SIGBUS) inside liblmdb. Reading
/// both meta pages ourselves first turns those cases into typed errors. The layout read here is
/// LMDB 0.9's on 64-bit little-endian machines (`mdb.c`: `MDB_page`, `MDB_meta`, `MDB_db`):
///
/// | offset in meta page | size | field |
/// | --- | --- | --- |
/// | 0 | 8 | page number |
/// | 10 | 2 | page flags (`P_META` = 0x08) |
/// | 16 | 4 | magic `0xBEEFC0DE` |
/// | 20 | 4 | data version (1) |
/// | 40 | 4 | page size (`mm_dbs[FREE_DBI].md_pad`) |
/// | 40 + 48·i + 40 | 8 | root page of database i (0 free list, 1 main), `~0` when empty |
/// | 136 | 8 | last page in use |
/// | 144 | 8 | transaction ID |
///
/// `StoreFileCheck` is a namespace of pure functions; it is `Sendable`.
package enum StoreFileCheck {
    /// What the newer valid meta page says.
    package struct Meta: Sendable, Equatable {
        /// The page size the environment was created with.
        package var pageSize: Int
        /// The last page in use: the data file holds at least `lastPage + 1` pages.
        package var lastPage: UInt64
        /// The transaction that wrote this meta page.
        package var transactionID: UInt64
        /// The root pages of the free-list and main databases (`nil`: empty).
        package var roots: (free: UInt64?, main: UInt64?)

        package static func == (a: Meta, b: Meta) -> Bool {
            a.pageSize == b.pageSize && a.lastPage == b.lastPage && a.transactionID == b.transactionID
                && a.roots.free == b.roots.free && a.roots.main == b.roots.main
        }
    }

    static let magic: UInt32 = 0xBEEF_C0DE
    static let dataVersion: UInt32 = 1
    static let pageHeaderSize = 16
    static let metaFlag: UInt16 = 0x08
    static let branchFlag: UInt16 = 0x01
    static let leafFlag: UInt16 = 0x02
    static let invalidPage = UInt64.max

    /// Checks `directory/data.mdb`, when it exists, before LMDB opens it.
    ///
    /// - Parameter allowEmpty: whether a 0-byte file may be initialized as a new store (an open that
    ///   creates stores: a crash while creating one leaves an empty file). Read-only opens never allow it.
    /// - Returns: the meta page LMDB will use, or `nil` when there is no data file (or an empty one
    ///   that may be initialized).
    /// - Throws: `.notAStore` when the file is empty or too short to be an LMDB environment, or its
    ///   meta pages are not LMDB's; `.damaged` when the meta pages are LMDB's but the file does not
    ///   hold what they describe (truncated, or a root page out of place).
    @discardableResult
    package static func check(directory: String, allowEmpty: Bool) throws(StorageError) -> Meta? {
        let file = directory + "/data.mdb"
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .system(call: "open", errno: errno, path: file)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(call: "fstat", errno: errno, path: file) }
        let size = Int(info.st_size)
        if size == 0 {
            if allowEmpty { return nil }
            throw .notAStore(path: directory, reason: "data.mdb is empty (0 bytes)")
        }
        // What the file looks like now: its size and the bytes of both meta pages.
        func state() throws(StorageError) -> FileState {
            guard fstat(fd, &info) == 0 else { throw .system(call: "fstat", errno: errno, path: file) }
            let size = Int(info.st_size)
            let metaEnd = pageHeaderSize + 136
            guard size >= metaEnd else { return FileState(size: size, metaBytes: []) }
            var bytes = try readFully(fd, offset: 0, count: metaEnd, file: file)
            let pageSize = Int(load(UInt32.self, bytes, 40))
            let second = (512...65_536).contains(pageSize) ? pageSize : 4096
            if size >= second + metaEnd { bytes += try readFully(fd, offset: second, count: metaEnd, file: file) }
            return FileState(size: size, metaBytes: bytes)
        }
        return try checkWhileChanging(initial: try state(), state: state) { size throws(StorageError) in
            try check(file: file, directory: directory, size: size) { offset, count throws(StorageError) in
                try readFully(fd, offset: offset, count: count, file: file)
            }
        }
    }

    /// A data file's size and the bytes of its meta pages, to tell whether it changed.
    struct FileState: Equatable {
        var size: Int
        var metaBytes: [UInt8]
    }

    /// Runs `check` with the file's size; when it fails and the file changed meanwhile (its size or
    /// a meta page), again. Another process may commit while the file is checked: the size, the
    /// first and the second meta page are then read at different moments — a meta page describing
    /// pages written after the size was taken, or two meta pages of commits further apart than
    /// one. A damaged file stays as it is and fails for good.
    static func checkWhileChanging(initial: FileState, state: () throws(StorageError) -> FileState,
                                   check: (Int) throws(StorageError) -> Meta) throws(StorageError) -> Meta {
        var before = initial
        var size = initial.size
        var attempts = 0
        while true {
            do {
                return try check(size)
            } catch {
                attempts += 1
                let now = try state()
                guard now != before, attempts < 100 else { throw error }
                // Compare the next failure against this state: it is read before the next check.
                before = now
                size = now.size
            }
        }
    }

    /// The checks on an open file; `read(offset, count)` returns exactly `count` bytes.
    static func check(file: String, directory: String, size: Int,
                      read: (Int, Int) throws(StorageError) -> [UInt8]) throws(StorageError) -> Meta {
        let metaEnd = pageHeaderSize + 136
        guard size >= metaEnd else {
            throw .notAStore(path: directory, reason: "data.mdb is \(size) bytes, too short for an LMDB meta page")
        }
        let first = try read(0, metaEnd)
        let meta0 = parseMeta(first, pageNumber: 0)
        // The second meta page sits one page after the first; its size comes from the first.
        var meta1: Result<Meta, MetaProblem> = .failure(.unreadable)
        if case .success(let m0) = meta0 {
            if size >= m0.pageSize + metaEnd {
                meta1 = parseMeta(try read(m0.pageSize, metaEnd), pageNumber: 1)
            } else {
                meta1 = .failure(.missing)
            }
        }
        let chosen: Meta
        switch (meta0, meta1) {
        case (.failure(let problem), _):
            // LMDB itself refuses such a file (MDB_INVALID). It is a damaged store when the second meta
            // page, at the usual page size, is intact.
            if size >= 4096 + metaEnd, case .success = parseMeta(try read(4096, metaEnd), pageNumber: 1) {
                throw .damaged(path: directory, what: "data.mdb's first meta page is \(problem.text); the second is intact")
            }
            throw .notAStore(path: directory, reason: "data.mdb's first meta page is \(problem.text)")
        case (.success, .failure(let problem)):
            throw .damaged(path: directory, what: "data.mdb's second meta page is \(problem.text)")
        case (.success(let a), .success(let b)):
            guard a.pageSize == b.pageSize else {
                throw .damaged(path: directory, what: "data.mdb's meta pages disagree on the page size "
                               + "(\(a.pageSize) and \(b.pageSize))")
            }
            // lmdb.h: the meta page with the larger transaction ID is the current one. Commits
            // alternate between the two pages, so their IDs are equal (a fresh or compacted copy) or
            // one apart; anything else is a damaged ID, which would make LMDB pick an old snapshot.
            let (low, high) = (min(a.transactionID, b.transactionID), max(a.transactionID, b.transactionID))
            guard high - low <= 1 else {
                throw .damaged(path: directory, what: "data.mdb's meta pages hold transactions \(a.transactionID) and "
                               + "\(b.transactionID); they should be consecutive")
            }
            chosen = b.transactionID > a.transactionID ? b : a
        }
        let pages = UInt64(size / chosen.pageSize)
        guard chosen.lastPage >= 1, chosen.lastPage < pages else {
            let need = (chosen.lastPage &+ 1).multipliedReportingOverflow(by: UInt64(chosen.pageSize))
            let needText = need.overflow ? "more" : "\(need.partialValue)"
            throw .damaged(path: directory, what: "data.mdb is \(size) bytes but its meta page (transaction "
                           + "\(chosen.transactionID)) says \(needText) bytes are in use: the file is truncated "
                           + "or the meta page is damaged")
        }
        for (name, root) in [("free-list", chosen.roots.free), ("main", chosen.roots.main)] {
            guard let root else { continue }
            guard root >= 2, root <= chosen.lastPage else {
                throw .damaged(path: directory, what: "data.mdb's \(name) database root, page \(root), is outside "
                               + "the pages in use (2...\(chosen.lastPage))")
            }
            let header = try read(Int(root) * chosen.pageSize, pageHeaderSize)
            let number = load(UInt64.self, header, 0)
            let flags = load(UInt16.self, header, 10)
            guard number == root, flags & (branchFlag | leafFlag) != 0, flags & metaFlag == 0 else {
                throw .damaged(path: directory, what: "data.mdb's \(name) database root, page \(root), is not a "
                               + "B-tree page (it reads as page \(number) with flags 0x\(String(flags, radix: 16)))")
            }
        }
        return chosen
    }

    enum MetaProblem: Error {
        case unreadable, missing, notMeta, badMagic, badVersion(UInt32), badPageSize(UInt32), badRoot

        var text: String {
            switch self {
            case .unreadable: "unreadable"
            case .missing: "missing (the file ends first)"
            case .notMeta: "not a meta page"
            case .badMagic: "not LMDB's (bad magic)"
            case .badVersion(let v): "of LMDB data version \(v), not 1"
            case .badPageSize(let s): "damaged (page size \(s))"
            case .badRoot: "damaged (a database root is out of range)"
            }
        }
    }

    static func parseMeta(_ bytes: [UInt8], pageNumber: UInt64) -> Result<Meta, MetaProblem> {
        let flags = load(UInt16.self, bytes, 10)
        guard flags & metaFlag != 0 else { return .failure(.notMeta) }
        let m = pageHeaderSize
        guard load(UInt32.self, bytes, m) == magic else { return .failure(.badMagic) }
        let version = load(UInt32.self, bytes, m + 4)
        guard version == dataVersion else { return .failure(.badVersion(version)) }
        let pageSize = load(UInt32.self, bytes, m + 24)
        guard pageSize >= 512, pageSize <= 0x10000, pageSize & (pageSize - 1) == 0 else {
            return .failure(.badPageSize(pageSize))
        }
        func root(_ db: Int) -> UInt64? {
            let value = load(UInt64.self, bytes, m + 24 + 48 * db + 40)
            return value == invalidPage ? nil : value
        }
        return .success(Meta(pageSize: Int(pageSize), lastPage: load(UInt64.self, bytes, m + 120),
                             transactionID: load(UInt64.self, bytes, m + 128), roots: (root(0), root(1))))
    }

    static func load<T: FixedWidthInteger>(_ type: T.Type, _ bytes: [UInt8], _ offset: Int) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    static func readFully(_ fd: Int32, offset: Int, count: Int, file: String) throws(StorageError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return retryingOnInterrupt { pread(fd, base + done, count - done, off_t(offset + done)) }
            }
            if n < 0 { throw .system(call: "pread", errno: errno, path: file) }
            if n == 0 {
                throw .damaged(path: file, what: "the file ends at byte \(offset + done), before byte \(offset + count)")
            }
            done += n
        }
        return bytes
    }
}
