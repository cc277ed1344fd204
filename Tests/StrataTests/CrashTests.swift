import Foundation
import Strata
import StrataCrashChild
import StrataTestSupport
import Synchronization
import Testing

// Crash tests: a real writer process, `strata-crash-child` (tools/crash/main.swift), is killed
// with SIGKILL at pseudo-random moments and restarted on the same store, again and again. After
// every kill this process opens the store and checks it: every interval the child reported sealed
// is sealed and reads back exactly; nothing past the frontier is readable; `verify` is clean; the
// unsealed blocks left behind are exactly what the child's protocol allows. Finally the child runs
// to the end, and the whole log must equal one uninterrupted run: no record lost, none twice.
//
// The kill delays come from a seeded generator; set STRATA_CRASH_SEED to replay a failing seed.

@Suite(.serialized)
struct CrashTests {
    @Test(arguments: [Durability.groupCommit, .noSync, .fsyncEveryCommit])
    func sealedIntervalsSurviveRepeatedSIGKILL(durability: Durability) async throws {
        let scenario = CrashScenario(mode: "atomic", durability: durability, intervals: 1_000_000, records: 48,
                                     partitions: 3, kills: 15)
        try await scenario.run()
    }

    @Test(arguments: [Durability.groupCommit, .noSync])
    func flushedChunksJoinTheirSealAfterRepeatedSIGKILL(durability: Durability) async throws {
        let scenario = CrashScenario(mode: "chunked", durability: durability, intervals: 1_000_000, records: 48,
                                     partitions: 3, kills: 10)
        try await scenario.run()
    }

    /// Issue 16: each seal's commit holds several 2 KiB blocks per partition, compressed by four
    /// threads at once; a kill anywhere loses no acknowledged seal and leaves no part of a commit.
    @Test(arguments: [Durability.groupCommit, .noSync])
    func parallelCompressionLosesNothingAcknowledgedAfterRepeatedSIGKILL(durability: Durability) async throws {
        var scenario = CrashScenario(mode: "atomic", durability: durability, intervals: 1_000_000, records: 96,
                                     partitions: 3, kills: 10)
        scenario.compressionParallelism = 4
        try await scenario.run()
    }
}

/// The child's record type.
private typealias CrashRecord = KeyValue<UInt64, Bytes>

// MARK: - The scenario

/// One store, one child configuration, `kills` kill-and-restart rounds, then a run to the end.
private struct CrashScenario {
    var mode: String
    var durability: Durability
    /// The child's `--intervals` while it is being killed: more than it can write before the
    /// last kill.
    var intervals: UInt64
    /// The intervals the final, unkilled run appends after the frontier it finds.
    var finalIntervals: UInt64 = 25
    var records: Int
    var partitions: Int
    var kills: Int
    /// The child's `--compression-parallelism`; `nil`: its default.
    var compressionParallelism: Int?
    let streamName = "crash"

