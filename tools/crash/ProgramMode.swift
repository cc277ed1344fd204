// strata-crash-child program mode: the seed programs, run while their input is written, killed
// with SIGKILL at random moments by `Tests/StrataTests/ProgramCrashTests.swift` and restarted.
//
//     strata-crash-child program --store DIR --intervals N [--events-per-interval E]
//         [--partitions P] [--snapshot-every K|never] [--durability fsync|group|none]
//         [--stall-at T | --stall-snapshot-at T] [--live]
//
// Input: stream `events` (`CrashEvent`, 1 s intervals, P partitions by user), interval t holding
// `crashEvent(interval: t, index: 0..<E)`, a pure function. Program `seeds` (`defineSeedPrograms`):
// a running count per url (runningReduce), a word count per interval (reduceByKey), a count per
// url over the last 5 intervals (reduceByKeyAndWindow with inverse), sessions per user (`track`,
// timeout 3) with their live count, and a running count per user over the input as partitioned
// (`assumingPartitionedByKey()`: no shuffle).
//
// The child resumes the input at `sealedThrough + 1` (an interval's records and its seal commit
// together, so a kill leaves it whole or absent), first lets the program catch up with what is
// sealed (it restores from its snapshots), then appends, seals and processes one interval at a
// time. However often it is killed, every output must end up byte-identical to one fault-free run.
// With `--live` the program runs live instead (`Program.run()`, woken by each seal), and the child
// waits after each seal until every vertex has committed the interval; at the end it stops the
// run.
//
// Protocol on standard output, one line per write(2):
//
//     ready T       opened; the next input interval to append is T
//     caught-up     the program processed everything sealed when the child started
//     sealed T      input interval T is sealed
//     processed T   the program committed every output of interval T
//     deferred T    (with --stall-at T) the store's newest transaction since T's seal deferred its
//                   meta-page flush: seeds.v0's commit of T, internal streams only
//     snapshot-stalled V T   (with --stall-snapshot-at T) stateful vertex V submitted its commit of
//                   T and stalls before its snapshot of T, which a commit of its own writes after
//     done          all N intervals are sealed and processed; exit 0

import Dispatch
import Glibc
import Strata
import StrataStorage
import Synchronization

/// One input event of program mode.
public struct CrashEvent: RecordCodable, Equatable {
    /// The user, the session key and the partition key.
    public var user: UInt64
    /// The page.
    public var url: String
    /// A few words of text, separated by single spaces.
    public var words: String
    /// 0 view, 1 click, 2 scroll, 3 buy (a buy ends the user's session).
    public var kind: UInt8

    /// Creates an event.
    public init(user: UInt64, url: String, words: String, kind: UInt8) {
        self.user = user
        self.url = url
        self.words = words
        self.kind = kind
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.write(user)
        writer.write(url)
        writer.write(words)
        writer.write(kind)
    }

    public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        user = try reader.read()
        url = try reader.read()
        words = try reader.read()
        kind = try reader.read()
    }
}

private let vocabulary = ["stream", "log", "seal", "block", "vertex", "state", "snapshot", "replay", "crash", "kill",
                          "partition", "interval", "window", "session", "count", "lmdb", "lz4", "swift"]

/// Event `index` of interval `interval`: a pure function, the same in every run.
public func crashEvent(interval: UInt64, index: UInt64) -> CrashEvent {
    var state = (interval &* 1_000_003 &+ index) &* 0x9E37_79B9_7F4A_7C15 ^ 0xD1B5_4A32_D192_ED03
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    // Users drift over time, so sessions start, end with a buy, and time out.
    let user = (next() % 40) &+ interval / 3
    let url = "/p\(next() % 25)"
    let wordCount = 1 + Int(next() % 4)
    let words = (0..<wordCount).map { _ in vocabulary[Int(next() % UInt64(vocabulary.count))] }.joined(separator: " ")
    let kind = UInt8(next() % 10 == 0 ? 3 : next() % 3)
    return CrashEvent(user: user, url: url, words: words, kind: kind)
}

