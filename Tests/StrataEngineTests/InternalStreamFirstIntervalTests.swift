import Foundation
import StrataTestSupport
import Testing
import Synchronization

@testable import Strata
@testable import StrataEngine
@testable import StrataStorage

// A stream's `firstInterval` is the first interval that held records when it was sealed; retention
// never moves it (it moves `retainedFrom`). A program's internal streams (shuffle, exchange, state
// changes) begin where the program began: a new program starts at its inputs' first readable
// interval, so when retention dropped the input's first intervals before the program's first run,
// the internal streams begin after them — `SnapshotTests`' shuffle streams begin at 4 although
// `events` began at 0, because the fixture seals intervals 0…11 before the first run and keeps 8.

@Suite struct InternalStreamFirstIntervalTests {
    /// A program whose first run comes after retention dropped intervals 0…3 of its input starts
    /// at interval 4: every stream it writes begins there, and the input still began at 0.
    @Test func aProgramStartedAfterRetentionBeginsAtTheInputsFirstReadableInterval() throws {
        let directory = try TemporaryDirectory(prefix: "strata-first")
        let path = directory.appending("store")
        try SnapshotFixture.fill(path, intervals: 0..<12)
        try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4).runUntilCaughtUp()
        let store = try Store.open(at: path)
        let events = try store.info(of: "events").frontier
        #expect(events.firstInterval == Interval(0) && events.retainedFrom == Interval(4) && events.firstReadable == Interval(4))
        let written = try Self.programStreams(store)
        #expect(written.contains { $0.descriptor.name == "sn.v0.shuffle" })
        for info in written {
            #expect(info.frontier.firstInterval == Interval(4), "\(info.descriptor.name): \(info.frontier)")
        }
    }

    /// The same program started before retention dropped anything begins at interval 0; the
    /// retention of its internal streams (which follows the input's) then moves their
    /// `retainedFrom`, never their `firstInterval`.
    @Test func retentionOfAnInternalStreamKeepsItsFirstInterval() throws {
        let directory = try TemporaryDirectory(prefix: "strata-first")
        let path = directory.appending("store")
        try SnapshotFixture.fill(path, intervals: 0..<4)
        let program = try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4)
        try program.runUntilCaughtUp()
        try SnapshotFixture.fill(path, intervals: 4..<12)
        try program.runUntilCaughtUp()
        let store = try Store.open(at: path)
        let shuffle = try store.info(of: "sn.v0.shuffle").frontier
        #expect(shuffle == StreamFrontier(sealedThrough: Interval(11), firstInterval: Interval(0), retainedFrom: Interval(4)))
        #expect(shuffle.firstReadable == Interval(4))
        for info in try Self.programStreams(store) {
            #expect(info.frontier.firstInterval == Interval(0), "\(info.descriptor.name): \(info.frontier)")
        }
    }

    /// Input sealed in a burst longer than retention minus the window: the window's shuffle
    /// producer seals its stream through interval 11 while the window is still at interval 3. The
    /// stream keeps what the window will read (back to 6 − 3 = 3 for interval 6's dropped pane)
    /// beyond its retention of 8 intervals, and drops it as the window catches up. Before the
    /// hold, retention dropped intervals 0…3 at the producer's seal and the window failed
    /// `outsideRetention` whenever it fell that far behind (a CI run failed this way).
    @Test func aReaderBehindItsProducerKeepsTheIntervalsItNeeds() throws {
        let directory = try TemporaryDirectory(prefix: "strata-hold")
        let burst = directory.appending("burst")
        try SnapshotFixture.fill(burst, intervals: 0..<4)
        let program = try SnapshotFixture.makeProgram(at: burst, snapshotEvery: 4)
        try program.runUntilCaughtUp()
        try SnapshotFixture.fill(burst, intervals: 4..<12)
        // Only the producer of the window's shuffle stream runs, through the whole burst.
        let window = try #require(program.vertices.first { $0.outputs.contains { $0.name == "windows" } })
        let shuffle = try #require(window.inputs.first { $0.name.hasPrefix("sn.") })
        let producer = try #require(program.vertices.first { $0.outputs.contains { $0.id == shuffle.id } })
        let stopping = Atomic(false)
        _ = try program.run(producer, stopping: stopping)
        let held = try program.log.frontier(of: shuffle)
        #expect(held.sealedThrough == Interval(11), "\(held)")
        // The window committed interval 3: it reads 4 next, back to 4 − 3 = 1.
        #expect(held.retainedFrom == Interval(1), "\(held)")
        try program.runUntilCaughtUp()
        let caughtUp = try program.log.frontier(of: shuffle)
        #expect(caughtUp.sealedThrough == Interval(11) && caughtUp.retainedFrom == Interval(4), "\(caughtUp)")
        try SnapshotFixture.fill(burst, intervals: 12..<16)
        try SnapshotFixture.continueRun(program, at: burst)

        // The same input in steps of four intervals: every stream of the program block for block.
        let steps = directory.appending("steps")
        try SnapshotFixture.fill(steps, intervals: 0..<4)
        let reference = try SnapshotFixture.makeProgram(at: steps, snapshotEvery: 4)
        for start in stride(from: 4, to: 16, by: 4) {
            try reference.runUntilCaughtUp()
            try SnapshotFixture.fill(steps, intervals: start..<(start + 4))
        }
        try SnapshotFixture.continueRun(reference, at: steps)
        try LogImage(ofStoreAt: burst, program: "sn").expectIdentical(to: try LogImage(ofStoreAt: steps, program: "sn"))
    }

    /// An input whose first intervals are sealed empty: the program's streams begin at the
    /// input's first interval with records, whichever commits sealed the empty ones.
    @Test func emptyFirstIntervalsAreBeforeTheStart() throws {
        let directory = try TemporaryDirectory(prefix: "strata-first")
        let path = directory.appending("store")
        let store = try Store(at: path)
        let input = try store.stream("in", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
        let appender = try input.explicitAppender { $0.key }
        try appender.seal(through: Interval(1))  // 0 and 1: sealed empty, alone
        for t in 2..<6 where t != 3 {
            for k in 0..<10 { try appender.append(KeyValue("k\(k)", Int64(t)), interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(5))
        #expect(try store.info(of: "in").frontier.firstInterval == Interval(2))
        let program = try Program(name: "fi", store: store) { p in
            p.read(input).runningReduce(+).save(as: "sums")
        }
        try program.runUntilCaughtUp()
        let sums = try store.info(of: "sums").frontier
        #expect(sums.firstInterval == Interval(2) && sums.sealedThrough == Interval(5), "\(sums)")
        let written = try store.streams().filter { $0.descriptor.name.hasPrefix("fi.") && !$0.descriptor.name.hasSuffix(".late") }
        #expect(written.count >= 2, "\(written.map(\.descriptor.name))")
        for info in written {
            #expect(info.frontier.firstInterval == Interval(2), "\(info.descriptor.name): \(info.frontier)")
        }
    }

    /// The streams program `sn` writes (internal ones and saved outputs), without late side streams.
    static func programStreams(_ store: Store) throws -> [StreamInfo] {
        let saved: Set<String> = ["totals", "windows", "sessions", "active"]
        return try store.streams().filter {
            ($0.descriptor.name.hasPrefix("sn.") || saved.contains($0.descriptor.name)) && !$0.descriptor.name.hasSuffix(".late")
        }
    }
}