    func run() async throws {
        let seed = crashSeed(salt: "\(mode)/\(durability)" + (compressionParallelism.map { "/\($0)" } ?? ""))
        var rng = SplitMix64(seed: seed)
        let dir = try TemporaryDirectory(prefix: "strata-crash")
        let storePath = dir.appending("store")
        let context = "mode \(mode), durability \(durability), "
            + (compressionParallelism.map { "compression parallelism \($0), " } ?? "")
            + "seed \(seed) (STRATA_CRASH_SEED)"
        func arguments(intervals: UInt64) -> [String] {
            ["--store", storePath, "--stream", streamName, "--durability", durability.rawValue, "--mode", mode,
             "--intervals", String(intervals), "--records-per-interval", String(records),
             "--partitions", String(partitions)]
                + (compressionParallelism.map { ["--compression-parallelism", String($0)] } ?? [])
        }
        var state = ParentState()
        var killed = 0
        var beforeReady = 0
        var landed: [String: Int] = [:]  // where kills landed, for the summary; lookup only
        while killed < kills {
            // The first kill waits for `ready`, so that the store and stream exist; later ones may
            // land during start-up and recovery too.
            let plan: KillPlan
            if killed == 0 || rng.next(upTo: 4) != 0 {
                // A quarter of the delays are tiny, the rest spread to ~100 ms.
                plan = .afterReady(.milliseconds(rng.next(upTo: 4) == 0 ? rng.next(upTo: 5) : 5 + rng.next(upTo: 96)))
            } else {
                plan = .afterSpawn(.milliseconds(rng.next(upTo: 20)))  // start-up takes ~10 ms
            }
            let life = try await runChild(arguments: arguments(intervals: intervals), kill: plan,
                                          stderrPath: dir.appending("stderr-\(killed)"))
            let round = "\(context), kill \(killed) (\(plan))"
            try state.absorb(life.lines, scenario: self, round: round)
            if life.killed {
                killed += 1
                if !life.lines.contains(where: { $0.hasPrefix("ready") }) { beforeReady += 1 }
                let check = try checkStore(at: storePath, state: &state, round: round)
                landed[check, default: 0] += 1
                continue
            }
            // Not killed: it must have finished normally (the kill came too late).
            try #require(life.status == 0 && life.lines.last == "done",
                         "\(round): the child exited with status \(life.status): \(life.stderr)")
            break
        }
        // Let the child finish: it resumes once more and must stop exactly at `final`.
        let final = state.done ? intervals : (state.checkedThrough.map { $0 + 1 } ?? 0) + finalIntervals
        if !state.done {
            let life = try await runChild(arguments: arguments(intervals: final), kill: nil,
                                          stderrPath: dir.appending("stderr-final"))
            let round = "\(context), final run"
            try #require(!life.killed && life.status == 0 && life.lines.last == "done",
                         "\(round): the child exited with status \(life.status): \(life.stderr)")
            try state.absorb(life.lines, scenario: self, round: round)
        }
        try #require(state.done)
        _ = try checkStore(at: storePath, state: &state, round: "\(context), at the end", finished: true)
        try #require(state.checkedThrough == final - 1,
                     "\(context): the log ends at \(String(describing: state.checkedThrough)), not \(final - 1)")
        #expect(killed >= kills, "\(context): only \(killed) kills landed before the child finished")
        let summary = landed.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("crash test \(context): \(killed) kills (\(beforeReady) before ready), \(state.lives) child runs, "
              + "\(final) intervals; kills landed: \(summary)")
    }

    /// Opens the store in this process and checks it against what the child reported; returns a
    /// word naming where the kill landed.
    func checkStore(at path: String, state: inout ParentState, round: String, finished: Bool = false) throws -> String {
        let store = try Store.open(at: path)
        let stream = try store.stream(named: streamName, of: CrashRecord.self)
        #expect(stream.descriptor.partitions == UInt32(partitions))
        let frontier = try stream.frontier()
        let sealed = frontier.sealedThrough?.rawValue
        let reported = state.lastSealed
        // Every reported seal is there; at most one more (committed, killed before printing).
        let unreported: Bool
        switch (reported, sealed) {
        case (nil, nil): unreported = false
        case (nil, let s?):
            try #require(s == 0, "\(round): sealed through \(s), but the child reported no seal")
            unreported = true
        case (let r?, nil):
            throw CrashTestError(description: "\(round): the child reported interval \(r) sealed; nothing is sealed")
        case (let r?, let s?):
            try #require(s >= r, "\(round): the child reported interval \(r) sealed; the log is sealed through \(s)")
            try #require(s <= r + 1, "\(round): sealed through \(s), but the child reported only \(r)")
            unreported = s == r + 1
        }
        #expect(frontier.lateRecords == 0, "\(round)")
        #expect(frontier.retainedFrom == Interval(0), "\(round)")
        if sealed != nil { #expect(frontier.firstInterval == Interval(0), "\(round)") }

        // Every sealed interval reads back exactly.
        if let sealed {
            for t in 0...sealed {
                let batch = try stream.read(Interval(t))
                let exact = batch.partitions == expectedPartitions(interval: t)
                try #require(exact, "\(round): interval \(t) reads back wrong: \(describeMismatch(batch, interval: t))")
            }
        }
        // Nothing past the frontier is readable.
        let next = sealed.map { $0 + 1 } ?? 0
        do {
            _ = try stream.read(Interval(next))
            Issue.record("\(round): interval \(next), past the frontier, is readable")
        } catch .notSealed(_, let newest) {
            #expect(newest?.rawValue == sealed, "\(round)")
        } catch {
            Issue.record("\(round): reading interval \(next) failed with \(error), not .notSealed")
        }

        // verify: no problem; the unsealed blocks are exactly what the protocol allows.
        let report = try store.verify()
        #expect(report.isClean, "\(round): verify found \(report.problems)")
        #expect(report.intervals == (sealed.map { $0 + 1 } ?? 0),
                "\(round): verify checked \(report.intervals) intervals")
        let prefixes: [(records: Int, blocks: Int)]
        if mode == "atomic" || unreported || finished {
            // Atomic: an interval's blocks are committed with its seal. After an unreported seal
            // the child had not begun the next interval. A finished child left nothing unsealed.
            prefixes = [(0, 0)]
        } else {
            // The durable prefix of `next` is the last one reported, or the one after it (a
            // flush committed, killed before printing).
            let known = state.flushed[next] ?? 0
            let all = durablePrefixes(interval: next, records: records, partitions: partitions)
            let i = try #require(all.firstIndex { $0.records == known }, "\(round): \(known) is no flush boundary")
            prefixes = Array(all[i...].prefix(2))
        }
        let expectedBlocks = prefixes.map(\.blocks)
        let found = try #require(
            prefixes.first { UInt64($0.blocks) == report.unsealedBlocks },
            "\(round): \(report.unsealedBlocks) unsealed blocks after the frontier, expected one of \(expectedBlocks)")

        let landed = unreported ? "after an unreported seal"
            : found.records == 0 ? (mode == "atomic" ? "between seals" : "before the first flush")
            : found.records > (state.flushed[next] ?? 0) ? "after an unreported flush" : "after a flush"
        state.checkedThrough = sealed
        state.lastSealed = sealed
        state.durable = found.records
        if found.records > 0 { state.flushed[next] = found.records }
        return landed
    }

    /// The records interval `t` must hold, partition by partition, in append order.
    func expectedPartitions(interval t: UInt64) -> [[CrashRecord]] {
        var result = [[CrashRecord]](repeating: [], count: partitions)
        for k in 0..<records {
            let (key, value) = crashRecordFields(interval: t, index: UInt64(k))
            result[crashPartition(key: key, partitions: partitions)].append(CrashRecord(key, Bytes(value)))
        }
        return result
    }

    /// What differs between a batch read back and what it should hold.
    func describeMismatch(_ batch: IntervalBatch<CrashRecord>, interval t: UInt64) -> String {
        let expected = expectedPartitions(interval: t)
        let got = batch.partitions.map { $0.map { "\($0.key >> 32):\($0.key & 0xFFFF_FFFF)/\($0.value.bytes.count)B" } }
        let want = expected.map { $0.map { "\($0.key >> 32):\($0.key & 0xFFFF_FFFF)/\($0.value.bytes.count)B" } }
        return "got \(got.map(\.count)) records per partition, expected \(want.map(\.count)); "
            + "got \(got), expected \(want)"
    }
}

