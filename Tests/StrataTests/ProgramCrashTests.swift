import Foundation
import StrataCrashChild
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// The program crash harness: `strata-crash-child program` (tools/crash/ProgramMode.swift) runs
// the seed programs — running url count (runningReduce), word count (reduceByKey), url count over
// 5 intervals (reduceByKeyAndWindow with inverse), sessions (track with a timeout, activeCount), a
// running count per user over the input as partitioned (no shuffle: assumingPartitionedByKey) —
// while it writes their input, snapshotting every 4 intervals. This process kills it with SIGKILL
// at pseudo-random moments (startup, restore, appending, processing, committing) at least 30 times,
// restarting it on the same store each time; then lets it finish, runs it once more without any
// kill on a fresh store, and compares every stream block by block, and every snapshot's bytes.
// (That outputs do not depend on snapshots at all is SnapshotTests' business.)
//
// The kill delays come from a seeded generator in this process only; set STRATA_CRASH_SEED to
// replay a failing seed.

@Suite(.serialized)
struct ProgramCrashTests {
    @Test func seedProgramsSurviveRepeatedSIGKILLWithIdenticalOutputs() async throws {
        let seed = (ProcessInfo.processInfo.environment["STRATA_CRASH_SEED"].flatMap { UInt64($0) } ?? 0x5354_5241_5441)
            ^ 0x7072_6F67
        var rng = SplitMix64(seed: seed)
        let dir = try TemporaryDirectory(prefix: "strata-program-crash")
        let crashed = dir.appending("crashed"), reference = dir.appending("reference")
        let common = ["--events-per-interval", "150", "--partitions", "3", "--durability", "group"]
        let kills = 30
        var killed = 0, lives = 0
        var landed: [String: Int] = [:]  // lookup and a summary only
        while killed < kills {
            // Mostly 40–400 ms after the start, a few very early (start-up and recovery).
            let delay = rng.next(upTo: 5) == 0 ? rng.next(upTo: 40) : 40 + rng.next(upTo: 360)
            let life = try await runProgramChild(
                ["program", "--store", crashed, "--intervals", "1000000", "--snapshot-every", "4"] + common,
                killAfter: .milliseconds(delay), output: dir.appending("out-\(lives)"))
            lives += 1
            try #require(life.killed, "seed \(seed), life \(lives): the child exited \(life.status): \(life.stderr)")
            killed += 1
            landed[life.landing, default: 0] += 1
        }
        // Finish a few intervals past the input's frontier, without a kill.
        let store = try Store.open(at: crashed)
        let sealed = try store.info(of: "events").frontier.sealedThrough?.rawValue ?? 0
        let final = sealed + 6
        let finish = try await runProgramChild(
            ["program", "--store", crashed, "--intervals", String(final), "--snapshot-every", "4"] + common,
            killAfter: nil, output: dir.appending("out-final"))
        try #require(finish.status == 0 && finish.lines.last == "done", "seed \(seed): \(finish.stderr) (exit \(finish.status), killed: \(finish.killed))")
        // The fault-free run: the same input and snapshot period; durability does not change a
        // byte of the logs, and `none` keeps this run from waiting on fsync.
        let clean = try await runProgramChild(
            ["program", "--store", reference, "--intervals", String(final), "--snapshot-every", "4",
             "--events-per-interval", "150", "--partitions", "3", "--durability", "none"],
            killAfter: nil, output: dir.appending("out-reference"))
        try #require(clean.status == 0 && clean.lines.last == "done", "seed \(seed): \(clean.stderr) (exit \(clean.status), killed: \(clean.killed))")

        // Every stream, block by block, seal by seal, progress by progress; every snapshot's bytes.
        let other = try Store.open(at: reference)
        try expectIdenticalLogs(store, other)
        for stream in seedOutputStreams { #expect(try other.log.descriptors().map(\.name).contains(stream)) }
        #expect(try store.verify().isClean)
        // The stateful vertices restored from snapshots after kills.
        let status = try store.programStatus(program: "seeds")
        let stateful = status.filter { $0.lastSnapshot != nil }
        #expect(stateful.count == 4)
        #expect(stateful.allSatisfy { $0.stateRestores >= 1 }, "\(stateful)")
        // Killed runs left their vertices marked running: some restarts were crash recoveries.
        #expect(status.contains { $0.recoveries >= 1 }, "\(status)")
        #expect(status.allSatisfy { $0.runState == .stoppedCleanly })
        for vertex in stateful.map(\.vertex) {
            #expect(try store.log.snapshotIntervals(of: vertex).count >= 2, "\(vertex): snapshots")
        }
        let summary = landed.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("program crash test, seed \(seed): \(killed) kills over \(lives + 1) lives, \(final) intervals; "
              + "kills landed: \(summary); state restores \(stateful.map(\.stateRestores)), "
              + "crash recoveries \(status.map(\.recoveries))")
    }

    /// Kills a program with SIGKILL right after commits of internal streams that did not wait for
    /// their meta page to be flushed (`AppendBatch.defersMetaSync`), before any commit downstream
    /// of them, twice; the restarts must end with every output, progress mark and snapshot
    /// byte-identical to an uninterrupted run.
    ///
    /// `--stall-at T` stalls every vertex but `seeds.v0` on interval T, so the last commit before
    /// the kill is `seeds.v0`'s interval T: its shuffle by url (`seeds.v0.*`, internal only, so
    /// committed deferred under `group`), with no downstream vertex past T − 1. The child prints
    /// `deferred T` once its committer's newest transaction is a deferred one after T's seal; the
    /// test kills it when it has, and the store shows seeds.v0 at T.
    @Test func killsRightAfterDeferredInternalCommitsLeaveOutputsIdentical() async throws {
        let dir = try TemporaryDirectory(prefix: "strata-deferred-crash")
        let crashed = dir.appending("crashed"), reference = dir.appending("reference")
        let common = ["--events-per-interval", "150", "--partitions", "3", "--snapshot-every", "4"]
        for stall in [6, 9] {
            let output = dir.appending("out-stall-\(stall)")
            let state = try await killChild(
                ["program", "--store", crashed, "--intervals", "1000", "--durability", "group", "--stall-at", String(stall)] + common,
                output: output,
                // Once the child reports that its newest transaction is a deferred one after the seal
                // of `stall` (seeds.v0's; nothing else commits then) and the store shows it.
                caught: { lines, last -> String? in
                    guard lines.contains(where: { $0 == "deferred \(stall)" }),
                          let status = try? Store.open(at: crashed).programStatus(program: "seeds") else { return nil }
                    last = status.map { "\($0.vertex) \($0.progress.rawValue)" }.joined(separator: ", ")
                    return status.first?.vertex == "seeds.v0" && status.first?.progress == Interval(UInt64(stall)) ? last : nil
                },
                notCaught: { state, exited in ChildDidNotStall(stall: stall, state: state, exited: exited) })
            // At the kill: seeds.v0 (internal streams only) one interval past every other vertex.
            let status = try Store.open(at: crashed).programStatus(program: "seeds")
            #expect(status.count == 10, "\(state)")
            #expect(status.first?.progress == Interval(UInt64(stall)), "\(state)")
            #expect(status.dropFirst().allSatisfy { $0.progress == Interval(UInt64(stall - 1)) }, "\(state)")
        }
        // The restart recovers and finishes; then a run without a kill on a new store.
        let final = 14
        let finish = try await runProgramChild(
            ["program", "--store", crashed, "--intervals", String(final), "--durability", "group"] + common,
            killAfter: nil, output: dir.appending("out-final"))
        try #require(finish.status == 0 && finish.lines.last == "done", "\(finish.stderr) (exit \(finish.status), killed: \(finish.killed))")
        let clean = try await runProgramChild(
            ["program", "--store", reference, "--intervals", String(final), "--durability", "none"] + common,
            killAfter: nil, output: dir.appending("out-reference"))
        try #require(clean.status == 0 && clean.lines.last == "done", "\(clean.stderr) (exit \(clean.status), killed: \(clean.killed))")
        let store = try Store.open(at: crashed)
        try expectIdenticalLogs(store, try Store.open(at: reference))
        #expect(try store.verify().isClean)
        let status = try store.programStatus(program: "seeds")
        #expect(status.first.map { $0.recoveries == 2 } == true, "\(status)")
        #expect(status.allSatisfy { $0.progress == Interval(UInt64(final - 1)) && $0.runState == .stoppedCleanly })
    }

    /// Kills a program with SIGKILL between a stateful vertex's commit of an interval whose
    /// snapshot is due and the commit of that snapshot (which comes after it, in a commit of its
    /// own), twice; each restart must write the lost snapshot, so that every output, progress mark
    /// and snapshot ends byte-identical to an uninterrupted run.
    ///
    /// `--stall-snapshot-at T` stalls each stateful vertex between the two commits of T (a
    /// snapshot is due at T: (T + 1) % 4 == 0). The test kills the child once the store shows a
    /// stateful vertex at progress T with an older newest snapshot, and checks that the second
    /// life and the last one wrote the snapshots the kills took.
    ///
    /// Live (`--live`: `Program.run()`), a stateful vertex with readers (`track`, read by
    /// `activeCount`) lets them commit T before its snapshot of T: the test then waits until all
    /// four stateful vertices stall, so that the kill lands with `activeSessions` committed
    /// through T and `track`'s snapshot of T missing.
    @Test(arguments: [false, true])
    func killsBetweenAnIntervalsCommitAndItsSnapshotLeaveSnapshotsIdentical(live: Bool) async throws {
        let dir = try TemporaryDirectory(prefix: "strata-snapshot-crash")
        let crashed = dir.appending("crashed"), reference = dir.appending("reference")
        let common = ["--events-per-interval", "150", "--partitions", "3", "--snapshot-every", "4"]
            + (live ? ["--live"] : [])
        var windows: [String] = []
        for stall in [7, 11] {
            let output = dir.appending("out-stall-\(stall)")
            let caught = try await killChild(
                ["program", "--store", crashed, "--intervals", "1000", "--durability", "group",
                 "--stall-snapshot-at", String(stall)] + common,
                output: output,
                // Once a stateful vertex has committed `stall` and stalls before its snapshot, the
                // store showing its progress there and its newest snapshot older.
                caught: { lines, last -> [String]? in
                    // Live, all four stateful vertices (`track`'s reader has committed `stall`).
                    let stalled = lines.filter { $0.hasPrefix("snapshot-stalled ") && $0.hasSuffix(" \(stall)") }.count
                    guard stalled >= (live ? 4 : 1),
                          let status = try? Store.open(at: crashed).programStatus(program: "seeds") else { return nil }
                    last = status.map { "\($0.vertex) \($0.progress.rawValue) \(String(describing: $0.lastSnapshot))" }
                        .joined(separator: ", ")
                    let inWindow = status.filter {
                        $0.progress == Interval(UInt64(stall)) && $0.lastSnapshot.map { $0 < Interval(UInt64(stall)) } == true
                    }
                    return inWindow.isEmpty ? nil : inWindow.map(\.vertex)
                },
                notCaught: { state, exited in ChildDidNotStallBeforeSnapshot(stall: stall, state: state, exited: exited) })
            // At the kill: the snapshot at `stall` of those vertices is missing; live, `track`'s
            // reader has committed `stall` (before the snapshot, not after it).
            let store = try Store.open(at: crashed)
            if live {
                #expect(caught.count == 4, "\(caught)")
                #expect(try store.info(of: "activeSessions").frontier.sealedThrough == Interval(UInt64(stall)))
            }
            for vertex in caught {
                #expect(try !store.log.snapshotIntervals(of: vertex).contains { $0.0 == Interval(UInt64(stall)) },
                        "\(vertex)")
            }
            windows += caught.map { "\($0) at \(stall)" }
        }
        // The restart writes the snapshot the second kill took and finishes; then a run without a
        // kill on a new store.
        let final = 14
        let finish = try await runProgramChild(
            ["program", "--store", crashed, "--intervals", String(final), "--durability", "group"] + common,
            killAfter: nil, output: dir.appending("out-final"))
        try #require(finish.status == 0 && finish.lines.last == "done", "\(finish.stderr) (exit \(finish.status), killed: \(finish.killed))")
        let clean = try await runProgramChild(
            ["program", "--store", reference, "--intervals", String(final), "--durability", "none"] + common,
            killAfter: nil, output: dir.appending("out-reference"))
        try #require(clean.status == 0 && clean.lines.last == "done", "\(clean.stderr) (exit \(clean.status), killed: \(clean.killed))")
        let store = try Store.open(at: crashed)
        try expectIdenticalLogs(store, try Store.open(at: reference))
        #expect(try store.verify().isClean)
        let status = try store.programStatus(program: "seeds")
        #expect(status.allSatisfy { $0.progress == Interval(UInt64(final - 1)) && $0.runState == .stoppedCleanly })
        for name in windows.map({ String($0.split(separator: " ")[0]) }) {
            let intervals = try store.log.snapshotIntervals(of: name).map(\.0)
            #expect(intervals.contains(Interval(7)) && intervals.contains(Interval(11)), "\(name): \(intervals)")
        }
        print("snapshot crash test: killed between the commits of \(windows.joined(separator: ", "))")
    }
}

