import Dispatch
import Glibc
import Synchronization

/// The engine's own threads for partition tasks: one set per process, as many as the cores,
/// named `strata-task-N`, started when the first lease is taken (a `Program` holds one for its
/// lifetime) and stopped when the last lease is dropped.
///
/// **Why not Dispatch's global pool.** On Linux, libdispatch sizes its pool to the cores and
/// adds a worker only from a once-a-second check that finds work queued behind a blocked one: an
/// application that blocks Dispatch's workers (a reporter that sleeps, a semaphore wait) left the
/// engine's tasks one worker, or none, for up to a second at a time. Threads the engine owns run
/// nothing else, so what the embedding application does with Dispatch costs the engine nothing.
///
/// **Why one per process, not one per program.** Partition tasks are CPU-bound: more threads
/// than cores only make them take turns. Programs of one process share the cores, so they share
/// one set of threads; a process with many programs (or tests making many) never holds more than
/// one thread per core for tasks, and a program's lease costs no thread start.
///
/// `WorkerPool` is `Sendable`: leases are taken and dropped from any thread.
final class WorkerPool: Sendable {
    /// The pool of the process, as wide as the cores.
    static let shared = WorkerPool(name: "strata-task", width: cores)

    /// Keeps the pool's threads running while it lives; dropping the last lease stops them once
    /// the work queued on them has run.
    ///
    /// `Lease` is `Sendable`; submit from any thread while holding it.
    final class Lease: Sendable {
        /// The threads this lease keeps running.
        let workers: WorkerThreads
        private let pool: WorkerPool

        fileprivate init(workers: WorkerThreads, pool: WorkerPool) {
            self.workers = workers
            self.pool = pool
        }

        deinit { pool.release() }
    }

    private struct State {
        var leases = 0
        var workers: WorkerThreads?
    }

    /// The prefix of the threads' names (`strata-task` gives `strata-task-0`, …; at most 11
    /// characters, so that the kernel's 15-character thread names hold the index).
    let name: String
    /// Threads started per lease holder generation.
    let width: Int
    private let state = Mutex(State())

    /// A pool of `width` threads named `name-0`, `name-1`, … (tests make their own).
    init(name: String, width: Int) {
        self.name = name
        self.width = max(1, width)
    }

    /// Takes a lease: starts the threads when no lease held them.
    func lease() -> Lease {
        let (workers, isNew) = state.withLock { state -> (WorkerThreads, Bool) in
            state.leases += 1
            if let workers = state.workers { return (workers, false) }
            let workers = WorkerThreads(name: name, width: width)
            state.workers = workers
            return (workers, true)
        }
        // Outside the lock (no thread is created while holding it). Work submitted meanwhile by
        // another lease holder waits in the queue until the threads are up.
        if isNew { workers.start() }
        return Lease(workers: workers, pool: self)
    }

    /// The threads running now (`nil`: no lease holds any).
    var current: WorkerThreads? { state.withLock { $0.workers } }

    private func release() {
        let stopping = state.withLock { state -> WorkerThreads? in
            state.leases -= 1
            guard state.leases == 0, let workers = state.workers else { return nil }
            state.workers = nil
            return workers
        }
        // Never joined here: the last lease may be dropped on one of these very threads.
        stopping?.stop()
    }
}

/// One generation of a pool's threads and their queue of work, first in, first out.
///
/// A job submitted is run exactly once: by one of the threads, or, when none could be created
/// or they are stopping, on a thread of its own (`EngineThread.detach`); never dropped, never
/// on the submitting thread.
///
/// `WorkerThreads` is `Sendable`.
final class WorkerThreads: Sendable {
    /// A unit of work.
    typealias Job = @Sendable () -> Void

    private struct Queue {
        var jobs: [Job?] = []
        var head = 0
        /// No more jobs are taken: the threads run what is queued, then end.
        var stopping = false
        /// Threads that are running their loop (started and not yet ended).
        var alive = 0
        /// Whether `start()` has run (until then jobs wait in the queue).
        var started = false
    }

    /// The prefix of the threads' names.
    let name: String
    /// Threads asked for.
    let width: Int
    private let queue = Mutex(Queue())
    /// One permit per queued job, plus one per thread once stopping.
    private let available = DispatchSemaphore(value: 0)
    /// Signalled by each thread as it ends.
    private let ended = DispatchSemaphore(value: 0)
    private let created = Atomic<Int>(0)