/// What the parent has learnt from the child's output over all its runs.
private struct ParentState {
    /// The newest interval the child reported sealed.
    var lastSealed: UInt64?
    /// Per unsealed interval, the largest record count the child reported durable (chunked mode).
    var flushed: [UInt64: Int] = [:]  // lookup only
    /// The frontier found by the last check.
    var checkedThrough: UInt64?
    /// The records of the interval after the frontier that the last check found durable.
    var durable = 0
    var done = false
    var lives = 0

    /// Checks one run's output and takes it in.
    mutating func absorb(_ lines: [String], scenario: CrashScenario, round: String) throws {
        lives += 1
        for (i, line) in lines.enumerated() {
            let words = line.split(separator: " ").map(String.init)
            let next = lastSealed.map { $0 + 1 } ?? 0
            switch (words.first, words.count) {
            case ("ready", 3):
                try #require(i == 0, "\(round): \"\(line)\" is not the first line")
                let t = try #require(UInt64(words[1])), c = try #require(Int(words[2]))
                // The child resumes right after the frontier, past the durable prefix the last
                // check found.
                try #require(t == next, "\(round): the child resumes at interval \(t), the frontier says \(next)")
                try #require(c == durable,
                             "\(round): the child resumes interval \(t) at record \(c), \(durable) are durable")
            case ("flushed", 3):
                let t = try #require(UInt64(words[1])), c = try #require(Int(words[2]))
                try #require(scenario.mode == "chunked" && t == next, "\(round): \"\(line)\" out of order")
                try #require(c > (flushed[t] ?? 0), "\(round): \"\(line)\" goes backwards")
                flushed[t] = c
            case ("sealed", 2):
                let t = try #require(UInt64(words[1]))
                try #require(t == next, "\(round): \"\(line)\" after interval \(next) was due")
                lastSealed = t
                flushed[t] = nil
                durable = 0
            case ("done", 1):
                try #require(i == lines.count - 1, "\(round): output after done")
                done = true
            default:
                Issue.record("\(round): unexpected line \"\(line)\"")
            }
        }
    }
}

