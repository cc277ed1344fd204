import PropertyBased
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// Keyed records of the per-interval operator tests: small keys so that keys repeat.
typealias KV = KeyValue<Int64, Int64>

/// Generators of the engine property tests, spelled with concrete types.
typealias Int64GenA = Generator<Int64, Shrink.Integer<Int64>>
typealias Int64ArrayGenA = Generator<[Int64], Int64GenA.ArrayShrink>
typealias IntervalsGenA<Record> = Generator<[[Record]], Int64ArrayGenA.ArrayShrink>

/// Random per-interval inputs for the engine property tests.
enum EngineGenA {
    /// The pair a generated code stands for: key `code mod 7`, value `code / 7 - 20`.
    @Sendable static func pair(_ code: Int64) -> KV { KV(code % 7, code / 7 - 20) }
    /// 1–4 intervals of 0–10 key/value pairs, keys in 0...6, values in -20...20.
    static var keyedIntervals: IntervalsGenA<KV> {
        Gen.int64(in: 0...286).array(of: 0...10).array(of: 1...4).map { $0.map { $0.map(pair) } }
    }
    /// 1–4 intervals of 0–10 small values.
    static var valueIntervals: IntervalsGenA<Int64> { Gen.int64(in: 0...5).array(of: 0...10).array(of: 1...4) }
    /// A partition count, 1–8.
    static var partitions: Generator<Int, Shrink.Integer<Int>> { Gen.int(in: 1...8) }
}

/// A fresh store in a temporary directory, with helpers to write inputs, run a program and read
/// its outputs interval by interval.
final class EngineFixtureA {
    let directory: TemporaryDirectory
    let store: Store
    private var programs = 0

    init() throws {
        directory = try TemporaryDirectory(prefix: "strata-engA")
        store = try Store(at: directory.appending("s"))
    }

    /// Creates stream `name` with `partitions` partitions, appends `intervals[t]` to interval `t`
    /// (round-robin over partitions), seals them all and returns the records as stored: per
    /// interval, per partition, in order.
    func input<Record: RecordCodable>(_ name: String, _ intervals: [[Record]], partitions: Int) throws
        -> (stream: StoredStream<Record>, layout: [[[Record]]])
    {
        let stream = try store.stream(name, of: Record.self, interval: .seconds(1), partitions: partitions)
        let appender = try stream.explicitAppender()
        for (t, records) in intervals.enumerated() {
            for record in records { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(UInt64(intervals.count - 1)))
        return (stream, try read(name, of: Record.self, intervals: intervals.count))
    }

    /// Defines a program (named uniquely in this store) and runs it until caught up.
    func run(_ define: (ProgramBuilder) throws -> Void) throws {
        programs += 1
        let program = try Program(name: "p\(programs)", store: store, define: define)
        try program.runUntilCaughtUp()
    }

    /// The records of `intervals` intervals of stream `name`: per interval, per partition (no
    /// records for the intervals before the stream's first one).
    func read<Record: RecordCodable>(_ name: String, of type: Record.Type, intervals: Int) throws -> [[[Record]]] {
        let stream = try store.stream(named: name, of: Record.self)
        return try (0..<intervals).map { t in
            do {
                return try stream.read(Interval(UInt64(t))).partitions
            } catch StorageError.beforeStreamStart {
                return Array(repeating: [], count: Int(stream.descriptor.partitions))
            }
        }
    }
}

/// A record list as a multiset, for comparisons where the contract gives no order.
func multiset<Record>(_ records: some Sequence<Record>) -> [String: Int] {
    var counts: [String: Int] = [:]
    for record in records { counts[String(describing: record), default: 0] += 1 }
    return counts
}

/// Groups records by a key, keeping their order within each key.
func byKey<Key: Hashable, Record>(_ records: some Sequence<Record>, _ key: (Record) -> Key) -> [Key: [Record]] {
    var groups: [Key: [Record]] = [:]
    for record in records { groups[key(record), default: []].append(record) }
    return groups
}

/// The distinct keys of `records` in first-seen order.
func firstSeenKeys<Key: Hashable, Record>(_ records: some Sequence<Record>, _ key: (Record) -> Key) -> [Key] {
    var seen = Set<Key>()
    var keys: [Key] = []
    for record in records where seen.insert(key(record)).inserted { keys.append(key(record)) }
    return keys
}

/// The values of `key` in `pairs`, in order.
func values<Key: Equatable, Value>(of key: Key, in pairs: [KeyValue<Key, Value>]) -> [Value] {
    pairs.filter { $0.key == key }.map(\.value)
}

extension EngineFixtureA {
    /// Writes each of `inputs` (per interval records, padded with empty intervals to the same
    /// length) as a stream with the matching count of `partitions`, runs `define` over them with
    /// `shuffle` as the operator's partition count, saves the result and returns each interval's
    /// output as a multiset.
    static func perIntervalMultisets<Out: RecordCodable>(
        _ inputs: [[[KV]]], partitions: [Int], shuffle: Int,
        _ define: (ProgramBuilder, [StoredStream<KV>], Int) -> DStream<Out>
    ) throws -> [[String: Int]] {
        let fixture = try EngineFixtureA()
        let length = inputs.map(\.count).max() ?? 1
        var streams: [StoredStream<KV>] = []
        for (index, intervals) in inputs.enumerated() {
            let padded = intervals + Array(repeating: [], count: length - intervals.count)
            streams.append(try fixture.input("in\(index)", padded, partitions: partitions[index]).stream)
        }
        try fixture.run { p in define(p, streams, shuffle).save(as: "out") }
        return try fixture.read("out", of: Out.self, intervals: length).map { multiset($0.joined()) }
    }
}
