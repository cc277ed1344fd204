import PropertyBased
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// The two-stream operators (join, the outer joins, cogroup) against plain in-memory models:
/// per key the exact value order, per output partition the documented key order, and equal
/// results for any partition counts.
@Suite struct JoinTests {
    typealias Joined<Out: RecordCodable> = KeyValue<Int64, Out>

    /// Runs `define` over `left` and `right` (with `p` and `r` partitions, `q` for the join) and
    /// checks every interval against `model`, which gets both sides in (partition, record) order
    /// and returns the output in the global key order (left first-seen keys, then right-only keys).
    private func check<Out: RecordCodable & Equatable>(
        _ left: [[KV]], _ right: [[KV]], p: Int, r: Int, q: Int,
        _ define: (DStream<KV>, DStream<KV>, Int) -> DStream<Joined<Out>>,
        model: ([KV], [KV]) -> [Joined<Out>]
    ) throws {
        let length = max(left.count, right.count)
        let fixture = try EngineFixtureA()
        let (a, layoutA) = try fixture.input(
            "a", left + Array(repeating: [], count: length - left.count), partitions: p)
        let (b, layoutB) = try fixture.input(
            "b", right + Array(repeating: [], count: length - right.count), partitions: r)
        try fixture.run { builder in define(builder.read(a), builder.read(b), q).save(as: "out") }
        let out = try fixture.read("out", of: Joined<Out>.self, intervals: length)
        for t in 0..<length {
            let expected = model(Array(layoutA[t].joined()), Array(layoutB[t].joined()))
            #expect(out[t].count == q)
            #expect(multiset(out[t].joined()) == multiset(expected))
            for partition in out[t] {
                // A partition holds its keys' records in the model's order.
                let keys = Set(partition.map(\.key))
                #expect(partition == expected.filter { keys.contains($0.key) })
            }
        }
    }

    /// The keys of both sides: left first-seen keys, then right-only keys in first-seen order.
    private static func allKeys(_ left: [KV], _ right: [KV]) -> [Int64] {
        let leftKeys = firstSeenKeys(left, \.key)
        return leftKeys + firstSeenKeys(right, \.key).filter { !leftKeys.contains($0) }
    }

    /// Every pairing of `key`'s left and right values, left outer.
    private static func cross<V, W>(_ key: Int64, _ vs: [V], _ ws: [W]) -> [Joined<Pair<V, W>>] {
        vs.flatMap { v in ws.map { w in KeyValue(key, Pair(v, w)) } }
    }

    private static let sides = zip(EngineGenA.partitions, EngineGenA.partitions, EngineGenA.partitions)

