import Dispatch
import Glibc
import StrataStorage
import Synchronization

/// How a program's partition tasks are run: retries of failed tasks and speculative copies of
/// stragglers.
///
/// Neither changes what is computed: a task is a deterministic function of sealed input, so a
/// retried or speculative copy produces the same bytes, and the first copy to finish is the one
/// committed. Timing (the monotonic clock) only decides *when* a copy is launched.
public struct TaskPolicy: Sendable, Equatable {
    /// Further attempts of a task that threw, before the program stops with the task's error
    /// (a failed speculative copy counts as one). A task of a stateful vertex is retried by
    /// rebuilding the vertex's state and running the whole interval again. Default 2.
    public var retries: Int = 2
    /// A task of a stateless vertex gets a speculative copy on evidence about itself: still
    /// running after `speculationMultiplier` × the median duration of its finished siblings (once
    /// half of them have finished), having read fewer input records than their median divided by
    /// the multiplier, and blocked (neither on a CPU nor waiting for one) for at least half of its
    /// running time — not when other processes starve the cores; and only when fewer of the
    /// interval's tasks are running than there are cores. `nil` turns speculation off. Default 1.4.
    /// (docs/architecture.md, "Tasks".)
    public var speculationMultiplier: Double? = 1.4
    /// Tasks are never speculated before they have run this long (tiny tasks are not worth a copy).
    /// Default 5 ms.
    public var speculationMinimum: Duration = .milliseconds(5)

    /// The defaults.
    public init() {}

    /// A policy with the given settings.
    public init(retries: Int = 2, speculationMultiplier: Double? = 1.4, speculationMinimum: Duration = .milliseconds(5)) {
        self.retries = retries
        self.speculationMultiplier = speculationMultiplier
        self.speculationMinimum = speculationMinimum
    }
}

/// Faults to inject into a program's tasks, for tests and benchmarks of retries and speculation.
///
/// Each hook is asked for every attempt of every task: `(vertex, interval, partition, attempt)`,
/// attempt 0 being the first run, and speculative copies counting as attempts.
public struct TaskFaults: Sendable {
    /// How long the attempt sleeps before it runs (`nil`: not at all).
    public var delay: @Sendable (_ vertex: String, _ interval: Interval, _ partition: PartitionIndex, _ attempt: Int) -> Duration?
    /// Whether the attempt fails instead of running: it throws `EngineError.closureFailed` with
    /// the description of an `InjectedFault`.
    public var failure: @Sendable (_ vertex: String, _ interval: Interval, _ partition: PartitionIndex, _ attempt: Int) -> Bool

    /// Faults given by the two hooks (by default none).
    public init(delay: @escaping @Sendable (String, Interval, PartitionIndex, Int) -> Duration? = { _, _, _, _ in nil },
                failure: @escaping @Sendable (String, Interval, PartitionIndex, Int) -> Bool = { _, _, _, _ in false }) {
        self.delay = delay
        self.failure = failure
    }
}

/// The error an injected failure throws.
public struct InjectedFault: Error, Sendable, CustomStringConvertible {
    /// The attempt that failed.
    public let attempt: Int
    public var description: String { "injected fault (attempt \(attempt))" }
}

/// Counts of what the task scheduler did, per program run.
final class TaskCounters: Sendable {
    private let state = Mutex<[String: (retries: Int, speculative: Int)]>([:])
    /// Speculative copies whose result was kept, per vertex.
    private let wins = Mutex<[String: Int]>([:])

    func addRetry(_ vertex: String) { state.withLock { $0[vertex, default: (0, 0)].retries += 1 } }
    func addSpeculative(_ vertex: String) { state.withLock { $0[vertex, default: (0, 0)].speculative += 1 } }
    /// Counts a speculative copy that finished first: its output is the one committed.
    func addSpeculativeWin(_ vertex: String) { wins.withLock { $0[vertex, default: 0] += 1 } }

    private let reported = Mutex<[String: (retries: Int, speculative: Int)]>([:])
    private let reportedWins = Mutex<[String: Int]>([:])

