import Glibc

/// What a compaction did: the data file's size before and after.
///
/// `CompactionReport` is `Sendable`; it is a plain value.
public struct CompactionReport: Sendable, Equatable {
    /// The store's directory.
    public var path: String
    /// Bytes of `data.mdb` before.
    public var bytesBefore: Int
    /// Bytes of `data.mdb` after.
    public var bytesAfter: Int

    /// Creates a report.
    public init(path: String, bytesBefore: Int, bytesAfter: Int) {
        self.path = path
        self.bytesBefore = bytesBefore
        self.bytesAfter = bytesAfter
    }
}

extension LogStore {
    /// The name of the compacted copy while it is being written, next to `data.mdb`.
    package static let compactedFileName = "data.mdb.compact"

    /// Rewrites the store at `path` without its free pages, and swaps the copy in.
    ///
    /// Steps, each needed for safety:
    /// 1. Take an exclusive lock on LMDB's lock file (`ExclusiveStoreLock`): refuse when any
    ///    other process has the store open; later openers wait until the end.
    /// 2. Open the environment, then take the lock back (opening downgraded it).
    /// 3. Copy with `mdb_env_copyfd2(MDB_CP_COMPACT)` into `data.mdb.compact` (a stale copy from
    ///    an interrupted run is removed first), `fsync` it.
    /// 4. Mark LMDB's shared lock region stale, `rename` the copy over `data.mdb` (atomic), `fsync`
    ///    the directory.
    /// 5. Open the new file as the first opener, which initializes the lock region for it, then
    ///    close everything, which lets waiting openers in.
    ///
    /// A crash before step 4's rename leaves the old file in use (and a stale copy that the next
    /// compaction removes); after it, the complete, flushed copy.
    ///
    /// - Precondition: the store is not open in this process (checked: `.misuse`).
    /// - Throws: `.storeNotFound`, `.notAStore` when the path is not a directory, `.storeInUse`,
    ///   `.system` for a failed file operation, `.lmdb`
    ///   or `.storeFull` for a failed copy (the store is then unchanged).
    package static func compact(path: String) throws(StorageError) -> CompactionReport {
        let dataPath = path + "/data.mdb"
        let copyPath = path + "/" + compactedFileName
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFDIR { throw .notAStore(path: path, reason: "not a directory") }
        guard access(dataPath, F_OK) == 0, access(path + "/lock.mdb", F_OK) == 0 else {
            throw .storeNotFound(path: path)
        }
        let lock = try ExclusiveStoreLock(directory: path)
        let before = try fileSize(dataPath)
        let old = try Environment(path: path, sizeLimit: 1 << 40, maxDatabases: 16, sync: .full)
        defer { old.close() }
        try lock.takeWriteLock(directory: path)

        if unlink(copyPath) != 0 && errno != ENOENT { throw .system(call: "unlink", errno: errno, path: copyPath) }
        let fd = Glibc.open(copyPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(call: "open", errno: errno, path: copyPath) }
        do throws(StorageError) {
            try old.copyCompacted(toDescriptor: fd, path: copyPath)
            guard fsync(fd) == 0 else { throw StorageError.system(call: "fsync", errno: errno, path: copyPath) }
        } catch {
            close(fd)
            unlink(copyPath)
            throw error
        }
        guard close(fd) == 0 else {
            let code = errno
            unlink(copyPath)
            throw .system(call: "close", errno: code, path: copyPath)
        }

        try lock.invalidateSharedRegion()
        // From here on, a failure must still leave a usable lock region: reopening as the first
        // opener (this process holds the write lock) initializes it for whatever `data.mdb` is.
        var failure: StorageError?
        if rename(copyPath, dataPath) != 0 {
            failure = .system(call: "rename", errno: errno, path: copyPath)
            unlink(copyPath)
        } else {
            do throws(StorageError) { try syncDirectory(path) } catch { failure = error }
        }
        let fresh = try Environment(path: path, sizeLimit: 1 << 40, maxDatabases: 16, sync: .full)
        // Closing either environment releases this process's locks on lock.mdb (POSIX locks
        // belong to the process); the region is initialized for the new file by now.
        old.close()
        fresh.close()
        if let failure { throw failure }
        return CompactionReport(path: path, bytesBefore: before, bytesAfter: try fileSize(dataPath))
    }

    /// The size of the file at `path`.
    private static func fileSize(_ path: String) throws(StorageError) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .system(call: "stat", errno: errno, path: path) }
        return Int(info.st_size)
    }

    /// Flushes a directory's entries (a rename in it) to disk.
    private static func syncDirectory(_ path: String) throws(StorageError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(call: "open", errno: errno, path: path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .system(call: "fsync", errno: errno, path: path) }
    }
}
