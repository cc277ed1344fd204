import PropertyBased
import StrataTestSupport
import Testing

@testable import Strata

/// The batch operators of a slice, checked against plain in-memory computations over the same
/// records, on real stores with 1–8 partitions.
@Suite struct DatasetPropertyTests {
    typealias KV = KeyValue<Int64, Int64>

    /// 1–4 intervals of 0–12 pairs, keys 0...6, values -20...20.
    static let intervals = Gen.int64(in: 0...286).array(of: 0...12).array(of: 1...4)
    static let partitions = Gen.int(in: 1...8)

    static func pair(_ code: Int64) -> KV { KV(code % 7, code / 7 - 20) }

    /// A store holding `codes` as interval 10, 11, … of stream `name`, and the records of the
    /// whole slice in dataset order: partition by partition, each in (interval, record) order.
    final class Fixture {
        let directory: TemporaryDirectory
        let store: Store

        init() throws {
            directory = try TemporaryDirectory(prefix: "strata-dataset")
            store = try Store(at: directory.appending("s"), options: StoreOptions(durability: .noSync))
        }

        func slice(_ name: String, _ codes: [[Int64]], partitions: Int) throws -> (Dataset<KV>, [KV]) {
            let stream = try store.stream(name, of: KV.self, interval: .seconds(1), partitions: partitions)
            let appender = try stream.explicitAppender()
            for (t, interval) in codes.enumerated() {
                for code in interval { try appender.append(pair(code), interval: Interval(UInt64(10 + t))) }
            }
            // A first, non-empty interval so that every slice starts where the stream began.
            try appender.append(KV(0, 0), interval: Interval(9))
            try appender.seal(through: Interval(UInt64(9 + codes.count)))
            let range = Interval(9)...Interval(UInt64(9 + codes.count))
            let batches = try stream.read(range)
            var expected: [KV] = []
            for p in 0..<partitions { for batch in batches { expected += batch.partitions[p] } }
            return (try stream.slice(from: range.lowerBound, through: range.upperBound), expected)
        }
    }

    /// `records` grouped by key: keys in first-seen order, each with its values in order.
    static func groups(_ records: [KV]) -> [(Int64, [Int64])] {
        var order: [Int64] = []
        var values: [Int64: [Int64]] = [:]  // lookup only
        for record in records {
            if values[record.key] == nil { order.append(record.key) }
            values[record.key, default: []].append(record.value)
        }
        return order.map { ($0, values[$0] ?? []) }
    }

    @Test func sliceReadsEveryRecordInPartitionThenLogOrder() async {
        await propertyCheck(count: 20, input: Self.intervals, Self.partitions) { codes, partitions in
            let fixture = try Fixture()
            let (dataset, expected) = try fixture.slice("s", codes, partitions: partitions)
            #expect(dataset.partitionCount == partitions)
            #expect(try dataset.collect() == expected)
            #expect(try dataset.count() == expected.count)
            #expect(try dataset.cache().collect() == expected)
        }
    }

    @Test func narrowOperatorsMatchTheirSequenceCounterparts() async {
        await propertyCheck(count: 20, input: Self.intervals, Self.partitions) { codes, partitions in
            let fixture = try Fixture()
            let (dataset, expected) = try fixture.slice("s", codes, partitions: partitions)
            #expect(try dataset.map { KV($0.value, $0.key) }.collect() == expected.map { KV($0.value, $0.key) })
            #expect(try dataset.filter { $0.value % 2 == 0 }.collect() == expected.filter { $0.value % 2 == 0 })
            let repeated: @Sendable (KV) -> [KV] = { Array(repeating: $0, count: Int($0.key % 3)) }
            #expect(try dataset.flatMap(repeated).collect() == expected.flatMap(repeated))
        }
    }

    @Test func reduceByKeyCombinesEveryKeysValuesWhateverThePartitioning() async {
        await propertyCheck(count: 20, input: Self.intervals, Self.partitions, Self.partitions) { codes, partitions, outputs in
            let fixture = try Fixture()
            let (dataset, expected) = try fixture.slice("s", codes, partitions: partitions)
            let reduced = try dataset.reduceByKey(partitions: outputs, +)
            #expect(reduced.partitionCount == outputs)
            let result = try reduced.collect()
            let model = Self.groups(expected).map { KV($0.0, $0.1.reduce(0, +)) }
            #expect(result.sorted { $0.key < $1.key } == model.sorted { $0.key < $1.key })
            // Deterministic: a second run gives the same partitions in the same order.
            #expect(try dataset.reduceByKey(partitions: outputs, +).partitions() == reduced.partitions())
            // A non-commutative combination sees each key's values in dataset order.
            let firsts = try dataset.reduceByKey(partitions: outputs) { a, _ in a }.collect()
            #expect(firsts.sorted { $0.key < $1.key } == Self.groups(expected).map { KV($0.0, $0.1[0]) }.sorted { $0.key < $1.key })
        }
    }