/// Runs `strata-crash-child` with `arguments` (its standard output into the file `output`) until
/// `caught`, given the output's lines so far, returns what the test kills it for; then kills it
/// with SIGKILL and returns that. Polled every 20 ms, at most 180 s (generous for a loaded
/// machine); `caught` keeps in `last` what it saw, for the error `notCaught` makes of it when the
/// child exits or the time runs out first. The child is killed whatever happens.
private func killChild<T: Sendable>(
    _ arguments: [String], output: String,
    caught: @escaping @Sendable (_ lines: [Substring], _ last: inout String) -> T?,
    notCaught: @escaping @Sendable (_ last: String, _ exited: Bool) -> any Error
) async throws -> T {
    try await onOwnThread(within: .seconds(1800)) { () throws -> T in
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        defer { try? out.close() }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try programChildPath())
        child.arguments = arguments
        child.standardOutput = out
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        let deadline = ContinuousClock.now + .seconds(180)
        var last = "nothing committed"
        while ContinuousClock.now < deadline, child.isRunning {
            let lines = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n")
            if let found = caught(lines, &last) {
                kill(child.processIdentifier, SIGKILL)
                child.waitUntilExit()
                return found
            }
            usleep(20_000)
        }
        throw notCaught(last, !child.isRunning)
    }
}

