import CLMDB
import Glibc
import Synchronization

/// One named LMDB database inside an environment.
package struct Database: Sendable {
    let dbi: MDB_dbi
}

/// How an environment syncs commits to disk; see `docs/durability.md`.
package enum SyncMode: Sendable, Equatable {
    /// Every commit flushes data and meta pages (LMDB's default).
    case full
    /// Commits are not flushed (`MDB_NOSYNC`); the OS writes them back later.
    case none
}

/// An open LMDB environment: one directory, one memory map, several named databases.
///
/// `Environment` is `Sendable`: `MDB_env` is thread-safe once opened (lmdb.h), the handle never
/// changes, and the map size is changed only under `gate` held exclusively, with no transaction
/// of this process open, as `mdb_env_set_mapsize` requires.
package final class Environment: @unchecked Sendable {
    /// The `MDB_env*`; owned by this object, closed in `deinit`.
    let handle: OpaquePointer
    /// The directory holding `data.mdb` and `lock.mdb`.
    package let path: String
    /// The largest the map, and so the data file, may grow.
    package let sizeLimit: Int
    /// Shared by every transaction of this process, exclusive while the map is resized.
    private let gate: UnsafeMutablePointer<pthread_rwlock_t>
    private let mapSize: Mutex<Int>
    /// Block bytes released since the whole map was last unmapped from this process (`releasePages`).
    private let releasedSinceSweep = Atomic<Int>(0)
    /// Commits since the data file's pages were last unmapped from this process.
    private let commitsSinceSweep = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    /// Where LMDB mapped the data file in this process (`locateMap()`), 0 when unknown; set at
    /// open and after every resize of the map, both with the gate held exclusively or before
    /// any transaction.
    private let mapBase = Atomic<UInt>(0)
    /// Opened with `MDB_RDONLY`: every write is refused.
    package let readOnly: Bool
    /// Opened with `MDB_NOLOCK` because the lock file could not be written (read-only only).
    package let lockless: Bool
    /// The page size (`mdb_env_stat`).
    let pageSize: Int

    /// Opens (and with `create`, creates) the environment in directory `path`.
    ///
    /// The environment is opened with `MDB_NOTLS` (Swift tasks move between threads) and, for
    /// `sync == .none`, `MDB_NOSYNC`. Stale reader slots left by crashed processes are cleared
    /// (`mdb_reader_check`). Before LMDB maps the data file, its meta pages are checked
    /// (`StoreFileCheck`), and LMDB's internal assertions are routed to `LMDBAssertion`.
    ///
    /// - Parameters:
    ///   - readOnly: open with `MDB_RDONLY`: no write transaction can begin. When the lock file cannot
    ///     be created or opened for writing (a read-only mount, no write permission), the environment
    ///     is opened with `MDB_NOLOCK` as well, and `lockless` is true: nothing then protects this
    ///     process's reads from a concurrent writer in another process.
    ///   - allowEmptyFile: whether a 0-byte `data.mdb` may be initialized as a new environment.
    package init(path: String, sizeLimit: Int, maxDatabases: UInt32, sync: SyncMode, readOnly: Bool = false,
                 allowEmptyFile: Bool = true) throws(StorageError) {
        self.path = path
        self.sizeLimit = sizeLimit
        self.readOnly = readOnly
        try StoreFileCheck.check(directory: path, allowEmpty: allowEmptyFile && !readOnly)
        var flags = UInt32(MDB_NOTLS)
        if sync == .none { flags |= UInt32(MDB_NOSYNC) }
        if readOnly { flags |= UInt32(MDB_RDONLY) }
        var dataFileSize = 0
        var info = stat()
        if stat(path + "/data.mdb", &info) == 0 { dataFileSize = Int(info.st_size) }
        let initial = min(sizeLimit, max(64 << 20, Self.roundUp(dataFileSize * 2)))
        var env = try Self.open(path, flags: flags, mapSize: initial, maxDatabases: maxDatabases)
        var lockless = false
        if env == nil {
            // lmdb.h: MDB_NOLOCK leaves locking to the caller; read-only, it only loses the reader
            // table, i.e. protection from a writer reusing pages we read. Documented in docs/cli.md.
            lockless = true
            env = try Self.open(path, flags: flags | UInt32(MDB_NOLOCK), mapSize: initial, maxDatabases: maxDatabases)
        }
        guard let env else { throw .lmdb(code: EACCES, call: "mdb_env_open", context: path) }
        self.lockless = lockless
        if !lockless {
            var dead: Int32 = 0
            _ = mdb_reader_check(env, &dead)
        }
        var envInfo = MDB_envinfo()
        mdb_env_info(env, &envInfo)
        var envStat = MDB_stat()
        mdb_env_stat(env, &envStat)
        pageSize = Int(envStat.ms_psize)
        handle = env
        mapSize = Mutex(max(initial, envInfo.me_mapsize))
        gate = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        // Readers may nest (a read inside a read on one thread); a writer-preferring lock would
        // deadlock them while a resize waits, so readers are preferred. Resizes are rare.
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_READER_NP))
        pthread_rwlock_init(gate, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        mapBase.store(locateMap(), ordering: .relaxed)
    }

    /// Creates and opens one `MDB_env`; `nil` when a read-only open failed only for want of a
    /// writable lock file (the caller retries with `MDB_NOLOCK`).
    private static func open(_ path: String, flags: UInt32, mapSize: Int,
                             maxDatabases: UInt32) throws(StorageError) -> OpaquePointer? {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create", path)
        guard let env else { throw .lmdb(code: -1, call: "mdb_env_create", context: path) }
        // From here on `env` must be closed on every error path.
        LMDBAssertion.install(on: env)
        do {
            try check(mdb_env_set_maxdbs(env, maxDatabases), "mdb_env_set_maxdbs", path)
            try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize", path)
            let rc = mdb_env_open(env, path, flags, 0o644)
            let lockRefused = rc == EACCES || rc == EROFS || rc == EPERM
            if lockRefused, flags & UInt32(MDB_RDONLY) != 0, flags & UInt32(MDB_NOLOCK) == 0,
               access(path + "/data.mdb", R_OK) == 0 {
                mdb_env_close(env)
                return nil
            }
            try check(rc, "mdb_env_open", path)
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit {
        close()
        pthread_rwlock_destroy(gate)
        gate.deallocate()
    }

    /// Closes the environment (`mdb_env_close`); once only.
    ///
    /// - Precondition: no transaction of this environment is open and none will be begun: the
    ///   owner calls it when the last reference to the store goes away.
    package func close() {
        if closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            mdb_env_close(handle)
        }
    }

    private static func roundUp(_ n: Int) -> Int {
        var size = 1 << 20
        while size < n { size <<= 1 }
        return size
    }

    /// The current map size in bytes.
    package var currentMapSize: Int { mapSize.withLock { $0 } }

    /// The named databases every store of format version 1 has had from its first open (later
    /// builds added others, created empty when such a store is next opened for writing).
    static let databasesOfEveryStore: Set<String> = ["meta", "catalog", "frontiers", "seals", "blocks"]

    /// Opens or creates the named databases, all in one write transaction.
    ///
    /// lmdb.h: `mdb_dbi_open` must not be called from concurrent transactions; we call it once, at open.
    /// Read-only, the databases must exist: a store that predates one must be opened writable once.
    package func openDatabases(_ names: [String]) throws(StorageError) -> [Database] {
        try withGate { () throws(StorageError) -> [Database] in
            var txn: OpaquePointer?
            try check(mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "mdb_txn_begin", path)
            var databases: [Database] = []
            for name in names {
                var dbi: MDB_dbi = 0
                let rc = mdb_dbi_open(txn, name, readOnly ? 0 : UInt32(MDB_CREATE), &dbi)
                if rc == MDB_NOTFOUND && readOnly && Self.databasesOfEveryStore.contains(name) {
                    // Every store of format version 1 has had these since its first open: their
                    // entry missing from the main database is damage, not an older build.
                    mdb_txn_abort(txn)
                    throw .damaged(path: path, what: "the main database has no entry for database \(name), which every store has")
                }
                if rc == MDB_NOTFOUND && readOnly {
                    mdb_txn_abort(txn)
                    throw .notAStore(path: path, reason: "it has no database \(name); a store written by an older "
                                     + "build must be opened for writing once before it can be read read-only")
                }
                if rc == MDB_INCOMPATIBLE {
                    mdb_txn_abort(txn)
                    throw .damaged(path: path, what: "the main database's entry for database \(name) is not a database")
                }
                if rc != 0 {
                    mdb_txn_abort(txn)
                    try check(rc, "mdb_dbi_open", "\(path) database \(name)")
                }
                databases.append(Database(dbi: dbi))
            }
            try check(mdb_txn_commit(txn), "mdb_txn_commit", path)
            return databases
        }
    }

    /// Runs `body` inside a read-only transaction.
    ///
    /// Keep read transactions short: a long one pins old pages and makes the file grow.
    ///
    /// Reads may nest (`body` may read again, on the same thread: it is synchronous). When
    /// another process has grown the map beyond this process's, a new transaction cannot begin
    /// until the map is adopted, which lmdb.h allows only with no transaction of this process
    /// open. An outermost read adopts it (waiting for other threads' reads to end); a nested read
    /// cannot (its own thread holds the outer read open), so it shares the outermost read
    /// transaction of its thread instead: a consistent snapshot, taken when that read began.
    package func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        let holds = GateHolds.ofCurrentThread()
        let id = ObjectIdentifier(self)
        let nested = holds.holdsGate(of: id)
        return try withGate {
            var txn: OpaquePointer?
            var rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
            if rc == MDB_MAP_RESIZED {
                if nested {
                    if let outer = holds.outermostRead(of: id) {
                        holds.push(id, read: outer)
                        defer { holds.pop() }
                        return try body(Transaction(handle: outer, environment: handle, writable: false,
                                                    bounds: mappedBounds(), owned: false))
                    }
                    // Nested in a write of this thread: it excludes other writers, so the map
                    // cannot have grown under it; report LMDB's code as it is.
                } else {
                    try adoptGrownMap()
                    rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
                }
            }
            try check(rc, "mdb_txn_begin", path)
            guard let txn else { throw StorageError.lmdb(code: -1, call: "mdb_txn_begin", context: path) }
            holds.push(id, read: txn)
            defer { holds.pop() }
            let transaction = Transaction(handle: txn, environment: handle, writable: false, bounds: mappedBounds())
            return try body(transaction)
        }
    }

    /// Runs `body` in a write transaction and commits it; on any error the transaction is aborted.
    ///
    /// When the map is full the transaction is aborted, the map doubled (up to `sizeLimit`) and
    /// `body` run again, so `body` must not have effects outside the transaction.
    ///
    /// - Precondition: called only from the committer's thread, never with a transaction of this
    ///   thread open (lmdb.h: a write transaction belongs to the thread that began it).
    package func write<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        if readOnly { throw StorageError.misuse("store \(path) is open read-only; it cannot be written") }
        while true {
            do {
                return try withGate {
                    var txn: OpaquePointer?
                    var rc = mdb_txn_begin(handle, nil, 0, &txn)
                    if rc == MDB_MAP_RESIZED {
                        try adoptGrownMap()
                        rc = mdb_txn_begin(handle, nil, 0, &txn)
                    }
                    try check(rc, "mdb_txn_begin", path)
                    guard let txn else { throw StorageError.lmdb(code: -1, call: "mdb_txn_begin", context: path) }
                    let holds = GateHolds.ofCurrentThread()
                    holds.push(ObjectIdentifier(self), read: nil)
                    defer { holds.pop() }
                    let transaction = Transaction(handle: txn, environment: handle, writable: true,
                                                  bounds: mappedBounds(writable: true))
                    let result = try body(transaction)
                    try transaction.commit()
                    // A write walks the B-trees through the map, and each page it faults in maps
                    // up to 15 neighbours (fault-around), often blocks just written: unmap the
                    // file's pages every few commits, as reads do every `sweepBytes`.
                    if commitsSinceSweep.add(1, ordering: .relaxed).newValue >= Self.commitsPerSweep {
                        commitsSinceSweep.store(0, ordering: .relaxed)
                        releaseMappedFile()
                    }
                    return result
                }
            } catch let error as MapFullSignal {
                _ = error
                try grow()
            } catch StorageError.lmdb(let code, let call, let context) where code == EIO {
                // lmdb.h turns a short page write into EIO: say so when the cause is a full disk.
                if let full = diagnoseFullDisk() { throw full }
                throw StorageError.lmdb(code: code, call: call, context: context)
            }
        }
    }

    /// Why a write failed for lack of space, if it did: the file system holding the store is
    /// (nearly) full, or the process's file-size limit (`RLIMIT_FSIZE`) is reached.
    private func diagnoseFullDisk() -> StorageError? {
        var fs = statvfs()
        if statvfs(path, &fs) == 0 {
            let available = UInt64(fs.f_bavail) &* UInt64(fs.f_frsize)
            if available < 64 << 20 {
                return .storeFull(context: "\(path): the file system is full (\(available) bytes available)")
            }
        }
        var limit = rlimit()
        var info = stat()
        if getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,
           stat(path + "/data.mdb", &info) == 0, UInt64(info.st_size) &+ (1 << 20) >= UInt64(limit.rlim_cur) {
            return .storeFull(context: "\(path): the file-size limit of \(limit.rlim_cur) bytes (RLIMIT_FSIZE) is reached")
        }
        return nil
    }

    /// Where the map is and how much of it the data file backs, for `Transaction` to check every
    /// value and key LMDB hands back before anyone reads it.
    ///
    /// A damaged node size makes `mdb_get` return a value running past the end of the file; reading
    /// it faults (SIGBUS). Every page up to the newest meta page's last page is in the file (checked
    /// at open, and LMDB writes pages before the meta page that counts them).
    private func mappedBounds(writable: Bool = false) -> MappedBounds {
        var envInfo = MDB_envinfo()
        mdb_env_info(handle, &envInfo)
        let start = mapBase.load(ordering: .relaxed)
        guard start != 0 else { return MappedBounds(start: 0, mapEnd: 0, fileEnd: 0) }
        let mapEnd = start &+ UInt(envInfo.me_mapsize)
        // A write transaction may read pages it allocated past the last committed one and spilled
        // to the file (`mdb_page_spill`): only the map bounds it.
        if writable { return MappedBounds(start: start, mapEnd: mapEnd, fileEnd: mapEnd) }
        let used = UInt(envInfo.me_last_pgno &+ 1) &* UInt(pageSize)
        return MappedBounds(start: start, mapEnd: mapEnd, fileEnd: start &+ used)
    }

    /// The addresses LMDB's map of the data file covers in this process; empty when the map could
    /// not be located (then values are not bounds-checked and `releaseMappedFile` does nothing).
    package var mappedRange: Range<UInt> {
        let start = mapBase.load(ordering: .relaxed)
        guard start != 0 else { return 0..<0 }
        return start..<start &+ UInt(mapSize.withLock { $0 })
    }

    /// The address at which LMDB mapped the data file in this process, 0 when it cannot be told.
    ///
    /// `mdb_env_info`'s `me_mapaddr` is the address recorded in the meta page, set only with
    /// `MDB_FIXEDMAP`, so 0 here; the map is the mapping of `data.mdb` at file offset 0 in
    /// `/proc/self/maps`, found by device and inode (the same file opened twice in one process is
    /// refused by LMDB's lock; should two mappings show anyway, none is chosen).
    private func locateMap() -> UInt {
        var fd: Int32 = -1
        var info = stat()
        guard mdb_env_get_fd(handle, &fd) == 0, fd >= 0, fstat(fd, &info) == 0,
              let maps = fopen("/proc/self/maps", "r") else { return 0 }
        defer { fclose(maps) }
        let device = UInt64(info.st_dev)
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        var found: UInt = 0
        var matches = 0
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, maps) > 0, let line {
            // start-end perms offset major:minor inode [path]
            let fields = String(cString: line).split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[2].allSatisfy({ $0 == "0" }),
                  UInt64(fields[4]) == UInt64(info.st_ino) else { continue }
            let deviceField = fields[3].split(separator: ":")
            guard deviceField.count == 2, UInt64(deviceField[0], radix: 16) == major,
                  UInt64(deviceField[1], radix: 16) == minor,
                  let start = fields[0].split(separator: "-").first.flatMap({ UInt($0, radix: 16) }) else { continue }
            found = start
            matches += 1
        }
        return matches == 1 ? found : 0
    }

    /// Thrown inside `write` to abort, grow the map and retry.
    struct MapFullSignal: Error {}

    private func withGate<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        return try body()
    }

    /// Doubles the map, up to the size limit; past it, `.storeFull`.
    private func grow() throws(StorageError) {
        pthread_rwlock_wrlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        let current = mapSize.withLock { $0 }
        guard current < sizeLimit else {
            throw .storeFull(context: "\(path): the store reached its size limit of \(sizeLimit) bytes")
        }
        let next = min(sizeLimit, current * 2)
        try check(mdb_env_set_mapsize(handle, next), "mdb_env_set_mapsize", path)
        mapSize.withLock { $0 = next }
        mapBase.store(locateMap(), ordering: .relaxed)
    }

    /// Another process grew the map: adopt its size (`mdb_env_set_mapsize(env, 0)`).
    ///
    /// - Precondition: the calling thread holds the gate shared exactly once (an outermost
    ///   `read` or `write`, never a nested one): the upgrade waits for every other hold to end.
    private func adoptGrownMap() throws(StorageError) {
        // Called with the gate held shared; upgrade by releasing and taking it exclusively.
        pthread_rwlock_unlock(gate)
        defer { pthread_rwlock_rdlock(gate) }
        pthread_rwlock_wrlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        try check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize", path)
        var envInfo = MDB_envinfo()
        mdb_env_info(handle, &envInfo)
        mapSize.withLock { $0 = envInfo.me_mapsize }
        mapBase.store(locateMap(), ordering: .relaxed)
    }

    /// Unmaps from this process the whole pages inside `bytes`, a value read from the map, once the
    /// caller is done with it.
    ///
    /// The pages stay in the OS page cache, and a later read maps them again (a minor fault per
    /// page); they stop counting in this process's resident set, which otherwise grows with every
    /// block read until it holds the whole data file. Safe at any moment: the map is read-only and
    /// shared (no `MDB_WRITEMAP`), so another thread reading the same pages faults them back in
    /// from the file's page cache, whose bytes a live read transaction's pages never change in.
    ///
    /// The corresponding system call is `madvise` with `MADV_DONTNEED`.
    package func releasePages(of bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        if bytes.count >= 2 * pageSize {
            let mask = UInt(pageSize) &- 1
            let start = (UInt(bitPattern: base) &+ mask) & ~mask
            let end = (UInt(bitPattern: base) &+ UInt(bytes.count)) & ~mask
            if end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) {
                _ = madvise(pointer, Int(end &- start), MADV_DONTNEED)
            }
        }
        // The kernel maps up to 16 pages around each faulting one (fault-around), so a small
        // block or a B-tree page read maps its neighbours too: after every `sweepBytes` of blocks
        // read, whatever their size, unmap the whole file's pages.
        if releasedSinceSweep.add(max(bytes.count, 16 * pageSize), ordering: .relaxed).newValue >= Self.sweepBytes {
            releasedSinceSweep.store(0, ordering: .relaxed)
            releaseMappedFile()
        }
    }

    /// Bytes of blocks read (a block smaller than 16 pages counting as 16, the most fault-around
    /// maps) between two unmappings of the whole data file: bounds the pages of the file that
    /// stay resident in this process to about this much plus the blocks being read.
    static let sweepBytes = 16 << 20

    /// Commits between two unmappings of the whole data file from the writing side.
    static let commitsPerSweep = 8

    /// Unmaps every page of the data file from this process (they stay in the page cache).
    ///
    /// Called inside a transaction, so that the map is not resized meanwhile (resizing holds the
    /// gate exclusively). The corresponding system call is `madvise` with `MADV_DONTNEED`.
    package func releaseMappedFile() {
        var envInfo = MDB_envinfo()
        mdb_env_info(handle, &envInfo)
        // Not me_mapaddr: that is 0 without MDB_FIXEDMAP (`locateMap()`).
        guard let base = UnsafeMutableRawPointer(bitPattern: mapBase.load(ordering: .relaxed)) else { return }
        let used = min(Int(envInfo.me_last_pgno &+ 1) &* pageSize, envInfo.me_mapsize)
        _ = madvise(base, used, MADV_DONTNEED)
    }

    /// Turns `MDB_NOMETASYNC` on or off for the commits that follow: with it on, a commit flushes
    /// its data pages but not its meta page (lmdb.h: "maintains database integrity, but a system
    /// crash may undo the last committed transaction"); the next commit without it flushes both.
    ///
    /// Only the committer's thread calls it, between transactions. The corresponding LMDB call is
    /// `mdb_env_set_flags`, which lmdb.h allows for this flag at any time.
    package func setMetaSyncDeferred(_ deferred: Bool) {
        _ = mdb_env_set_flags(handle, UInt32(MDB_NOMETASYNC), deferred ? 1 : 0)
    }

    /// Flushes committed data to disk (`mdb_env_sync` with `force`).
    package func sync() throws(StorageError) {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync", path)
    }

    /// Page size, pages in use and map size, from `mdb_env_info` and `mdb_env_stat`.
    package func usage() -> (pageSize: Int, pagesUsed: Int, mapSize: Int) {
        var envInfo = MDB_envinfo()
        mdb_env_info(handle, &envInfo)
        var envStat = MDB_stat()
        mdb_env_stat(handle, &envStat)
        return (Int(envStat.ms_psize), envInfo.me_last_pgno + 1, envInfo.me_mapsize)
    }

    /// Writes a compacted copy of the environment into the empty directory `destination`
    /// (`mdb_env_copy2` with `MDB_CP_COMPACT`).
    package func copyCompacted(to destination: String) throws(StorageError) {
        try check(mdb_env_copy2(handle, destination, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2", destination)
    }
}

/// The gate holds of one thread, innermost last: which environments' transactions the thread
/// has open, and the read transactions among them.
///
/// A read's body is synchronous, so a nested read runs on the thread of the read around it;
/// this is how `Environment.read` knows that it is nested. Not `Sendable`: each thread has its
/// own, in thread-specific storage, released when the thread exits.
final class GateHolds {
    private var holds: [(environment: ObjectIdentifier, read: OpaquePointer?)] = []

    /// The current thread's holds.
    static func ofCurrentThread() -> GateHolds {
        if let raw = pthread_getspecific(key) { return Unmanaged<GateHolds>.fromOpaque(raw).takeUnretainedValue() }
        let holds = GateHolds()
        pthread_setspecific(key, Unmanaged.passRetained(holds).toOpaque())
        return holds
    }

    /// Whether the thread has a transaction of `environment` open.
    func holdsGate(of environment: ObjectIdentifier) -> Bool {
        holds.contains { $0.environment == environment }
    }

    /// The thread's outermost open read transaction of `environment`, if any.
    func outermostRead(of environment: ObjectIdentifier) -> OpaquePointer? {
        holds.first { $0.environment == environment && $0.read != nil }?.read
    }

    func push(_ environment: ObjectIdentifier, read: OpaquePointer?) { holds.append((environment, read)) }

    func pop() { holds.removeLast() }

    /// The thread-specific storage key; its destructor releases a thread's holds when it exits.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            if let raw { Unmanaged<GateHolds>.fromOpaque(raw).release() }
        }
        return key
    }()
}