    @Test func groupByKeyKeepsEveryValueInOrder() async {
        await propertyCheck(count: 20, input: Self.intervals, Self.partitions, Self.partitions) { codes, partitions, outputs in
            let fixture = try Fixture()
            let (dataset, expected) = try fixture.slice("s", codes, partitions: partitions)
            let grouped = try dataset.groupByKey(partitions: outputs).collect().sorted { $0.key < $1.key }
            let model = Self.groups(expected).sorted { $0.0 < $1.0 }
            #expect(grouped.map(\.key) == model.map(\.0))
            #expect(grouped.map(\.value) == model.map(\.1))
        }
    }

    @Test func joinPairsEveryLeftValueWithEveryRightValueOfItsKey() async {
        await propertyCheck(count: 15, input: Self.intervals, Self.intervals, zip(Self.partitions, Self.partitions, Self.partitions)) {
            left, right, counts in
            let fixture = try Fixture()
            let (l, leftRecords) = try fixture.slice("left", left, partitions: counts.0)
            let (r, rightRecords) = try fixture.slice("right", right, partitions: counts.1)
            let joined = try l.join(r, partitions: counts.2).collect()
            let rightGroups = Dictionary(uniqueKeysWithValues: Self.groups(rightRecords).map { ($0.0, $0.1) })
            for (key, values) in Self.groups(leftRecords) {
                let expected = values.flatMap { v in (rightGroups[key] ?? []).map { w in Pair(v, w) } }
                #expect(joined.filter { $0.key == key }.map(\.value) == expected)
            }
            #expect(joined.count == Self.groups(leftRecords).reduce(0) { $0 + $1.1.count * (rightGroups[$1.0]?.count ?? 0) })
        }
    }

    @Test func topKIsTheStableSortsPrefix() async {
        await propertyCheck(count: 20, input: Self.intervals, Self.partitions, Gen.int(in: 0...30)) { codes, partitions, k in
            let fixture = try Fixture()
            let (dataset, expected) = try fixture.slice("s", codes, partitions: partitions)
            let byValue = expected.enumerated().sorted { a, b in
                if a.element.value != b.element.value { return a.element.value > b.element.value }
                if a.element.key != b.element.key { return a.element.key < b.element.key }
                return a.offset < b.offset
            }.prefix(k).map(\.element)
            #expect(try dataset.topK(k) == Array(byValue))
            let byKey = expected.enumerated().sorted { a, b in
                if a.element.key != b.element.key { return a.element.key > b.element.key }
                if a.element.value != b.element.value { return a.element.value > b.element.value }
                return a.offset < b.offset
            }.prefix(k).map(\.element)
            #expect(try dataset.topK(k) { TopKOrder.byKey.ranksBefore($0, $1) } == Array(byKey))
        }
    }

    @Test func iterateAppliesTheStepTheGivenNumberOfTimes() async {
        await propertyCheck(count: 10, input: Self.intervals, Self.partitions, Gen.int(in: 0...5)) { codes, partitions, times in
            let fixture = try Fixture()
            let (dataset, expected) = try fixture.slice("s", codes, partitions: partitions)
            let stepped = try dataset.iterate(times: times) { $0.map { KV($0.key, $0.value + 1) } }
            #expect(try stepped.collect() == expected.map { KV($0.key, $0.value + Int64(times)) })
        }
    }

    @Test func iterateToFixedPointStopsWhenNothingChanges() throws {
        // Halving until every value is 0: 64 → 0 takes 7 steps that change something, then one that does not.
        let (result, iterations) = try Dataset([64, 3, 0], partitions: 2).iterateToFixedPoint(maxIterations: 20) {
            $0.map { $0 / 2 }
        }
        #expect(try result.collect() == [0, 0, 0])
        #expect(iterations == 8)
        let (capped, steps) = try Dataset([64], partitions: 1).iterateToFixedPoint(maxIterations: 3) { $0.map { $0 / 2 } }
        #expect(try capped.collect() == [8])
        #expect(steps == 3)
    }
}
