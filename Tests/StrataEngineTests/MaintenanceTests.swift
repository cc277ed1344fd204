import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataEngine

// Maintenance: a graceful stop and a restart continue seamlessly; a batch run over a range of
// historical intervals (startAt/through) equals the live run there; a changed definition is
// refused unless the user chooses to continue.

@Suite struct MaintenanceTests {
    @Test func aGracefulStopThenARestartMatchesAnUninterruptedRun() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-maint")
        let path = directory.appending("stopped"), reference = directory.appending("reference")
        try RestartFixture.fill(path, intervals: 0..<RestartFixture.intervals)
        try RestartFixture.makeReference(reference)

        let program = try RestartFixture.makeProgram(at: path)
        let running = Task { try await program.run(pollInterval: .milliseconds(5)) }
        // Stop once the run has begun (a stop before it would reach no run): wait for that with a
        // generous deadline, not a count of short sleeps (a loaded machine starts it late).
        let deadline = ContinuousClock.now + .seconds(120)
        while !program.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        // Any moment of the run is a valid stop point; this one lets it do some work first.
        try await Task.sleep(for: .milliseconds(20))
        program.stop()
        try await running.value
        // Whatever it reached, every vertex committed whole intervals; a new program finishes.
        try RestartFixture.makeProgram(at: path).runUntilCaughtUp()
        try RestartFixture.checkTotals(try Store.open(at: path))
        try LogImage(ofStoreAt: path, program: "rs").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "rs"))
    }

    @Test func aBatchRunOverPastIntervalsEqualsTheLiveRunThere() throws {
        let directory = try TemporaryDirectory(prefix: "strata-maint")
        let path = directory.appending("store")
        try RestartFixture.makeReference(path)
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        let options = ProgramOptions(startAt: Interval(3), through: Interval(7))
        let batch = try Program(name: "batch", store: store, options: options) { p in
            p.read(events).map { KeyValue($0.key, $0.value) }.runningReduce(+).save(as: "totals.batch")
        }
        let summary = try batch.runUntilCaughtUp()
        #expect(summary.progress.values.allSatisfy { $0 == Interval(7) })
        let live = try store.stream(named: "totals", of: KeyValue<String, Int64>.self)
        let replayed = try store.stream(named: "totals.batch", of: KeyValue<String, Int64>.self)
        #expect(try replayed.newestSealedInterval() == Interval(7))
        for t in 3...7 {
            let mine = try replayed.read(Interval(UInt64(t))).partitions
            let theirs = try live.read(Interval(UInt64(t))).partitions
            #expect(mine == theirs, "interval \(t)")
        }
        // The batch's outputs begin at its first interval.
        #expect(throws: StorageError.self) { try replayed.read(Interval(2)) }
    }

    @Test func aChangedDefinitionContinuesWhenTheUserSaysSo() throws {
        let directory = try TemporaryDirectory(prefix: "strata-maint")
        let path = directory.appending("store")
        try RestartFixture.fill(path, intervals: 0..<RestartFixture.prefix)
        try RestartFixture.makeProgram(at: path).runUntilCaughtUp()
        try RestartFixture.fill(path, intervals: RestartFixture.prefix..<RestartFixture.intervals)

        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        func changed(_ choice: ProgramOptions.ChangedDefinition) throws -> Program {
            try Program(name: "rs", store: store, options: ProgramOptions(changedDefinition: choice)) { p in
                p.read(events).map { KeyValue($0.key, $0.value * 2) }.filter { $0.value > 0 }
                    .runningReduce(+).save(as: "totals")
            }
        }
        #expect(throws: EngineError.self) { try changed(.refuse).runUntilCaughtUp() }
        let summary = try changed(.continue).runUntilCaughtUp()
        #expect(summary.progress.values.allSatisfy { $0 == Interval(UInt64(RestartFixture.intervals - 1)) })
        // Intervals before the change keep their values; later ones use the new definition
        // (values doubled from the prefix on, on top of the running totals so far).
        let totals = try store.stream(named: "totals", of: KeyValue<String, Int64>.self)
        let marker = { (t: Int) throws -> Int64? in
            try totals.read(Interval(UInt64(t))).records.first { $0.key == "marker" }?.value
        }
        let before = try marker(RestartFixture.prefix - 1), after = try marker(RestartFixture.prefix)
        #expect(before == 3)  // intervals 0, 1, 3 (2 is empty)
        let expectedAfter: Int64 = 3 + 2
        #expect(after == expectedAfter)
    }

    /// `transform(definition:)`: the definition is part of the fingerprint, so the same closure
    /// under another definition is refused, and under the same one resumes.
    @Test func aTransformsDefinitionIsPartOfTheFingerprint() throws {
        let directory = try TemporaryDirectory(prefix: "strata-maint")
        let path = directory.appending("store")
        try RestartFixture.fill(path, intervals: 0..<2)
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        func defined(_ definition: String) throws -> Program {
            try Program(name: "defined", store: store) { p in
                p.read(events).transform(definition: definition) { _, _, batch in batch }.save(as: "copied")
            }
        }
        _ = try defined("first").runUntilCaughtUp()
        try RestartFixture.fill(path, intervals: 2..<4)  // interval 2 is empty, 3 is not
        #expect(throws: EngineError.self) { try defined("second").runUntilCaughtUp() }
        let resumed = try defined("first").runUntilCaughtUp()
        #expect(resumed.intervals > 0)
    }

    @Test func aProgramThatReadsItsOwnOutputOrSavesTwiceIsRefused() throws {
        let directory = try TemporaryDirectory(prefix: "strata-maint")
        let path = directory.appending("store")
        try RestartFixture.fill(path, intervals: 0..<2)
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        #expect(throws: EngineError.self) {
            _ = try Program(name: "twice", store: store) { p in
                let counts = p.read(events).runningReduce(+)
                counts.save(as: "same")
                counts.map { $0 }.save(as: "same")
            }
        }
        let loopback = try store.stream("loop", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 3)
        #expect(throws: EngineError.self) {
            _ = try Program(name: "cycle", store: store) { p in
                p.read(loopback).map { $0 }.save(as: "loop")
            }
        }
    }
}
