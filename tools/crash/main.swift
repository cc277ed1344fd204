// strata-crash-child: the writer that the crash tests (Tests/StrataTests/CrashTests.swift) kill
// with SIGKILL at random moments and restart, again and again, on the same store.
//
//     strata-crash-child --store DIR --stream NAME --durability fsync|group|none
//         [--mode atomic|chunked] [--intervals N] [--records-per-interval R] [--partitions P]
//         [--compression-parallelism K]
//     strata-crash-child program …   (the seed programs: see ProgramMode.swift)
//
// It writes intervals 0..<N of a `KeyValue<UInt64, Bytes>` stream (interval length 1 s, P
// partitions, partitioned by key) with explicit time assignment. Its input is a pure function of
// (interval, index), `crashRecordFields(interval:index:)`: the key is `interval << 32 | index`,
// the value 0 to 299 bytes derived from the key (most records are larger than 128 bytes). A
// restarted child reads the frontier and resumes at `sealedThrough + 1` (or 0), so every run,
// however often it is killed, must leave exactly the same log behind as one uninterrupted run.
//
// Protocol on standard output, one line per `write(2)` (whole lines, never buffered, so a kill
// never loses a line that was reported nor tears one):
//
//     ready T C        opened the store; resumes interval T, whose first C records are durable
//     flushed T C      (chunked mode) `flush()` returned: the first C records of T are durable
//     sealed T         `seal(through: T)` returned: interval T is sealed and durable
//     done             all N intervals are sealed; the child exits 0
//
// Errors go to standard error, with exit status 1 (bad arguments: 64).
//
// ## Why a restart never appends a record twice
//
// `StreamAppender` may commit blocks of an interval before the interval is sealed (a full batch,
// `flush()`), and there is no public API to read unsealed records. So the child must know, on
// restart, how much of the unsealed interval T is already in the log. Two modes:
//
// - `atomic` (default). The appender's limits keep every block in memory until the seal:
//   `commitBytes` is unbounded, so no batch is submitted before `seal(through:)`, and `seal`
//   submits the interval's blocks and its seal row as **one** batch, committed in one LMDB
//   transaction. A kill therefore leaves interval T either sealed with all its records or absent
//   altogether: nothing of T is in the log, and the restart appends all of T (C is always 0).
//   `blockBytes` is small, so each partition of an interval holds several chunks.
//
// - `chunked`. Interval T is appended in chunks (`chunkBoundaries(interval:records:)`), with a
//   `flush()` after each chunk but the last; an odd interval also flushes its last chunk before
//   sealing, an even one lets the last chunk ride in the seal's commit. Nothing else is submitted
//   (`commitBytes` unbounded, `blockBytes` larger than any chunk), so each flush commits exactly
//   one block per partition that the chunk's records hash to. A kill lands before or after a
//   flush's commit, never inside it, so the log holds a whole number of chunks of T: on restart
//   the child counts the unsealed blocks (`Store.verify(stream:)` reports them) and finds the one
//   flush boundary whose cumulative block count matches; it then appends only the records after
//   it. A count that matches no boundary (a torn commit, an orphan) is an error, exit status 1.
//   This also covers a kill after a flush committed but before `flushed` was printed: the
//   durable count, not the printed one, decides.

import Glibc
import Strata
import StrataStorage

/// The stream's record type.
typealias CrashRecord = KeyValue<UInt64, Bytes>

// The `public` functions below are the input's specification; the crash tests import them (the
// test target depends on this one) to know what the log must hold. They use standard types only.

/// The key of record `index` of interval `interval`.
public func crashRecordKey(interval: UInt64, index: UInt64) -> UInt64 { interval << 32 | index }

/// The key and value of record `index` of interval `interval`: a pure function, the same in every
/// run. The value is 0 to 299 bytes derived from the key.
public func crashRecordFields(interval: UInt64, index: UInt64) -> (key: UInt64, value: [UInt8]) {
    let key = crashRecordKey(interval: interval, index: index)
    let length = Int((index &* 7919 &+ interval &* 104_729) % 300)
    var state = key &* 0x9E37_79B9_7F4A_7C15 ^ 0xD1B5_4A32_D192_ED03
    var bytes = [UInt8]()
    bytes.reserveCapacity(length)
    for i in 0..<length {
        if i % 8 == 0 {
            // SplitMix64 step.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            state = z ^ (z >> 31)
        }
        // Half of each value is a repeated pattern, so blocks compress somewhat.
        let byte = i < length / 2 ? state >> ((i % 8) * 8) : UInt64(i & 0x0F)
        bytes.append(UInt8(truncatingIfNeeded: byte))
    }
    return (key, bytes)
}

