import Glibc

/// An exclusive claim on a store directory, taken through LMDB's own lock file (`lock.mdb`), for
/// work that must have the store to itself (compaction).
///
/// How LMDB uses the lock file (mdb.c, `mdb_env_excl_lock` and `mdb_env_share_locks`): every
/// process that has the environment open holds a POSIX (`fcntl`) read lock on byte 0 of
/// `lock.mdb`; the first opener holds it for writing while it initializes the shared lock region
/// (reader table, transaction ID), then downgrades it; a later opener waits (`F_SETLKW`) for a
/// read lock and trusts the region as it finds it. So a write lock on byte 0 proves that no other
/// process has the store open, and keeps new openers waiting for as long as it is held.
///
/// POSIX locks belong to the process, not the descriptor: closing *any* descriptor of the file
/// releases all of them (lmdb.h: "do not open an environment twice in one process"). This type
/// therefore keeps its descriptor open until it is released, and its owner closes every LMDB
/// environment of the directory before that.
///
/// Not `Sendable`: one thread uses it, from acquisition to release.
package final class ExclusiveStoreLock {
    /// The lock file's descriptor; its close releases the lock.
    private let descriptor: Int32
    /// The lock file's path.
    package let path: String
    /// Whether closing the descriptor is safe: only once this lock was taken. When the probe
    /// found a lock, this process may hold one of its own on the file (the store open here too),
    /// and closing any descriptor of the file would release it, so the descriptor is kept open
    /// for the life of the process instead (one per refused attempt).
    private var closesDescriptor = false

    /// Linux `F_OFD_GETLK` (fcntl.h, with `_GNU_SOURCE`): tests a lock as an open-file-description
    /// lock, which conflicts with this process's own POSIX locks too.
    private static let ofdGetLock: Int32 = 36

    /// Takes the write lock on byte 0 of `directory/lock.mdb` without waiting.
    ///
    /// - Throws: `.storeInUse` when another process has the store open (its pid when the kernel
    ///   names it); `.misuse` when this process has it open; `.system` when the lock file cannot
    ///   be opened.
    package init(directory: String) throws(StorageError) {
        path = directory + "/lock.mdb"
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .system(call: "open", errno: errno, path: path) }
        descriptor = fd
        // First, without touching this process's POSIX locks: does anyone (this process included)
        // hold one? An open-file-description probe sees them all.
        var probe = Self.byteZero(type: F_WRLCK)
        if fcntl(fd, Self.ofdGetLock, &probe) == 0, probe.l_type != Int16(F_UNLCK) {
            // Keep `fd` open: closing it would release this process's own locks on the file.
            if probe.l_pid == getpid() {
                throw .misuse("store \(directory) is open in this process; compaction needs it closed")
            }
            throw .storeInUse(path: directory, processID: probe.l_pid > 0 ? probe.l_pid : nil)
        }
        try takeWriteLock(directory: directory)
        closesDescriptor = true
    }

    /// Takes (or takes back) the write lock without waiting.
    ///
    /// Opening an LMDB environment in this process downgrades the process's lock to a read lock
    /// (`mdb_env_share_locks`); call this right after to make it exclusive again.
    ///
    /// - Throws: `.storeInUse` when another process got in meanwhile.
    package func takeWriteLock(directory: String) throws(StorageError) {
        var lock = Self.byteZero(type: F_WRLCK)
        if fcntl(descriptor, F_SETLK, &lock) != 0 {
            let code = errno
            guard code == EAGAIN || code == EACCES else { throw .system(call: "fcntl(F_SETLK)", errno: code, path: path) }
            var holder = Self.byteZero(type: F_WRLCK)
            let pid: Int32? = fcntl(descriptor, F_GETLK, &holder) == 0 && holder.l_type != Int16(F_UNLCK) && holder.l_pid > 0
                ? holder.l_pid : nil
            throw .storeInUse(path: directory, processID: pid)
        }
    }

    /// Marks LMDB's shared lock region as uninitialized (zeroes its magic and format words).
    ///
    /// A process that opens the store afterwards without being its first opener finds a region of
    /// the wrong magic and fails with `MDB_INVALID` instead of trusting a transaction ID that
    /// belongs to the data file before compaction; a first opener initializes the region afresh.
    ///
    /// - Precondition: the write lock is held.
    package func invalidateSharedRegion() throws(StorageError) {
        var zeros: (UInt32, UInt32) = (0, 0)
        let written = withUnsafeBytes(of: &zeros) { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == 8 else { throw .system(call: "pwrite", errno: errno, path: path) }
        guard fsync(descriptor) == 0 else { throw .system(call: "fsync", errno: errno, path: path) }
    }

    /// A lock description of byte 0.
    private static func byteZero(type: Int32) -> flock {
        flock(l_type: Int16(type), l_whence: Int16(SEEK_SET), l_start: 0, l_len: 1, l_pid: 0)
    }

    deinit {
        if closesDescriptor { close(descriptor) }
    }
}
