import Dispatch
import Glibc

/// A named thread of its own for work that blocks or runs for long — a stage of a program waiting
/// for its input, a cluster node's loops, a benchmark's samplers and reporters — outside Swift's
/// cooperative pool and Dispatch's.
///
/// Such work must not hold a worker of either pool: the cooperative pool has one thread per core,
/// and libdispatch on Linux replaces a blocked worker only when its once-a-second check finds work
/// queued, so a loop on one of its workers (as many as cores: 2 here) left a program's partition
/// tasks one worker until that check came (docs/benchmarks.md, "Figures: issue 16, both cores
/// busy", and "the live path: its map side on one worker").
///
/// It lives in StrataEngine, the lowest layer that starts such threads; StrataCluster (a node's
/// loops) and the benchmark tool (its samplers) sit above it and use it through `package` access.
/// StrataStorage starts none (its committer is a serial Dispatch queue).
///
/// The name shows in `top -H`, `ps -L` and debuggers: at most 15 bytes are kept (Linux's limit).
///
/// `Sendable`: `@unchecked` because `handle` is written only in `init`, before the instance is
/// shared; the thread itself reads only the `let` properties.
package final class DedicatedThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let name: String
    private let body: @Sendable () -> Void

    /// Starts `body` at once on a new thread named `name`, for `join()`. When no thread can be
    /// had, `body` runs here, on the calling thread, before `init` returns (`join` then returns at once).
    package init(named name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
        if !start() { body() }
    }

    /// Starts `body` on a new thread named `name`, or, when no thread can be had, on a worker of
    /// Dispatch's pool: never on the calling thread (which must not block).
    private init(fallingBackToDispatch name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
        if !start() { DispatchQueue.global().async(execute: body) }
    }

    /// Creates the thread running `body`; `false` (and no handle) when none can be had.
    private func start() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&handle, nil, { context in
            let thread = Unmanaged<DedicatedThread>.fromOpaque(context!).takeRetainedValue()
            thread.nameItself()
            thread.body()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<DedicatedThread>.fromOpaque(context).release()
            handle = pthread_t()
            return false
        }
        return true
    }

    /// Names the calling thread (this one's): written to `/proc/thread-self/comm`, which
    /// proc(5) lets a thread write for itself (Glibc's module does not export
    /// `pthread_setname_np`). Linux keeps 15 bytes; a name that cannot be set is no error.
    private func nameItself() {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// Waits for the thread to end.
    package func join() {
        if handle != pthread_t() { pthread_join(handle, nil) }
    }

    /// Starts `body` on a new thread named `name` that nobody joins: for work that must not wait
    /// for a worker of Dispatch's pool (a speculative copy, when a straggler may be holding one of
    /// them; a program's run; a node's loops; a benchmark's samplers). When no thread can be had,
    /// `body` runs on a worker of Dispatch's pool, never on the calling thread.
    package static func detach(named name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = DedicatedThread(fallingBackToDispatch: name, body)
        if thread.handle != pthread_t() { pthread_detach(thread.handle) }
    }
}