    private let typicalTasks = Mutex<[String: (duration: UInt64, units: Int)]>([:])

    /// The median task duration (ns) and input records of the vertex's latest interval, `nil`
    /// before its first.
    func typical(_ vertex: String) -> (duration: UInt64, units: Int)? { typicalTasks.withLock { $0[vertex] } }

    /// Records the median task duration and input records of an interval of the vertex.
    func noteTypical(_ vertex: String, duration: UInt64, units: Int) {
        typicalTasks.withLock { $0[vertex] = (duration, units) }
    }

    /// Retries and speculative launches of a vertex so far.
    func counts(_ vertex: String) -> (retries: Int, speculative: Int) { state.withLock { $0[vertex] ?? (0, 0) } }

    /// The retries and speculative launches of a vertex not yet handed out by this call, to be
    /// committed in its stats row with its next interval.
    func takeUnreported(_ vertex: String) -> (retries: UInt64, speculative: UInt64) {
        let now = counts(vertex)
        return reported.withLock { reported in
            let before = reported[vertex] ?? (0, 0)
            reported[vertex] = now
            return (UInt64(now.retries - before.retries), UInt64(now.speculative - before.speculative))
        }
    }

    /// The speculative wins of a vertex not yet handed out by this call (see `takeUnreported`).
    func takeUnreportedWins(_ vertex: String) -> UInt64 {
        let now = wins.withLock { $0[vertex] ?? 0 }
        return reportedWins.withLock { reported in
            let before = reported[vertex] ?? 0
            reported[vertex] = now
            return UInt64(now - before)
        }
    }
}

/// What the tasks of one vertex interval run under; set by the program around `process`.
struct TaskContext: Sendable {
    let vertex: String
    let interval: Interval
    /// Whether tasks may run twice (retried or speculated) on their own: true for stateless vertices.
    let repeatable: Bool
    /// For tasks that are not repeatable: which run of the interval this is (0 first).
    let attempt: Int
    let policy: TaskPolicy
    let faults: TaskFaults?
    let counters: TaskCounters
    /// The interval's input blocks in each partition (summed over the vertex's inputs that have
    /// as many partitions), from the inputs' seal rows: the cost by which the tasks are started,
    /// heaviest first (`launchOrder`); `nil` when not known.
    var inputBlocks: [UInt64]? = nil
    /// The vertex's blocks decoded ahead (`nil`: none), which its tasks take their input from.
    var decodedAhead: DecodedAhead? = nil
    /// The interval the vertex processes next (`nil`: none yet, or nothing to decode ahead):
    /// cores with no task of this interval left to start decode its blocks meanwhile.
    var next: Interval? = nil
    /// The program's trace (`nil`: none): with a task hook, each attempt is timed.
    var trace: IntervalTrace? = nil

    @TaskLocal static var current: TaskContext?

    /// Reports one attempt to the trace's task hook; `began` and `cpuBegan` as read when it began.
    func noteTask(_ partition: PartitionIndex, speculative: Bool, queued: UInt64, began: UInt64, cpuBegan: UInt64) {
        guard let hook = trace?.task else { return }
        let end = DispatchTime.now().uptimeNanoseconds
        let cpuEnd = threadCPUNanoseconds()  // 0 (as cpuBegan) when the clock cannot be read: then 0
        hook(vertex, interval, IntervalTrace.TaskRun(partition: partition, speculative: speculative, queuedNanoseconds: queued,
                                                     wallNanoseconds: end > began ? end - began : 0,
                                                     cpuNanoseconds: cpuEnd > cpuBegan ? cpuEnd - cpuBegan : 0))
    }
}

/// The order in which to start `count` partition tasks: longest-processing-time first, the
/// partitions with the most input blocks first (`weights`, one per partition), ties and every
/// partition when `weights` does not cover exactly `count` partitions in partition order.
///
/// With more partitions than cores and skewed partitions, starting the heaviest first keeps it
/// from being the last to start and leaving the other cores idle while it finishes. Only *when*
/// a task runs depends on it: results are still returned, merged and committed in partition order.
func launchOrder(_ count: Int, weights: [UInt64]?) -> [Int] {
    let order = Array(0..<count)
    guard let weights, weights.count == count else { return order }
    return order.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
}

