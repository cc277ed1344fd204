import PropertyBased
@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// The operators issue 11 adds for Spark Streaming users (mapValues, flatMapValues,
/// transform(with:), groupByKeyAndWindow, updateStateByKey with the interval, every key and an
/// initial state, track with an initial state) against plain in-memory models.
@Suite struct SparkParityOperatorTests {
    @Test func mapValuesAndFlatMapValuesKeepKeysPartitionsAndOrder() async {
        await propertyCheck(count: 10, input: EngineGenA.keyedIntervals, EngineGenA.partitions) { intervals, p in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            try fixture.run { b in
                b.read(stream).mapValues { $0 * 3 }.save(as: "mapped")
                b.read(stream).flatMapValues { v in (0..<Int64(abs(v) % 3)).map { v + $0 } }.save(as: "flat")
            }
            let mapped = try fixture.read("mapped", of: KV.self, intervals: intervals.count)
            let flat = try fixture.read("flat", of: KV.self, intervals: intervals.count)
            #expect(mapped == layout.map { $0.map { $0.map { KV($0.key, $0.value * 3) } } })
            #expect(flat == layout.map { $0.map { $0.flatMap { kv in (0..<abs(kv.value) % 3).map { KV(kv.key, kv.value + $0) } } } })
        }
    }

    @Test func transformWithGetsBothBatchesOfTheSamePartition() async {
        await propertyCheck(count: 10, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, EngineGenA.partitions) {
            left, right, p in
            let length = max(left.count, right.count)
            let fixture = try EngineFixtureA()
            let (a, layoutA) = try fixture.input("a", left + Array(repeating: [], count: length - left.count), partitions: p)
            let (b, layoutB) = try fixture.input("b", right + Array(repeating: [], count: length - right.count), partitions: p)
            try fixture.run { builder in
                builder.read(a).transform(with: builder.read(b)) { interval, partition, mine, theirs in
                    // The keys of `mine` also in `theirs`, tagged with the interval and partition.
                    let keys = Set(theirs.map(\.key))
                    return ContiguousArray(mine.filter { keys.contains($0.key) }.map {
                        KV($0.key, Int64(interval.rawValue) * 1000 + Int64(partition.rawValue) * 100 + $0.value)
                    })
                }.save(as: "out")
            }
            let out = try fixture.read("out", of: KV.self, intervals: length)
            for t in 0..<length where !(layoutA[t].joined().isEmpty && layoutB[t].joined().isEmpty) {
                let expected = (0..<p).map { q in
                    let keys = Set(layoutB[t][q].map(\.key))
                    return layoutA[t][q].filter { keys.contains($0.key) }.map { KV($0.key, Int64(t) * 1000 + Int64(q) * 100 + $0.value) }
                }
                #expect(out[t] == expected)
            }
        }
    }

