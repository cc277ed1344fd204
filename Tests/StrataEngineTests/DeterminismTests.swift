import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// Determinism (STYLE.md §8): the same program over the same sealed input gives byte-identical
// blocks. The program runs in two separate child processes (exit tests), whose `Hasher` seeds
// differ, on two copies of one input store; every block, seal row and progress mark of every
// stream must then be equal byte for byte. A second test runs the program over the same records
// split into other partition counts: the records of each interval must be equal as multisets.

@Suite struct DeterminismTests {
    @Test func twoProcessesWriteByteIdenticalBlocks() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-determinism")
        let original = directory.appending("input")
        // The input is written by a child too, so that this process never has a store open
        // while the children write.
        await #expect(processExitsWith: .exitCode(0)) { [path = original as String] in
            try DeterminismFixture.fill(path, partitions: 4)
        }
        let copies = [directory.appending("first"), directory.appending("second")]
        for copy in copies {
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false)
            // The data file only: LMDB rebuilds a lock file it does not find.
            try FileManager.default.copyItem(atPath: original + "/data.mdb", toPath: copy + "/data.mdb")
        }
        for copy in copies {
            await #expect(processExitsWith: .exitCode(0)) { [path = copy as String] in
                try DeterminismFixture.runProgram(at: path, reducePartitions: 3)
                // The process's hash seed, to show that the two runs hashed differently.
                try String("strata-determinism".hashValue).write(toFile: path + ".hash", atomically: true, encoding: .utf8)
            }
        }
        // The point of running in two processes: `Hasher` was seeded differently in each
        // (never run the tests with SWIFT_DETERMINISTIC_HASHING, which would hide that).
        let seeds = try copies.map { try String(contentsOfFile: $0 + ".hash", encoding: .utf8) }
        #expect(seeds[0] != seeds[1], "both children hashed alike: is SWIFT_DETERMINISTIC_HASHING set?")

        let first = try LogImage(ofStoreAt: copies[0], program: "det")
        let second = try LogImage(ofStoreAt: copies[1], program: "det")
        // The program made its outputs (and its internal shuffle and state streams).
        for name in ["sums", "counts", "det.v0.shuffle", "det.v2.shuffle", "det.v3.out"] {
            let blocks = try #require(first.streams[name], "no stream \(name)")
            #expect(!blocks.blocks.isEmpty, "stream \(name) has no block")
        }
        let nonEmpty = (0..<DeterminismFixture.intervals).filter { $0 != DeterminismFixture.emptyInterval }
        #expect(first.streams["counts"]?.seals.map(\.0.rawValue) == nonEmpty.map(UInt64.init))
        #expect(first.progress.count == 4)  // `counts` is written by v3 itself (a mirrored output)
        try first.expectIdentical(to: second)

        // And the outputs are right, not only reproducible.
        let store = try Store.open(at: copies[0])
        try DeterminismFixture.checkOutputs(store)
    }

    @Test(arguments: [(inputPartitions: 1, reducePartitions: 1), (3, 2), (5, 7)])
    func partitionCountsChangeNoInterval(inputPartitions: Int, reducePartitions: Int) throws {
        let directory = try TemporaryDirectory(prefix: "strata-determinism")
        let path = directory.appending("store")
        try DeterminismFixture.fill(path, partitions: inputPartitions)
        try DeterminismFixture.runProgram(at: path, reducePartitions: reducePartitions)
        let store = try Store.open(at: path)
        try DeterminismFixture.checkOutputs(store)
        let sums = try store.stream(named: "sums", of: KeyValue<String, Int64>.self)
        #expect(sums.descriptor.partitions == UInt32(reducePartitions))
    }
}

// MARK: - The program and its input

/// The determinism tests' input and program: `map` + `reduceByKey` + `runningReduce` + `save`
/// over many string keys (string hashing is seeded per process) in several partitions.
enum DeterminismFixture {
    static let intervals = 8
    /// An interval with no record, to cover empty intervals.
    static let emptyInterval = 5