/// The child of `killsBetweenAnIntervalsCommitAndItsSnapshotLeaveSnapshotsIdentical` never reached the state to kill it in.
private struct ChildDidNotStallBeforeSnapshot: Error, CustomStringConvertible {
    var stall: Int
    var state: String
    var exited: Bool
    var description: String {
        "the child \(exited ? "exited" : "ran 180 s") without a stateful vertex at interval \(stall) and its "
            + "snapshot there missing; vertices, progress and newest snapshot: \(state)"
    }
}

/// The child of `killsRightAfterDeferredInternalCommitsLeaveOutputsIdentical` never reached the state to kill it in.
private struct ChildDidNotStall: Error, CustomStringConvertible {
    var stall: Int
    var state: String
    var exited: Bool
    var description: String {
        "the child \(exited ? "exited" : "ran 180 s") without a deferred commit of seeds.v0's interval \(stall) "
            + "as its newest; progress: \(state)"
    }
}

/// Expects `store` to hold exactly what `reference` holds: every stream block by block, its seal
/// rows and frontier, every progress mark, and the bytes of every vertex's snapshots.
private func expectIdenticalLogs(_ store: Store, _ reference: Store,
                                 sourceLocation: SourceLocation = #_sourceLocation) throws {
    let mine = try StoreImage(store)
    let theirs = try StoreImage(reference)
    #expect(mine.names == theirs.names, sourceLocation: sourceLocation)
    for name in theirs.names {
        #expect(mine.sealedThrough[name] == theirs.sealedThrough[name], "\(name): frontier", sourceLocation: sourceLocation)
        #expect(mine.seals[name] == theirs.seals[name], "\(name): seal rows", sourceLocation: sourceLocation)
        let a = mine.blocks[name] ?? [], b = theirs.blocks[name] ?? []
        #expect(a.count == b.count, "\(name): \(a.count) blocks, reference \(b.count)", sourceLocation: sourceLocation)
        if let first = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) {
            Issue.record("\(name): block \(a[first].key) differs from the reference's \(b[first].key)",
                         sourceLocation: sourceLocation)
        }
    }
    #expect(mine.progress == theirs.progress, sourceLocation: sourceLocation)
    // Snapshot bytes are deterministic too: the fault-free run, in another process, wrote exactly
    // the snapshots the crashed and restored runs wrote.
    for (vertex, _) in try reference.log.progressMarks(prefix: "") {
        let rows = try store.log.snapshotIntervals(of: vertex)
        let otherRows = try reference.log.snapshotIntervals(of: vertex)
        #expect(rows.map(\.0) == otherRows.map(\.0), "\(vertex): snapshot intervals", sourceLocation: sourceLocation)
        for (interval, partitions) in rows where otherRows.contains(where: { $0.0 == interval }) {
            for partition in partitions {
                let key = SnapshotKey(vertex: vertex, interval: interval, partition: partition)
                var codec = BlockCodec()
                let mine = try store.log.withSnapshot(key, codec: &codec) { $0.map { Array($0) } }
                let theirs = try reference.log.withSnapshot(key, codec: &codec) { $0.map { Array($0) } }
                #expect(mine != nil && mine == theirs, "\(vertex) interval \(interval) partition \(partition)",
                        sourceLocation: sourceLocation)
            }
        }
    }
}