/// Runs `body` for every partition index on all cores and returns the results in partition
/// order, whatever order the tasks finish in. Tasks start heaviest first by the context's input
/// blocks (`launchOrder`).
///
/// Under a `TaskContext` (a program's run), injected faults apply and, for repeatable tasks, a
/// failed task is retried up to `policy.retries` times and a straggler gets a speculative copy;
/// the first copy to finish gives the result.
///
/// - Throws: the error of the lowest failing partition (after its retries).
func forEachPartition<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (PartitionIndex) throws -> T) throws -> [T] {
    guard let context = TaskContext.current else { return try runInParallel(count, order: Array(0..<count), body) }
    let order = launchOrder(count, weights: context.inputBlocks)
    var idle: IdleWork?
    if let ahead = context.decodedAhead, let next = context.next { idle = IdleWork(ahead: ahead, next: next, tasks: count) }
    // The tasks find the vertex's blocks decoded ahead through a task-local of their thread.
    let task: @Sendable (PartitionIndex) throws -> T = { [ahead = context.decodedAhead] partition in
        try DecodedAhead.$current.withValue(ahead) { try body(partition) }
    }
    if !context.repeatable {
        // State is updated in place: one attempt per task; the program retries the interval.
        let timed = context.trace?.task != nil
        return try runInParallel(count, order: order, idle: idle) { partition in
            let began = timed ? DispatchTime.now().uptimeNanoseconds : 0, cpuBegan = timed ? threadCPUNanoseconds() : 0
            defer { if timed { context.noteTask(partition, speculative: false, queued: 0, began: began, cpuBegan: cpuBegan) } }
            try injectFaults(context, partition, attempt: context.attempt)
            return try task(partition)
        }
    }
    return try PartitionTaskRun(count: count, context: context, idle: idle, body: task).run(order: order)
}

/// What a core does when it has no task of the interval left to start: decode the vertex's next
/// interval's input blocks (`DecodedAhead`), one block at a time, while some task still runs.
final class IdleWork: Sendable {
    private let ahead: DecodedAhead
    private let next: Interval
    /// Tasks of the interval without a result yet.
    private let unfinished: Atomic<Int>
    /// For idle work queued as a job of its own: 0 queued, 1 started, 2 called off before it started.
    private let jobState = Atomic<Int>(0)

    init(ahead: DecodedAhead, next: Interval, tasks: Int) {
        self.ahead = ahead
        self.next = next
        unfinished = Atomic(tasks)
    }

    /// Notes that one task has its result.
    func taskFinished() { unfinished.subtract(1, ordering: .releasing) }

    /// Starts the idle work as a job of its own, unless `callOff()` came first: returns whether it
    /// may run.
    func startJob() -> Bool { jobState.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged }

    /// Calls off a queued job that has not started (the interval's tasks are done and a worker
    /// never came free for it): returns whether it had started, so that its end must be awaited.
    func callOff() -> Bool { !jobState.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged }

    /// Decodes blocks ahead until every task has finished or nothing is left to decode.
    func run() {
        var codec = BlockCodec()
        while unfinished.load(ordering: .acquiring) > 0, ahead.decodeNext(of: next, codec: &codec) {}
    }
}

/// Applies the injected delay and failure of one attempt.
private func injectFaults(_ context: TaskContext, _ partition: PartitionIndex, attempt: Int) throws {
    guard let faults = context.faults else { return }
    if let delay = faults.delay(context.vertex, context.interval, partition, attempt) {
        let (seconds, attoseconds) = delay.components
        let micros = max(0, seconds) * 1_000_000 + attoseconds / 1_000_000_000_000
        if micros > 0 { usleep(useconds_t(clamping: micros)) }
    }
    if faults.failure(context.vertex, context.interval, partition, attempt) {
        throw EngineError.closureFailed(underlying: InjectedFault(attempt: attempt), vertex: context.vertex,
                                        interval: context.interval, partition: partition)
    }
}

