import PropertyBased
@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// `assumingPartitionedByKey()`: a `reduceByKey` or `runningReduce` over pairs already partitioned
/// by the stable key hash does no shuffle, and its outputs are the shuffled plan's, block for block;
/// a false declaration fails the program with a typed error instead of a wrong result.
@Suite struct PartitionedByKeyTests {
    /// A store whose stream `in` holds `intervals[t]` in interval `t`, partitioned by key (a keyed
    /// appender: `XXH64(encoded key) mod partitions`).
    static func keyedInput(_ intervals: [[KV]], partitions: Int) throws
        -> (fixture: EngineFixtureA, stream: StoredStream<KV>)
    {
        let fixture = try EngineFixtureA()
        let stream = try fixture.store.stream("in", of: KV.self, interval: .seconds(1), partitions: partitions)
        let appender = try stream.explicitAppender { $0.key }
        for (t, records) in intervals.enumerated() {
            for record in records { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(UInt64(intervals.count - 1)))
        return (fixture, stream)
    }

    /// Every block of stream `name`: its position and bytes.
    static func blocks(_ store: Store, _ name: String) throws -> [String] {
        let descriptor = try #require(try store.log.descriptors().first { $0.name == name })
        var list: [String] = []
        try store.log.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, bytes in
            list.append("\(key.interval)/\(key.partition)/\(key.chunk.rawValue): \(Array(bytes))")
            return true
        }
        return list
    }