    fileprivate init(name: String, width: Int) {
        self.name = name
        self.width = width
    }

    /// Threads created so far (they are created once, by `start()`).
    var threadsCreated: Int { created.load(ordering: .relaxed) }

    /// Threads running their loop now.
    var threadsAlive: Int { queue.withLock { $0.alive } }

    /// Creates the threads. When none can be created, what is queued (and what comes later) runs
    /// on threads of its own.
    fileprivate func start() {
        for index in 0..<width {
            // Counted before it exists, in one critical section with the check: a `stop()` from
            // now on gives it a permit to end on (a permit too many, if creating it fails, only
            // lets a thread end on an empty queue, as it would anyway).
            guard queue.withLock({ queue -> Bool in
                guard !queue.stopping else { return false }
                queue.alive += 1
                return true
            }) else { break }
            if EngineThread.detachIfPossible(named: "\(name)-\(index)", { [self] in work() }) {
                created.add(1, ordering: .relaxed)
            } else {
                queue.withLock { $0.alive -= 1 }
            }
        }
        let orphans = queue.withLock { queue -> [Job] in
            queue.started = true
            guard queue.alive == 0 else { return [] }
            let jobs = queue.jobs[queue.head...].compactMap { $0 }
            queue.jobs.removeAll()
            queue.head = 0
            return jobs
        }
        for job in orphans { EngineThread.detach(job) }
    }

    /// Queues `job` to run on one of the threads, after the jobs queued before it.
    func submit(_ job: @escaping Job) {
        let queued = queue.withLock { queue -> Bool in
            guard !queue.stopping, !queue.started || queue.alive > 0 else { return false }
            queue.jobs.append(job)
            return true
        }
        if queued { available.signal() } else { EngineThread.detach(job) }
    }

    /// Lets the threads end once the jobs queued have run.
    fileprivate func stop() {
        let threads = queue.withLock { queue -> Int in
            queue.stopping = true
            return queue.alive
        }
        for _ in 0..<threads { available.signal() }
    }

    /// Waits until every thread has ended or `deadline` passes; returns whether they all ended.
    /// For tests.
    func waitUntilEnded(deadline: DispatchTime) -> Bool {
        for _ in 0..<threadsCreated {
            if ended.wait(timeout: deadline) == .timedOut { return false }
        }
        return true
    }

    /// A thread's loop: runs jobs in queue order until stopping leaves none.
    private func work() {
        while true {
            available.wait()
            let job = queue.withLock { queue -> Job? in
                guard queue.head < queue.jobs.count else {
                    // No job for this permit: it is a stop's.
                    queue.alive -= 1
                    return nil
                }
                let job = queue.jobs[queue.head]
                queue.jobs[queue.head] = nil
                queue.head += 1
                if queue.head == queue.jobs.count {
                    queue.jobs.removeAll(keepingCapacity: true)
                    queue.head = 0
                }
                return job
            }
            guard let job else { break }
            job()
        }
        ended.signal()
    }
}

/// A loop over `0..<count` run by the calling thread and by helpers on the engine's threads, each
/// taking the next index until none is left (as `concurrentPerform`, whose caller takes part too).
///
/// The caller never waits for a helper to *start*: if every engine thread is busy, it runs every
/// index itself. It waits only for indexes other threads have taken to finish. A helper that
/// starts after the last index was taken returns at once, without calling `body`.
final class ParallelLoop: Sendable {
    private let count: Int
    private let body: @Sendable (Int) -> Void
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)

    private init(count: Int, body: @escaping @Sendable (Int) -> Void) {
        self.count = count
        self.body = body
    }

    /// Runs `body` once for every index in `0..<count`, on the calling thread and on up to
    /// `helpers` threads of `workers`; returns when every call has returned.
    static func run(_ count: Int, helpers: Int, on workers: WorkerThreads, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let loop = ParallelLoop(count: count, body: body)
        for _ in 0..<min(helpers, count - 1) { workers.submit { loop.participate() } }
        loop.participate()
        loop.finished.wait()
    }

    private func participate() {
        while true {
            let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard index < count else { return }
            body(index)
            // The last index to finish, on whichever thread, lets the caller go on; the releasing
            // chain of increments makes every index's writes visible to it.
            if done.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == count { finished.signal() }
        }
    }
}

/// The cores this process may run on.
let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