    @Test func groupByKeyAndWindowMatchesAModel() async {
        let shapes = zip(Gen.int(in: 1...3), Gen.int(in: 1...2), EngineGenA.partitions, EngineGenA.partitions)
        await propertyCheck(count: 10, input: EngineGenA.keyedIntervals, shapes) { intervals, shape in
            let (length, slide, p, q) = shape
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            try fixture.run { $0.read(stream).groupByKeyAndWindow(length: length, slide: slide, partitions: q).save(as: "out") }
            let out = try fixture.read("out", of: KeyValue<Int64, [Int64]>.self, intervals: intervals.count)
            let first = intervals.firstIndex { !$0.isEmpty } ?? intervals.count
            for t in intervals.indices {
                guard (t + 1) % slide == 0, t >= first else {
                    #expect(out[t].joined().isEmpty)
                    continue
                }
                let window = max(0, t - length + 1, first)...t
                // A key's values: input partition, then interval, then record order.
                var model: [Int64: [Int64]] = [:]
                for partition in 0..<p {
                    for u in window { for pair in layout[u][partition] { model[pair.key, default: []].append(pair.value) } }
                }
                let got = Array(out[t].joined())
                #expect(got.count == model.count)
                for pair in got { #expect(model[pair.key] == pair.value) }
            }
        }
    }

    /// `updateStateByKey(everyKey: true)` against a model that calls `update` for every live key
    /// every interval, with an initial state and a decaying score.
    @Test func updateStateByKeyForEveryKeyMatchesAModel() async {
        let initial = [KV(1, 40), KV(5, 9), KV(1, 64)]  // key 1 given twice: the last state
        await propertyCheck(count: 10, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            let update: @Sendable (Interval, Int64, [Int64], Int64?) -> Int64? = { t, _, values, state in
                let next = values.isEmpty ? (state ?? 0) / 2 : (state ?? 0) + abs(values.reduce(0, +)) + Int64(t.rawValue)
                return next >= 1 ? next : nil
            }
            try fixture.run {
                $0.read(stream).updateStateByKey(partitions: q, initialState: initial, everyKey: true, update).save(as: "out")
            }
            let out = try fixture.read("out", of: KV.self, intervals: intervals.count)
            let first = intervals.firstIndex { !$0.isEmpty } ?? intervals.count
            var state: [Int64: Int64] = [:]
            for t in intervals.indices where t >= first {
                if t == first { state = [1: 64, 5: 9] }
                var values: [Int64: [Int64]] = [:]
                for partition in layout[t] { for pair in partition { values[pair.key, default: []].append(pair.value) } }
                for key in Set(state.keys).union(values.keys) {
                    state[key] = update(Interval(UInt64(t)), key, values[key] ?? [], state[key])
                }
                #expect(multiset(out[t].joined()) == multiset(state.map { KV($0.key, $0.value) }))
            }
        }
    }

    /// Initial state for `updateStateByKey` (keys only emitted when they get values) and `track`
    /// (counted as live from the first interval with events).
    @Test func initialStateSeedsUpdateStateByKeyAndTrack() throws {
        let fixture = try EngineFixtureA()
        let (stream, _) = try fixture.input("in", [[], [KV(1, 1), KV(2, 2)], [], [KV(3, 3)], [], []], partitions: 2)
        try fixture.run { b in
            b.read(stream).updateStateByKey(partitions: 3, initialState: [KV(1, 100), KV(7, 700)]) {
                (_: Int64, values: [Int64], state: Int64?) in (state ?? 0) + values.reduce(0, +)
            }.save(as: "totals")
            let tracked = b.read(stream).track(initialize: { _, v in v }, update: { _, s, v in s + v }, timeout: 2,
                                               partitions: 3, initialState: [KV(1, 100), KV(7, 700)])
            tracked.updates.save(as: "updates")
            tracked.activeCount.save(as: "active")
        }
        let totals = try fixture.read("totals", of: KV.self, intervals: 6).map { multiset($0.joined()) }
        #expect(totals[1] == multiset([KV(1, 101), KV(2, 2)]))
        #expect(totals[3] == multiset([KV(3, 3)]))
        let updates = try fixture.read("updates", of: KV.self, intervals: 6).map { multiset($0.joined()) }
        #expect(updates[1] == multiset([KV(1, 101), KV(2, 2)]))
        // Keys 1, 2 and 7 were active at interval 1 and time out at the end of interval 3; key 3 at 5.
        let active = try fixture.read("active", of: Int64.self, intervals: 6).map { Array($0.joined()) }
        #expect(active == [[], [3], [3], [1], [1], [0]])
    }

    /// Initial state from another stream (Spark's `initialRDD` computed by another job): the
    /// key/state pairs of one sealed interval of a stream, read when the program is defined. A
    /// sealed interval never changes, so a restarted program gets the same initial state.
    @Test func initialStateFromAStreamsSealedInterval() throws {
        let fixture = try EngineFixtureA()
        let (stream, _) = try fixture.input("in", [[], [KV(1, 1), KV(2, 2)], [], [KV(3, 3)]], partitions: 2)
        let (seed, _) = try fixture.input("seed", [[KV(9, 9)], [KV(1, 100), KV(7, 700)]], partitions: 2)
        let initial = try seed.read(Interval(1)).records
        try fixture.run { b in
            b.read(stream).updateStateByKey(partitions: 3, initialState: initial) {
                (_: Int64, values: [Int64], state: Int64?) in (state ?? 0) + values.reduce(0, +)
            }.save(as: "totals")
        }
        let totals = try fixture.read("totals", of: KV.self, intervals: 4).map { multiset($0.joined()) }
        #expect(totals[1] == multiset([KV(1, 101), KV(2, 2)]))
        #expect(totals[3] == multiset([KV(3, 3)]))
    }

    /// `mapWithState` against a model: one call per record in order, a state handle that updates
    /// and removes, timeout calls at the end of interval `last + timeout`, an initial state, and
    /// state snapshots every 2 intervals.
    @Test func mapWithStateMatchesAModel() async {
        let initial = [KV(3, 5), KV(6, 1)]
        let settings = zip(Gen.int(in: 1...3), EngineGenA.partitions, EngineGenA.partitions)
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, settings) { intervals, setting in
            let (timeout, p, q) = setting
            let padded = intervals + Array(repeating: [], count: timeout + 1)  // room for the timeouts
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", padded, partitions: p)
            let function: @Sendable (Interval, Int64, Int64?, inout KeyState<Int64>) throws -> KV? = { _, key, value, state in
                guard let value else {
                    #expect(state.isTimingOut)
                    return KV(key, -1000 - (state.get() ?? 0))
                }
                #expect(!state.isTimingOut)
                let next = (state.get() ?? 0) + value
                if next > 30 {
                    try state.remove()
                    return KV(key, 999)
                }
                if value == 0 { return nil }
                try state.update(next)
                return KV(key, next)
            }
            try fixture.run { b in
                let streams = b.read(stream).mapWithState(timeout: timeout, partitions: q, initialState: initial,
                                                          stateSnapshotsEvery: 2, function)
                streams.mapped.save(as: "mapped")
                streams.stateSnapshots().save(as: "snapshots")
            }
            let mapped = try fixture.read("mapped", of: KV.self, intervals: padded.count)
            let snapshots = try fixture.read("snapshots", of: KV.self, intervals: padded.count)
            let first = padded.firstIndex { !$0.isEmpty } ?? padded.count
            var state: [Int64: (value: Int64, last: Int)] = [:]
            for t in padded.indices where t >= first {
                if t == first { for pair in initial { state[pair.key] = (pair.value, t) } }
                var expected: [KV] = []
                for partition in layout[t] {
                    for pair in partition {
                        var handle = KeyState<Int64>(state[pair.key]?.value, isTimingOut: false)
                        if let out = try function(Interval(UInt64(t)), pair.key, pair.value, &handle) { expected.append(out) }
                        if let value = handle.current { state[pair.key] = (value, t) } else { state[pair.key] = nil }
                    }
                }
                for (key, entry) in state where t - entry.last >= timeout {
                    expected.append(KV(key, -1000 - entry.value))
                    state[key] = nil
                }
                #expect(multiset(mapped[t].joined()) == multiset(expected), "interval \(t)")
                let snapshot = (t + 1) % 2 == 0 ? state.map { KV($0.key, $0.value.value) } : []
                #expect(multiset(snapshots[t].joined()) == multiset(snapshot), "snapshot \(t)")
            }
        }
    }