    /// The shuffled and the elided plans of the same operators over the same keyed input: equal
    /// outputs, block for block (so record for record, in order), equal to the model; the elided
    /// program has no exchange vertex and no shuffle stream.
    @Test func elidedShufflesGiveTheShuffledPlansBlocks() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.partitions) { intervals, p in
            let (fixture, stream) = try Self.keyedInput(intervals, partitions: p)
            func define(_ b: ProgramBuilder, _ suffix: String, declare: Bool) {
                let read = b.read(stream)
                let x = declare ? read.assumingPartitionedByKey() : read
                x.runningReduce(+).save(as: "running" + suffix)
                x.reduceByKey(+).save(as: "reduce" + suffix)
                x.mapValues { $0 * 3 }.filter { $0.value % 2 == 0 }.reduceByKey(partitions: p, +).save(as: "kept" + suffix)
            }
            try fixture.run { define($0, "Shuffled", declare: false) }   // program p1
            try fixture.run { define($0, "Elided", declare: true) }      // program p2
            for name in ["running", "reduce", "kept"] {
                let shuffled = try Self.blocks(fixture.store, name + "Shuffled")
                // Blocks exist when some record reaches the operator (the filter of "kept" may drop all).
                let reaches = name == "kept" ? intervals.joined().contains { ($0.value &* 3) % 2 == 0 }
                                             : !intervals.allSatisfy(\.isEmpty)
                #expect(shuffled.isEmpty == !reaches, "\(name)")
                #expect(try Self.blocks(fixture.store, name + "Elided") == shuffled, "\(name)")
                let a = try fixture.read(name + "Shuffled", of: KV.self, intervals: intervals.count)
                let b = try fixture.read(name + "Elided", of: KV.self, intervals: intervals.count)
                #expect(a == b, "\(name)")
            }
            // Against the model: per interval, each key's sum; the running count's new totals.
            let reduced = try fixture.read("reduceElided", of: KV.self, intervals: intervals.count)
            var running: [Int64: Int64] = [:]
            let runningOut = try fixture.read("runningElided", of: KV.self, intervals: intervals.count)
            for (t, records) in intervals.enumerated() {
                var sums: [Int64: Int64] = [:]
                for pair in records { sums[pair.key, default: 0] += pair.value }
                #expect(multiset(reduced[t].joined()) == multiset(sums.map { KV($0.key, $0.value) }), "interval \(t)")
                for pair in records { running[pair.key, default: 0] += pair.value }
                #expect(multiset(runningOut[t].joined()) == multiset(sums.keys.map { KV($0, running[$0]!) }),
                        "interval \(t)")
            }
            // The elided program wrote no shuffle: its vertices read the input itself.
            let names = try fixture.store.log.descriptors().map(\.name)
            #expect(names.contains { $0.hasPrefix("p1.") && $0.hasSuffix(".shuffle") })
            #expect(!names.contains { $0.hasPrefix("p2.") && $0.hasSuffix(".shuffle") }, "\(names)")
        }
    }

    /// Operators that do not keep keys in their partitions drop the declaration; a shuffle to
    /// another partition count, with a user partitioner, or of a window is kept.
    @Test func theDeclarationElidesOnlyTheShuffleItMakesRedundant() throws {
        let intervals = [[KV(1, 1), KV(2, 2), KV(3, 3)], [KV(1, 4), KV(5, 5)]]
        let (fixture, stream) = try Self.keyedInput(intervals, partitions: 3)
        let partitioner = KeyPartitioner<Int64>("identity") { Int($0) }
        try fixture.run { b in
            let x = b.read(stream).assumingPartitionedByKey()
            x.map { KV($0.key + 1, $0.value) }.reduceByKey(+).save(as: "mapped")         // p1.v0
            x.reduceByKey(partitions: 2, +).save(as: "otherCount")                        // p1.v2
            x.reduceByKey(partitioner: partitioner, +).save(as: "userPartitioner")        // p1.v4
            x.reduceByKeyAndWindow(+, inverse: -, length: 2).save(as: "window")           // p1.v6
        }
        let shuffles = try fixture.store.log.descriptors().map(\.name).filter { $0.hasSuffix(".shuffle") }
        #expect(shuffles.count == 4, "\(shuffles)")
        let window = try fixture.read("window", of: KV.self, intervals: 2).map { multiset($0.joined()) }
        #expect(window[1] == multiset([KV(1, 5), KV(2, 2), KV(3, 3), KV(5, 5)]))
    }

    /// A declaration the input does not bear out (values appended round-robin, then keyed by a
    /// map) fails the program with a typed error naming the stream, interval and partition, and
    /// commits no output.
    @Test func aFalseDeclarationFailsWithATypedErrorAndCommitsNothing() throws {
        let fixture = try EngineFixtureA()
        // 0..<40 round-robin over 4 partitions: most values are outside their partition by hash.
        let (stream, _) = try fixture.input("in", [(0..<40).map { Int64($0) }], partitions: 4)
        var message = ""
        do {
            try fixture.run { b in
                b.read(stream).map { KV($0, 1) }.assumingPartitionedByKey().runningReduce(+).save(as: "counts")
            }
            Issue.record("the program ran over input that is not partitioned by key")
        } catch EngineError.misuse(let what) {
            message = what
        }
        #expect(message.contains("assumingPartitionedByKey") && message.contains("reading in, interval 0 partition"),
                "\(message)")
        let counts = try fixture.store.stream(named: "counts", of: KV.self)
        #expect(try counts.frontier().sealedThrough == nil)
    }

    /// Adding the declaration to a program that ran with the shuffle changes its vertices: the
    /// restart is refused as a changed definition, not run over state it did not build.
    @Test func addingTheDeclarationToAProgramThatRanIsRefused() throws {
        let (fixture, stream) = try Self.keyedInput([[KV(1, 1), KV(2, 2)], [KV(1, 3)]], partitions: 2)
        let first = try Program(name: "counts", store: fixture.store) { b in
            b.read(stream).runningReduce(+).save(as: "counts")
        }
        try first.runUntilCaughtUp()
        #expect(throws: EngineError.self) {
            let changed = try Program(name: "counts", store: fixture.store) { b in
                b.read(stream).assumingPartitionedByKey().runningReduce(+).save(as: "counts")
            }
            try changed.runUntilCaughtUp()
        }
        // Without the declaration the program is the one that ran: it resumes.
        let same = try Program(name: "counts", store: fixture.store) { b in
            b.read(stream).runningReduce(+).save(as: "counts")
        }
        try same.runUntilCaughtUp()
        let counts = try fixture.read("counts", of: KV.self, intervals: 2).map { multiset($0.joined()) }
        #expect(counts == [multiset([KV(1, 1), KV(2, 2)]), multiset([KV(1, 4)])])
    }
}
