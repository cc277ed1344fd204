import PropertyBased
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

@Suite struct StateTests {
    /// An order-sensitive update that sometimes drops its key: exercises value order and removal.
    static let update: @Sendable (Int64, [Int64], Int64?) -> Int64? = { _, values, state in
        let folded = values.reduce(state ?? 1) { $0 &* 3 &+ $1 }
        return folded % 4 == 0 ? nil : folded
    }

    /// `updateStateByKey` emits per interval exactly the reference model's updated keys and states,
    /// with and without a timeout, for any partitioning.
    @Test func updateStateByKeyMatchesReference() async {
        await propertyCheck(count: 30, input: EngineGenB.keyedIntervals, EngineGenB.partitions, EngineGenB.partitions,
                            Gen.int(in: 0...3)) { intervals, partitions, statePartitions, timeoutChoice throws in
            let fixture = try EngineFixtureB()
            let layout = try fixture.input("in", intervals, partitions: partitions)
            let timeout = timeoutChoice == 0 ? nil : timeoutChoice
            let input = try fixture.store.stream(named: "in", of: PairB.self)
            try fixture.run("state") { p in
                p.read(input).updateStateByKey(timeout: timeout, partitions: statePartitions, Self.update)
                    .save(as: "states")
            }
            let expected = ReferenceB.keyedState(layout, count: intervals.count, timeout: timeout) {
                key, values, state in
                Self.update(key, values, state)
            }
            let states = try fixture.readFlat("states", of: PairB.self, intervals: intervals.count)
            for t in 0..<intervals.count {
                #expect(Dictionary(uniqueKeysWithValues: states[t].map { ($0.key, $0.value) }) == expected.updates[t],
                        "interval \(t)")
                #expect(states[t].count == expected.updates[t].count)
            }
        }
    }

    /// The seeds' running count, written with `updateStateByKey`, equals `runningReduce(+)`.
    @Test func updateStateByKeyCanRunACount() throws {
        let fixture = try EngineFixtureB()
        let intervals: [[PairB]] = [
            [PairB(1, 1), PairB(2, 1), PairB(1, 1)], [], [PairB(2, 1)], [PairB(3, 1), PairB(1, 1)],
        ]
        _ = try fixture.input("views", intervals, partitions: 3)
        let views = try fixture.store.stream(named: "views", of: PairB.self)
        try fixture.run("counts") { p in
            p.read(views).updateStateByKey { (_: Int64, ones: [Int64], count: Int64?) in
                (count ?? 0) + ones.reduce(0, +)
            }.save(as: "byState")
            p.read(views).runningReduce(+).save(as: "byRunningReduce")
        }
        let byState = try fixture.readFlat("byState", of: PairB.self, intervals: 4)
        let byRunningReduce = try fixture.readFlat("byRunningReduce", of: PairB.self, intervals: 4)
        #expect(byState.map { Set($0) } == byRunningReduce.map { Set($0) })
        #expect(byState.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value) }) }
                == [[1: 2, 2: 1], [:], [2: 2], [3: 1, 1: 3]])
    }

    /// A new `Program` instance with the same name, run after more input is sealed, rebuilds the
    /// state from the log: its output equals one uninterrupted run's, partition by partition.
    @Test func updateStateByKeySurvivesRestart() async {
        await propertyCheck(count: 15, input: EngineGenB.keyedIntervals, EngineGenB.partitions, Gen.int(in: 0...10),
                            Gen.int(in: 0...3)) { intervals, partitions, cut, timeoutChoice throws in
            let fixture = try EngineFixtureB()
            let (stream, appender) = try fixture.input("in", of: PairB.self, partitions: partitions)
            let split = min(cut, intervals.count - 1)
            let timeout = timeoutChoice == 0 ? nil : timeoutChoice
            func define(_ output: String) -> (ProgramBuilder) throws -> Void {
                { p in p.read(stream).updateStateByKey(timeout: timeout, Self.update).save(as: output) }
            }
            try fixture.append(Array(intervals[...split]), from: 0, to: appender)
            try fixture.run("restarted", define("restarted"))
            if split + 1 < intervals.count {
                try fixture.append(Array(intervals[(split + 1)...]), from: split + 1, to: appender)
            }
            try fixture.run("restarted", define("restarted"))
            try fixture.run("once", define("once"))
            let count = intervals.count
            #expect(try fixture.read("restarted", of: PairB.self, intervals: count)
                    == fixture.read("once", of: PairB.self, intervals: count))
        }
    }

    /// A timeout below 1 fails the program's definition.
    @Test func invalidTimeoutIsRejected() throws {
        let fixture = try EngineFixtureB()
        _ = try fixture.input("in", [[PairB(1, 1)]], partitions: 1)
        let input = try fixture.store.stream(named: "in", of: PairB.self)
        #expect(throws: EngineError.self) {
            try Program(name: "bad", store: fixture.store) { p in
                p.read(input).updateStateByKey(timeout: 0, Self.update).save(as: "x")
            }
        }
    }
}