/// Everything a store holds, per stream name.
private struct StoreImage {
    struct Block: Equatable {
        var key: String
        var bytes: [UInt8]
    }

    var names: [String] = []
    var blocks: [String: [Block]] = [:]  // lookup only
    var seals: [String: [String]] = [:]  // lookup only
    var sealedThrough: [String: UInt64] = [:]  // lookup only
    var progress: [String] = []

    init(_ store: Store) throws {
        let log = store.log
        for descriptor in try log.descriptors() {
            names.append(descriptor.name)
            var list: [Block] = []
            try log.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, bytes in
                list.append(Block(key: "interval \(key.interval) partition \(key.partition) chunk \(key.chunk.rawValue)",
                                  bytes: Array(bytes)))
                return true
            }
            blocks[descriptor.name] = list
            let frontier = try log.frontier(of: descriptor)
            sealedThrough[descriptor.name] = frontier.sealedThrough?.rawValue
            seals[descriptor.name] = try frontier.sealedThrough.map {
                try log.sealRecords(of: descriptor, in: Interval(0)...$0).map { "\($0.0): \($0.1)" }
            } ?? []
        }
        progress = try log.progressMarks(prefix: "").map { "\($0.0) \($0.1.interval) \($0.1.fingerprint)" }
    }
}

/// One life of the child.
private struct ProgramChildRun {
    var lines: [String]
    var status: Int32
    var killed: Bool
    var stderr: String

