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
/// wait, the signal starts watching the data file with inotify (`IN_MODIFY`), read by a Dispatch
/// source; any write by any process bumps the generation, so waiters look again within
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
        case watching(WatchSource)
    }

    /// The Dispatch source reading the inotify descriptor. `@unchecked Sendable`: a Dispatch
    /// source may be resumed and cancelled from any thread, and the reference never changes.
    private final class WatchSource: @unchecked Sendable {
        let source: any DispatchSourceRead
        init(_ source: any DispatchSourceRead) { self.source = source }
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

    /// The queue that reads the inotify events of every signal (its handlers only drain and bump).
    private static let watchQueue = DispatchQueue(label: "strata.seal-watch")

    /// Creates a signal; with `dataFile`, writes to that file by any process also wake waiters.
    package init(watching dataFile: String? = nil) {
        self.dataFile = dataFile
    }

    deinit {
        if case .watching(let watch) = state.withLock({ $0.watch }) { watch.source.cancel() }
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
        guard start else { return }
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return }  // limits reached: waits end at their timeout
        guard inotify_add_watch(fd, dataFile, UInt32(IN_MODIFY)) >= 0 else {
            close(fd)
            return
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: Self.watchQueue)
        source.setEventHandler { [weak self] in
            Self.drain(fd)
            self?.bump()
        }
        source.setCancelHandler { close(fd) }
        let watch = WatchSource(source)
        state.withLock { $0.watch = .watching(watch) }
        source.resume()
        // A commit between the caller's look at the store and the watch's start left no event:
        // waiters look once more.
        bump()
    }

    /// Reads every pending inotify event (their content does not matter: any write is a wake-up).
    private static func drain(_ fd: Int32) {
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { buffer in
            while read(fd, buffer.baseAddress, buffer.count) > 0 {}
        }
    }
}
