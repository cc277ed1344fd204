import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// Restart: a program stopped part-way — after a prefix of the input, or killed in the middle of
// an interval — and continued later by a new `Program` (in a new process) gives outputs identical
// to one uninterrupted run, block for block: no duplicate, no gap. A changed definition under the
// same program name is refused.

@Suite struct RestartTests {
    /// Runs over intervals 0…3, then a new `Program` continues after 4…9 are sealed.
    @Test func continuingAfterMoreInputMatchesAnUninterruptedRun() throws {
        let directory = try TemporaryDirectory(prefix: "strata-restart")
        let stopped = directory.appending("stopped")
        try RestartFixture.fill(stopped, intervals: 0..<RestartFixture.prefix)
        do {
            let summary = try RestartFixture.makeProgram(at: stopped).runUntilCaughtUp()
            #expect(summary.progress["rs.v1"] == Interval(UInt64(RestartFixture.prefix - 1)))
        }
        try RestartFixture.fill(stopped, intervals: RestartFixture.prefix..<RestartFixture.intervals)
        let summary = try RestartFixture.makeProgram(at: stopped).runUntilCaughtUp()
        #expect(summary.progress["rs.v1"] == Interval(UInt64(RestartFixture.intervals - 1)))

        let reference = directory.appending("reference")
        try RestartFixture.makeReference(reference)
        try RestartFixture.checkTotals(try Store.open(at: stopped))
        try LogImage(ofStoreAt: stopped, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    /// Kills the process (`_exit`) in the middle of interval 7, in the shuffle vertex or in the
    /// running-reduce vertex, then continues in another process.
    @Test(arguments: [RestartFixture.KillPoint.shuffle, .running])
    func aProcessKilledMidIntervalContinuesWithoutDuplicateOrGap(killPoint: RestartFixture.KillPoint) async throws {
        let directory = try TemporaryDirectory(prefix: "strata-restart")
        let killed = directory.appending("killed")
        // Every store access of this store happens in child processes until they are all done.
        await #expect(processExitsWith: .exitCode(0)) { [path = killed as String] in
            try RestartFixture.fill(path, intervals: 0..<RestartFixture.prefix)
            try RestartFixture.makeProgram(at: path).runUntilCaughtUp()
            try RestartFixture.fill(path, intervals: RestartFixture.prefix..<RestartFixture.intervals)
        }
        await #expect(processExitsWith: .exitCode(RestartFixture.killedExitCode)) {
            [path = killed as String, point = killPoint.rawValue as String] in
            try RestartFixture.makeProgram(at: path, killAt: RestartFixture.KillPoint(rawValue: point)).runUntilCaughtUp()
        }
        await #expect(processExitsWith: .exitCode(0)) { [path = killed as String] in
            let program = try RestartFixture.makeProgram(at: path)
            // The killed run stopped before the running state (which also writes `totals`) reached its interval.
            let progress = try program.progress()
            guard progress.count == 2,
                  progress.dropFirst().allSatisfy({ ($0.through ?? Interval(0)) < Interval(UInt64(RestartFixture.killInterval)) })
            else { exit(3) }
            try program.runUntilCaughtUp()
        }
        let reference = directory.appending("reference")
        try RestartFixture.makeReference(reference)
        try RestartFixture.checkTotals(try Store.open(at: killed))
        try LogImage(ofStoreAt: killed, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    @Test func aChangedDefinitionUnderTheSameNameIsRefused() throws {
        let directory = try TemporaryDirectory(prefix: "strata-restart")
        let path = directory.appending("store")
        try RestartFixture.fill(path, intervals: 0..<RestartFixture.prefix)
        try RestartFixture.makeProgram(at: path).runUntilCaughtUp()
        try RestartFixture.fill(path, intervals: RestartFixture.prefix..<RestartFixture.intervals)

        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        let changed = try Program(name: "rs", store: store) { p in
            p.read(events).filter { $0.value > 0 }.map { KeyValue($0.key, $0.value) }.runningReduce(+).save(as: "totals")
        }
        let error = try #require(throws: EngineError.self) { try changed.runUntilCaughtUp() }
        guard case .misuse(let message) = error else {
            Issue.record("expected EngineError.misuse, got \(error)")
            return
        }
        #expect(message.contains("rs.v0"))
        // Nothing ran: the outputs stay where the first definition left them.
        let totals = try store.stream(named: "totals", of: KeyValue<String, Int64>.self)
        #expect(try totals.newestSealedInterval() == Interval(UInt64(RestartFixture.prefix - 1)))
        let before = Interval(UInt64(RestartFixture.prefix - 1))
        #expect(try changed.progress().map(\.through) == [before, before])

        // The original definition still continues.
        try RestartFixture.makeProgram(at: path).runUntilCaughtUp()
        try RestartFixture.checkTotals(store)
    }
}

// MARK: - The program and its input

/// The restart tests' input and program `rs`: a running sum per key,
/// `read(events).map → runningReduce(+) → save(as: "totals")` (vertices v0 shuffle, v1 running
/// state, v2 save).
enum RestartFixture {
    static let intervals = 10
    /// The intervals sealed before the first stop.
    static let prefix = 4
    /// Intervals without any record, one before the stop and one after.
    static let emptyIntervals: Set<Int> = [2, 5]
    /// The interval in which a killed run dies; its marker record carries `markerValue`.
    static let killInterval = 7
    static let markerValue: Int64 = 1_000_000
    static let killedExitCode: Int32 = 42

