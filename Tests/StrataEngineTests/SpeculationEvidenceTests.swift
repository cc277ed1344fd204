import Dispatch
import Foundation
import Glibc
import StrataStorage
import StrataTestSupport
import Synchronization
import Testing

@testable import Strata
@testable import StrataEngine

// Issue 16: speculation fires on evidence about the task — its own progress against its
// siblings', and being blocked rather than starved of a CPU — not whenever the cores are busy.
// Nothing here asserts a timing: the straggler stays stalled until its copy starts (with a
// deadline of minutes), and the uniform case has no stall a copy could overtake at all.

@Suite struct SpeculationEvidenceTests {
    /// Partition 2 of the shuffle vertex's interval 6 blocks (sleeps in short steps) until its
    /// speculative copy starts: it has read nothing while its siblings read their whole input, and
    /// it is blocked, not waiting for a CPU. It must get a copy, and the output is unchanged.
    @Test func aBlockedTaskThatLagsItsSiblingsIsSpeculated() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-spec")
        let (faulty, reference) = try TaskSchedulingTests.stores(directory)
        let copyStarted = TestFlag()
        var options = ProgramOptions(tasks: TaskPolicy(speculationMultiplier: 1.4, speculationMinimum: .milliseconds(5)))
        options.faults = TaskFaults(delay: { vertex, interval, partition, attempt in
            guard vertex == "rs.v0", interval == Interval(6), partition == PartitionIndex(2) else { return nil }
            if attempt > 0 {
                copyStarted.set()
                return nil
            }
            // One long sleep until the copy starts (a stall, as on I/O): polling in short sleeps
            // would show, on a loaded machine, as mostly waiting for a CPU after each wake-up.
            copyStarted.wait(seconds: 180)
            return nil
        })
        let configured = options
        let statistics = try await onTestThread {
            let program = try TaskSchedulingTests.program(at: faulty, options: configured)
            try program.runUntilCaughtUp()
            return program.taskStatistics()
        }
        #expect(copyStarted.isSet, "the straggler got no copy within 180 s")
        #expect((statistics.first { $0.vertex == "rs.v0" }?.speculativeLaunches ?? 0) >= 1)
        try RestartFixture.checkTotals(try Store.open(at: faulty))
        try LogImage(ofStoreAt: faulty, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    /// Every task of every interval does the same CPU work before it reads (uniform slowness),
    /// while two busy threads starve the cores: tasks wait for a CPU or run, never block, so no
    /// copy is launched however long they take — with a speculation limit low enough that the
    /// duration rule alone would fire.
    @Test func uniformSlownessUnderACPUHogIsNotSpeculated() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-spec")
        let (faulty, reference) = try TaskSchedulingTests.stores(directory)
        var options = ProgramOptions(tasks: TaskPolicy(speculationMultiplier: 1.1, speculationMinimum: .microseconds(200)))
        options.faults = TaskFaults(delay: { vertex, _, _, _ in
            if vertex == "rs.v0" { spinCPU(milliseconds: 3) }
            return nil
        })
        let stopHogs = TestFlag()
        let hogs = (0..<2).map { _ in
            Thread { while !stopHogs.isSet { spinCPU(milliseconds: 1) } }
        }
        for hog in hogs { hog.start() }
        defer { stopHogs.set() }
        let configured = options
        let statistics = try await onTestThread {
            let program = try TaskSchedulingTests.program(at: faulty, options: configured)
            try program.runUntilCaughtUp()
            return program.taskStatistics()
        }
        stopHogs.set()
        #expect(statistics.allSatisfy { $0.speculativeLaunches == 0 }, "\(statistics)")
        try LogImage(ofStoreAt: faulty, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    @Test func schedstatTextParses() {
        #expect(ThreadSchedule.parse(Array("557790 2542023 2\n".utf8)[...]) == ThreadSchedule(onCPU: 557_790, waiting: 2_542_023))
        #expect(ThreadSchedule.parse(Array("12 34".utf8)[...]) == ThreadSchedule(onCPU: 12, waiting: 34))
        #expect(ThreadSchedule.parse(Array("12\n".utf8)[...]) == nil)
        #expect(ThreadSchedule.parse(Array("99999999999999999999999 1 1".utf8)[...]) == nil)
        #expect(ThreadSchedule.parse([][...]) == nil)
        #expect(ThreadSchedule.parseState(Array("42 (a (b) c) S 1 2".utf8)[...]) == UInt8(ascii: "S"))
        #expect(ThreadSchedule.parseState(Array("42 (x) R".utf8)[...]) == UInt8(ascii: "R"))
        #expect(ThreadSchedule.parseState(Array("42 (x)".utf8)[...]) == nil)
        #expect(ThreadSchedule.parseState(Array("42 x R".utf8)[...]) == nil)
    }

    /// The kernel's account of this thread: present on Linux, and the CPU time grows with work.
    @Test func theCallingThreadsAccountIsReadable() async throws {
        let grew = try await onTestThread { () -> Bool in
            guard let before = ThreadSchedule.current() else { return false }
            spinCPU(milliseconds: 5)
            guard let after = ThreadSchedule.of(thread: before.thread) else { return false }
            return after.onCPU > before.schedule.onCPU && ThreadSchedule.isRunnable(thread: before.thread) == true
        }
        #expect(grew)
    }
}

/// A flag set once, read from any thread.
final class TestFlag: Sendable {
    private let value = Atomic<Bool>(false)
    private let signal = DispatchSemaphore(value: 0)
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    func set() {
        if !value.exchange(true, ordering: .sequentiallyConsistent) { signal.signal() }
    }
    /// Sleeps until `set()` (or `seconds` pass), without waking in between.
    func wait(seconds: Int) {
        if isSet { return }
        _ = signal.wait(timeout: .now() + .seconds(seconds))
    }
}

/// Burns `milliseconds` of this thread's CPU time (not wall-clock time).
func spinCPU(milliseconds: Int) {
    var start = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
    let target = Int64(start.tv_sec) * 1_000_000_000 + Int64(start.tv_nsec) + Int64(milliseconds) * 1_000_000
    var x: UInt64 = 1
    while true {
        for _ in 0..<1_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        if Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) >= target { break }
    }
    if x == 0 { print("") }  // keeps the loop from being optimized away
}

/// Runs blocking work on a thread of its own, never on the cooperative pool.
func onTestThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