/// The names of the seed programs' output streams.
public let seedOutputStreams = ["urlCounts", "wordCounts", "urlWindowCounts", "activeSessions", "sessionUpdates",
                                "userCounts"]

/// Defines the seed programs over `events`.
public func defineSeedPrograms(_ p: ProgramBuilder, events: StoredStream<CrashEvent>) {
    let input = p.read(events)
    let clicks = input.map { KeyValue($0.url, Int64(1)) }
    clicks.runningReduce(+).save(as: "urlCounts")
    input.flatMap { event in event.words.split(separator: " ").map { KeyValue(String($0), Int64(1)) } }
        .reduceByKey(+).save(as: "wordCounts")
    clicks.reduceByKeyAndWindow(+, inverse: -, length: 5).save(as: "urlWindowCounts")
    let sessions = input.map { KeyValue($0.user, $0.kind) }.track(
        initialize: { (_: UInt64, _: UInt8) in Int64(1) },
        update: { (_: UInt64, views: Int64, kind: UInt8) in kind == 3 ? nil : views + 1 },
        timeout: 3)
    sessions.activeCount.save(as: "activeSessions")
    sessions.updates.save(as: "sessionUpdates")
    // The input is partitioned by user: a running count per user needs no shuffle.
    input.map { KeyValue($0.user, Int64(1)) }.assumingPartitionedByKey().runningReduce(+).save(as: "userCounts")
}

struct ProgramOptions {
    var store = ""
    var intervals: UInt64 = 0
    var eventsPerInterval = 200
    var partitions = 3
    var snapshotEvery: Int? = 4
    var durability = Durability.groupCommit
    /// Every vertex but `seeds.v0` stalls (for an hour) on this interval: the run that processes
    /// it has committed `seeds.v0`'s interval and is still running when the test kills it.
    var stallAt: UInt64?
    /// Every stateful vertex stalls (for an hour) between its commit of this interval, whose
    /// snapshot is due, and its snapshot's commit.
    var stallSnapshotAt: UInt64?
    /// Whether the program runs live (`run()`) rather than caught up after each seal.
    var live = false

    init(parsing arguments: [String]) throws(Options.UsageError) {
        var i = 0
        func value() throws(Options.UsageError) -> String {
            guard i + 1 < arguments.count else { throw Options.UsageError(message: "\(arguments[i]) needs a value") }
            i += 1
            return arguments[i]
        }
        func positive(_ text: String, _ name: String) throws(Options.UsageError) -> Int {
            guard let n = Int(text), n > 0 else {
                throw Options.UsageError(message: "\(name) must be a positive integer, not \(text)")
            }
            return n
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--store": store = try value()
            case "--intervals": intervals = UInt64(try positive(try value(), "--intervals"))
            case "--events-per-interval": eventsPerInterval = try positive(try value(), "--events-per-interval")
            case "--partitions": partitions = try positive(try value(), "--partitions")
            case "--snapshot-every":
                let text = try value()
                snapshotEvery = text == "never" ? nil : try positive(text, "--snapshot-every")
            case "--stall-at": stallAt = UInt64(try positive(try value(), "--stall-at"))
            case "--stall-snapshot-at": stallSnapshotAt = UInt64(try positive(try value(), "--stall-snapshot-at"))
            case "--live": live = true
            case "--durability":
                let text = try value()
                guard let d = Durability(rawValue: text) else { throw Options.UsageError(message: "unknown durability \(text)") }
                durability = d
            default: throw Options.UsageError(message: "unknown argument \(arguments[i])")
            }
            i += 1
        }
        guard !store.isEmpty, intervals > 0 else {
            throw Options.UsageError(
                message: "usage: strata-crash-child program --store DIR --intervals N [--events-per-interval E] "
                    + "[--partitions P] [--snapshot-every K|never] [--durability fsync|group|none] "
                    + "[--stall-at T | --stall-snapshot-at T] [--live]")
        }
    }
}