// MARK: - Running the child

private enum KillPlan: CustomStringConvertible {
    /// SIGKILL this long after the child printed `ready`.
    case afterReady(Duration)
    /// SIGKILL this long after the child was started.
    case afterSpawn(Duration)

    var description: String {
        switch self {
        case .afterReady(let d): "kill \(d) after ready"
        case .afterSpawn(let d): "kill \(d) after spawn"
        }
    }
}

/// One run of the child.
private struct ChildRun {
    var lines: [String]
    var status: Int32
    var killed: Bool
    var stderr: String
}

/// Starts the child, kills it as planned (or lets it finish), and returns everything it printed.
private func runChild(arguments: [String], kill plan: KillPlan?, stderrPath: String) async throws -> ChildRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try crashChildPath())
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
    let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
    process.standardError = errorFile
    let (exits, exitContinuation) = AsyncStream<Void>.makeStream()
    let terminated = Flag()
    process.terminationHandler = { _ in
        terminated.set()
        exitContinuation.yield()
        exitContinuation.finish()
    }
    try process.run()
    try? errorFile.close()
    let pid = process.processIdentifier
    let lines = readLines(from: output.fileHandleForReading.fileDescriptor, until: terminated)

    // A watchdog: a child that hangs is killed, and the run fails below (generous: a loaded 2-core
    // machine running the whole suite slows a healthy child many times over).
    let hung = Flag()
    let watchdog = Task {
        try await Task.sleep(for: .seconds(900))
        hung.set()
        kill(pid, SIGKILL)
    }
    defer { watchdog.cancel() }

    var collected: [String] = []
    var iterator = lines.makeAsyncIterator()
    switch plan {
    case .afterReady(let delay)?:
        while let line = await iterator.next() {
            collected.append(line)
            if line.hasPrefix("ready") { break }
        }
        try await Task.sleep(for: delay)
        if !terminated.isSet { kill(pid, SIGKILL) }
    case .afterSpawn(let delay)?:
        try await Task.sleep(for: delay)
        if !terminated.isSet { kill(pid, SIGKILL) }
    case nil:
        break
    }
    while let line = await iterator.next() { collected.append(line) }
    for await _ in exits {}
    watchdog.cancel()
    try #require(!hung.isSet, "the child hung; it printed \(collected.suffix(5))")
    let killed = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    return ChildRun(lines: collected, status: process.terminationStatus, killed: killed, stderr: stderr)
}

/// The lines written to `fd`, read on a thread of their own until end of file or until the child
/// has terminated and the pipe is drained (a process started concurrently by another test may
/// hold a copy of the pipe's write end, so end of file alone is not enough).
private func readLines(from fd: Int32, until terminated: Flag) -> AsyncStream<String> {
    let (stream, continuation) = AsyncStream<String>.makeStream()
    let fd = dup(fd)
    let thread = Thread {
        defer { close(fd) }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let wasTerminated = terminated.isSet
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 20)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 {
                if wasTerminated { break }
                continue
            }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending.append(contentsOf: buffer[0..<n])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        // The child writes whole lines with one write(2), so nothing is left over; if something
        // is, report it as a line and let the protocol check reject it.
        if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
        continuation.finish()
    }
    thread.start()
    return stream
}

/// The built `strata-crash-child`: beside the other products of this test run.
private func crashChildPath() throws -> String {
    let name = "strata-crash-child"
    if let path = ProcessInfo.processInfo.environment["STRATA_CRASH_CHILD"] { return path }
    let beside = builtProductsDirectory() + "/" + name
    if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    // Walk up from the test bundle, looking in each directory.
    var url = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
    while url.path != "/" {
        url = url.deletingLastPathComponent()
        let candidate = url.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw CrashTestError(description: "\(name) is not built; run `swift build --build-tests` first")
}

private struct CrashTestError: Error, CustomStringConvertible { var description: String }

/// A flag set once, read from any thread.
private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

// MARK: - Seeded randomness

/// The seed of a scenario: STRATA_CRASH_SEED when set, else a fixed one, mixed with `salt`.
private func crashSeed(salt: String) -> UInt64 {
    let base = ProcessInfo.processInfo.environment["STRATA_CRASH_SEED"].flatMap { UInt64($0) } ?? 0x5354_5241_5441
    return base ^ XXH64.hash(Array(salt.utf8))
}