    /// The input records of interval `t`: `KeyValue(key, value)`, the same on every call.
    static func records(_ t: Int) -> [KeyValue<String, Int64>] {
        guard t != emptyInterval else { return [] }
        var state = UInt64(t + 1) &* 0x9E37_79B9_7F4A_7C15
        var records: [KeyValue<String, Int64>] = []
        for _ in 0..<(2_500 + 400 * t) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let n = Int(state >> 33) % 3_000
            // Mostly ASCII keys, some not, some long enough to live outside the String.
            let key = n % 7 == 0 ? "clé-\(n)" : n % 11 == 0 ? "a-rather-long-key-for-the-heap-\(n)" : "k\(n)"
            records.append(KeyValue(key, Int64(state >> 50) - 4_000))
        }
        return records
    }

    /// Creates the store at `path` with stream `events` and seals `intervals` intervals of input,
    /// distributed round-robin over `partitions` partitions.
    static func fill(_ path: String, partitions: Int) throws {
        let store = try Store(at: path)
        let events = try store.stream("events", of: KeyValue<String, Int64>.self, interval: .seconds(1),
                                      partitions: partitions)
        let appender = try events.explicitAppender()
        for t in 0..<intervals {
            for record in records(t) { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(UInt64(intervals - 1)))
    }

    /// Defines program `det` on the store at `path` and runs it until it has caught up.
    ///
    /// Vertices: v0 shuffle and v1 save of `sums` (per-interval sums of `3·value + 1`), v2
    /// shuffle, v3 running count, v4 save of `counts`.
    static func runProgram(at path: String, reducePartitions: Int) throws {
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        let program = try Program(name: "det", store: store) { p in
            let pairs = p.read(events).map { KeyValue($0.key, $0.value &* 3 &+ 1) }
            pairs.reduceByKey(partitions: reducePartitions, +).save(as: "sums")
            pairs.map { KeyValue($0.key, Int64(1)) }.runningReduce(+).save(as: "counts")
        }
        try program.runUntilCaughtUp()
    }

    /// Checks `sums` and `counts` against a fold of the input: per interval, equal as multisets.
    static func checkOutputs(_ store: Store) throws {
        let sums = try store.stream(named: "sums", of: KeyValue<String, Int64>.self)
        let counts = try store.stream(named: "counts", of: KeyValue<String, Int64>.self)
        #expect(try sums.newestSealedInterval() == Interval(UInt64(intervals - 1)))
        #expect(try counts.newestSealedInterval() == Interval(UInt64(intervals - 1)))
        var running: [String: Int64] = [:]  // lookup only
        for t in 0..<intervals {
            var sum: [String: Int64] = [:]  // lookup only
            var updated: [String: Int64] = [:]  // lookup only
            for record in records(t) {
                sum[record.key, default: 0] &+= record.value &* 3 &+ 1
                running[record.key, default: 0] += 1
                updated[record.key] = running[record.key]
            }
            let interval = Interval(UInt64(t))
            #expect(sorted(try sums.read(interval).records) == sorted(sum), "sums, interval \(t)")
            #expect(sorted(try counts.read(interval).records) == sorted(updated), "counts, interval \(t)")
        }
    }

    /// The records as (key, value) pairs in a canonical order, duplicates kept.
    static func sorted(_ records: some Sequence<KeyValue<String, Int64>>) -> [Pair] {
        records.map { Pair(key: $0.key, value: $0.value) }.sorted()
    }

    static func sorted(_ dictionary: [String: Int64]) -> [Pair] {
        dictionary.map { Pair(key: $0.key, value: $0.value) }.sorted()
    }

    /// A key and value that sort by the key's UTF-8 bytes, then the value.
    struct Pair: Comparable, CustomStringConvertible {
        var key: String
        var value: Int64
        static func < (a: Pair, b: Pair) -> Bool {
            a.key.utf8.elementsEqual(b.key.utf8) ? a.value < b.value : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        var description: String { "\(key)=\(value)" }
    }
}

// MARK: - Comparing stores byte for byte

/// Everything a store's logs hold, per stream name: the raw bytes of every block with its
/// (interval, partition, chunk), the seal rows, and the progress marks of `program`'s vertices.
struct LogImage {
    struct Block: Equatable, CustomStringConvertible {
        var interval: UInt64
        var partition: UInt32
        var chunk: UInt32
        var bytes: [UInt8]
        var description: String { "interval \(interval) partition \(partition) chunk \(chunk) (\(bytes.count) bytes)" }
    }

    struct Stream {
        var descriptor: StreamDescriptor
        var blocks: [Block]
        var seals: [(Interval, SealRecord)]
    }

    var streams: [String: Stream] = [:]  // lookup only; compared by sorted name
    var progress: [(String, ProgressMark)] = []

    init(ofStoreAt path: String, program: String) throws {
        let store = try Store.open(at: path)
        let log = store.log
        for descriptor in try log.descriptors() {
            var blocks: [Block] = []
            try log.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, bytes in
                blocks.append(Block(interval: key.interval.rawValue, partition: key.partition.rawValue,
                                    chunk: key.chunk.rawValue, bytes: Array(bytes)))
                return true
            }
            let frontier = try log.frontier(of: descriptor)
            let seals = try frontier.sealedThrough.map { try log.sealRecords(of: descriptor, in: Interval(0)...$0) } ?? []
            streams[descriptor.name] = Stream(descriptor: descriptor, blocks: blocks, seals: seals)
        }
        progress = try log.progressMarks(prefix: program + ".")
    }

    /// Records an issue for every difference from `other`: streams, their settings, every block's
    /// key and bytes, every seal row, every progress mark.
    func expectIdentical(to other: LogImage, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(streams.keys.sorted() == other.streams.keys.sorted(), sourceLocation: sourceLocation)
        for name in streams.keys.sorted() {
            guard let mine = streams[name], let theirs = other.streams[name] else { continue }
            #expect(mine.descriptor.recordType == theirs.descriptor.recordType, "stream \(name)", sourceLocation: sourceLocation)
            #expect(mine.descriptor.partitions == theirs.descriptor.partitions, "stream \(name)", sourceLocation: sourceLocation)
            #expect(mine.blocks.count == theirs.blocks.count, "stream \(name): block count", sourceLocation: sourceLocation)
            for (a, b) in zip(mine.blocks, theirs.blocks) where a != b {
                Issue.record("stream \(name): block \(a) differs from \(b)", sourceLocation: sourceLocation)
                break
            }
            #expect(mine.seals.map(\.0) == theirs.seals.map(\.0), "stream \(name): sealed intervals", sourceLocation: sourceLocation)
            #expect(mine.seals.map(\.1) == theirs.seals.map(\.1), "stream \(name): seal rows", sourceLocation: sourceLocation)
        }
        #expect(progress.map(\.0) == other.progress.map(\.0), "progress mark names", sourceLocation: sourceLocation)
        #expect(progress.map(\.1) == other.progress.map(\.1), "progress marks", sourceLocation: sourceLocation)
    }
}
