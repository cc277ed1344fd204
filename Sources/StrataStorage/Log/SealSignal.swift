import Dispatch
import Glibc
import Synchronization

/// Wakes waiters when an interval may have been sealed: at once after a sealing commit of this
/// process (`bump()`), and soon after any commit of another process to the same store.
///
/// A waiter reads `current`, looks at the store, and if nothing new is there waits with
/// `wait(after:timeout:)` (or `waitBlocking`) for a later generation.
///
/// **No lost wake-up, by construction.** The wait checks the generation and registers itself in
/// one critical section of the signal's lock, and `bump()` advances the generation and takes every
/// registered waiter in one critical section of the same lock. So a bump either comes before the
/// check (the wait returns at once) or finds the waiter registered (and wakes it). A timeout and
/// task cancellation remove the waiter under that lock too: every wait ends exactly once, by
/// whichever comes first. The timeout runs on a Dispatch timer, never on the waiting task.
///
/// **Commits of other processes.** Every Strata process writes a few bytes to the store's
/// `commits` file after each of its commits has returned (`CommitNotice`). With the first wait,
/// the signal starts watching the store directory with inotify (`IN_MODIFY` of the files in it;
/// one inotify instance per process, `DataFileWatcher`, read by a thread of its own, since the
/// per-user limit on instances is small); a write to `commits` by any process, this one included,
/// bumps the generation, so waiters look again within milliseconds of a commit (the kernel's event
/// delivery plus one thread's wake-up): once per commit, or once for several that come before the
/// reading thread reads their events. Writes to `data.mdb` wake no one: a commit writes it several
/// times (pages, then the meta page), and none of them is a visible commit — LMDB makes a commit
/// visible by updating the transaction id in `lock.mdb`'s shared map after writing the meta page,
/// and a shared map's writes raise no event; the `commits` write comes after the commit is
/// visible. A waiter may so be woken by commits that seal nothing: it looks again and waits
/// again. Where inotify is not available (its per-user limits are reached, or the file system does
/// not report changes, as NFS does not), or the writer does not write `commits` (LMDB's tools, a
/// Strata process that cannot open the file), waits end at their timeout only: callers then poll
/// at their timeout.
///
/// `SealSignal` is `Sendable`; any number of tasks and threads may wait and bump concurrently.
package final class SealSignal: Sendable {
    private enum Waiter {
        /// A suspended task.
        case task(CheckedContinuation<Void, Never>)
        /// A blocked thread.
        case thread(DispatchSemaphore)

        func wake() {
            switch self {
            case .task(let continuation):
                continuation.resume()
            case .thread(let semaphore):
                semaphore.signal()
            }
        }
    }

    private enum Watch {
        case notStarted
        /// Being set up, or not available (no inotify, or no directory to watch).
        case none
        /// The inotify watch descriptor of the store directory in `DataFileWatcher.shared`.
        case watching(Int32)
    }

    private struct State {
        var generation: UInt64 = 0
        var nextTicket: UInt64 = 0
        /// Registered waiters by ticket (lookup only; all are woken at once, so order never matters).
        var waiters: [UInt64: Waiter] = [:]
        var watch = Watch.notStarted
    }

    private let state = Mutex(State())
    /// The store directory whose files' changes count as commits of other processes; `nil`: none
    /// are watched.
    private let directory: String?

    /// Creates a signal; with `directory`, writes to the files in it by any process also wake
    /// waiters.
    package init(watching directory: String? = nil) {
        self.directory = directory
    }

    deinit {
        if case .watching(let descriptor) = state.withLock({ $0.watch }) {
            DataFileWatcher.shared.unwatch(descriptor, for: ObjectIdentifier(self))
        }
    }

    /// The number of wake-ups so far: sealing commits of this process, and changes in the store directory.
    package var current: UInt64 { state.withLock { $0.generation } }

    /// Called after a sealing commit (or any change a waiter should look at): wakes every waiter.
    package func bump() {
        let toWake = state.withLock { state -> [Waiter] in
            state.generation &+= 1
            let all = Array(state.waiters.values)
            state.waiters.removeAll()
            return all
        }
        for waiter in toWake { waiter.wake() }
    }

    /// Suspends until the generation is past `generation`, `timeout` passes, or the task is
    /// cancelled, whichever is first. Returns at once when one of them already holds.
    package func wait(after generation: UInt64, timeout: Duration) async {
        startWatchingIfNeeded()
        let ticket = state.withLock { state -> UInt64 in
            state.nextTicket &+= 1
            return state.nextTicket
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // The check and the registration in one critical section: see the type's discussion.
                // A cancellation before it is seen here (the flag is set before the handler runs,
                // and the handler takes this lock).
                let registered = state.withLock { state -> Bool in
                    guard state.generation == generation, !Task.isCancelled else { return false }
                    state.waiters[ticket] = .task(continuation)
                    return true
                }
                guard registered else { return continuation.resume() }
                // After a wake-up the timer finds no waiter and does nothing.
                DispatchQueue.global().asyncAfter(deadline: Self.deadline(after: timeout)) { [weak self] in
                    self?.release(ticket)
                }
            }
        } onCancel: {
            release(ticket)
        }
    }

    /// Blocks the calling thread until the generation is past `generation` or `timeout` passes,
    /// whichever is first. For engine threads, which never run on the cooperative pool.
    package func waitBlocking(after generation: UInt64, timeout: Duration) {
        startWatchingIfNeeded()
        let semaphore = DispatchSemaphore(value: 0)
        let ticket = state.withLock { state -> UInt64? in
            guard state.generation == generation else { return nil }
            state.nextTicket &+= 1
            state.waiters[state.nextTicket] = .thread(semaphore)
            return state.nextTicket
        }
        guard let ticket else { return }
        if semaphore.wait(timeout: Self.deadline(after: timeout)) == .timedOut {
            // Woken or not, the waiter leaves the table; a signal that raced the timeout is dropped
            // with the semaphore.
            state.withLock { _ = $0.waiters.removeValue(forKey: ticket) }
        }
    }

    /// Wakes the waiter with `ticket`, if it still waits.
    private func release(_ ticket: UInt64) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: ticket) }
        waiter?.wake()
    }

    /// The Dispatch deadline `timeout` from now: negative is now, beyond what Dispatch counts
    /// (about 292 years) is forever. Never traps.
    static func deadline(after timeout: Duration) -> DispatchTime {
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return .now() }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (nanoseconds, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow || overflow2 || nanoseconds > Int64(Int.max) / 2 { return .distantFuture }
        return .now() + .nanoseconds(Int(max(0, nanoseconds)))
    }

    // MARK: Watching the store directory

    /// Starts the inotify watch of the store directory with the first wait; once per signal.
    private func startWatchingIfNeeded() {
        guard let directory else { return }
        let start = state.withLock { state -> Bool in
            guard case .notStarted = state.watch else { return false }
            state.watch = .none
            return true
        }
        guard start, let descriptor = DataFileWatcher.shared.watch(directory, for: self) else { return }
        state.withLock { $0.watch = .watching(descriptor) }
        // A commit between the caller's look at the store and the watch's start left no event:
        // waiters look once more.
        bump()
    }
}