    /// Where the kill landed, from the last line printed.
    var landing: String {
        guard let last = lines.last else { return "before ready" }
        if last.hasPrefix("ready") { return "while catching up (restore)" }
        if last.hasPrefix("caught-up") || last.hasPrefix("processed") { return "while appending" }
        if last.hasPrefix("sealed") { return "while processing" }
        return "elsewhere"
    }
}

/// Starts the child with standard output and error in files, kills it with SIGKILL after
/// `killAfter` (if it is still running), and waits for it.
private func runProgramChild(_ arguments: [String], killAfter: Duration?, output: String) async throws
    -> ProgramChildRun
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try programChildPath())
    process.arguments = arguments
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    _ = FileManager.default.createFile(atPath: output + ".err", contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: output + ".err"))
    process.standardOutput = out
    process.standardError = err
    let (exits, continuation) = AsyncStream<Void>.makeStream()
    process.terminationHandler = { _ in
        continuation.yield()
        continuation.finish()
    }
    try process.run()
    try? out.close()
    try? err.close()
    let pid = process.processIdentifier
    // A watchdog: a child that hangs is killed, and the run fails below. Generous: a whole run of
    // the seed programs takes minutes on a loaded 2-core machine (120 s killed a healthy one there).
    let watchdog = Task {
        try await Task.sleep(for: .seconds(900))
        kill(pid, SIGKILL)
    }
    if let killAfter {
        try await Task.sleep(for: killAfter)
        if process.isRunning { kill(pid, SIGKILL) }
    }
    for await _ in exits {}
    watchdog.cancel()
    let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? ""
    let killed = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    return ProgramChildRun(lines: text.split(separator: "\n").map(String.init), status: process.terminationStatus,
                           killed: killed, stderr: stderr)
}

/// The built `strata-crash-child`, beside the other products of this test run.
func programChildPath() throws -> String {
    let name = "strata-crash-child"
    if let path = ProcessInfo.processInfo.environment["STRATA_CRASH_CHILD"] { return path }
    let beside = builtProductsDirectory() + "/" + name
    if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    struct NotBuilt: Error, CustomStringConvertible {
        var description: String { "strata-crash-child is not built; run `swift build --build-tests` first" }
    }
    throw NotBuilt()
}

