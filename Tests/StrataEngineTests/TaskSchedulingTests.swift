import Dispatch
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataEngine

// Task failures and stragglers: a failed task is retried (a stateful vertex's whole interval,
// from its rebuilt state), a slow one gets a speculative copy, and either way every output block
// is byte-identical to a fault-free run. Faults come from `ProgramOptions.faults`; nothing here
// asserts a timing.

@Suite struct TaskSchedulingTests {
    /// Program `rs` of the restart tests (map, then runningReduce into `totals`) with `options`.
    static func program(at path: String, options: ProgramOptions) throws -> Program {
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        return try Program(name: "rs", store: store, options: options) { p in
            p.read(events).map { KeyValue($0.key, $0.value) }.runningReduce(+).save(as: "totals")
        }
    }

    /// A store with the restart tests' input, and a fault-free run beside it to compare with.
    static func stores(_ directory: TemporaryDirectory) throws -> (faulty: String, reference: String) {
        let faulty = directory.appending("faulty"), reference = directory.appending("reference")
        try RestartFixture.fill(faulty, intervals: 0..<RestartFixture.intervals)
        try RestartFixture.makeReference(reference)
        return (faulty, reference)
    }

    @Test func aFailedStatelessTaskIsRetriedAndTheOutputIsUnchanged() throws {
        let directory = try TemporaryDirectory(prefix: "strata-tasks")
        let (faulty, reference) = try Self.stores(directory)
        var options = ProgramOptions()
        options.faults = TaskFaults(failure: { vertex, interval, partition, attempt in
            vertex == "rs.v0" && interval == Interval(3) && partition == PartitionIndex(1) && attempt == 0
        })
        let program = try Self.program(at: faulty, options: options)
        try program.runUntilCaughtUp()
        let statistics = program.taskStatistics()
        #expect(statistics.first { $0.vertex == "rs.v0" }?.retries == 1)
        try RestartFixture.checkTotals(try Store.open(at: faulty))
        try LogImage(ofStoreAt: faulty, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    @Test func aFailedStatefulTaskRetriesTheIntervalFromRebuiltState() throws {
        let directory = try TemporaryDirectory(prefix: "strata-tasks")
        let (faulty, reference) = try Self.stores(directory)
        var options = ProgramOptions()
        // The running-count vertex fails once in interval 6, after its state took intervals 0…5.
        options.faults = TaskFaults(failure: { vertex, interval, partition, attempt in
            vertex == "rs.v1" && interval == Interval(6) && partition == PartitionIndex(2) && attempt == 0
        })
        let program = try Self.program(at: faulty, options: options)
        try program.runUntilCaughtUp()
        #expect(program.taskStatistics().first { $0.vertex == "rs.v1" }?.retries == 1)
        try RestartFixture.checkTotals(try Store.open(at: faulty))
        try LogImage(ofStoreAt: faulty, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    @Test(arguments: ["rs.v0", "rs.v1"])
    func aTaskFailingEveryAttemptStopsTheProgramNamingIt(vertex failing: String) throws {
        let directory = try TemporaryDirectory(prefix: "strata-tasks")
        let (faulty, _) = try Self.stores(directory)
        // No speculation here: on a loaded machine any task may be speculated, and this test counts attempts.
        var options = ProgramOptions(tasks: TaskPolicy(retries: 3, speculationMultiplier: nil))
        options.faults = TaskFaults(failure: { vertex, interval, partition, _ in
            vertex == failing && interval == Interval(4) && partition == PartitionIndex(0)
        })
        let program = try Self.program(at: faulty, options: options)
        let error = try #require(throws: EngineError.self) { try program.runUntilCaughtUp() }
        guard case .closureFailed(let underlying, let vertex, let interval, let partition) = error else {
            Issue.record("expected closureFailed, got \(error)")
            return
        }
        #expect(vertex == failing)
        #expect(interval == Interval(4))
        #expect(partition == PartitionIndex(0))
        #expect((underlying as? InjectedFault)?.attempt == 3)
        #expect(program.taskStatistics().first { $0.vertex == failing }?.retries == 3)
        // Nothing of interval 4 is committed; the other vertex still caught up: `totals` ends at 3.
        let totals = try Store.open(at: faulty).stream(named: "totals", of: KeyValue<String, Int64>.self)
        let newest = try totals.newestSealedInterval()
        #expect(newest == Interval(3), "totals sealed through \(String(describing: newest))")
    }

    @Test func aStragglerGetsASpeculativeCopyAndTheOutputIsUnchanged() throws {
        let directory = try TemporaryDirectory(prefix: "strata-tasks")
        let (faulty, reference) = try Self.stores(directory)
        // Partition 2 of the shuffle vertex's interval 6 is a straggler: its first attempt ends only
        // once a second attempt (the speculative copy) has started, however slow the machine is.
        // (Five minutes without a copy: the attempt ends and the test fails on `launched`.)
        var options = ProgramOptions(tasks: TaskPolicy(speculationMultiplier: 1.4, speculationMinimum: .milliseconds(20)))
        let copyStarted = DispatchSemaphore(value: 0)
        options.faults = TaskFaults(delay: { vertex, interval, partition, attempt in
            guard vertex == "rs.v0", interval == Interval(6), partition == PartitionIndex(2) else { return nil }
            if attempt == 0 { _ = copyStarted.wait(timeout: .now() + .seconds(300)) } else { copyStarted.signal() }
            return nil
        })
        let program = try Self.program(at: faulty, options: options)
        try program.runUntilCaughtUp()
        // At least the straggler's copy (on a loaded machine other tasks may be speculated too).
        let launched = program.taskStatistics().first { $0.vertex == "rs.v0" }?.speculativeLaunches ?? 0
        #expect(launched >= 1)
        // The store counts the same launches (stats row and per-interval timing rows), the straggler's
        // in interval 6's row, and never more wins than launches.
        let store = try Store.open(at: faulty)
        let status = try #require(try store.programStatus(program: "rs").first { $0.vertex == "rs.v0" })
        #expect(status.speculativeLaunches == UInt64(launched))
        #expect(status.speculativeWins <= status.speculativeLaunches)
        let timings = try store.vertexTimings(of: "rs.v0")
        #expect(timings.reduce(0) { $0 + UInt64($1.speculativeLaunches) } == UInt64(launched))
        #expect(timings.reduce(0) { $0 + UInt64($1.speculativeWins) } == status.speculativeWins)
        #expect((timings.first { $0.interval == Interval(6) }?.speculativeLaunches ?? 0) >= 1)
        #expect(status.speculativePer100Intervals == Double(launched) * 100 / Double(timings.count))
        try RestartFixture.checkTotals(try Store.open(at: faulty))
        try LogImage(ofStoreAt: faulty, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    @Test func speculationOffWaitsForTheStraggler() throws {
        let directory = try TemporaryDirectory(prefix: "strata-tasks")
        let (faulty, reference) = try Self.stores(directory)
        var options = ProgramOptions(tasks: TaskPolicy(speculationMultiplier: nil))
        options.faults = TaskFaults(delay: { vertex, interval, partition, attempt in
            vertex == "rs.v0" && interval == Interval(6) && partition == PartitionIndex(2) && attempt == 0
                ? .milliseconds(100) : nil
        })
        let program = try Self.program(at: faulty, options: options)
        try program.runUntilCaughtUp()
        #expect(program.taskStatistics().allSatisfy { $0.speculativeLaunches == 0 })
        try LogImage(ofStoreAt: faulty, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }
}
