import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// Regression tests of issue 11's three bugs: `count()` before the first record, two-input
/// operators whose inputs begin in different intervals, and one key rule (keys are equal when
/// their encodings are) whatever the partition count.
@Suite struct Issue11RegressionTests {
    typealias SKV = KeyValue<String, Int64>

    /// Bug 1: an input with sealed intervals but no records yet has no count (the program's
    /// output does not depend on when it first ran), and from its first record on every interval
    /// has one, 0 when empty.
    @Test func countIsZeroBeforeTheFirstRecord() throws {
        let fixture = try EngineFixtureA()
        let (late, _) = try fixture.input("late", [[], [], [Int64(1), 2, 3], [], [4]], partitions: 3)
        let (empty, _) = try fixture.input("empty", [[Int64](), []], partitions: 2)
        try fixture.run { p in
            p.read(late).count().save(as: "lateCount")
            p.read(empty).count().save(as: "emptyCount")
        }
        let lateCount = try fixture.read("lateCount", of: Int64.self, intervals: 5).map { Array($0.joined()) }
        #expect(lateCount == [[], [], [3], [0], [1]])
        let emptyCount = try fixture.read("emptyCount", of: Int64.self, intervals: 2).map { Array($0.joined()) }
        #expect(emptyCount == [[], []])
    }

    /// Bug 2: `union`, `join`, the outer joins and `cogroup` treat an input that has not begun
    /// as empty in that interval.
    @Test(arguments: [false, true])
    func twoInputOperatorsAcceptAnInputThatBeginsLater(rightIsLate: Bool) throws {
        let early: [[KV]] = [[KV(1, 10), KV(2, 20)], [KV(1, 11)], [KV(3, 30)]]
        let late: [[KV]] = [[], [], [KV(1, 100), KV(3, 300)]]
        let inputs = rightIsLate ? [early, late] : [late, early]
        let union = try EngineFixtureA.perIntervalMultisets(inputs, partitions: [2, 3], shuffle: 2) { p, s, _ in
            p.read(s[0]).union(p.read(s[1]).repartition(2))
        }
        #expect(union == (0..<3).map { multiset(early[$0] + late[$0]) })
        let join = try EngineFixtureA.perIntervalMultisets(inputs, partitions: [2, 3], shuffle: 2) { p, s, q in
            p.read(s[0]).join(p.read(s[1]), partitions: q)
        }
        #expect(join[0].isEmpty && join[1].isEmpty)
        #expect(join[2].values.reduce(0, +) == 1)
        let outer = try EngineFixtureA.perIntervalMultisets(inputs, partitions: [2, 3], shuffle: 3) { p, s, q in
            p.read(s[0]).fullOuterJoin(p.read(s[1]), partitions: q)
        }
        #expect(outer.map { $0.values.reduce(0, +) } == [2, 1, 2])
        let left = try EngineFixtureA.perIntervalMultisets(inputs, partitions: [2, 3], shuffle: 1) { p, s, q in
            p.read(s[0]).leftOuterJoin(p.read(s[1]), partitions: q)
        }
        let right = try EngineFixtureA.perIntervalMultisets(inputs, partitions: [2, 3], shuffle: 1) { p, s, q in
            p.read(s[0]).rightOuterJoin(p.read(s[1]), partitions: q)
        }
        let (first, second) = (inputs[0], inputs[1])
        #expect(left.map { $0.values.reduce(0, +) } == first.map(\.count))
        #expect(right.map { $0.values.reduce(0, +) } == second.map(\.count))
        let cogroup = try EngineFixtureA.perIntervalMultisets(inputs, partitions: [2, 3], shuffle: 2) { p, s, q in
            p.read(s[0]).cogroup(p.read(s[1]), partitions: q)
        }
        #expect(cogroup.map { $0.values.reduce(0, +) } == [2, 1, 2])
    }

    /// Bug 3: `"\u{E9}"` and `"e\u{301}"` are equal Strings but different encodings: two keys in
    /// every keyed operator, with any partition count, as the time-travel `Dataset` has them.
    @Test(arguments: 1...6)
    func keysAreEqualWhenTheirEncodingsAre(partitions: Int) throws {
        let fixture = try EngineFixtureA()
        let composed = "\u{E9}", decomposed = "e\u{301}"
        let records: [[SKV]] = [[SKV(composed, 1), SKV(decomposed, 2), SKV(composed, 4)], [SKV(decomposed, 8)]]
        let (input, _) = try fixture.input("words", records, partitions: partitions)
        try fixture.run { p in
            let pairs = p.read(input)
            pairs.reduceByKey(partitions: partitions, +).save(as: "reduce")
            pairs.groupByKey(partitions: partitions).map { KeyValue($0.key, Int64($0.value.count)) }.save(as: "group")
            pairs.map(\.key).countByValue(partitions: partitions).save(as: "countByValue")
            pairs.runningReduce(+).save(as: "running")
            pairs.updateStateByKey(partitions: partitions) { (_: String, values: [Int64], state: Int64?) in
                (state ?? 0) + values.reduce(0, +)
            }.save(as: "state")
            pairs.reduceByKeyAndWindow(+, inverse: -, length: 2, partitions: partitions).save(as: "window")
            pairs.join(pairs, partitions: partitions).map { KeyValue($0.key, $0.value.first * $0.value.second) }
                .save(as: "join")
        }
        func totals(_ name: String, _ t: Int, onePerKey: Bool = true) throws -> [String: Int64] {
            let out = try fixture.read(name, of: SKV.self, intervals: 2)[t].joined()
            if onePerKey { #expect(Set(out.map(\.key.utf8.count)).count == out.count, "\(name): a key twice") }
            return Dictionary(out.map { (Array($0.key.utf8).description, $0.value) }, uniquingKeysWith: { $0 + $1 })
        }
        let c = Array(composed.utf8).description, d = Array(decomposed.utf8).description
        #expect(try totals("reduce", 0) == [c: 5, d: 2])
        #expect(try totals("group", 0) == [c: 2, d: 1])
        #expect(try totals("countByValue", 0) == [c: 2, d: 1])
        #expect(try totals("running", 1) == [d: 10])
        #expect(try totals("state", 1) == [d: 10])
        #expect(try totals("window", 1) == [c: 5, d: 10])
        #expect(try totals("join", 0, onePerKey: false) == [c: 25, d: 4])  // c: 1·1 + 1·4 + 4·1 + 4·4
    }

    /// Bug 3 for floating point: `-0.0` and `0.0` are two keys, and a NaN key is one key.
    @Test func doubleKeysAreEqualWhenTheirBitsAre() throws {
        let fixture = try EngineFixtureA()
        let records: [[KeyValue<Double, Int64>]] = [[KeyValue(0.0, 1), KeyValue(-0.0, 2), KeyValue(.nan, 4),
                                                     KeyValue(.nan, 8), KeyValue(0.0, 16)]]
        let (input, _) = try fixture.input("doubles", records, partitions: 1)
        try fixture.run { p in p.read(input).runningReduce(+).save(as: "running") }
        let out = try fixture.read("running", of: KeyValue<Double, Int64>.self, intervals: 1)[0].joined()
        // Combined per interval first (`reduceByKey`), keys in first-seen order.
        #expect(out.map(\.key.bitPattern) == [0.0, -0.0, Double.nan].map(\.bitPattern))
        #expect(out.map(\.value) == [17, 2, 12])
    }
}