/// Record `index` of interval `interval`.
func record(interval: UInt64, index: UInt64) -> CrashRecord {
    let (key, value) = crashRecordFields(interval: interval, index: index)
    return CrashRecord(key, Bytes(value))
}

/// The partition the appender puts a key in: XXH64 of the key's encoding, modulo the count.
public func crashPartition(key: UInt64, partitions: Int) -> Int {
    var writer = BinaryWriter(capacity: 8)
    key.encode(to: &writer)
    return Int(XXH64.hash(writer.bytes) % UInt64(partitions))
}

/// Where the chunks of an interval end in chunked mode: strictly increasing, the last one `records`.
public func chunkBoundaries(interval: UInt64, records: Int) -> [Int] {
    let chunks = 2 + Int(interval % 4)  // 2 to 5 chunks
    var boundaries: [Int] = []
    for j in 1...chunks {
        // Uneven chunks: boundary j at roughly j²/chunks² of the way.
        let b = max(j, records * j * j / (chunks * chunks))
        if b > (boundaries.last ?? 0) && b <= records { boundaries.append(b) }
    }
    if boundaries.last != records { boundaries.append(records) }
    return boundaries
}

/// The record counts of interval `interval` that can be durable while it is unsealed, each with
/// the number of blocks the log then holds for it (chunked mode).
public func durablePrefixes(interval: UInt64, records: Int, partitions: Int) -> [(records: Int, blocks: Int)] {
    let boundaries = chunkBoundaries(interval: interval, records: records)
    var result: [(records: Int, blocks: Int)] = [(0, 0)]
    var start = 0
    var blocks = 0
    for (j, end) in boundaries.enumerated() {
        let isLast = j == boundaries.count - 1
        var touched = [Bool](repeating: false, count: partitions)
        for k in start..<end {
            let key = crashRecordKey(interval: interval, index: UInt64(k))
            touched[crashPartition(key: key, partitions: partitions)] = true
        }
        blocks += touched.filter { $0 }.count
        start = end
        // The last chunk is flushed on its own only in odd intervals.
        if !isLast || interval % 2 == 1 { result.append((end, blocks)) }
    }
    return result
}

/// Writes one line to standard output with a single `write(2)`.
func emit(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { all in
            let rest = UnsafeRawBufferPointer(rebasing: all[offset...])
            return retryingOnInterrupt { write(1, rest.baseAddress, rest.count) }
        }
        if n < 0 { exit(1) }  // the parent went away
        offset += n
    }
}