/// Every partition once, on all cores (`concurrentPerform`), started in `order` (a permutation
/// of the partition indexes: `concurrentPerform` hands out its iterations in index order).
///
/// With `idle`, `cores − 1` more iterations follow the tasks: the participants that claim them
/// have no task left to start and do the idle work until the last task ends.
private func runInParallel<T: Sendable>(_ count: Int, order: [Int], idle: IdleWork? = nil,
                                        _ body: @Sendable (PartitionIndex) throws -> T) throws -> [T] {
    let slots = UnsafeMutableBufferPointer<Result<T, any Error>?>.allocate(capacity: count)
    slots.initialize(repeating: nil)
    defer {
        slots.deinitialize()
        slots.deallocate()
    }
    let shared = SlotBuffer(slots)
    let extra = idle == nil ? 0 : max(0, min(cores, count + 1) - 1)
    DispatchQueue.concurrentPerform(iterations: count + extra) { i in
        guard i < count else {
            idle?.run()
            return
        }
        let p = order[i]
        shared.set(p, Result { try body(PartitionIndex(UInt32(p))) })
        idle?.taskFinished()
    }
    var results: [T] = []
    results.reserveCapacity(count)
    for p in 0..<count {
        guard let result = slots[p] else { throw EngineError.misuse("partition \(p) produced no result") }
        results.append(try result.get())
    }
    return results
}

/// The result slots of a parallel loop. `@unchecked Sendable`: the buffer outlives the loop and
/// each iteration writes only its own slot.
private struct SlotBuffer<T>: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<Result<T, any Error>?>
    init(_ slots: UnsafeMutableBufferPointer<Result<T, any Error>?>) { self.slots = slots }
    func set(_ index: Int, _ value: Result<T, any Error>) { slots[index] = value }
}

/// The cores this process may run on.
private let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

/// One parallel run of a vertex interval's repeatable tasks, with retries and speculation.
///
/// **Speculation on evidence about the task.** A running task gets a speculative copy only when
/// all of these hold:
/// 1. at least half of its siblings (the other partitions of the same vertex and interval) have
///    finished, and it has run (from when it began, not when it was queued) for at least
///    `speculationMultiplier` × their median duration, and at least `speculationMinimum`;
/// 2. its own progress lags theirs: it has read fewer input records than the siblings' median
///    count divided by the multiplier (a task that merely has more data, at a normal pace, is not
///    a straggler: a copy would redo the same work);
/// 3. it was *blocked* for at least half of its running time — neither on a CPU nor runnable and
///    waiting for one (the kernel's per-thread account, `ThreadSchedule`). A task starved by other
///    processes holding the cores is runnable, not blocked, and a copy would only compete with it
///    for the same cores; a task busy on a CPU would be repeated by its copy;
/// 4. fewer of the interval's attempts are running than there are cores.
///
/// A task still *queued* (no worker thread yet) long after its launch — 2 × the typical duration
/// (this interval's finished siblings' median, else the vertex's previous interval's) — gets a
/// copy on a thread of its own when a running sibling is stalled by the same evidence (2 and 3,
/// after that time): the stalled sibling holds a worker of the pool.
///
/// Where procfs gives no per-thread account, point 3 is not required.
private final class PartitionTaskRun<T: Sendable>: Sendable {
    private struct Slot {
        var result: Result<T, any Error>?
        /// Monotonic time the current (non-speculative) attempt began to run, ns; 0 while it
        /// waits for a thread — queued time does not make a straggler.
        var started: UInt64 = 0
        /// Monotonic time the current (non-speculative) attempt was queued, ns.
        var queuedAt: UInt64 = 0
        /// Attempts launched so far (the first, retries, speculative copies).
        var launched = 0
        /// Attempts still running.
        var running = 0
        var failures = 0
        var speculated = false
        /// Duration of the attempt that finished first, ns.
        var duration: UInt64?
        /// Input records the attempt that finished first read.
        var units: Int?
        /// The current (non-speculative) attempt's progress.
        var progress: TaskProgress?
        /// The kernel thread id the current attempt runs on and its account when it began
        /// (`nil`: unknown).
        var thread: Int32 = 0
        var baseline: ThreadSchedule?
    }

