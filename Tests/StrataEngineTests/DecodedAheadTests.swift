import PropertyBased
@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// Scheduling across skewed partitions (docs/architecture.md, "Tasks"): tasks start heaviest
/// first, and cores left idle by an interval's last tasks decode the next interval's input blocks
/// ahead (`DecodedAhead`). Neither may change a byte: the outputs with input decoded ahead (every
/// block, `.always`; on idle cores, `.whenIdle`) equal those of tasks that decode their own
/// (`.never`) block for block, and the reference model.
@Suite struct DecodedAheadTests {
    /// A key drawn with Zipf-like skew from a generated code: key 0 half the time, key 1 a
    /// quarter, the rest spread over 2...14, so that one partition holds most records.
    @Sendable static func skewed(_ code: Int64) -> KV {
        let key: Int64 = code < 500 ? 0 : code < 750 ? 1 : 2 + code % 13
        return KV(key, code % 11 - 5)
    }

    /// 2–6 intervals of 0–300 skewed pairs.
    static var skewedIntervals: IntervalsGenA<KV> {
        Gen.int64(in: 0...999).array(of: 0...300).array(of: 2...6).map { $0.map { $0.map(skewed) } }
    }

    /// A store whose stream `in` holds `intervals[t]` in interval `t`, partitioned by key, in
    /// small blocks (several chunks per partition and interval).
    static func skewedInput(_ intervals: [[KV]], partitions: Int) throws -> (fixture: EngineFixtureA, stream: StoredStream<KV>) {
        let fixture = try EngineFixtureA()
        let stream = try fixture.store.stream("in", of: KV.self, interval: .seconds(1), partitions: partitions)
        var limits = StreamAppender.Limits()
        limits.blockBytes = 256
        let appender = try stream.explicitAppender(limits: limits) { $0.key }
        for (t, records) in intervals.enumerated() {
            for record in records { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(UInt64(intervals.count - 1)))
        return (fixture, stream)
    }

    /// The running count per key of each interval, as a multiset: the keys with input in the
    /// interval, each with its sum over every interval so far.
    static func runningModel(_ intervals: [[KV]]) -> [[String: Int]] {
        var totals: [Int64: Int64] = [:]  // lookup only
        return intervals.map { records in
            var touched = Set<Int64>()  // compared as a multiset, never in its order
            for record in records {
                touched.insert(record.key)
                totals[record.key, default: 0] += record.value
            }
            return multiset(touched.map { KV($0, totals[$0]!) })
        }
    }

    /// Three plans — the running count without a shuffle (one stateful vertex), with one (a
    /// stateless exchange and a stateful reduce) and a sliding window — under each way of
    /// decoding: every output block equal, the running counts equal to the model.
    @Test func decodingAheadChangesNoBlock() async {
        await propertyCheck(count: 10, input: Self.skewedIntervals, Gen.int(in: 1...5)) { intervals, partitions in
            let (fixture, stream) = try Self.skewedInput(intervals, partitions: partitions)
            var outputs: [[String]] = []
            for (index, mode) in [ProgramOptions.DecodesAhead.never, .always, .whenIdle].enumerated() {
                var options = ProgramOptions()
                options.decodesAhead = mode
                let program = try Program(name: "p\(index)", store: fixture.store, options: options) { b in
                    let read = b.read(stream)
                    read.assumingPartitionedByKey().runningReduce(+).save(as: "elided\(index)")
                    read.runningReduce(+).save(as: "shuffled\(index)")
                    read.reduceByKeyAndWindow(+, length: 2, slide: 1).save(as: "window\(index)")
                }
                try program.runUntilCaughtUp()
                if mode == .always {
                    // Every block was decoded ahead, and every one taken by the task reading it.
                    #expect(program.decodedAhead.values.reduce(0) { $0 + $1.taken } > 0)
                    #expect(program.decodedAhead.values.allSatisfy { $0.count == 0 })
                }
                if mode == .never { #expect(program.decodedAhead.isEmpty) }
                outputs.append(try ["elided", "shuffled", "window"].flatMap {
                    try PartitionedByKeyTests.blocks(fixture.store, "\($0)\(index)")
                })
                let model = Self.runningModel(intervals)
                for name in ["elided\(index)", "shuffled\(index)"] {
                    let read = try fixture.read(name, of: KV.self, intervals: intervals.count)
                    #expect(read.map { multiset($0.joined()) } == model, "\(name)")
                }
            }
            #expect(outputs[1] == outputs[0])
            #expect(outputs[2] == outputs[0])
        }
    }

    /// Blocks decoded ahead are the blocks as the task would decode them, taken once; with every
    /// task already finished the idle work decodes nothing.
    @Test func decodedBlocksAreTheTasksOwn() throws {
        let records = (0..<2000).map { Self.skewed(Int64($0 * 7919 % 1000)) }
        let (fixture, stream) = try Self.skewedInput([records, records.reversed()], partitions: 3)
        let log = fixture.store.log
        let descriptor = stream.descriptor
        let ahead = DecodedAhead(log: log, decoders: [.reading(descriptor, decoder: BlockDecoder<KV>(), log: log)])
        let interval = Interval(1)

        IdleWork(ahead: ahead, next: interval, tasks: 0).run()
        #expect(ahead.count == 0)

        var codec = BlockCodec()
        while ahead.decodeNext(of: interval, codec: &codec) {}
        let seal = try #require(try log.sealRecords(of: descriptor, in: interval...interval).first?.1)
        #expect(ahead.count == Int(seal.chunks.reduce(0, +)))
        #expect(ahead.count > 3)
        for p in 0..<3 {
            let partition = PartitionIndex(UInt32(p))
            let own: ContiguousArray<KV> = try PartitionReader.read(log, descriptor, interval, partition, codec: &codec)
            let taken: ContiguousArray<KV> = try DecodedAhead.$current.withValue(ahead) {
                try PartitionReader.read(log, descriptor, interval, partition, codec: &codec)
            }
            #expect(taken == own)
        }
        #expect(ahead.count == 0)
        #expect(ahead.taken == Int(seal.chunks.reduce(0, +)))
    }

    /// With one partition's task held up in every interval, the other cores have nothing left to
    /// start and decode the next interval ahead meanwhile (how much depends on timing, which is
    /// why only the bytes are compared): the outputs of both plans equal those decoded by the
    /// tasks themselves.
    @Test func idleCoresDecodingAheadChangeNoBlock() throws {
        let records = (0..<3000).map { Self.skewed(Int64($0 * 7919 % 1000)) }
        let intervals = [records, records.reversed(), Array(records.prefix(1200)), records]
        let (fixture, stream) = try Self.skewedInput(intervals, partitions: 4)
        var outputs: [[String]] = []
        for (index, mode) in [ProgramOptions.DecodesAhead.never, .whenIdle].enumerated() {
            var options = ProgramOptions()
            options.decodesAhead = mode
            // Partition 0's task sleeps in every interval, so the others end first.
            options.faults = TaskFaults(delay: { _, _, partition, _ in partition.rawValue == 0 ? .milliseconds(30) : nil })
            let program = try Program(name: "q\(index)", store: fixture.store, options: options) { b in
                let read = b.read(stream)
                read.assumingPartitionedByKey().runningReduce(+).save(as: "elided\(index)")
                read.runningReduce(+).save(as: "shuffled\(index)")
            }
            try program.runUntilCaughtUp()
            outputs.append(try ["elided", "shuffled"].flatMap { try PartitionedByKeyTests.blocks(fixture.store, "\($0)\(index)") })
            let model = Self.runningModel(intervals)
            for name in ["elided\(index)", "shuffled\(index)"] {
                let read = try fixture.read(name, of: KV.self, intervals: intervals.count)
                #expect(read.map { multiset($0.joined()) } == model, "\(name)")
            }
        }
        #expect(outputs[1] == outputs[0])
    }

    /// A queued idle job either starts, and is then awaited, or is called off before it starts,
    /// and then never runs.
    @Test func aQueuedIdleJobStartsOrIsCalledOff() throws {
        let (fixture, stream) = try Self.skewedInput([[KV(1, 1)], [KV(2, 2)]], partitions: 2)
        let log = fixture.store.log
        let ahead = DecodedAhead(log: log, decoders: [.reading(stream.descriptor, decoder: BlockDecoder<KV>(), log: log)])
        let calledOff = IdleWork(ahead: ahead, next: Interval(1), tasks: 1)
        #expect(!calledOff.callOff())   // not started: nothing to wait for
        #expect(!calledOff.startJob())  // and it never starts
        let started = IdleWork(ahead: ahead, next: Interval(1), tasks: 1)
        #expect(started.startJob())
        #expect(started.callOff())      // started: the interval waits for its end
    }

    /// Longest processing time first: the most input blocks first, ties in partition order;
    /// partition order when the weights do not fit.
    @Test func launchOrderIsHeaviestFirst() {
        #expect(launchOrder(4, weights: [4, 5, 3, 3]) == [1, 0, 2, 3])
        #expect(launchOrder(4, weights: [1, 1, 1, 9]) == [3, 0, 1, 2])
        #expect(launchOrder(3, weights: [4, 5, 3, 3]) == [0, 1, 2])
        #expect(launchOrder(2, weights: nil) == [0, 1])
    }
}