/// The process's one inotify instance, watching the directories of the stores whose signals wait,
/// and bumping those signals on every write to a file in their directory.
///
/// One instance for all stores: the per-user limit on inotify instances is small (128 by
/// default, shared with every other process of the user), the limit on watches large. Events are
/// read by a thread of its own blocked in `read(2)`, which only parses and bumps. Not a Dispatch
/// read source: libdispatch registers descriptors with epoll by number, and a source made for a
/// descriptor number that an earlier, closed descriptor used (Foundation's `Process` opens and
/// closes many) was seen never to fire, so waiters slept through every commit of other processes.
/// `@unchecked Sendable`: the descriptor never changes after `init`, and the table of signals is
/// behind a `Mutex`.
final class DataFileWatcher: @unchecked Sendable {
    /// The instance, made with the first watch.
    static let shared = DataFileWatcher()

    private final class WeakSignal: Sendable {
        nonisolated(unsafe) weak var signal: SealSignal?
        let id: ObjectIdentifier
        init(_ signal: SealSignal) {
            self.signal = signal
            id = ObjectIdentifier(signal)
        }
    }

    /// The signals to bump per watch descriptor (lookup only), shared with the reading thread.
    private final class Table: Sendable {
        let signals = Mutex<[Int32: [WeakSignal]]>([:])
    }