    /// A running attempt that passed the time and progress tests, to be checked against the
    /// kernel's account outside the lock.
    private struct Candidate {
        let partition: Int
        let thread: Int32
        let baseline: ThreadSchedule?
        let started: UInt64
    }

    private let count: Int
    private let context: TaskContext
    private let body: @Sendable (PartitionIndex) throws -> T
    private let tasks: Mutex<[Slot]>
    private let progress = DispatchSemaphore(value: 0)
    /// The interval's idle work, told when each task has its result.
    private let idle: IdleWork?

    init(count: Int, context: TaskContext, idle: IdleWork?, body: @escaping @Sendable (PartitionIndex) throws -> T) {
        self.count = count
        self.context = context
        self.idle = idle
        self.body = body
        tasks = Mutex(Array(repeating: Slot(), count: count))
    }

    /// Launches every partition's first attempt in `order` (Dispatch's pool starts them first
    /// come, first served) and waits for every result.
    func run(order: [Int]) throws -> [T] {
        for p in order { launch(p) }
        // Queued behind the tasks: it starts when a worker has no task left to start. The interval
        // waits for it only once it has started (it then stops after its current block).
        let idleDone = DispatchSemaphore(value: 0)
        if let idle {
            DispatchQueue.global().async {
                guard idle.startJob() else { return }
                idle.run()
                idleDone.signal()
            }
        }
        defer { if let idle, idle.callOff() { idleDone.wait() } }
        while true {
            let (finished, deadline) = checkStragglers()
            if finished { break }
            if let deadline {
                _ = progress.wait(timeout: DispatchTime(uptimeNanoseconds: deadline))
            } else {
                progress.wait()
            }
        }
        let done = tasks.withLock { $0 }
        let finished = done.compactMap { task in task.duration.map { ($0, task.units ?? 0) } }
        if !finished.isEmpty {
            let durations = finished.map(\.0).sorted(), units = finished.map(\.1).sorted()
            context.counters.noteTypical(context.vertex, duration: durations[(durations.count - 1) / 2],
                                         units: units[(units.count - 1) / 2])
        }
        var results: [T] = []
        results.reserveCapacity(count)
        for (p, task) in done.enumerated() {
            guard let result = task.result else { throw EngineError.misuse("partition \(p) produced no result") }
            results.append(try result.get())
        }
        return results
    }

    /// Starts one more attempt of partition `p`.
    private func launch(_ p: Int, speculative: Bool = false) {
        let attemptProgress = TaskProgress()
        let attempt = tasks.withLock { tasks -> Int in
            // A retry starts the straggler clock afresh (when it begins); a speculative copy leaves it.
            if !speculative {
                tasks[p].started = 0
                tasks[p].progress = attemptProgress
                tasks[p].baseline = nil
                tasks[p].queuedAt = DispatchTime.now().uptimeNanoseconds
            }
            tasks[p].launched += 1
            tasks[p].running += 1
            return tasks[p].launched - 1
        }
        let context = self.context, body = self.body
        // A speculative copy gets a thread of its own: the straggler (and the committer, in an
        // fsync) may hold the pool's workers, and a copy that waits for one helps nobody.
        let start: (@escaping @Sendable () -> Void) -> Void = speculative
            ? { EngineThread.detach($0) } : { DispatchQueue.global().async(execute: $0) }
        start { [self] in
            let partition = PartitionIndex(UInt32(p))
            let began = DispatchTime.now().uptimeNanoseconds
            let timed = context.trace?.task != nil
            let cpuBegan = timed ? threadCPUNanoseconds() : 0
            if !speculative {
                let account = ThreadSchedule.current()
                self.tasks.withLock { tasks in
                    guard tasks[p].started == 0, tasks[p].progress === attemptProgress else { return }
                    tasks[p].started = began
                    tasks[p].thread = account?.thread ?? 0
                    tasks[p].baseline = account?.schedule
                }
                // The coordinator now has a deadline to watch for this task.
                self.progress.signal()
            }
            let result = Result { () throws -> T in
                try injectFaults(context, partition, attempt: attempt)
                // Another copy already won: do not spend a core on this one.
                if self.tasks.withLock({ $0[p].result != nil }) { throw CancellationError() }
                return try TaskProgress.$current.withValue(attemptProgress) { try body(partition) }
            }
            if timed {
                let queuedAt = speculative ? began : self.tasks.withLock { $0[p].queuedAt }
                context.noteTask(partition, speculative: speculative, queued: began > queuedAt ? began - queuedAt : 0,
                                 began: began, cpuBegan: cpuBegan)
            }
            finish(p, result, began: began, units: attemptProgress.count, speculative: speculative)
        }
    }

