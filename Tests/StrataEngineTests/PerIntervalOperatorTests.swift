import PropertyBased
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// Per-interval operators (count, countByValue, reduce, groupByKey, combineByKey, union,
/// repartition, transform) against plain in-memory models, over random records, interval
/// splits and partition counts.
@Suite struct PerIntervalOperatorTests {
    // MARK: count

    @Test func countGivesOneRecordPerIntervalIncludingEmptyOnes() async {
        await propertyCheck(count: 12, input: EngineGenA.valueIntervals, EngineGenA.partitions) { intervals, p in
            let fixture = try EngineFixtureA()
            let stream = try fixture.input("in", intervals, partitions: p).stream
            try fixture.run { $0.read(stream).count().save(as: "out") }
            let out = try fixture.read("out", of: Int64.self, intervals: intervals.count)
            // One count per interval from the input's first non-empty interval on.
            let start = intervals.firstIndex { !$0.isEmpty } ?? intervals.count
            #expect(out.map { $0.count } == Array(repeating: 1, count: intervals.count))
            #expect(
                out.map { Array($0.joined()) }
                    == intervals.indices.map { $0 < start ? [] : [Int64(intervals[$0].count)] })
        }
    }

    @Test func countEmitsZeroForEmptyIntervals() throws {
        let fixture = try EngineFixtureA()
        let stream = try fixture.input("in", [[], [1, 2, 3], [], [], [4], []] as [[Int64]], partitions: 2).stream
        try fixture.run { $0.read(stream).count().save(as: "out") }
        let out = try fixture.read("out", of: Int64.self, intervals: 6)
        // Interval 0 is before the input's first interval: no count there.
        #expect(out == [[[]], [[3]], [[0]], [[0]], [[1]], [[0]]])
    }

    @Test func countIsIndependentOfPartitionCount() async {
        await propertyCheck(count: 8, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<Int64> = { p, s, _ in p.read(s[0]).count()
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a], shuffle: 1, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b], shuffle: 1, define)
            #expect(first == second)
        }
    }

    // MARK: countByValue

    @Test func countByValueCountsEachDistinctRecord() async {
        await propertyCheck(count: 12, input: EngineGenA.valueIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let stream = try fixture.input("in", intervals, partitions: p).stream
            try fixture.run { $0.read(stream).countByValue(partitions: q).save(as: "out") }
            let out = try fixture.read("out", of: KeyValue<Int64, Int64>.self, intervals: intervals.count)
            for (t, records) in intervals.enumerated() {
                let expected = firstSeenKeys(records) { $0 }.map { v in KeyValue(v, Int64(records.count { $0 == v })) }
                #expect(multiset(out[t].joined()) == multiset(expected))
                #expect(out[t].count == q)
            }
        }
    }

    @Test func countByValueIsIndependentOfPartitionCount() async {
        await propertyCheck(
            count: 8, input: EngineGenA.keyedIntervals, zip(EngineGenA.partitions, EngineGenA.partitions),
            zip(EngineGenA.partitions, EngineGenA.partitions)
        ) { intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<KeyValue<KV, Int64>> = { p, s, q in
                p.read(s[0]).countByValue(partitions: q)
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a.0], shuffle: a.1, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b.0], shuffle: b.1, define)
            #expect(first == second)
        }
    }

    // MARK: reduce

    @Test func reduceCombinesInPartitionOrderThenRecordOrder() async {
        await propertyCheck(count: 12, input: EngineGenA.valueIntervals, EngineGenA.partitions) { intervals, p in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            try fixture.run { b in
                let values = b.read(stream)
                values.reduce(+).save(as: "sum")
                // Associative, not commutative: the first record in (partition, record) order.
                values.reduce { first, _ in first }.save(as: "first")
            }
            let sums = try fixture.read("sum", of: Int64.self, intervals: intervals.count)
            let firsts = try fixture.read("first", of: Int64.self, intervals: intervals.count)
            for t in intervals.indices {
                #expect(Array(sums[t].joined()) == (intervals[t].isEmpty ? [] : [intervals[t].reduce(0, +)]))
                #expect(Array(firsts[t].joined()) == Array(layout[t].joined().prefix(1)))
            }
        }
    }

    @Test func reduceIsIndependentOfPartitionCount() async {
        await propertyCheck(count: 8, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<Int64> = { p, s, _ in
                p.read(s[0]).map(\.value).reduce(+)
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a], shuffle: 1, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b], shuffle: 1, define)
            #expect(first == second)
        }
    }

    // MARK: groupByKey

    @Test func groupByKeyKeepsValuesInPartitionThenRecordOrder() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            try fixture.run { $0.read(stream).groupByKey(partitions: q).save(as: "out") }
            let out = try fixture.read("out", of: KeyValue<Int64, [Int64]>.self, intervals: intervals.count)
            for t in intervals.indices {
                let input = Array(layout[t].joined())
                let grouped = Array(out[t].joined())
                #expect(grouped.map(\.key).sorted() == firstSeenKeys(input, \.key).sorted())
                for group in grouped { #expect(group.value == values(of: group.key, in: input)) }
                // Each output partition lists its keys in first-seen order.
                for partition in out[t] {
                    let keys = Set(partition.map(\.key))
                    #expect(partition.map(\.key) == firstSeenKeys(input.filter { keys.contains($0.key) }, \.key))
                }
            }
        }
    }

    @Test func groupByKeyIsIndependentOfPartitionCountUpToValueOrder() async {
        await propertyCheck(
            count: 8, input: EngineGenA.keyedIntervals, zip(EngineGenA.partitions, EngineGenA.partitions),
            zip(EngineGenA.partitions, EngineGenA.partitions)
        ) { intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<KeyValue<Int64, [Int64]>> = { p, s, q in
                p.read(s[0]).groupByKey(partitions: q).map { KeyValue($0.key, $0.value.sorted()) }
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a.0], shuffle: a.1, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b.0], shuffle: b.1, define)
            #expect(first == second)
        }
    }

    // MARK: combineByKey

    @Test func combineByKeyComputesSumAndCountPerKey() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let stream = try fixture.input("in", intervals, partitions: p).stream
            try fixture.run { b in
                b.read(stream).combineByKey(
                    partitions: q, createCombiner: { Pair($0, Int64(1)) },
                    mergeValue: { Pair($0.first + $1, $0.second + 1) },
                    mergeCombiners: { Pair($0.first + $1.first, $0.second + $1.second) }
                )
                .save(as: "out")
            }
            let out = try fixture.read("out", of: KeyValue<Int64, Pair<Int64, Int64>>.self, intervals: intervals.count)
            for (t, records) in intervals.enumerated() {
                let expected = firstSeenKeys(records, \.key).map { key in
                    let v = values(of: key, in: records)
                    return KeyValue(key, Pair(v.reduce(0, +), Int64(v.count)))
                }
                #expect(multiset(out[t].joined()) == multiset(expected))
            }
        }
    }

    @Test func reduceByKeyIsCombineByKeyWithIdentityCombiner() async {
        await propertyCheck(count: 10, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let stream = try fixture.input("in", intervals, partitions: p).stream
            try fixture.run { b in
                let pairs = b.read(stream)
                pairs.reduceByKey(partitions: q, -).save(as: "reduced")  // not commutative: order matters
                pairs.combineByKey(partitions: q, createCombiner: { $0 }, mergeValue: -, mergeCombiners: -)
                    .save(as: "combined")
            }
            let reduced = try fixture.read("reduced", of: KV.self, intervals: intervals.count)
            let combined = try fixture.read("combined", of: KV.self, intervals: intervals.count)
            #expect(reduced == combined)
        }
    }

    @Test func combineByKeyIsIndependentOfPartitionCount() async {
        await propertyCheck(
            count: 8, input: EngineGenA.keyedIntervals, zip(EngineGenA.partitions, EngineGenA.partitions),
            zip(EngineGenA.partitions, EngineGenA.partitions)
        ) { intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<KeyValue<Int64, Pair<Int64, Int64>>> = {
                p, s, q in
                p.read(s[0]).combineByKey(
                    partitions: q, createCombiner: { Pair($0, $0) },
                    mergeValue: { Pair($0.first + $1, max($0.second, $1)) },
                    mergeCombiners: { Pair($0.first + $1.first, max($0.second, $1.second)) })
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a.0], shuffle: a.1, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b.0], shuffle: b.1, define)
            #expect(first == second)
        }
    }

    // MARK: union

    @Test func unionConcatenatesPartitionByPartition() async {
        await propertyCheck(
            count: 12, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, EngineGenA.partitions
        ) {
            left, right, p in
            let length = max(left.count, right.count)
            let fixture = try EngineFixtureA()
            let (a, layoutA) = try fixture.input(
                "a", left + Array(repeating: [], count: length - left.count), partitions: p)
            let (b, layoutB) = try fixture.input(
                "b", right + Array(repeating: [], count: length - right.count), partitions: p)
            try fixture.run { builder in
                builder.read(a).union(builder.read(b).map { KV($0.key, $0.value * 100) }).save(as: "out")
            }
            let out = try fixture.read("out", of: KV.self, intervals: length)
            for t in 0..<length {
                for q in 0..<p {
                    #expect(out[t][q] == layoutA[t][q] + layoutB[t][q].map { KV($0.key, $0.value * 100) })
                }
            }
        }
    }

    @Test func unionIsIndependentOfPartitionCount() async {
        await propertyCheck(
            count: 8, input: EngineGenA.keyedIntervals, EngineGenA.keyedIntervals, EngineGenA.partitions,
            EngineGenA.partitions
        ) { left, right, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<KV> = { p, s, _ in
                p.read(s[0]).union(p.read(s[1]).filter { $0.value > 0 }, p.read(s[0]))
            }
            let first = try EngineFixtureA.perIntervalMultisets([left, right], partitions: [a, a], shuffle: a, define)
            let second = try EngineFixtureA.perIntervalMultisets(
                [left, right], partitions: [b, b], shuffle: b, define)
            #expect(first == second)
        }
    }

    @Test func unionOfDifferentPartitionCountsFailsTheDefinition() throws {
        let fixture = try EngineFixtureA()
        let a = try fixture.input("a", [[KV(1, 1)]], partitions: 2).stream
        let b = try fixture.input("b", [[KV(1, 1)]], partitions: 3).stream
        #expect(throws: EngineError.self) {
            try fixture.run { p in p.read(a).union(p.read(b)).save(as: "out") }
        }
    }

    // MARK: repartition

    @Test func repartitionSpreadsRoundRobinDeterministically() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, p, n in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            try fixture.run { $0.read(stream).repartition(n).save(as: "out") }
            let out = try fixture.read("out", of: KV.self, intervals: intervals.count)
            for t in intervals.indices {
                var expected = Array(repeating: [KV](), count: n)
                for (input, records) in layout[t].enumerated() {
                    for (i, record) in records.enumerated() { expected[(input + i) % n].append(record) }
                }
                #expect(out[t] == expected)
            }
        }
    }

    @Test func repartitionIsIndependentOfPartitionCount() async {
        await propertyCheck(
            count: 8, input: EngineGenA.keyedIntervals, zip(EngineGenA.partitions, EngineGenA.partitions),
            zip(EngineGenA.partitions, EngineGenA.partitions)
        ) { intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<KV> = { p, s, n in
                p.read(s[0]).repartition(n)
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a.0], shuffle: a.1, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b.0], shuffle: b.1, define)
            #expect(first == second)
        }
    }

    @Test func repartitionRejectsZeroPartitions() throws {
        let fixture = try EngineFixtureA()
        let a = try fixture.input("a", [[KV(1, 1)]], partitions: 2).stream
        #expect(throws: EngineError.self) { try fixture.run { p in p.read(a).repartition(0).save(as: "out") } }
    }

    // MARK: transform

    @Test func transformSeesEachWholePartitionBatch() async {
        await propertyCheck(count: 12, input: EngineGenA.valueIntervals, EngineGenA.partitions) { intervals, p in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            let f: @Sendable (Interval, PartitionIndex, [Int64]) -> [Int64] = { t, q, batch in
                batch.isEmpty
                    ? [] : batch.reversed() + [Int64(batch.count), Int64(t.rawValue) * 100 + Int64(q.rawValue)]
            }
            try fixture.run { b in
                b.read(stream).transform { t, q, batch in ContiguousArray(f(t, q, Array(batch))) }.save(as: "out")
            }
            let out = try fixture.read("out", of: Int64.self, intervals: intervals.count)
            for t in intervals.indices {
                let expected =
                    intervals[t].isEmpty
                    ? Array(repeating: [Int64](), count: p)
                    : layout[t].indices.map { q in f(Interval(UInt64(t)), PartitionIndex(UInt32(q)), layout[t][q]) }
                #expect(out[t] == expected)
            }
        }
    }

    @Test func transformWithPerPartitionCountIsIndependentOfPartitionCountAfterReduce() async {
        await propertyCheck(count: 8, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<Int64> = { p, s, _ in
                p.read(s[0]).transform { _, _, batch in [batch.reduce(0) { $0 + $1.value }] }.reduce(+)
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a], shuffle: a, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b], shuffle: b, define)
            #expect(first == second)
        }
    }

    // MARK: transform(with:)

    @Test func transformWithStaticDatasetJoinsByKey() async {
        let table = Gen.int64(in: 0...286).array(of: 0...8).map { $0.map(EngineGenA.pair) }
        await propertyCheck(
            count: 12, input: EngineGenA.keyedIntervals, table, EngineGenA.partitions,
            EngineGenA.partitions
        ) { intervals, table, p, q in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            try fixture.run { b in
                b.read(stream).transform(with: table, partitions: q) { batch, slice in
                    var output = ContiguousArray<KeyValue<Int64, Pair<Int64, Int64>>>()
                    for pair in batch {
                        for row in slice where row.key == pair.key {
                            output.append(KeyValue(pair.key, Pair(pair.value, row.value)))
                        }
                    }
                    return output
                }.save(as: "out")
            }
            let out = try fixture.read("out", of: KeyValue<Int64, Pair<Int64, Int64>>.self, intervals: intervals.count)
            for t in intervals.indices {
                let input = Array(layout[t].joined())
                var expected: [KeyValue<Int64, Pair<Int64, Int64>>] = []
                for pair in input {
                    for row in table where row.key == pair.key {
                        expected.append(KeyValue(pair.key, Pair(pair.value, row.value)))
                    }
                }
                // Per key, the order is the input's (partition, record) order, then the table's.
                #expect(byKey(out[t].joined(), \.key) == byKey(expected, \.key))
            }
        }
    }

    @Test func transformWithStaticDatasetIsIndependentOfPartitionCount() async {
        let table = [KV(1, 10), KV(2, 20), KV(1, 11), KV(5, 50)]
        await propertyCheck(
            count: 8, input: EngineGenA.keyedIntervals, zip(EngineGenA.partitions, EngineGenA.partitions),
            zip(EngineGenA.partitions, EngineGenA.partitions)
        ) { intervals, a, b in
            let define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<KV> = { p, s, q in
                p.read(s[0]).transform(with: table, partitions: q) { batch, slice in
                    ContiguousArray(
                        batch.map { pair in
                            KV(pair.key, slice.filter { $0.key == pair.key }.reduce(pair.value) { $0 + $1.value })
                        })
                }
            }
            let first = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [a.0], shuffle: a.1, define)
            let second = try EngineFixtureA.perIntervalMultisets([intervals], partitions: [b.0], shuffle: b.1, define)
            #expect(first == second)
        }
    }
}