    /// The inotify descriptor, or -1 when inotify (or a thread to read it) is not available.
    private let descriptor: Int32
    private let table = Table()

    private init() {
        descriptor = Self.startReading(table)
    }

    /// A new inotify instance and its reading thread; -1 when either is not to be had (then waits
    /// end at their timeouts only).
    private static func startReading(_ table: Table) -> Int32 {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { return -1 }
        final class Context {
            let fd: Int32
            let table: Table
            init(fd: Int32, table: Table) {
                self.fd = fd
                self.table = table
            }
        }
        let context = Unmanaged.passRetained(Context(fd: fd, table: table)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            let reader = Unmanaged<Context>.fromOpaque(context!).takeRetainedValue()
            DataFileWatcher.readEventsForever(reader.fd, reader.table)
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<Context>.fromOpaque(context).release()
            close(fd)
            return -1
        }
        pthread_detach(thread)
        return fd
    }

    /// Watches the files in directory `path` for writes that bump `signal`; the watch descriptor,
    /// or `nil` when inotify is not available (then waits end at their timeouts only).
    func watch(_ path: String, for signal: SealSignal) -> Int32? {
        guard descriptor >= 0 else { return nil }
        // Adding and removing kernel watches happen inside the lock, with the table's change: the
        // same directory watched again gives the same descriptor, and a removal of the last entry
        // racing a new watch of the same directory must not remove the kernel watch under it.
        // A signal's entry goes in its deinit (`unwatch`); weak references are not loaded here,
        // as a strong reference released inside the lock could run that deinit inside it.
        return table.signals.withLock { table -> Int32? in
            let wd = inotify_add_watch(descriptor, path, UInt32(IN_MODIFY))
            guard wd >= 0 else { return nil }
            table[wd, default: []].append(WeakSignal(signal))
            return wd
        }
    }

    /// Stops bumping the signal `id` for watch `wd`; removes the watch when no signal is left.
    func unwatch(_ wd: Int32, for id: ObjectIdentifier) {
        self.table.signals.withLock { table in
            table[wd]?.removeAll { $0.id == id }
            guard table[wd]?.isEmpty ?? false else { return }
            table[wd] = nil
            inotify_rm_watch(descriptor, wd)
        }
    }

    /// Reads events as they come, for the life of the process, and bumps the signals of every
    /// watch that saw a write.
    private static func readEventsForever(_ descriptor: Int32, _ table: Table) {
        let capacity = 4096
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
        while true {
            let n = retryingOnInterrupt { read(descriptor, buffer.baseAddress, capacity) }
            if n < 0 { return }
            // struct inotify_event: wd i32, mask u32, cookie u32, len u32, then len name bytes
            // (the file's name in a watched directory, NUL-padded; none for a watched file).
            var written: [Int32] = []
            var offset = 0
            while offset + 16 <= n {
                let wd = buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                let length = Int(buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                let name = UnsafeRawBufferPointer(rebasing: buffer[(offset + 16)..<min(n, offset + 16 + length)])
                if isCommit(name), !written.contains(wd) { written.append(wd) }
                offset += 16 + length
            }
            // Strong references are taken inside the lock and released outside it: a signal's
            // deinit (which unwatches, taking the lock) may run here.
            let toBump = table.signals.withLock { table in written.flatMap { table[$0] ?? [] }.compactMap(\.signal) }
            for signal in toBump { signal.bump() }
        }
    }

    /// The name of the `commits` file, as an event names it.
    private static let commitsName = Array(CommitNotice.fileName.utf8)

    /// Whether an event with file name `name` is a commit: a write to a store directory's
    /// `commits` file (`CommitNotice`), or to a file watched by itself (no name). Writes to
    /// `data.mdb` and the other files of the store wake no one: a commit writes `data.mdb`
    /// several times before it is visible, and `commits` once after.
    static func isCommit(_ name: UnsafeRawBufferPointer) -> Bool {
        let end = name.firstIndex(of: 0) ?? name.count
        return end == 0 || name[..<end].elementsEqual(commitsName)
    }
}