    /// Records an attempt's end: the first success is the result; a failure is retried while
    /// retries remain and no other attempt is running.
    private func finish(_ p: Int, _ result: Result<T, any Error>, began: UInt64, units: Int, speculative: Bool) {
        let end = DispatchTime.now().uptimeNanoseconds
        var won = false
        let retry = tasks.withLock { tasks -> Bool in
            tasks[p].running -= 1
            guard tasks[p].result == nil else { return false }  // another copy already finished
            switch result {
            case .success:
                tasks[p].result = result
                tasks[p].duration = end - began
                tasks[p].units = units
                won = speculative
                idle?.taskFinished()
                return false
            case .failure:
                tasks[p].failures += 1
                if tasks[p].running > 0 { return false }  // a copy still running may succeed
                if tasks[p].failures <= context.policy.retries { return true }
                tasks[p].result = result
                idle?.taskFinished()
                return false
            }
        }
        if won { context.counters.addSpeculativeWin(context.vertex) }
        if retry {
            context.counters.addRetry(context.vertex)
            launch(p)
        }
        progress.signal()
    }

    /// Whether an attempt that began at `started` on `thread` is blocked now (not running or
    /// runnable) and was blocked (neither on a CPU nor waiting for one) for at least half of the
    /// time since; `true` where procfs gives no account.
    private static func wasBlocked(thread: Int32, since baseline: ThreadSchedule?, started: UInt64, now: UInt64) -> Bool {
        guard let baseline, thread > 0 else { return true }
        guard ThreadSchedule.isRunnable(thread: thread) != true else { return false }
        guard let current = ThreadSchedule.of(thread: thread) else { return true }
        let elapsed = now &- started
        let busy = (current.onCPU &- baseline.onCPU) &+ (current.waiting &- baseline.waiting)
        return busy <= elapsed / 2
    }

