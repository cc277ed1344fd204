import Foundation
import Glibc
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 11's restart property: a program using every operator, stopped after each interval
/// (gracefully, or by SIGKILL in a child process) and restarted by a new `Program`, leaves every
/// stream, seal and progress mark identical, block for block, to one uninterrupted run; with 1, 2,
/// 3 and 4 partitions. Input `b` begins two intervals after `a`, and state is snapshotted every 2
/// intervals, so restarts restore from snapshots and replay.
@Suite struct EveryOperatorRestartTests {
    static let intervals = 6

    /// Pairs of interval `t` of stream `name`: a pure function, keys repeating within and across
    /// intervals, `b` empty before interval 2.
    static func records(_ name: String, _ t: Int) -> [KeyValue<Int64, Int64>] {
        if name == "b" && t < 2 { return [] }
        let count = name == "a" ? 7 + t % 3 : 4
        return (0..<count).map { i in
            let code = Int64(t * 31 + i * 17 + (name == "a" ? 0 : 5))
            return KeyValue(code % 5, code % 11 - 3)
        }
    }

    /// Appends and seals intervals `range` of streams `a` and `b` (created when missing).
    static func fill(_ path: String, partitions: Int, _ range: Range<Int>) throws {
        let store = try Store(at: path)
        for name in ["a", "b"] {
            let stream = try store.stream(name, of: KeyValue<Int64, Int64>.self, interval: .seconds(1),
                                          partitions: partitions)
            let appender = try stream.explicitAppender() { $0.key }
            for t in range { for record in records(name, t) { try appender.append(record, interval: Interval(UInt64(t))) } }
            try appender.seal(through: Interval(UInt64(range.upperBound - 1)))
        }
    }

    /// Runs program `every` (every operator, each saved) until caught up.
    static func run(_ path: String, partitions q: Int) throws {
        let store = try Store.open(at: path)
        let a = try store.stream(named: "a", of: KeyValue<Int64, Int64>.self)
        let b = try store.stream(named: "b", of: KeyValue<Int64, Int64>.self)
        let program = try Program(name: "every", store: store, options: ProgramOptions(snapshotEvery: 2)) { p in
            let x = p.read(a), y = p.read(b)
            x.map { KeyValue($0.key, $0.value * 2) }.filter { $0.value != 0 }.save(as: "map")
            x.flatMap { kv in [kv, KeyValue(kv.key + 10, kv.value)] }.save(as: "flatMap")
            x.mapValues { $0 + 1 }.flatMapValues { [$0, -$0] }.save(as: "values")
            x.mapPartitions { ContiguousArray($0.reversed()) }.save(as: "mapPartitions")
            x.transform { t, _, batch in ContiguousArray(batch.map { KeyValue($0.key, $0.value + Int64(t.rawValue)) }) }
                .save(as: "transform")
            x.transform(with: y) { _, _, mine, theirs in mine + theirs }.save(as: "transformWith")
            x.union(y).save(as: "union")
            x.repartition(q).save(as: "repartition")
            x.count().save(as: "count")
            x.map(\.key).countByValue(partitions: q).save(as: "countByValue")
            x.map(\.value).reduce(+).save(as: "reduce")
            x.reduceByKey(partitions: q, +).save(as: "reduceByKey")
            x.groupByKey(partitions: q).save(as: "groupByKey")
            x.combineByKey(partitions: q, createCombiner: { [$0] }, mergeValue: { $0 + [$1] },
                           mergeCombiners: { $0 + $1 }).save(as: "combineByKey")
            x.join(y, partitions: q).save(as: "join")
            x.leftOuterJoin(y, partitions: q).save(as: "leftOuterJoin")
            x.rightOuterJoin(y, partitions: q).save(as: "rightOuterJoin")
            x.fullOuterJoin(y, partitions: q).save(as: "fullOuterJoin")
            x.cogroup(y, partitions: q).save(as: "cogroup")
            x.transform(with: [KeyValue(Int64(1), Int64(100))], partitions: q) { batch, table in batch + table }
                .save(as: "transformWithStatic")
            x.window(length: 3, slide: 2).save(as: "window")
            x.countByWindow(length: 3).save(as: "countByWindow")
            x.map(\.value).reduceByWindow(+, inverse: -, length: 3).save(as: "reduceByWindow")
            x.reduceByKeyAndWindow(+, inverse: -, length: 3, partitions: q).save(as: "windowInverse")
            x.reduceByKeyAndWindow(+, length: 3, slide: 2, partitions: q, filter: { _, v in v > 0 })
                .save(as: "windowFiltered")
            x.map(\.key).countByValueAndWindow(length: 2, partitions: q).save(as: "countByValueAndWindow")
            x.groupByKeyAndWindow(length: 2, partitions: q).save(as: "groupByKeyAndWindow")
            x.runningReduce(+).save(as: "runningReduce")
            x.updateStateByKey(timeout: 2, partitions: q) { (_: Int64, values: [Int64], state: Int64?) in
                (state ?? 0) + values.reduce(0, +)
            }.save(as: "updateStateByKey")
            y.updateStateByKey(partitions: q, initialState: [KeyValue(Int64(4), Int64(50))], everyKey: true) {
                (t: Interval, _: Int64, values: [Int64], state: Int64?) -> Int64? in
                let next = values.isEmpty ? (state ?? 0) / 2 : (state ?? 0) + values.reduce(0, +) + Int64(t.rawValue)
                return next == 0 ? nil : next
            }.save(as: "everyKey")
            let sessions = x.track(initialize: { _, v in v }, update: { _, s, v in v == 7 ? nil : s + v }, timeout: 2,
                                   partitions: q, initialState: [KeyValue(Int64(9), Int64(9))])
            sessions.updates.save(as: "trackUpdates")
            sessions.activeCount.save(as: "activeCount")
            let mapped = y.mapWithState(timeout: 1, partitions: q, stateSnapshotsEvery: 2) {
                (_: Interval, key: Int64, value: Int64?, state: inout KeyState<Int64>) -> KeyValue<Int64, Int64>? in
                guard let value else { return KeyValue(key, -(state.get() ?? 0)) }
                try state.update((state.get() ?? 0) + value)
                return KeyValue(key, state.get() ?? 0)
            }
            mapped.mapped.save(as: "mapWithState")
            mapped.stateSnapshots().save(as: "stateSnapshots")
        }
        try program.runUntilCaughtUp()
    }

