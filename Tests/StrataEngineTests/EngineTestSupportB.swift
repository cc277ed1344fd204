import PropertyBased
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

// Helpers of the window, state and session tests: a store fixture, generators, and plain
// in-memory reference models of the operators.

/// Keyed records of the window and state tests: small keys so that keys repeat.
typealias PairB = KeyValue<Int64, Int64>

/// Random inputs for the window and state property tests.
enum EngineGenB {
    /// 1–10 intervals of 0–6 key/value pairs (keys 0...5, values −3...3): many empty intervals.
    static var keyedIntervals: Generator<[[PairB]], some Sequence & SendableMetatype> {
        Gen.int64(in: 0...41).map { PairB($0 / 7, $0 % 7 - 3) }.array(of: 0...6).array(of: 1...10)
    }
    /// 1–10 intervals of 0–6 small values.
    static var valueIntervals: Generator<[[Int64]], some Sequence & SendableMetatype> {
        Gen.int64(in: 0...4).array(of: 0...6).array(of: 1...10)
    }
    /// A partition count, 1–8.
    static var partitions: Generator<Int, some Sequence & SendableMetatype> { Gen.int(in: 1...8) }
    /// A window length, 1–4 intervals.
    static var length: Generator<Int, some Sequence & SendableMetatype> { Gen.int(in: 1...4) }
    /// A window slide, 1–3 intervals.
    static var slide: Generator<Int, some Sequence & SendableMetatype> { Gen.int(in: 1...3) }
}

/// A fresh store in a temporary directory, with helpers to write inputs interval by interval, run
/// programs and read their outputs.
final class EngineFixtureB {
    let directory: TemporaryDirectory
    let store: Store

    init() throws {
        directory = try TemporaryDirectory(prefix: "strata-engB")
        store = try Store(at: directory.appending("s"), options: StoreOptions(durability: .noSync))
    }

    /// Creates stream `name` and returns an appender with explicit intervals.
    func input<Record: RecordCodable>(_ name: String, of type: Record.Type, partitions: Int) throws
        -> (stream: StoredStream<Record>, appender: ExplicitAppender<Record>)
    {
        let stream = try store.stream(name, of: Record.self, interval: .seconds(1), partitions: partitions)
        return (stream, try stream.explicitAppender())
    }

    /// Creates stream `name`, appends `intervals[t]` to interval `t` (keyed records by key,
    /// others round-robin), seals them all and returns the records as stored: per interval, per
    /// partition, in order.
    func input<Record: RecordCodable>(_ name: String, _ intervals: [[Record]], partitions: Int) throws -> [[[Record]]] {
        let (stream, appender) = try input(name, of: Record.self, partitions: partitions)
        try append(intervals, from: 0, to: appender)
        return try read(stream.name, of: Record.self, intervals: intervals.count)
    }

    /// Appends `intervals[i]` to interval `start + i` and seals through the last one.
    func append<Record: RecordCodable>(_ intervals: [[Record]], from start: Int,
                                       to appender: ExplicitAppender<Record>) throws {
        for (i, records) in intervals.enumerated() {
            for record in records { try appender.append(record, interval: Interval(UInt64(start + i))) }
        }
        try appender.seal(through: Interval(UInt64(start + intervals.count - 1)))
        try appender.flush()
    }

    /// Defines program `name` and runs it until caught up.
    @discardableResult
    func run(_ name: String, _ define: (ProgramBuilder) throws -> Void) throws -> Program {
        let program = try Program(name: name, store: store, define: define)
        try program.runUntilCaughtUp()
        return program
    }

    /// The records of intervals `0..<intervals` of stream `name`, per interval and partition;
    /// intervals before the stream's first records read as empty.
    func read<Record: RecordCodable>(_ name: String, of type: Record.Type, intervals: Int) throws -> [[[Record]]] {
        let stream = try store.stream(named: name, of: Record.self)
        let frontier = try stream.frontier()
        let empty = [[Record]](repeating: [], count: Int(stream.descriptor.partitions))
        return try (0..<intervals).map { t in
            guard let first = frontier.firstInterval, UInt64(t) >= first.rawValue else { return empty }
            return try stream.read(Interval(UInt64(t))).partitions
        }
    }

