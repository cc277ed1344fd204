import Glibc

/// Waits for something to happen in a directory (inotify), for a timeout, or for a wake-up from
/// another thread, whichever comes first.
///
/// When inotify is not available (its limits are reached), waiting falls back to the timeout
/// alone: the directory is then rescanned on every timeout.
///
/// `DirectoryChangeMonitor` is `Sendable`: its descriptors never change after `init`, and
/// `wake()` only writes to a pipe, which any thread may do.
final class DirectoryChangeMonitor: Sendable {
    /// The inotify descriptor, or -1.
    private let inotify: Int32
    /// The pipe `wake()` writes to and `wait` polls.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Watches `directory` for files created, written and closed, or moved in.
    ///
    /// - Throws: `ReceiverError.system` when the wake-up pipe cannot be made.
    init(directory: String) throws(ReceiverError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .system(call: "pipe", errno: errno, path: directory) }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd >= 0 {
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY)
            if inotify_add_watch(fd, directory, mask) >= 0 {
                inotify = fd
            } else {
                close(fd)
                inotify = -1
            }
        } else {
            inotify = -1
        }
    }

    deinit {
        if inotify >= 0 { close(inotify) }
        close(wakeRead)
        close(wakeWrite)
    }

    /// Wakes a thread blocked in `wait`, or makes its next `wait` return at once.
    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Blocks the calling thread until the directory changes, `wake()` is called, or `timeout`
    /// passes; then drains what was signalled. Never call it on the cooperative pool.
    func wait(timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
        let count = nfds_t(inotify >= 0 ? 2 : 1)
        _ = poll(&fds, count, max(0, milliseconds))
        var scratch = [UInt8](repeating: 0, count: 4096)
        for fd in [wakeRead, inotify] where fd >= 0 {
            // The events themselves do not matter: the directory is rescanned after any of them.
            while scratch.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
        }
    }
}
