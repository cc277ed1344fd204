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
/// **Commits of other processes.** LMDB writes every commit into `data.mdb` with `pwrite` (stores
/// never use `MDB_WRITEMAP`), the meta page that makes the commit visible last. With the first
/// wait, the signal starts watching the data file with inotify (`IN_MODIFY`; one inotify
/// instance per process, `DataFileWatcher`, read by a Dispatch source, since the per-user limit on
/// instances is small); any write by any process bumps the generation, so waiters look again within
/// milliseconds of another process's commit (the kernel's event delivery plus one Dispatch hop; a
/// wake-up by a write before the meta page is followed by another one for the meta page). A
/// waiter may so be woken by commits that seal nothing: it looks again and waits again. Where
/// inotify is not available (its per-user limits are reached, or the file system does not report
/// changes, as NFS does not), waits end at their timeout only: callers then poll at their timeout.
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
        /// Being set up, or not available (no inotify, or no data file to watch).
        case none
        /// The inotify watch descriptor of the data file in `DataFileWatcher.shared`.
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
    /// The data file whose changes count as commits of other processes; `nil`: none are watched.
    private let dataFile: String?

    /// Creates a signal; with `dataFile`, writes to that file by any process also wake waiters.
    package init(watching dataFile: String? = nil) {
        self.dataFile = dataFile
    }

    deinit {
        if case .watching(let descriptor) = state.withLock({ $0.watch }) {
            DataFileWatcher.shared.unwatch(descriptor, for: ObjectIdentifier(self))
        }
    }

    /// The number of wake-ups so far: sealing commits of this process, and changes of the data file.
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

    // MARK: Watching the data file

    /// Starts the inotify watch of the data file with the first wait; once per signal.
    private func startWatchingIfNeeded() {
        guard let dataFile else { return }
        let start = state.withLock { state -> Bool in
            guard case .notStarted = state.watch else { return false }
            state.watch = .none
            return true
        }
        guard start, let descriptor = DataFileWatcher.shared.watch(dataFile, for: self) else { return }
        state.withLock { $0.watch = .watching(descriptor) }
        // A commit between the caller's look at the store and the watch's start left no event:
        // waiters look once more.
        bump()
    }
}

/// The process's one inotify instance, watching the data files of the stores whose signals wait,
/// and bumping those signals on every write to their file.
///
/// One instance for all stores: the per-user limit on inotify instances is small (128 by
/// default, shared with every other process of the user), the limit on watches large. Events are
/// read by a Dispatch source on a serial queue of their own; its handler only parses and bumps.
/// `@unchecked Sendable`: the descriptor and the source never change after `init`, a Dispatch
/// source may be used from any thread, and the table of signals is behind a `Mutex`.
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

    /// The inotify descriptor, or -1 when inotify is not available.
    private let descriptor: Int32
    private let source: (any DispatchSourceRead)?
    /// The signals to bump per watch descriptor (lookup only).
    private let signals = Mutex<[Int32: [WeakSignal]]>([:])

    private init() {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else {
            source = nil
            return
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: descriptor,
                                                   queue: DispatchQueue(label: "strata.data-file-watch"))
        self.source = source
        let fd = descriptor
        source.setEventHandler { [weak self] in self?.readEvents(fd) }
        source.resume()
    }

    /// Watches `path` for writes that bump `signal`; the watch descriptor, or `nil` when inotify
    /// is not available (then waits end at their timeouts only).
    func watch(_ path: String, for signal: SealSignal) -> Int32? {
        guard descriptor >= 0 else { return nil }
        let wd = inotify_add_watch(descriptor, path, UInt32(IN_MODIFY))
        guard wd >= 0 else { return nil }
        // The same file watched again gives the same descriptor: one entry per signal. A signal's
        // entry goes in its deinit (`unwatch`); weak references are not loaded here, as a strong
        // reference released inside the lock could run that deinit inside it.
        signals.withLock { $0[wd, default: []].append(WeakSignal(signal)) }
        return wd
    }

    /// Stops bumping the signal `id` for watch `wd`; removes the watch when no signal is left.
    func unwatch(_ wd: Int32, for id: ObjectIdentifier) {
        let last = signals.withLock { table -> Bool in
            table[wd]?.removeAll { $0.id == id }
            guard table[wd]?.isEmpty ?? false else { return false }
            table[wd] = nil
            return true
        }
        if last { inotify_rm_watch(descriptor, wd) }
    }

    /// Reads the pending events and bumps the signals of every watch that saw a write.
    private func readEvents(_ fd: Int32) {
        var written: [Int32] = []
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { buffer in
            while true {
                let n = read(fd, buffer.baseAddress, buffer.count)
                guard n > 0 else { break }
                // struct inotify_event: wd i32, mask u32, cookie u32, len u32, then len name bytes.
                var offset = 0
                while offset + 16 <= n {
                    let wd = buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let length = Int(buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    if !written.contains(wd) { written.append(wd) }
                    offset += 16 + length
                }
            }
        }
        // Strong references are taken inside the lock and released outside it: a signal's deinit
        // (which unwatches, taking the lock) may run here.
        let toBump = signals.withLock { table in written.flatMap { table[$0] ?? [] }.compactMap(\.signal) }
        for signal in toBump { signal.bump() }
    }
}
