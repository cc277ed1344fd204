import Glibc
import Synchronization

/// The claim of one writer on one stream, across processes and within one: an exclusive `flock`
/// on `STORE/writers/stream-ID.lock`.
///
/// `flock` locks belong to the open file description, so a second claim conflicts whether it
/// comes from another process or from this one (each claim opens the file anew), and the kernel
/// releases the lock when its holder closes the file or dies, `kill -9` included: a crashed
/// writer never blocks the next one. The holder writes its pid into the file, so a refused
/// writer can name it. Lock files are never deleted (deleting one while another process opens
/// it would let two writers hold locks on different files); they are a few bytes each.
///
/// `Sendable` (immutable): its holder may hand it to the committer so that it is released only
/// after the holder's last commit; releasing it (deinit) closes the file.
package final class StreamWriterLock: Sendable {
    private let descriptor: Int32
    /// The lock file's path.
    package let path: String

    /// Takes the writer lock of `stream` in the store at `storePath`, without waiting.
    ///
    /// - Throws: `.streamBusy` naming the holder's pid when another writer holds it; `.system`
    ///   when the lock file cannot be created or locked.
    package init(storePath: String, stream: StreamDescriptor) throws(StorageError) {
        let directory = storePath + "/writers"
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw .system(call: "mkdir", errno: errno, path: directory)
        }
        path = directory + "/stream-\(stream.id.rawValue).lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(call: "open", errno: errno, path: path) }
        var lingering = 0
        while retryingOnInterrupt({ flock(fd, LOCK_EX | LOCK_NB) }) != 0 {
            let code = errno
            guard code == EWOULDBLOCK else {
                close(fd)
                throw .system(call: "flock", errno: code, path: path)
            }
            // Held, by this process's pid, while no live claim of this process holds it: a child
            // being spawned by another thread inherited the released lock's file descriptor
            // between fork and exec (O_CLOEXEC closes it only at exec). Wait for that exec
            // (bounded) instead of refusing a writer nobody is ahead of.
            let path = self.path
            if Self.recordedProcessID(fd) == getpid(), lingering < 5_000,
               !Self.heldHere.withLock({ $0.contains(path) }) {
                lingering += 1
                usleep(1_000)
                continue
            }
            let holder = Self.recordedProcessID(fd)
            close(fd)
            throw .streamBusy(stream: stream.name, processID: holder)
        }
        descriptor = fd
        let held = path
        Self.heldHere.withLock { _ = $0.insert(held) }
        // Name this process as the holder (for the message a refused writer prints).
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// The pid the holder wrote into the lock file, if it reads as one.
    private static func recordedProcessID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").first ?? ""
        return Int32(text).flatMap { $0 > 0 ? $0 : nil }
    }

    /// The lock files this process's live claims hold (lookup only, never iterated).
    private static let heldHere = Mutex<Set<String>>([])

    deinit {
        let held = path
        Self.heldHere.withLock { _ = $0.remove(held) }
        close(descriptor)
    }
}

extension LogStore {
    /// Takes the writer lock of a stream (`StreamWriterLock`).
    ///
    /// - Throws: `.streamBusy` naming the holder; `.system`.
    package func writerLock(of descriptor: StreamDescriptor) throws(StorageError) -> StreamWriterLock {
        try StreamWriterLock(storePath: path, stream: descriptor)
    }
}