/// Writes a message to standard error.
func complain(_ message: String) {
    let bytes = Array(("strata-crash-child: " + message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

struct Options {
    enum Mode: String { case atomic, chunked }
    var store = ""
    var stream = ""
    var durability = Durability.groupCommit
    var mode = Mode.atomic
    var intervals: UInt64 = 100
    var recordsPerInterval = 64
    var partitions = 4
    /// `StreamAppender.Limits.compressionParallelism`; `nil`: the default.
    var compressionParallelism: Int?

    struct UsageError: Error { var message: String }

    init(parsing arguments: [String]) throws(UsageError) {
        var sawDurability = false
        var i = 0
        func value() throws(UsageError) -> String {
            guard i + 1 < arguments.count else { throw UsageError(message: "\(arguments[i]) needs a value") }
            i += 1
            return arguments[i]
        }
        func positive(_ text: String, _ name: String) throws(UsageError) -> Int {
            guard let n = Int(text), n > 0 else {
                throw UsageError(message: "\(name) must be a positive integer, not \(text)")
            }
            return n
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--store": store = try value()
            case "--stream": stream = try value()
            case "--durability":
                let text = try value()
                guard let d = Durability(rawValue: text) else {
                    throw UsageError(message: "unknown durability \(text)")
                }
                durability = d
                sawDurability = true
            case "--mode":
                let text = try value()
                guard let m = Mode(rawValue: text) else { throw UsageError(message: "unknown mode \(text)") }
                mode = m
            case "--intervals": intervals = UInt64(try positive(try value(), "--intervals"))
            case "--records-per-interval": recordsPerInterval = try positive(try value(), "--records-per-interval")
            case "--partitions": partitions = try positive(try value(), "--partitions")
            case "--compression-parallelism":
                compressionParallelism = try positive(try value(), "--compression-parallelism")
            default: throw UsageError(message: "unknown argument \(arguments[i])")
            }
            i += 1
        }
        guard !store.isEmpty, !stream.isEmpty, sawDurability else {
            throw UsageError(
                message: "usage: strata-crash-child --store DIR --stream NAME --durability fsync|group|none "
                    + "[--mode atomic|chunked] [--intervals N] [--records-per-interval R] [--partitions P] "
                    + "[--compression-parallelism K]")
        }
        guard recordsPerInterval < 1 << 32 else { throw UsageError(message: "--records-per-interval is too large") }
    }
}

struct ProtocolError: Error, CustomStringConvertible { var description: String }

func run(_ options: Options) throws {
    let store = try Store(at: options.store, options: StoreOptions(durability: options.durability))
    let stream = try store.stream(options.stream, of: CrashRecord.self, interval: .seconds(1),
                                  partitions: options.partitions)
    let start = try stream.frontier().sealedThrough.map { $0.rawValue + 1 } ?? 0

    var limits = StreamAppender.Limits()
    limits.commitBytes = .max  // only `flush()` and `seal(through:)` submit
    if let parallelism = options.compressionParallelism { limits.compressionParallelism = parallelism }
    var resume = 0
    switch options.mode {
    case .atomic:
        limits.blockBytes = 2 << 10  // several chunks per partition, all in the seal's commit
    case .chunked:
        limits.blockBytes = 16 << 20  // one block per partition per flush
        if start < options.intervals {
            let unsealed = try store.verify(stream: options.stream).unsealedBlocks
            let prefixes = durablePrefixes(interval: start, records: options.recordsPerInterval,
                                           partitions: options.partitions)
            guard let match = prefixes.last(where: { UInt64($0.blocks) == unsealed }) else {
                throw ProtocolError(
                    description: "interval \(start) has \(unsealed) unsealed blocks, which match no flush boundary "
                        + "(expected one of \(prefixes.map(\.blocks)))")
            }
            resume = match.records
        }
    }
    let appender = try stream.explicitAppender(limits: limits) { $0.key }
    emit("ready \(start) \(resume)")

    var t = start
    while t < options.intervals {
        let interval = Interval(t)
        let records = options.recordsPerInterval
        switch options.mode {
        case .atomic:
            for k in 0..<records { try appender.append(record(interval: t, index: UInt64(k)), interval: interval) }
        case .chunked:
            var begin = 0
            let boundaries = chunkBoundaries(interval: t, records: records)
            for (j, end) in boundaries.enumerated() {
                defer { begin = end }
                guard end > resume else { continue }  // already durable
                for k in max(begin, resume)..<end {
                    try appender.append(record(interval: t, index: UInt64(k)), interval: interval)
                }
                if j < boundaries.count - 1 || t % 2 == 1 {
                    try appender.flush()
                    emit("flushed \(t) \(end)")
                }
            }
            resume = 0
        }
        try appender.seal(through: interval)
        emit("sealed \(t)")
        t += 1
    }
    emit("done")
}

if CommandLine.arguments.dropFirst().first == "program" {
    // Program mode: tools/crash/ProgramMode.swift.
    let programOptions: ProgramOptions
    do {
        programOptions = try ProgramOptions(parsing: Array(CommandLine.arguments.dropFirst(2)))
    } catch {
        complain(error.message)
        exit(64)
    }
    do {
        try runProgramMode(programOptions)
    } catch {
        complain("\(error)")
        exit(1)
    }
    exit(0)
}

let options: Options
do {
    options = try Options(parsing: Array(CommandLine.arguments.dropFirst()))
} catch {
    complain(error.message)
    exit(64)
}
do {
    try run(options)
} catch {
    complain("\(error)")
    exit(1)
}
exit(0)