func runProgramMode(_ options: ProgramOptions) throws {
    let store = try Store(at: options.store, options: StoreOptions(durability: options.durability))
    let events = try store.stream("events", of: CrashEvent.self, interval: .seconds(1), partitions: options.partitions)
    // No speculative copies: what is committed is the same with them, but how many were launched
    // depends on timing, and the status tests read those counters.
    let stallAt = options.stallAt
    let stall = stallAt.map { stall in
        TaskFaults(delay: { vertex, interval, _, _ in
            interval.rawValue == stall && vertex != "seeds.v0" ? .seconds(3600) : nil
        })
    }
    var programOptions = Strata.ProgramOptions(tasks: TaskPolicy(speculationMultiplier: nil), faults: stall,
                                               snapshotEvery: options.snapshotEvery)
    if let stall = options.stallSnapshotAt {
        programOptions.beforeSnapshot = { vertex, interval in
            guard interval.rawValue == stall else { return }
            emit("snapshot-stalled \(vertex) \(stall)")
            sleep(3600)
        }
    }
    let program = try Program(name: "seeds", store: store, options: programOptions) { p in
        defineSeedPrograms(p, events: events)
    }
    let start = try events.frontier().sealedThrough.map { $0.rawValue + 1 } ?? 0
    emit("ready \(start)")
    try program.runUntilCaughtUp()
    emit("caught-up")
    var limits = StreamAppender.Limits()
    limits.commitBytes = .max  // an interval's blocks commit with its seal
    let appender = try events.explicitAppender(limits: limits) { $0.user }
    let live = options.live ? LiveRun(program) : nil
    var t = start
    while t < options.intervals {
        for k in 0..<UInt64(options.eventsPerInterval) {
            try appender.append(crashEvent(interval: t, index: k), interval: Interval(t))
        }
        try appender.seal(through: Interval(t))
        emit("sealed \(t)")
        if t == options.stallAt { reportDeferredCommit(after: t, committer: store.logStore.committer) }
        if let live {
            try live.waitUntilCommitted(through: Interval(t))
        } else {
            try program.runUntilCaughtUp()
        }
        emit("processed \(t)")
        t += 1
    }
    try live?.stop()
    emit("done")
}

/// A program's `run()` in progress (`--live`), on Swift's pool.
private final class LiveRun: Sendable {
    private let program: Program
    private let ended = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)

    init(_ program: Program) {
        self.program = program
        Task { [self] in
            do { try await program.run(pollInterval: .milliseconds(50)) } catch { failure.withLock { $0 = "\(error)" } }
            ended.signal()
        }
    }

    /// Waits until every vertex has committed `interval` (polled), or throws the run's error.
    func waitUntilCommitted(through interval: Interval) throws {
        while true {
            if let failure = failure.withLock({ $0 }) { throw LiveRunFailed(message: failure) }
            if try program.progress().allSatisfy({ $0.through.map { $0 >= interval } ?? false }) { return }
            usleep(5_000)
        }
    }

    /// Stops the run and waits for it to return.
    func stop() throws {
        program.stop()
        ended.wait()
        if let failure = failure.withLock({ $0 }) { throw LiveRunFailed(message: failure) }
    }
}

/// The live run failed.
private struct LiveRunFailed: Error, CustomStringConvertible {
    var message: String
    var description: String { "the live run failed: \(message)" }
}

/// Prints `deferred T` once a transaction after interval T's seal has committed and the newest one
/// deferred its meta-page flush. With `--stall-at T` only `seeds.v0` (internal streams only) can
/// commit then, so the line marks the moment right after a deferred internal commit with nothing
/// downstream of it committed: where `ProgramCrashTests` kills the child. Watches from a thread of
/// Dispatch's pool, since the main thread is inside the stalled pass.
private func reportDeferredCommit(after interval: UInt64, committer: Committer) {
    let sealed = committer.transactionsCommitted.load(ordering: .acquiring)
    DispatchQueue.global().async {
        while true {
            if committer.transactionsCommitted.load(ordering: .acquiring) > sealed,
               committer.newestCommitDeferredMetaSync.load(ordering: .relaxed) {
                emit("deferred \(interval)")
                return
            }
            usleep(2_000)
        }
    }
}
