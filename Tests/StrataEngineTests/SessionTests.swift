import PropertyBased
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

@Suite struct SessionTests {
    /// Events of the session tests: 0 join, 1 exit, anything else activity.
    static let exit: Int64 = 1

    /// The seeds' session tracking: state 1 per active client, `nil` on exit, 3-interval timeout;
    /// `activeCount` is the number of active sessions per interval.
    @Test func seedsActiveSessions() throws {
        let fixture = try EngineFixtureB()
        let events: [[PairB]] = [
            [PairB(1, 0), PairB(2, 0)],  // t0: clients 1 and 2 join
            [PairB(3, 0)],               // t1: client 3 joins
            [PairB(1, Self.exit)],       // t2: client 1 leaves
            [],                          // t3: client 2 times out (idle in t1, t2, t3)
            [PairB(2, 2)],               // t4: client 2 is back; client 3 times out
            [], [], [], [],              // t7: client 2 times out
        ]
        _ = try fixture.input("events", events, partitions: 3)
        let stream = try fixture.store.stream(named: "events", of: PairB.self)
        try fixture.run("sessions") { p in
            let sessions = p.read(stream).track(initialize: { _, _ in Int64(1) },
                                                update: { _, _, ev in ev == Self.exit ? nil : 1 },
                                                timeout: 3)
            sessions.activeCount.save(as: "activeSessions")
            sessions.updates.save(as: "sessionUpdates")
        }
        #expect(try fixture.readFlat("activeSessions", of: Int64.self, intervals: 9)
                == [[2], [3], [2], [1], [1], [1], [1], [0], [0]])
        let updates = try fixture.readFlat("sessionUpdates", of: PairB.self, intervals: 9)
        #expect(updates.map { Set($0.map(\.key)) } == [[1, 2], [3], [], [], [2], [], [], [], []])
    }

    /// `track` emits the reference model's updates and live-key counts, for random events,
    /// partitionings and timeouts.
    @Test func trackMatchesReference() async {
        await propertyCheck(count: 30, input: EngineGenB.keyedIntervals, EngineGenB.partitions, EngineGenB.partitions,
                            Gen.int(in: 0...4)) { intervals, partitions, statePartitions, timeoutChoice throws in
            let fixture = try EngineFixtureB()
            let layout = try fixture.input("events", intervals, partitions: partitions)
            let timeout = timeoutChoice == 0 ? nil : timeoutChoice
            let stream = try fixture.store.stream(named: "events", of: PairB.self)
            // A session sums its events and ends on a negative running sum.
            try fixture.run("track") { p in
                let sessions = p.read(stream).track(initialize: { _, ev in ev },
                                                    update: { _, sum, ev in sum + ev < 0 ? nil : sum + ev },
                                                    timeout: timeout, partitions: statePartitions)
                sessions.updates.save(as: "updates")
                sessions.activeCount.save(as: "active")
            }
            let expected = ReferenceB.keyedState(layout, count: intervals.count, timeout: timeout) {
                (_: Int64, events: [Int64], previous: Int64?) -> Int64? in
                var state = previous
                for ev in events { state = state.map { $0 + ev < 0 ? nil : $0 + ev } ?? ev }
                return state
            }
            let updates = try fixture.readFlat("updates", of: PairB.self, intervals: intervals.count)
            let active = try fixture.readFlat("active", of: Int64.self, intervals: intervals.count)
            for t in 0..<intervals.count {
                #expect(Dictionary(uniqueKeysWithValues: updates[t].map { ($0.key, $0.value) }) == expected.updates[t],
                        "interval \(t)")
                #expect(active[t] == (expected.live[t].map { [Int64($0)] } ?? []), "interval \(t)")
            }
        }
    }

    /// `track` (each event folded as it comes, one table lookup per key and interval, removals
    /// followed by index) writes the same bytes as `updateStateByKey` with a step folding the
    /// key's values (a lookup per key after every change): its updates and its changes, whose
    /// timed-out keys come in the table's order, so the tables' orders after appends and
    /// swap-removals are the same too.
    @Test func trackWritesWhatTheFoldingStepWrites() async {
        let events = Gen.int64(in: 0...(40 * 7 - 1)).map { PairB($0 / 7, $0 % 7 - 3) }.array(of: 0...40).array(of: 1...8)
        await propertyCheck(count: 25, input: events, EngineGenB.partitions, Gen.int(in: 0...3)) {
            intervals, partitions, timeoutChoice throws in
            let fixture = try EngineFixtureB()
            _ = try fixture.input("events", intervals, partitions: partitions)
            let timeout = timeoutChoice == 0 ? nil : timeoutChoice
            let stream = try fixture.store.stream(named: "events", of: PairB.self)
            try fixture.run("tracked") { p in
                p.read(stream).track(initialize: { _, ev in ev }, update: { _, sum, ev in sum + ev < 0 ? nil : sum + ev },
                                     timeout: timeout, partitions: 3).updates.save(as: "tracked")
            }
            try fixture.run("folded") { p in
                p.read(stream).updateStateByKey(timeout: timeout, partitions: 3) {
                    (_: Int64, events: [Int64], previous: Int64?) -> Int64? in
                    var state = previous
                    for ev in events { state = state.map { $0 + ev < 0 ? nil : $0 + ev } ?? ev }
                    return state
                }.save(as: "folded")
            }
            #expect(try fixture.read("tracked", of: PairB.self, intervals: intervals.count)
                    == fixture.read("folded", of: PairB.self, intervals: intervals.count))
            let trackedChanges = try #require(try fixture.store.stateDescriptor(of: "tracked")).changes
            let foldedChanges = try #require(try fixture.store.stateDescriptor(of: "folded")).changes
            #expect(try fixture.read(trackedChanges, of: KeyValue<Int64, Int64?>.self, intervals: intervals.count)
                    == fixture.read(foldedChanges, of: KeyValue<Int64, Int64?>.self, intervals: intervals.count))
        }
    }

    /// Restarting a `track` program after more input is sealed gives the same updates and counts
    /// as one uninterrupted run.
    @Test func trackSurvivesRestart() async {
        await propertyCheck(count: 15, input: EngineGenB.keyedIntervals, EngineGenB.partitions, Gen.int(in: 0...10),
                            Gen.int(in: 1...3)) { intervals, partitions, cut, timeout throws in
            let fixture = try EngineFixtureB()
            let (stream, appender) = try fixture.input("events", of: PairB.self, partitions: partitions)
            let split = min(cut, intervals.count - 1)
            func define(_ prefix: String) -> (ProgramBuilder) throws -> Void {
                { p in
                    let sessions = p.read(stream).track(initialize: { _, ev in ev },
                                                        update: { _, sum, ev in sum + ev < 0 ? nil : sum + ev },
                                                        timeout: timeout)
                    sessions.updates.save(as: prefix + "Updates")
                    sessions.activeCount.save(as: prefix + "Active")
                }
            }
            try fixture.append(Array(intervals[...split]), from: 0, to: appender)
            try fixture.run("restarted", define("restarted"))
            if split + 1 < intervals.count {
                try fixture.append(Array(intervals[(split + 1)...]), from: split + 1, to: appender)
            }
            try fixture.run("restarted", define("restarted"))
            try fixture.run("once", define("once"))
            let count = intervals.count
            #expect(try fixture.read("restartedUpdates", of: PairB.self, intervals: count)
                    == fixture.read("onceUpdates", of: PairB.self, intervals: count))
            #expect(try fixture.read("restartedActive", of: Int64.self, intervals: count)
                    == fixture.read("onceActive", of: Int64.self, intervals: count))
        }
    }
    /// Streaming mode: one interval sealed at a time, the same program instance run after each
    /// seal (also before any event, when every sealed interval is empty), gives the same
    /// sessions, counts and windowed counts as one run over everything.
    @Test func intervalByIntervalEqualsOneRun() async {
        await propertyCheck(count: 10, input: EngineGenB.keyedIntervals, EngineGenB.partitions,
                            Gen.int(in: 1...3)) { intervals, partitions, timeout throws in
            let fixture = try EngineFixtureB()
            let (stream, appender) = try fixture.input("events", of: PairB.self, partitions: partitions)
            func define(_ prefix: String) -> (ProgramBuilder) throws -> Void {
                { p in
                    let events = p.read(stream)
                    let sessions = events.track(initialize: { _, ev in ev },
                                                update: { _, sum, ev in sum + ev < 0 ? nil : sum + ev },
                                                timeout: timeout)
                    sessions.updates.save(as: prefix + "Updates")
                    sessions.activeCount.save(as: prefix + "Active")
                    events.reduceByKeyAndWindow(+, inverse: -, length: 2).save(as: prefix + "Window")
                }
            }
            let stepwise = try Program(name: "stepwise", store: fixture.store, define: define("stepwise"))
            for (t, records) in ([[]] + intervals).enumerated() {  // interval 0 is always empty here
                try fixture.append([records], from: t, to: appender)
                try stepwise.runUntilCaughtUp()
            }
            try fixture.run("once", define("once"))
            let count = intervals.count + 1
            #expect(try fixture.read("stepwiseUpdates", of: PairB.self, intervals: count)
                    == fixture.read("onceUpdates", of: PairB.self, intervals: count))
            #expect(try fixture.read("stepwiseActive", of: Int64.self, intervals: count)
                    == fixture.read("onceActive", of: Int64.self, intervals: count))
            #expect(try fixture.read("stepwiseWindow", of: PairB.self, intervals: count)
                    == fixture.read("onceWindow", of: PairB.self, intervals: count))
        }
    }
}