    /// Launches speculative copies of the tasks that straggle on evidence about themselves (see
    /// the type's documentation); returns whether every task has a result and, if not, when to
    /// look again (`nil`: at the next task end).
    private func checkStragglers() -> (finished: Bool, deadline: UInt64?) {
        let now = DispatchTime.now().uptimeNanoseconds
        let policy = context.policy
        let minimum = UInt64(policy.speculationMinimum.components.seconds) * 1_000_000_000
            + UInt64(policy.speculationMinimum.components.attoseconds / 1_000_000_000)
        // Phase 1, under the lock: the tasks that pass the time and progress tests.
        var running: [Candidate] = []
        var stalledSiblings: [Candidate] = []
        var queued: [Int] = []
        let state = tasks.withLock { tasks -> (Bool, UInt64?) in
            if tasks.allSatisfy({ $0.result != nil }) { return (true, nil) }
            guard let multiplier = policy.speculationMultiplier, tasks.count > 1 else { return (false, nil) }
            let finished = tasks.compactMap { task in task.duration.map { ($0, task.units ?? 0) } }
            let durations = finished.map(\.0).sorted(), units = finished.map(\.1).sorted()
            // The yardstick: this interval's finished tasks, else the vertex's previous interval;
            // with neither there is no evidence of a stall.
            let previous = context.counters.typical(context.vertex)
            let typical = durations.isEmpty ? previous?.duration : durations[(durations.count - 1) / 2]
            let typicalUnits = units.isEmpty ? previous?.units : units[(units.count - 1) / 2]
            /// Whether a task has read fewer records than the typical sibling's whole input, by the multiplier.
            func lags(_ task: Slot) -> Bool {
                guard let typicalUnits, typicalUnits > 0 else { return false }
                return Double(task.progress?.count ?? 0) * multiplier < Double(typicalUnits)
            }
            var next: UInt64?
            func wake(at due: UInt64) { next = min(next ?? due, due) }

            // A task still queued long after it was launched waits for a worker that a stalled
            // sibling (or other work) holds: start a copy of it on a thread of its own.
            let queueLimit = typical.map { 2 * max(minimum, UInt64(Double($0) * multiplier)) } ?? UInt64.max / 2
            let waiting = tasks.indices.filter {
                tasks[$0].result == nil && !tasks[$0].speculated && tasks[$0].started == 0 && tasks[$0].running > 0
            }
            if !waiting.isEmpty, typical != nil {
                for task in tasks where task.result == nil && task.started > 0 {
                    let due = task.started &+ queueLimit
                    if now < due { wake(at: due) }
                }
                for (p, task) in tasks.enumerated() where task.result == nil && task.started > 0
                    && now >= task.started &+ queueLimit && lags(task) {
                    stalledSiblings.append(Candidate(partition: p, thread: task.thread, baseline: task.baseline,
                                                     started: task.started))
                }
                if !stalledSiblings.isEmpty {
                    for p in waiting {
                        let due = tasks[p].queuedAt &+ queueLimit
                        if now >= due { queued.append(p) } else { wake(at: due) }
                    }
                }
            }

            // Speculate on running tasks once at least half of the siblings have finished.
            guard durations.count * 2 >= tasks.count else { return (false, next) }
            let median = durations[(durations.count - 1) / 2]
            let limit = max(minimum, UInt64(Double(median) * multiplier))
            for (p, task) in tasks.enumerated() where task.result == nil && !task.speculated && task.running > 0
                && task.started > 0 {
                let due = task.started &+ limit
                if now < due {
                    wake(at: due)
                } else if lags(task) {
                    running.append(Candidate(partition: p, thread: task.thread, baseline: task.baseline,
                                             started: task.started))
                }
            }
            return (false, next)
        }
        if state.0 { return state }
        // Phase 2, outside the lock: the kernel's account of the candidates' threads.
        let blocked = { (c: Candidate) in Self.wasBlocked(thread: c.thread, since: c.baseline, started: c.started, now: now) }
        let stalledRunning = running.filter(blocked)
        let anyStalledSibling = stalledSiblings.contains(where: blocked)
        // Phase 3, under the lock: launch the copies the evidence supports, onto idle cores only
        // for running tasks (a copy competing with running tasks for the CPU would slow them).
        var toSpeculate: [Int] = []
        tasks.withLock { tasks in
            if anyStalledSibling {
                for p in queued where tasks[p].result == nil && !tasks[p].speculated && tasks[p].started == 0 {
                    tasks[p].speculated = true
                    toSpeculate.append(p)
                }
            }
            // (Attempts of finished tasks still queued will skip their work: not counted.)
            var runningAttempts = tasks.reduce(0) { count, task in
                task.result == nil ? count + (task.started > 0 ? 1 : 0) + (task.speculated ? 1 : 0) : count
            }
            for candidate in stalledRunning {
                let p = candidate.partition
                guard tasks[p].result == nil, !tasks[p].speculated, tasks[p].started == candidate.started,
                      runningAttempts < cores else { continue }
                tasks[p].speculated = true
                runningAttempts += 1
                toSpeculate.append(p)
            }
        }
        for p in toSpeculate {
            context.counters.addSpeculative(context.vertex)
            launch(p, speculative: true)
        }
        // Candidates that lag but were not blocked (starved or busy) are looked at again later:
        // the evidence may change.
        var deadline = state.1
        if running.count > stalledRunning.count || (!stalledSiblings.isEmpty && !anyStalledSibling) {
            let again = now &+ max(minimum, 2_000_000)
            deadline = min(deadline ?? again, again)
        }
        return (false, deadline)
    }
}
