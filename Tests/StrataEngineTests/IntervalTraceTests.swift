import StrataTestSupport
import Synchronization
import Testing

@testable import Strata

/// `ProgramOptions.trace` notes every processed interval of every vertex once per step, in the
/// steps' order: found, began, processed, committed; and, with a task hook, every partition task
/// once (no retries or speculation here), its CPU time within its wall time.
@Suite struct IntervalTraceTests {
    @Test func everyProcessedIntervalPassesEachStepOnceInOrder() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-trace")
        let store = try Store(at: directory.appending("s"), options: StoreOptions(durability: .groupCommit))
        let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
        let appender = try views.explicitAppender { $0.key }
        for t in 0..<4 {
            for i in 0..<50 { try appender.append(KeyValue("k\(i % 7)", 1), interval: Interval(UInt64(t))) }
        }
        try await appender.seal(through: Interval(3))
        let noted = Mutex<[String]>([])
        let tasks = Mutex<[String]>([])
        var options = ProgramOptions()
        options.tasks.speculationMultiplier = nil
        options.trace = IntervalTrace(record: { vertex, interval, step in
            noted.withLock { $0.append("\(vertex)/\(interval.rawValue)/\(step)") }
        }, task: { vertex, interval, run in
            // The CPU clock's resolution may round up a task this small: 1 ms of slack.
            #expect(run.cpuNanoseconds <= run.wallNanoseconds + 1_000_000 && !run.speculative)
            tasks.withLock { $0.append("\(vertex)/\(interval.rawValue)/\(run.partition.rawValue)") }
        })
        // v0: the shuffle's map side; v1: the running count, saved.
        let program = try Program(name: "p", store: store, options: options) { p in
            p.read(views).reduceByKey(partitions: 3, +).runningReduce(+).save(as: "totals")
        }
        try await onOwnThread(within: .seconds(300)) { _ = try program.runUntilCaughtUp() }
        let steps = noted.withLock { $0 }
        for vertex in ["p.v0", "p.v1"] {
            for t in 0..<4 {
                let expected = IntervalTrace.Step.allCases.map { "\(vertex)/\(t)/\($0)" }
                let seen = steps.filter { $0.hasPrefix("\(vertex)/\(t)/") }
                #expect(seen == expected, "\(vertex), interval \(t)")
            }
        }
        // v0 has a task per input partition (2), v1 per shuffle partition (3), each interval.
        let ran = tasks.withLock { $0 }
        for (vertex, partitions) in [("p.v0", 2), ("p.v1", 3)] {
            for t in 0..<4 {
                let expected = (0..<partitions).map { "\(vertex)/\(t)/\($0)" }
                #expect(ran.filter { $0.hasPrefix("\(vertex)/\(t)/") }.sorted() == expected, "\(vertex), interval \(t)")
            }
        }
    }
}
