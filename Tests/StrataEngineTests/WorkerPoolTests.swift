import Dispatch
import Glibc
import StrataStorage
import StrataTestSupport
import Synchronization
import Testing

@testable import Strata
@testable import StrataEngine

// The engine runs partition tasks on threads it owns (`WorkerPool`), not on Dispatch's global
// pool: an application that blocks every Dispatch worker does not take the engine's parallelism.
// Nothing here asserts a timing: waits are on conditions, with deadlines of minutes.

@Suite struct WorkerPoolTests {
    /// While every worker of Dispatch's global pool is blocked (and more blocking work is queued
    /// behind them, so that the workers libdispatch adds once a second block too), two partition
    /// tasks of one interval of a stateless vertex still run at the same time, on two of the
    /// engine's threads. On Dispatch's pool the tasks would wait behind the blocked work.
    ///
    /// Synchronous, and the program runs on a thread of its own: on Linux, Swift's cooperative
    /// pool runs on Dispatch's workers too, so nothing here may wait for an async task while they
    /// are blocked (other tests of the process wait meanwhile; with the engine's own threads, for
    /// a moment).
    @Test(.enabled(if: cores >= 2))
    func partitionTasksRunTogetherWhileDispatchWorkersAreBlocked() throws {
        let directory = try TemporaryDirectory(prefix: "strata-pool")
        let (path, reference) = try TaskSchedulingTests.stores(directory)
        let meeting = TaskMeeting(deadline: .now() + .seconds(180))
        var options = ProgramOptions(tasks: TaskPolicy(speculationMultiplier: nil))
        let blocker = DispatchBlocker(jobs: 256)
        options.faults = TaskFaults(delay: { vertex, interval, _, attempt in
            if vertex == "rs.v0", interval == Interval(3), attempt == 0 { meeting.arrive(whileBlocked: blocker.isHolding) }
            return nil
        })
        // Every Dispatch worker there is now is blocked before the program starts.
        #expect(blocker.waitUntilHolding(atLeast: cores, deadline: .now() + .seconds(180)))
        let configured = options
        let outcome = SharedBox<Result<Void, any Error>?>(nil)
        let run = EngineThread(named: "test-program") {
            let result = Result<Void, any Error> {
                let program = try TaskSchedulingTests.program(at: path, options: configured)
                try program.runUntilCaughtUp()
            }
            outcome.update { $0 = result }
        }
        let met = meeting.waitUntilMet()
        blocker.release()
        run.join()
        try #require(outcome.value).get()
        #expect(met, "no two tasks of interval 3 ran at the same time while Dispatch's workers were blocked")
        #expect(meeting.threadsWhileBlocked.count >= 2)
        #expect(meeting.namesWhileBlocked.allSatisfy { $0.hasPrefix("strata-task-") }, "\(meeting.namesWhileBlocked)")
        try RestartFixture.checkTotals(try Store.open(at: path))
        try LogImage(ofStoreAt: path, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    /// A pool's threads are named, created once by the first lease (however many loops run on
    /// them), shared by every lease, and end when the last lease is dropped; the next lease starts
    /// a new set.
    @Test func threadsAreNamedCreatedOnceAndEndWithTheLastLease() {
        let pool = WorkerPool(name: "strata-ptest", width: 2)
        var first: WorkerPool.Lease? = pool.lease()
        var second: WorkerPool.Lease? = pool.lease()
        let workers = first!.workers
        #expect(second!.workers === workers)
        let names = SharedBox(Set<String>())  // membership only
        let caller = pthread_self()
        for _ in 0..<200 {
            ParallelLoop.run(8, helpers: 1, on: workers) { _ in
                guard pthread_self() != caller else { return }
                let name = threadName()
                names.update { _ = $0.insert(name) }
            }
        }
        #expect(workers.threadsCreated == 2)
        #expect(names.value.isSubset(of: ["strata-ptest-0", "strata-ptest-1"]))
        // Both threads busy at once (each names itself before its first job): the process lists
        // them by name.
        let gate = DispatchSemaphore(value: 0), arrived = DispatchSemaphore(value: 0)
        for _ in 0..<2 {
            workers.submit {
                arrived.signal()
                gate.wait()
            }
        }
        var both = true
        for _ in 0..<2 where arrived.wait(timeout: .now() + .seconds(300)) == .timedOut { both = false }
        #expect(both)
        let listed = threadNamesOfProcess().filter { $0.hasPrefix("strata-ptest-") }
        gate.signal()
        gate.signal()
        #expect(listed.sorted() == ["strata-ptest-0", "strata-ptest-1"])

        first = nil
        #expect(pool.current === workers)
        #expect(workers.threadsAlive == 2)
        second = nil
        #expect(pool.current == nil)
        #expect(workers.waitUntilEnded(deadline: .now() + .seconds(300)))
        #expect(workers.threadsAlive == 0)

        let again = pool.lease()
        #expect(again.workers !== workers)
        #expect(again.workers.threadsCreated == 2)
    }

    /// Every index of a loop runs exactly once, and every submitted job runs exactly once, even
    /// one submitted after the threads were told to stop (it runs on a thread of its own).
    @Test func everyIndexAndEveryJobRunsExactlyOnce() {
        let pool = WorkerPool(name: "strata-pexact", width: 2)
        var lease: WorkerPool.Lease? = pool.lease()
        let workers = lease!.workers
        let count = 20_000
        let runs = SharedBox([Int](repeating: 0, count: count))
        for _ in 0..<4 {
            ParallelLoop.run(count, helpers: 1, on: workers) { i in runs.update { $0[i] += 1 } }
        }
        #expect(runs.value.allSatisfy { $0 == 4 })

        let jobs = 1_000
        let done = DispatchSemaphore(value: 0)
        let ran = SharedBox(0)
        for _ in 0..<jobs {
            workers.submit {
                ran.update { $0 += 1 }
                done.signal()
            }
        }
        lease = nil  // the threads stop once the queue is drained
        workers.submit {
            ran.update { $0 += 1 }
            done.signal()
        }
        var all = true
        for _ in 0...jobs where done.wait(timeout: .now() + .seconds(300)) == .timedOut { all = false }
        #expect(all)
        #expect(ran.value == jobs + 1)
        #expect(workers.waitUntilEnded(deadline: .now() + .seconds(300)))
    }

    /// With every one of the pool's threads blocked, a loop still ends: the calling thread runs
    /// every index itself, without waiting for a helper to start.
    @Test func aLoopEndsWhenEveryPoolThreadIsBlocked() {
        let pool = WorkerPool(name: "strata-pbusy", width: 2)
        let lease = pool.lease()
        let hold = DispatchSemaphore(value: 0)
        let holding = DispatchSemaphore(value: 0)
        for _ in 0..<2 {
            lease.workers.submit {
                holding.signal()
                hold.wait()
            }
        }
        var held = true
        for _ in 0..<2 where holding.wait(timeout: .now() + .seconds(300)) == .timedOut { held = false }
        #expect(held)
        let caller = pthread_self()
        let onCaller = SharedBox(0)
        ParallelLoop.run(100, helpers: 1, on: lease.workers) { _ in
            if pthread_self() == caller { onCaller.update { $0 += 1 } }
        }
        #expect(onCaller.value == 100)
        hold.signal()
        hold.signal()
    }

    /// Programs share the process's threads, and a program gone releases its lease.
    @Test func programsShareThePoolAndReleaseItWhenGone() throws {
        let directory = try TemporaryDirectory(prefix: "strata-pool")
        let (path, _) = try TaskSchedulingTests.stores(directory)
        weak var released: WorkerPool.Lease?
        try {
            let one = try TaskSchedulingTests.program(at: path, options: ProgramOptions())
            let two = try TaskSchedulingTests.program(at: path, options: ProgramOptions())
            #expect(one.workerLease.workers === two.workerLease.workers)
            try one.runUntilCaughtUp()
            released = one.workerLease
        }()
        #expect(released == nil)
    }
}

/// Blocks Dispatch's global pool: `jobs` jobs on `DispatchQueue.global()`, each waiting until
/// `release()`. More jobs than workers, so that workers libdispatch adds meanwhile block too.
final class DispatchBlocker: Sendable {
    private let jobs: Int
    private let gate = DispatchSemaphore(value: 0)
    private let started = DispatchSemaphore(value: 0)
    private let holding = Atomic<Int>(0)
    private let released = Atomic<Bool>(false)

    init(jobs: Int) {
        self.jobs = jobs
        for _ in 0..<jobs {
            DispatchQueue.global().async { [self] in
                guard !released.load(ordering: .sequentiallyConsistent) else { return }
                holding.add(1, ordering: .sequentiallyConsistent)
                started.signal()
                gate.wait()
                holding.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    /// Whether the blocking jobs still hold workers (`release()` not called yet).
    var isHolding: Bool { !released.load(ordering: .sequentiallyConsistent) }

    /// Waits until `count` workers are blocked; `false` if `deadline` passes first.
    func waitUntilHolding(atLeast count: Int, deadline: DispatchTime) -> Bool {
        for _ in 0..<count where started.wait(timeout: deadline) == .timedOut { return false }
        return true
    }

    /// Lets every blocking job end (jobs not started yet return at once).
    func release() {
        released.store(true, ordering: .sequentiallyConsistent)
        for _ in 0..<jobs { gate.signal() }
    }
}

/// Where the tasks of one interval meet: each arriving task waits until a second one is there at
/// the same time (or the deadline passes); records the threads that met while Dispatch's workers
/// were blocked.
final class TaskMeeting: Sendable {
    private struct State {
        var present = 0
        var met = false
        var threads: Set<UInt> = []  // membership only
        var names: [String] = []
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let deadline: DispatchTime

    init(deadline: DispatchTime) { self.deadline = deadline }

    /// The pthread ids of the tasks that met while blocked.
    var threadsWhileBlocked: Set<UInt> { state.withLock { $0.threads } }
    /// Their thread names.
    var namesWhileBlocked: [String] { state.withLock { $0.names } }

    /// A task arrives: it waits until another task is present too.
    func arrive(whileBlocked: Bool) {
        let me = UInt(bitPattern: Int(bitPattern: pthread_self()))
        let name = threadName()
        let metNow = state.withLock { state -> Bool in
            state.present += 1
            if whileBlocked, !state.met {
                state.threads.insert(me)
                state.names.append(name)
            }
            if state.present >= 2, whileBlocked, !state.met {
                state.met = true
                return true
            }
            return false
        }
        if !metNow { _ = waitUntilMet() } else { wake.signal() }  // wakes a waiter, who passes it on
        state.withLock { $0.present -= 1 }
    }

    /// Waits until two tasks were present at the same time while blocked; `false` at the deadline.
    func waitUntilMet() -> Bool {
        while !state.withLock({ $0.met }) {
            if wake.wait(timeout: deadline) == .timedOut { return state.withLock { $0.met } }
        }
        wake.signal()  // pass the wake-up on to another waiter
        return true
    }
}

/// A value shared with other threads, behind a lock.
final class SharedBox<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    var value: Value { state.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { state.withLock { body(&$0) } }
}

/// The calling thread's name, from `/proc/thread-self/comm` ("" where procfs gives none).
func threadName() -> String {
    let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 64)
    let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return "" }
    return String(decoding: bytes[0..<count].filter { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
}

/// The names of this process's threads, from `/proc/self/task/*/comm`.
func threadNamesOfProcess() -> [String] {
    guard let directory = opendir("/proc/self/task") else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let id = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard id.first?.isNumber == true else { continue }
        let fd = open("/proc/self/task/\(id)/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { continue }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard count > 0 else { continue }
        names.append(String(decoding: bytes[0..<count].filter { $0 != UInt8(ascii: "\n") }, as: UTF8.self))
    }
    return names
}