    @Test func joinMatchesModel() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, Self.sides) {
            left, right, counts in
            try check(left, right, p: counts.0, r: counts.1, q: counts.2, { $0.join($1, partitions: $2) }) { l, r in
                Self.allKeys(l, r).flatMap { key in Self.cross(key, values(of: key, in: l), values(of: key, in: r)) }
            }
        }
    }

    @Test func leftOuterJoinMatchesModel() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, Self.sides) {
            left, right, counts in
            try check(left, right, p: counts.0, r: counts.1, q: counts.2, { $0.leftOuterJoin($1, partitions: $2) }) {
                l, r in
                firstSeenKeys(l, \.key).flatMap { key in
                    let ws: [Int64?] = values(of: key, in: r)
                    return Self.cross(key, values(of: key, in: l), ws.isEmpty ? [nil] : ws)
                }
            }
        }
    }

    @Test func rightOuterJoinMatchesModel() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, Self.sides) {
            left, right, counts in
            try check(left, right, p: counts.0, r: counts.1, q: counts.2, { $0.rightOuterJoin($1, partitions: $2) }) {
                l, r in
                Self.allKeys(l, r).flatMap { key in
                    let vs: [Int64?] = values(of: key, in: l)
                    let ws = values(of: key, in: r)
                    return ws.isEmpty ? [] : Self.cross(key, vs.isEmpty ? [nil] : vs, ws)
                }
            }
        }
    }

    @Test func fullOuterJoinMatchesModel() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, Self.sides) {
            left, right, counts in
            try check(left, right, p: counts.0, r: counts.1, q: counts.2, { $0.fullOuterJoin($1, partitions: $2) }) {
                l, r in
                Self.allKeys(l, r).flatMap { key in
                    let vs: [Int64?] = values(of: key, in: l)
                    let ws: [Int64?] = values(of: key, in: r)
                    return Self.cross(key, vs.isEmpty ? [nil] : vs, ws.isEmpty ? [nil] : ws)
                }
            }
        }
    }

    @Test func cogroupMatchesModel() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, Self.sides) {
            left, right, counts in
            try check(left, right, p: counts.0, r: counts.1, q: counts.2, { $0.cogroup($1, partitions: $2) }) { l, r in
                Self.allKeys(l, r).map { key in KeyValue(key, Pair(values(of: key, in: l), values(of: key, in: r))) }
            }
        }
    }

    @Test func joinsAreIndependentOfPartitionCounts() async {
        await propertyCheck(
            count: 8, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, Self.sides, Self.sides
        ) {
            left, right, a, b in
            // All five operators in one program; values sorted where their order follows the layout.
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<KeyValue<Int64, [Int64]>> = { p, s, q in
                let (l, r) = (p.read(s[0]), p.read(s[1]))
                let joined = l.join(r, partitions: q).map { KeyValue($0.key, [0, $0.value.first, $0.value.second]) }
                let leftOuter = l.leftOuterJoin(r, partitions: q).map {
                    KeyValue($0.key, [1, $0.value.first, $0.value.second ?? -99])
                }
                let rightOuter = l.rightOuterJoin(r, partitions: q).map {
                    KeyValue($0.key, [2, $0.value.first ?? -99, $0.value.second])
                }
                let fullOuter = l.fullOuterJoin(r, partitions: q).map {
                    KeyValue($0.key, [3, $0.value.first ?? -99, $0.value.second ?? -99])
                }
                let grouped = l.cogroup(r, partitions: q).map {
                    KeyValue($0.key, [4] + $0.value.first.sorted() + [-99] + $0.value.second.sorted())
                }
                return joined.union(leftOuter, rightOuter, fullOuter, grouped)
            }
            let first = try EngineFixtureA.perIntervalMultisets(
                [left, right], partitions: [a.0, a.1], shuffle: a.2, define)
            let second = try EngineFixtureA.perIntervalMultisets(
                [left, right], partitions: [b.0, b.1], shuffle: b.2, define)
            #expect(first == second)
        }
    }

    /// The joined vertex processes an interval only once both sides sealed it, then catches up.
    @Test func joinWaitsForBothSidesToSeal() throws {
        let fixture = try EngineFixtureA()
        let a = try fixture.store.stream("a", of: KV.self, interval: .seconds(1), partitions: 2)
        let b = try fixture.store.stream("b", of: KV.self, interval: .seconds(1), partitions: 3)
        let left = try a.explicitAppender()
        let right = try b.explicitAppender()
        for t in 0..<4 {
            try left.append(KV(1, Int64(t)), interval: Interval(UInt64(t)))
            try right.append(KV(1, Int64(10 + t)), interval: Interval(UInt64(t)))
        }
        try left.seal(through: Interval(3))
        try right.seal(through: Interval(1))
        let program = try Program(name: "j", store: fixture.store) { p in p.read(a).join(p.read(b)).save(as: "out") }
        try program.runUntilCaughtUp()
        let out = try fixture.store.stream(named: "out", of: KeyValue<Int64, Pair<Int64, Int64>>.self)
        #expect(try out.newestSealedInterval() == Interval(1))
        try right.seal(through: Interval(3))
        try program.runUntilCaughtUp()
        #expect(try out.newestSealedInterval() == Interval(3))
        for t in 0..<4 {
            #expect(try out.read(Interval(UInt64(t))).records == [KeyValue(1, Pair(Int64(t), Int64(10 + t)))])
        }
    }

    @Test func joinOfStreamsWithDifferentIntervalLengthsFailsTheDefinition() throws {
        let fixture = try EngineFixtureA()
        let a = try fixture.store.stream("a", of: KV.self, interval: .seconds(1), partitions: 2)
        let b = try fixture.store.stream("b", of: KV.self, interval: .seconds(2), partitions: 2)
        #expect(throws: EngineError.self) {
            try fixture.run { p in p.read(a).join(p.read(b)).save(as: "out") }
        }
    }
}
