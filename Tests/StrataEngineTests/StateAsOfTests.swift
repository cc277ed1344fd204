import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

// The state of a stateful vertex as of a past interval (`Store.state(of:asOf:key:as:_:)`): the
// nearest snapshot plus the changes after it must equal a plain in-memory fold of the input
// through that interval, whole and per key, at every interval, across snapshot boundaries, for
// `runningReduce` and for `track` with timeouts and `nil` removals.

@Suite struct StateAsOfTests {
    static let intervals = 40

    /// Deterministic input: keys 0...11, values −3...5, every 6th interval empty, from interval 2 on.
    static func input(seed: UInt64) -> [[PairB]] {
        var x = seed
        func next() -> UInt64 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return x >> 33
        }
        return (0..<intervals).map { t in
            guard t >= 2, t % 6 != 5 else { return [] }
            return (0..<Int(next() % 9)).map { _ in PairB(Int64(next() % 12), Int64(next() % 9) - 3) }
        }
    }

    /// Per interval, the running sum of every key seen through it.
    static func runningSums(_ input: [[PairB]]) -> [[Int64: Int64]] {
        var state: [Int64: Int64] = [:]
        return input.map { records in
            for pair in records { state[pair.key, default: 0] += pair.value }
            return state
        }
    }

    /// Per interval, the live keys of `track` (a key sums its events in input-partition then
    /// record order, ends on a negative sum, and times out after `timeout` idle intervals).
    static func trackedSums(_ layout: [[[PairB]]], timeout: Int) -> [[Int64: Int64]] {
        var states: [Int64: (sum: Int64, last: Int)] = [:]
        return layout.indices.map { t in
            // initialize = the event; update = the sum, or nil when it turns negative.
            func fold(_ state: Int64?, _ event: Int64) -> Int64? {
                guard let state else { return event }
                return state + event < 0 ? nil : state + event
            }
            var running: [Int64: Int64?] = [:]
            var order: [Int64] = []
            for pair in layout[t].flatMap({ $0 }) {
                if let current = running[pair.key] {
                    running[pair.key] = .some(fold(current, pair.value))
                } else {
                    order.append(pair.key)
                    running[pair.key] = .some(fold(states[pair.key]?.sum, pair.value))
                }
            }
            for key in order {
                if let sum = running[key]! { states[key] = (sum, t) } else { states[key] = nil }
            }
            states = states.filter { t - $0.value.last < timeout }
            return states.mapValues(\.sum)
        }
    }

    /// Checks the state as of every interval, whole and for every key (plus one never seen).
    static func expectStates(_ store: Store, _ stream: String, _ expected: [[Int64: Int64]], from first: Int,
                             through last: Int) throws {
        for t in first...last {
            let whole = try store.state(of: stream, asOf: Interval(UInt64(t)), as: Int64.self, Int64.self)
            #expect(Dictionary(uniqueKeysWithValues: whole.entries.map { ($0.key, $0.value) }) == expected[t],
                    "\(stream) as of \(t)")
            #expect(isSortedByEncodedKey(whole.entries))
            for key in Int64(0)...12 {
                let one = try store.state(of: stream, asOf: Interval(UInt64(t)), key: key, as: Int64.self, Int64.self)
                #expect(one.entries.map(\.value) == (expected[t][key].map { [$0] } ?? []), "\(stream) key \(key) as of \(t)")
                #expect(one.entries.allSatisfy { $0.key == key })
            }
        }
    }

    @Test func runningReduceStateAsOfEveryInterval() throws {
        let fixture = try EngineFixtureB()
        let input = Self.input(seed: 7)
        _ = try fixture.input("events", input, partitions: 3)
        let events = try fixture.store.stream(named: "events", of: PairB.self)
        try Program(name: "rr", store: fixture.store, snapshotEvery: 7) { p in
            p.read(events).runningReduce(+).save(as: "totals")
        }.runUntilCaughtUp()
        let expected = Self.runningSums(input)
        let descriptor = try #require(try fixture.store.stateDescriptor(of: "totals"))
        #expect(descriptor.kind == .runningReduce && descriptor.vertex == "rr.v1" && descriptor.changes == "rr.v1.out")
        try Self.expectStates(fixture.store, "totals", expected, from: 2, through: Self.intervals - 1)
        // The internal name answers the same; snapshots are used past the first one.
        try Self.expectStates(fixture.store, "rr.v1.out", expected, from: 30, through: 33)
        let snapshots = try fixture.store.log.snapshotIntervals(of: "rr.v1").map(\.0)
        let nearest = try #require(snapshots.last { $0 <= Interval(33) })
        #expect(nearest >= Interval(27))
        let late = try fixture.store.state(of: "totals", asOf: Interval(33), as: Int64.self, Int64.self)
        #expect(late.snapshot == nearest)
        let one = try fixture.store.state(of: "totals", asOf: nearest, key: Int64(3), as: Int64.self, Int64.self)
        #expect(one.snapshot == nearest && one.replayedIntervals == 0)
    }

    @Test func trackStateAsOfEveryIntervalWithTimeoutsAndRemovals() throws {
        let fixture = try EngineFixtureB()
        let input = Self.input(seed: 11)
        let layout = try fixture.input("events", input, partitions: 2)
        let events = try fixture.store.stream(named: "events", of: PairB.self)
        try Program(name: "tr", store: fixture.store, snapshotEvery: 5) { p in
            let sessions = p.read(events).track(initialize: { _, ev in ev },
                                                update: { _, sum, ev in sum + ev < 0 ? nil : sum + ev },
                                                timeout: 3, partitions: 3)
            sessions.updates.save(as: "sessions")
            sessions.activeCount.save(as: "active")
        }.runUntilCaughtUp()
        let expected = Self.trackedSums(layout, timeout: 3)
        // The reference really exercises removals: some key disappears while others stay.
        #expect((1..<Self.intervals).contains { t in expected[t - 1].keys.contains { expected[t][$0] == nil } })
        let descriptor = try #require(try fixture.store.stateDescriptor(of: "sessions"))
        #expect(descriptor.kind == .keyedState && descriptor.changes.hasSuffix(".changes"))
        try Self.expectStates(fixture.store, "sessions", expected, from: 2, through: Self.intervals - 1)
        let active = try fixture.readFlat("active", of: Int64.self, intervals: Self.intervals)
        for t in 2..<Self.intervals { #expect(active[t] == [Int64(expected[t].count)], "live keys at \(t)") }
    }

    /// A damaged snapshot is skipped for an older one (or a replay from the beginning), as in recovery.
    @Test func aDamagedSnapshotIsSkipped() throws {
        let fixture = try EngineFixtureB()
        let input = Self.input(seed: 13)
        _ = try fixture.input("events", input, partitions: 2)
        let events = try fixture.store.stream(named: "events", of: PairB.self)
        try Program(name: "dm", store: fixture.store, snapshotEvery: 10) { p in
            p.read(events).runningReduce(+).save(as: "totals")
        }.runUntilCaughtUp()
        let snapshots = try fixture.store.log.snapshotIntervals(of: "dm.v1").map(\.0)
        #expect(snapshots.count >= 3)
        let damaged = snapshots[snapshots.count - 2]
        for partition in 0..<2 {
            try fixture.store.log.unsafeDamageSnapshot(
                SnapshotKey(vertex: "dm.v1", interval: damaged, partition: PartitionIndex(UInt32(partition))),
                byteOffset: 40)
        }
        let t = Int(damaged.rawValue) + 1
        let found = try fixture.store.state(of: "totals", asOf: Interval(UInt64(t)), as: Int64.self, Int64.self)
        #expect(found.snapshot == snapshots[snapshots.count - 3])
        try Self.expectStates(fixture.store, "totals", Self.runningSums(input), from: t - 3, through: t + 3)
    }

    /// A one-key lookup reads only its key's partition: damage in another partition of the
    /// snapshot does not reach it, while the whole state must step back to an older snapshot.
    @Test func oneKeyReadsOnlyItsPartition() throws {
        let fixture = try EngineFixtureB()
        let input = Self.input(seed: 17)
        _ = try fixture.input("events", input, partitions: 3)
        let events = try fixture.store.stream(named: "events", of: PairB.self)
        try Program(name: "pk", store: fixture.store, snapshotEvery: 10) { p in
            p.read(events).runningReduce(+).save(as: "totals")
        }.runUntilCaughtUp()
        let snapshots = try fixture.store.log.snapshotIntervals(of: "pk.v1").map(\.0)
        let newest = try #require(snapshots.last), older = snapshots[snapshots.count - 2]
        let key = Int64(4)
        let keyPartition = UInt32(encodedB(key).withUnsafeBytes { XXH64.hash($0) } % 3)
        let other = (keyPartition + 1) % 3
        try fixture.store.log.unsafeDamageSnapshot(
            SnapshotKey(vertex: "pk.v1", interval: newest, partition: PartitionIndex(other)), byteOffset: 40)
        let expected = Self.runningSums(input)[Int(newest.rawValue)]
        let one = try fixture.store.state(of: "totals", asOf: newest, key: key, as: Int64.self, Int64.self)
        #expect(one.snapshot == newest)
        #expect(one.entries.map(\.value) == (expected[key].map { [$0] } ?? []))
        let whole = try fixture.store.state(of: "totals", asOf: newest, as: Int64.self, Int64.self)
        #expect(whole.snapshot == older)
        #expect(Dictionary(uniqueKeysWithValues: whole.entries.map { ($0.key, $0.value) }) == expected)
    }

    @Test func errorsOutsideTheAnswerableIntervals() throws {
        let fixture = try EngineFixtureB()
        let input = Self.input(seed: 3)
        _ = try fixture.input("events", input, partitions: 2)
        let events = try fixture.store.stream(named: "events", of: PairB.self)
        try Program(name: "er", store: fixture.store, snapshotEvery: 5) { p in
            p.read(events).runningReduce(+).save(as: "totals")
        }.runUntilCaughtUp()
        let store = fixture.store
        #expect(throws: StorageError.self) { try store.state(of: "nope", asOf: Interval(5), as: Int64.self, Int64.self) }
        do {
            _ = try store.state(of: "events", asOf: Interval(5), as: Int64.self, Int64.self)
            Issue.record("events has no state")
        } catch EngineError.noState {}
        do {
            _ = try store.state(of: "totals", asOf: Interval(5), as: String.self, Int64.self)
            Issue.record("wrong key type")
        } catch EngineError.noState {}
        do {
            _ = try store.state(of: "totals", asOf: Interval(1), as: Int64.self, Int64.self)
            Issue.record("before the stream began")
        } catch StorageError.beforeStreamStart {}
        do {
            _ = try store.state(of: "totals", asOf: Interval(UInt64(Self.intervals)), as: Int64.self, Int64.self)
            Issue.record("not sealed")
        } catch StorageError.notSealed {}
    }

    /// With retention, every interval the output retains is answered (the newest snapshot before
    /// the retention start is kept, and the change stream keeps a snapshot period more than the
    /// input); intervals before `retainedFrom` are refused.
    @Test func retentionKeepsEveryRetainedIntervalAnswerable() throws {
        let fixture = try EngineFixtureB()
        let input = Self.input(seed: 5)
        let stream = try fixture.store.stream("events", of: PairB.self, interval: .seconds(1), partitions: 2,
                                              retention: .intervals(10))
        let appender = try stream.explicitAppender()
        let program = { try Program(name: "rt", store: fixture.store, snapshotEvery: 5) { p in
            p.read(stream).runningReduce(+).save(as: "totals")
        } }
        // Run as the input arrives, so that the state's snapshots are taken before retention drops input.
        for start in stride(from: 0, to: Self.intervals, by: 5) {
            try fixture.append(Array(input[start..<start + 5]), from: start, to: appender)
            try program().runUntilCaughtUp()
        }
        let retainedFrom = try fixture.store.info(of: "totals").frontier.retainedFrom
        #expect(retainedFrom == Interval(UInt64(Self.intervals - 10)))
        let changes = try fixture.store.info(of: "rt.v1.out")
        #expect(changes.descriptor.retention == .intervals(15))
        let snapshots = try fixture.store.log.snapshotIntervals(of: "rt.v1").map(\.0)
        #expect(snapshots.contains { $0 <= retainedFrom }, "\(snapshots)")  // the state as of retainedFrom starts there
        for t in 0..<Int(retainedFrom.rawValue) {
            do {
                _ = try fixture.store.state(of: "totals", asOf: Interval(UInt64(t)), as: Int64.self, Int64.self)
                Issue.record("as of \(t): expected outsideRetention")
            } catch StorageError.outsideRetention {}
        }
        try Self.expectStates(fixture.store, "totals", Self.runningSums(input), from: Int(retainedFrom.rawValue),
                              through: Self.intervals - 1)
    }
}