    /// Where a killed run dies: in the shuffle vertex's `map`, or in the running state's `combine`.
    enum KillPoint: String, Sendable, CustomTestStringConvertible {
        case shuffle, running
        var testDescription: String { rawValue }
    }

    /// The records of interval `t`.
    static func records(_ t: Int) -> [KeyValue<String, Int64>] {
        guard !emptyIntervals.contains(t) else { return [] }
        var state = UInt64(t + 11) &* 0x9E37_79B9_7F4A_7C15
        var records: [KeyValue<String, Int64>] = []
        for _ in 0..<(1_500 + 100 * t) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            records.append(KeyValue("u\(Int(state >> 33) % 600)", Int64(state >> 61) + 1))
        }
        // The marker key is in every non-empty interval: in `killInterval` the running state
        // already holds it, so the state's `combine` sees the marker value.
        records.append(KeyValue("marker", t == killInterval ? markerValue : 1))
        return records
    }

    /// Appends intervals `range` to stream `events` of the store at `path` (created when missing),
    /// partitioned by key, and seals through the range's end.
    static func fill(_ path: String, intervals range: Range<Int>) throws {
        let store = try Store(at: path)
        let events = try store.stream("events", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 3)
        let appender = try events.explicitAppender() { $0.key }
        for t in range {
            for record in records(t) { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(UInt64(range.upperBound - 1)))
    }

    /// Program `rs` on the store at `path`; with `killAt`, it `_exit`s in the middle of
    /// `killInterval` at that point (the closures differ, the definition does not).
    static func makeProgram(at path: String, killAt: KillPoint? = nil) throws -> Program {
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        let killInMap = killAt == .shuffle, killInState = killAt == .running
        return try Program(name: "rs", store: store) { p in
            p.read(events)
                .map { record in
                    if killInMap && record.value == markerValue { _exit(killedExitCode) }
                    return KeyValue(record.key, record.value)
                }
                .runningReduce { (total: Int64, value: Int64) in
                    // Only the running state combines the marker with an earlier total: the
                    // marker is alone in its interval and partition.
                    if killInState && value == markerValue { _exit(killedExitCode) }
                    return total + value
                }
                .save(as: "totals")
        }
    }

    /// A store with all the input, processed in one run.
    static func makeReference(_ path: String) throws {
        try fill(path, intervals: 0..<intervals)
        try makeProgram(at: path).runUntilCaughtUp()
    }

    /// Checks `totals` against a fold of the input: each interval holds exactly the keys updated
    /// in it, each once, with its running sum.
    static func checkTotals(_ store: Store) throws {
        let totals = try store.stream(named: "totals", of: KeyValue<String, Int64>.self)
        #expect(try totals.newestSealedInterval() == Interval(UInt64(intervals - 1)))
        var running: [String: Int64] = [:]  // lookup only
        for t in 0..<intervals {
            var updated: [String: Int64] = [:]  // lookup only
            for record in records(t) {
                running[record.key, default: 0] += record.value
                updated[record.key] = running[record.key]
            }
            let output = try totals.read(Interval(UInt64(t))).records
            #expect(output.count == updated.count, "interval \(t): \(output.count) records for \(updated.count) keys")
            #expect(DeterminismFixture.sorted(output) == DeterminismFixture.sorted(updated), "interval \(t)")
        }
    }
}