    @Test func stateSnapshotsWithoutAPeriodFailTheDefinition() throws {
        let fixture = try EngineFixtureA()
        let (stream, _) = try fixture.input("in", [[KV(1, 1)]], partitions: 1)
        #expect(throws: EngineError.self) {
            try fixture.run { b in
                b.read(stream).mapWithState { (_: Interval, k: Int64, v: Int64?, _: inout KeyState<Int64>) in v.map { KV(k, $0) } }
                    .stateSnapshots().save(as: "snapshots")
            }
        }
    }

    /// A user partition function routes every keyed operator's keys (its result taken modulo the
    /// partition count, negative counting from the end), and the results equal the hash-routed ones.
    @Test func aUserPartitionFunctionRoutesEveryKeyedOperator() async {
        await propertyCheck(count: 8, input: EngineGenA.keyedIntervals, EngineGenA.partitions, Gen.int(in: 1...4)) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let (stream, _) = try fixture.input("in", intervals, partitions: p)
            let partitioner = KeyPartitioner<Int64>("negated") { -Int($0) }
            try fixture.run { b in
                let x = b.read(stream)
                for (suffix, by) in [("custom", Optional(partitioner)), ("hash", nil)] {
                    x.reduceByKey(partitions: q, partitioner: by, +).save(as: "reduce-" + suffix)
                    x.groupByKey(partitions: q, partitioner: by).save(as: "group-" + suffix)
                    x.join(x, partitions: q, partitioner: by).save(as: "join-" + suffix)
                    x.updateStateByKey(partitions: q, partitioner: by, initialState: [KV(2, 1000)]) {
                        (_: Int64, values: [Int64], state: Int64?) in (state ?? 0) + values.reduce(0, +)
                    }.save(as: "state-" + suffix)
                    x.mapWithState(partitions: q, partitioner: by) {
                        (_: Interval, key: Int64, value: Int64?, state: inout KeyState<Int64>) -> KV? in
                        try state.update((state.get() ?? 0) + (value ?? 0))
                        return KV(key, state.get() ?? 0)
                    }.mapped.save(as: "mapped-" + suffix)
                }
            }
            func expected(_ key: Int64) -> Int { ((-Int(key)) % q + q) % q }
            for name in ["reduce", "group", "join", "state", "mapped"] {
                func keysAndMultisets<R: RecordCodable>(_ type: R.Type, _ key: (R) -> Int64) throws
                    -> (custom: [[[R]]], hash: [[[R]]]) {
                    (try fixture.read(name + "-custom", of: R.self, intervals: intervals.count),
                     try fixture.read(name + "-hash", of: R.self, intervals: intervals.count))
                }
                let (custom, hash): ([[[String]]], [[[String]]])
                switch name {
                case "group":
                    let r = try keysAndMultisets(KeyValue<Int64, [Int64]>.self, \.key)
                    for t in r.custom.indices { for (partition, records) in r.custom[t].enumerated() {
                        #expect(records.allSatisfy { expected($0.key) == partition }, "\(name) \(t)") } }
                    (custom, hash) = (r.custom.map { $0.map { $0.map { "\($0)" } } }, r.hash.map { $0.map { $0.map { "\($0)" } } })
                case "join":
                    let r = try keysAndMultisets(KeyValue<Int64, Pair<Int64, Int64>>.self, \.key)
                    for t in r.custom.indices { for (partition, records) in r.custom[t].enumerated() {
                        #expect(records.allSatisfy { expected($0.key) == partition }, "\(name) \(t)") } }
                    (custom, hash) = (r.custom.map { $0.map { $0.map { "\($0)" } } }, r.hash.map { $0.map { $0.map { "\($0)" } } })
                default:
                    let r = try keysAndMultisets(KV.self, \.key)
                    for t in r.custom.indices { for (partition, records) in r.custom[t].enumerated() {
                        #expect(records.allSatisfy { expected($0.key) == partition }, "\(name) \(t)") } }
                    (custom, hash) = (r.custom.map { $0.map { $0.map { "\($0)" } } }, r.hash.map { $0.map { $0.map { "\($0)" } } })
                }
                #expect(custom.map { multiset($0.joined()) } == hash.map { multiset($0.joined()) }, "\(name)")
            }
        }
    }
}
