import PropertyBased
@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// A user partition function (`KeyPartitioner`) on the keyed operators that took only the stable
/// hash before: `countByValue`, `countByValueAndWindow`, `reduceByKeyAndWindow` (with and without
/// `inverse`, with a filter), `groupByKeyAndWindow`, `transform(with:)` of a static dataset and
/// `runningReduce`. Each result is checked against an in-memory model (the results do not depend
/// on the partition function) and every output record against the partition the function gives
/// its key.
@Suite struct KeyPartitionerTests {
    /// The function under test: not a hash, and negative for most keys (taken modulo the count).
    static let function: @Sendable (Int64) -> Int = { 1 - 3 * Int($0) }

    @Test func everyKeyedShuffleRoutesByTheUserFunctionWithUnchangedResults() async {
        await propertyCheck(count: 8, input: EngineGenA.keyedIntervals, EngineGenA.partitions, Gen.int(in: 1...4)) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let (stream, layout) = try fixture.input("in", intervals, partitions: p)
            let partitioner = KeyPartitioner<Int64>("oneMinusThreeK", Self.function)
            let table = (0..<7).filter { $0 % 2 == 0 }.map { KV(Int64($0), 1000 * Int64($0)) }
            try fixture.run { b in
                let x = b.read(stream)
                x.map(\.key).countByValue(partitions: q, partitioner: partitioner).save(as: "countByValue")
                x.map(\.key).countByValueAndWindow(length: 2, partitions: q, partitioner: partitioner)
                    .save(as: "countByValueAndWindow")
                x.reduceByKeyAndWindow(+, length: 2, partitions: q, partitioner: partitioner).save(as: "window")
                x.reduceByKeyAndWindow(+, inverse: -, length: 2, partitions: q, partitioner: partitioner) { _, v in
                    v % 2 == 0
                }.save(as: "windowInverseFiltered")
                x.groupByKeyAndWindow(length: 2, partitions: q, partitioner: partitioner).save(as: "groupWindow")
                x.transform(with: table, partitions: q, partitioner: partitioner) { batch, slice in
                    // A key of the batch meets its static pair only if both were split alike.
                    ContiguousArray(batch.compactMap { pair in
                        slice.first { $0.key == pair.key }.map { KV(pair.key, pair.value + $0.value) }
                    })
                }.save(as: "static")
                x.runningReduce(partitions: q, partitioner: partitioner, +).save(as: "running")
            }
            let n = intervals.count
            let first = intervals.firstIndex { !$0.isEmpty } ?? n
            let all = layout.map { Array($0.joined()) }  // per interval, input partition then record order
            func expectedPartition(_ key: Int64) -> Int { ((Self.function(key) % q) + q) % q }
            func window(_ t: Int) -> ClosedRange<Int>? { t >= first ? max(first, t - 1)...t : nil }
            func sums(_ pairs: [KV]) -> [Int64: (sum: Int64, count: Int64)] {
                var model: [Int64: (sum: Int64, count: Int64)] = [:]
                for pair in pairs { model[pair.key, default: (0, 0)].sum += pair.value; model[pair.key, default: (0, 0)].count += 1 }
                return model
            }
            /// Reads a KV output, checks every record's partition and returns each interval's multiset.
            func routed(_ name: String) throws -> [[String: Int]] {
                let out = try fixture.read(name, of: KV.self, intervals: n)
                for t in 0..<n {
                    #expect(out[t].count == q, "\(name) \(t)")
                    for (partition, records) in out[t].enumerated() {
                        #expect(records.allSatisfy { expectedPartition($0.key) == partition }, "\(name) interval \(t)")
                    }
                }
                return out.map { multiset($0.joined()) }
            }

            var running: [Int64: Int64] = [:]
            var runningModel: [[String: Int]] = []
            for t in 0..<n {
                var seen: [Int64: Int64] = [:]
                for pair in all[t] { running[pair.key, default: 0] += pair.value; seen[pair.key] = running[pair.key] }
                runningModel.append(multiset(seen.map { KV($0.key, $0.value) }))
            }
            #expect(try routed("countByValue") == all.map { multiset(sums($0).map { KV($0.key, $0.value.count) }) })
            let windows = (0..<n).map { t in window(t).map { range in range.flatMap { all[$0] } } ?? [] }
            #expect(try routed("countByValueAndWindow") == windows.map { multiset(sums($0).map { KV($0.key, $0.value.count) }) })
            #expect(try routed("window") == windows.map { multiset(sums($0).map { KV($0.key, $0.value.sum) }) })
            #expect(try routed("windowInverseFiltered")
                    == windows.map { multiset(sums($0).filter { $0.value.sum % 2 == 0 }.map { KV($0.key, $0.value.sum) }) })
            #expect(try routed("static")
                    == all.map { multiset($0.filter { $0.key % 2 == 0 }.map { KV($0.key, $0.value + 1000 * $0.key) }) })
            #expect(try routed("running") == runningModel)

            let groups = try fixture.read("groupWindow", of: KeyValue<Int64, [Int64]>.self, intervals: n)
            for t in 0..<n {
                for (partition, records) in groups[t].enumerated() {
                    #expect(records.allSatisfy { expectedPartition($0.key) == partition }, "groupWindow interval \(t)")
                }
                var model: [Int64: [Int64]] = [:]
                for pair in windows[t] { model[pair.key, default: []].append(pair.value) }
                let got = Array(groups[t].joined())
                #expect(got.count == model.count, "groupWindow interval \(t)")
                for group in got { #expect(group.value.sorted() == model[group.key]?.sorted(), "groupWindow interval \(t)") }
            }
        }
    }

    /// Without a partitioner the operators keep the fingerprints they had (programs that ran
    /// before are not refused); with one, the function's name is part of the fingerprint.
    @Test func aPartitionerChangesTheFingerprintOnlyWhenGiven() throws {
        let fixture = try EngineFixtureA()
        let (stream, _) = try fixture.input("in", [[KV(1, 1), KV(2, 2)]], partitions: 2)
        func fingerprints(_ partitioner: KeyPartitioner<Int64>?) throws -> [UInt64] {
            let program = try Program(name: "fp", store: fixture.store) { b in
                b.read(stream).map(\.key).countByValue(partitioner: partitioner).save(as: "a")
                b.read(stream).reduceByKeyAndWindow(+, inverse: -, length: 2, partitioner: partitioner).save(as: "b")
                b.read(stream).transform(with: [KV(1, 5)], partitioner: partitioner) { batch, _ in batch }.save(as: "c")
            }
            return program.vertices.map(\.fingerprint)
        }
        let plain = try fingerprints(nil)
        #expect(try fingerprints(nil) == plain)
        let custom = try fingerprints(KeyPartitioner("f", Self.function))
        #expect(custom != plain)
        #expect(try fingerprints(KeyPartitioner("g", Self.function)) != custom)
    }
}