    /// `read`, each interval's partitions concatenated.
    func readFlat<Record: RecordCodable>(_ name: String, of type: Record.Type, intervals: Int) throws -> [[Record]] {
        try read(name, of: type, intervals: intervals).map { $0.flatMap { $0 } }
    }
}

/// The encoded bytes of a record: the canonical order of windowed outputs.
func encodedB<Record: RecordCodable>(_ record: Record) -> [UInt8] {
    var writer = BinaryWriter(capacity: 16)
    record.encode(to: &writer)
    return writer.bytes
}

/// Whether `pairs` are sorted by their keys' encoded bytes.
func isSortedByEncodedKey<Key: RecordCodable, Value>(_ pairs: [KeyValue<Key, Value>]) -> Bool {
    zip(pairs, pairs.dropFirst()).allSatisfy { encodedB($0.key).lexicographicallyPrecedes(encodedB($1.key)) }
}

/// Plain in-memory models of the window and state operators, interval by interval.
enum ReferenceB {
    /// Whether a window of `slide` closes at `t`: `(t + 1) % slide == 0`.
    static func closes(_ t: Int, slide: Int) -> Bool { (t + 1) % slide == 0 }

    /// The intervals of the window closing at `t`.
    static func window(_ t: Int, length: Int) -> ClosedRange<Int> { max(0, t - length + 1)...t }

    /// Per interval `0..<count`: the window's records when one closes there, else nothing.
    static func windows<Record>(_ intervals: [[Record]], length: Int, slide: Int, count: Int) -> [[Record]] {
        (0..<count).map { t in
            guard closes(t, slide: slide) else { return [] }
            return window(t, length: length).flatMap { $0 < intervals.count ? intervals[$0] : [] }
        }
    }

    /// Per interval: the per-key combination of the window's values, for keys with values in it.
    static func reduceByKeyAndWindow(_ intervals: [[PairB]], length: Int, slide: Int, count: Int,
                                     _ combine: (Int64, Int64) -> Int64) -> [[Int64: Int64]] {
        windows(intervals, length: length, slide: slide, count: count).map { records in
            var sums: [Int64: Int64] = [:]
            for pair in records { sums[pair.key] = sums[pair.key].map { combine($0, pair.value) } ?? pair.value }
            return sums
        }
    }

    /// Per interval: the sum of the window's values, `nil` for windows without records.
    static func sumByWindow(_ intervals: [[Int64]], length: Int, slide: Int, count: Int) -> [Int64?] {
        windows(intervals, length: length, slide: slide, count: count).map { $0.isEmpty ? nil : $0.reduce(0, +) }
    }

    /// `updateStateByKey`/`track` semantics: per interval (`layout[t]`: per partition, as stored),
    /// the updated keys with their new states, and the number of live keys after the interval
    /// (from the first interval with input on; `nil` before it).
    static func keyedState<State>(_ layout: [[[PairB]]], count: Int, timeout: Int?,
                                  _ step: (Int64, [Int64], State?) -> State?)
        -> (updates: [[Int64: State]], live: [Int?])
    {
        var states: [Int64: (state: State, last: Int)] = [:]
        var updates: [[Int64: State]] = []
        var live: [Int?] = []
        var started = false
        for t in 0..<count {
            // A key's values in input-partition order, then record order.
            let records = t < layout.count ? layout[t].flatMap { $0 } : []
            if !records.isEmpty { started = true }
            var groups: [Int64: [Int64]] = [:]
            var order: [Int64] = []
            for pair in records {
                if groups[pair.key] == nil { order.append(pair.key) }
                groups[pair.key, default: []].append(pair.value)
            }
            var updated: [Int64: State] = [:]
            for key in order {
                if let state = step(key, groups[key] ?? [], states[key]?.state) {
                    states[key] = (state, t)
                    updated[key] = state
                } else {
                    states[key] = nil
                }
            }
            if let timeout {
                states = states.filter { t - $0.value.last < timeout }
            }
            updates.append(updated)
            live.append(started ? states.count : nil)
        }
        return (updates, live)
    }
}