    /// The uninterrupted run's image.
    static func reference(_ directory: TemporaryDirectory, partitions: Int) throws -> LogImage {
        let path = directory.appending("reference")
        try fill(path, partitions: partitions, 0..<intervals)
        try run(path, partitions: partitions)
        let image = try LogImage(ofStoreAt: path, program: "every")
        // Not vacuous: every saved stream of an operator that has output here has blocks.
        for name in ["join", "cogroup", "everyKey", "mapWithState", "stateSnapshots", "groupByKeyAndWindow", "count"] {
            #expect(image.streams[name]?.blocks.isEmpty == false, "stream \(name) has no blocks")
        }
        return image
    }

    @Test(arguments: 1...4)
    func stoppedAfterEveryIntervalGivesTheUninterruptedOutput(partitions: Int) throws {
        let directory = try TemporaryDirectory(prefix: "strata-every")
        let path = directory.appending("stopped")
        for t in 0..<Self.intervals {
            try Self.fill(path, partitions: partitions, t..<t + 1)
            try Self.run(path, partitions: partitions)
        }
        try LogImage(ofStoreAt: path, program: "every").expectIdentical(to: try Self.reference(directory, partitions: partitions))
    }

    @Test(arguments: 1...4)
    func killedAfterEveryIntervalGivesTheUninterruptedOutput(partitions: Int) async throws {
        let directory = try TemporaryDirectory(prefix: "strata-every")
        let path = directory.appending("killed")
        for t in 0..<Self.intervals {
            await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, t = t as Int, partitions = partitions as Int] in
                try EveryOperatorRestartTests.fill(path, partitions: partitions, t..<t + 1)
                try EveryOperatorRestartTests.run(path, partitions: partitions)
                kill(getpid(), SIGKILL)
            }
        }
        try LogImage(ofStoreAt: path, program: "every").expectIdentical(to: try Self.reference(directory, partitions: partitions))
    }
}
