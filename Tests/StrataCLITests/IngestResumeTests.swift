import Foundation
import Glibc
import Strata
import StrataStorage
import StrataTestSupport
import Testing

/// A `strata ingest` child process, its input from a file or a pipe, its output to files.
private final class IngestChild {
    let process = Process()
    let errorPath: String
    let input: Pipe?

    /// Starts `strata ARGUMENTS` reading `inputPath` (or a pipe the test writes, when `nil`), under
    /// `sh -c` with `shellPrefix` when given (limits).
    init(_ arguments: [String], inputPath: String?, in directory: TemporaryDirectory, shellPrefix: String? = nil) throws {
        errorPath = directory.appending("\(UUID().uuidString).stderr")
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let binary = builtProductsDirectory() + "/strata"
        if let shellPrefix {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            let quoted = ([binary] + arguments).map { "'" + $0 + "'" }.joined(separator: " ")
            process.arguments = ["-c", shellPrefix + "; exec " + quoted]
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["STRATA_STORE"] = nil
        process.environment = env
        if let inputPath {
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
            input = nil
        } else {
            let pipe = Pipe()
            process.standardInput = pipe
            input = pipe
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stderr: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    func write(_ text: String) { input?.fileHandleForWriting.write(Data(text.utf8)) }
    func closeInput() { try? input?.fileHandleForWriting.close() }

    /// Waits for the end: `.exited(status)` or `.signaled(signal)`.
    func wait() -> (signaled: Bool, code: Int32) {
        process.waitUntilExit()
        return (process.terminationReason == .uncaughtSignal, process.terminationStatus)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Waits until `condition` holds, up to 60 s (a loaded CI machine is slow, never this slow).
private func waitUntil(_ what: String, _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while try !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("gave up waiting for \(what)")
            return
        }
        usleep(20_000)
    }
}

/// JSON lines with ids `0..<count`: event time in seconds, 2 000 lines per interval from 1 000 s;
/// every 997th line is 2 s behind (late once its interval is sealed), and each carries a few
/// bytes that compress badly.
private func numberedInput(_ count: Int) -> String {
    var text = ""
    text.reserveCapacity(count * 64)
    var noise: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in 0..<count {
        noise = noise &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let ts = 1_000 + i / 2_000 - (i % 997 == 996 ? 2 : 0)
        text += #"{"ts":\#(ts),"id":\#(i),"n":"\#(String(noise, radix: 16))"}"# + "\n"
    }
    return text
}

/// The id of every record of `stream` and its late side stream: sealed intervals, and with
/// `unsealed` the committed records of open ones too.
private func storedIDs(_ store: Store, _ stream: String, unsealed: Bool = false) throws -> [Int] {
    var ids: [Int] = []
    for name in [stream, stream + ".late"] {
        let stored = try store.stream(named: name, of: JSONRecord.self)
        let frontier = try stored.frontier()
        if let first = frontier.firstReadable, let last = frontier.sealedThrough {
            try stored.forEach(in: first...last) { _, _, record in ids.append(id(of: record)) }
        }
        if unsealed {
            try stored.forEachUnsealed(in: Interval(0)...Interval(UInt64.max)) { _, _, record in ids.append(id(of: record)) }
        }
    }
    return ids
}

private func id(of record: JSONRecord) -> Int {
    let text = String(decoding: record.bytes, as: UTF8.self)
    guard let range = text.range(of: #""id":"#) else { return -1 }
    return Int(text[range.upperBound...].prefix { $0.isNumber }) ?? -1
}

/// Every id of `0..<count` exactly once.
private func expectExactlyOnce(_ ids: [Int], _ count: Int, _ comment: Comment) {
    var seen = [Int](repeating: 0, count: count)
    var stray = 0
    for id in ids { if id >= 0 && id < count { seen[id] += 1 } else { stray += 1 } }
    let missing = seen.filter { $0 == 0 }.count
    let duplicated = seen.filter { $0 > 1 }.count
    #expect(missing == 0 && duplicated == 0 && stray == 0,
            "\(comment): \(missing) missing, \(duplicated) duplicated, \(stray) stray of \(count)")
}

/// `strata ingest --source NAME` resumes exactly once after any interruption (issue 10, item 1).
@Suite struct IngestResumeTests {

    @Test func everyRecordOnceAfterThirtySIGKILLsAtRandomMoments() throws {
        let seed = ProcessInfo.processInfo.environment["STRATA_KILL_SEED"].flatMap { UInt64($0) }
            ?? UInt64(truncatingIfNeeded: Date().timeIntervalSince1970.bitPattern)
        print("kill test seed \(seed) (STRATA_KILL_SEED)")
        var moments = SplitMix64(seed: seed)  // the kill moments, reproducible from the printed seed
        let directory = try TemporaryDirectory(prefix: "strata-resume")
        let count = 30_000
        let inputPath = directory.appending("input.jsonl")
        try numberedInput(count).write(toFile: inputPath, atomically: false, encoding: .utf8)
        var kills = 0, rounds = 0, runs = 0, skippedRuns = 0
        // How long a whole run takes here, to spread the kills over it.
        var runTime: Duration = .milliseconds(400)
        while kills < 30 && runs < 300 {
            rounds += 1
            let store = directory.appending("round\(rounds)")
            let arguments = ["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s", "--partitions", "2",
                             "--source", "input", "--commit-bytes", "16384", "--durability", "none"]
            while true {
                runs += 1
                let child = try IngestChild(arguments, inputPath: inputPath, in: directory)
                let started = ContinuousClock.now
                let delay = moments.next() % UInt64(max(1, runTime.components.seconds * 1_000_000
                    + runTime.components.attoseconds / 1_000_000_000_000))
                usleep(UInt32(clamping: delay))
                kill(child.pid, SIGKILL)
                let end = child.wait()
                if end.signaled {
                    kills += 1
                    if kills == 30 { break }
                    continue
                }
                // It finished before the kill: this round is complete.
                #expect(end.code == 0, "\(child.stderr)")
                if child.stderr.contains("skipped") { skippedRuns += 1 }
                runTime = max(runTime, ContinuousClock.now - started)
                break
            }
            // Finish the round without kills, then count every record.
            let last = try IngestChild(arguments, inputPath: inputPath, in: directory)
            let end = last.wait()
            #expect(!end.signaled && end.code == 0, "\(last.stderr)")
            let opened = try Store.open(at: store)
            expectExactlyOnce(try storedIDs(opened, "v"), count, "round \(rounds), seed \(seed)")
            #expect(try opened.info(of: "v").frontier.sealedThrough == Interval(1_014))
        }
        print("kill test: \(kills) kills in \(runs) runs over \(rounds) rounds (\(skippedRuns) completed runs resumed)")
        #expect(kills >= 30)
    }

    /// A resumed ingest stores exactly the bytes of an uninterrupted one: unkeyed records go
    /// round-robin, and the rotation resumes where the committed records left it (with the source
    /// position) instead of at partition 0. The child is killed with SIGKILL each time the sealed
    /// frontier has moved on, so every kill lands mid-input, after commits, at an arbitrary point.
    @Test func aResumedUnkeyedIngestStoresTheBytesOfAnUninterruptedOne() async throws {
        try await onOwnThread(within: .seconds(900), "SIGKILLed ingests and their resumes") {
            let directory = try TemporaryDirectory(prefix: "strata-resume-bytes")
            let count = 100_000  // 50 intervals of 2 000 lines
            let inputPath = directory.appending("input.jsonl")
            try numberedInput(count).write(toFile: inputPath, atomically: false, encoding: .utf8)
            func arguments(_ store: String) -> [String] {
                ["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s", "--partitions", "3",
                 "--source", "input", "--commit-bytes", "16384", "--durability", "none"]
            }
            let whole = directory.appending("whole")
            let uninterrupted = try IngestChild(arguments(whole), inputPath: inputPath, in: directory)
            let end = uninterrupted.wait()
            #expect(!end.signaled && end.code == 0, "\(uninterrupted.stderr)")

            let expected = try storedBlocks(at: whole, ["v", "v.late"])
            var kills = 0, resumes = 0, rounds = 0
            // Each child is killed once the sealed frontier has moved on two intervals since the
            // last kill, or, once it has moved on one, at a moment within a whole run's time: so
            // every kill lands mid-input after progress, and a round takes at most one kill per
            // interval. Rounds (each a new store) go on until six kills; every round's store must
            // equal the uninterrupted one.
            var runTime: Duration = .milliseconds(400)
            var moments = SplitMix64(seed: 0x5EED_B17E5)
            while kills < 6 && rounds < 40 {
                rounds += 1
                let resumed = directory.appending("resumed\(rounds)")
                var frontierAtKill: UInt64 = 0
                func sealedThrough() -> UInt64? {
                    (try? Store.open(at: resumed).info(of: "v").frontier.sealedThrough)?.rawValue
                }
                while true {
                    let child = try IngestChild(arguments(resumed), inputPath: inputPath, in: directory)
                    let started = ContinuousClock.now
                    let runMicroseconds = runTime.components.seconds * 1_000_000 + runTime.components.attoseconds / 1_000_000_000_000
                    let killAt = started + .microseconds(Int64(moments.next() % UInt64(max(1, runMicroseconds))))
                    // Only once the child has sealed at least one more interval: a kill before that
                    // tests nothing, and under load a child may take longer to start than `killAt`.
                    try waitUntil("the sealed frontier to move on") {
                        guard child.process.isRunning else { return true }
                        let sealed = sealedThrough() ?? 0
                        return sealed >= frontierAtKill + 2 || (sealed > frontierAtKill && ContinuousClock.now >= killAt)
                    }
                    kill(child.pid, SIGKILL)
                    let end = child.wait()
                    if child.stderr.contains("source input: skipped") { resumes += 1 }
                    if end.signaled {
                        kills += 1
                        frontierAtKill = sealedThrough() ?? 0
                        continue
                    }
                    // It finished before the kill: this round's ingest is complete.
                    #expect(end.code == 0, "\(child.stderr)")
                    runTime = max(runTime, ContinuousClock.now - started)
                    break
                }
                expectExactlyOnce(try storedIDs(try Store.open(at: resumed), "v"), count, "round \(rounds), \(kills) kills so far")
                let actual = try storedBlocks(at: resumed, ["v", "v.late"])
                #expect(actual.count == expected.count, "round \(rounds): \(actual.count) blocks, \(expected.count) without kills")
                if let first = (0..<min(actual.count, expected.count)).first(where: {
                    actual[$0].key != expected[$0].key || actual[$0].bytes != expected[$0].bytes
                }) {
                    let difference = "round \(rounds): block \(first) differs after \(kills) kills (\(resumes) resumes): "
                        + "\(actual[first].key) (\(actual[first].bytes.count) bytes), "
                        + "uninterrupted \(expected[first].key) (\(expected[first].bytes.count) bytes)"
                    Issue.record("\(difference)")
                }
            }
            #expect(kills >= 6, "only \(kills) kills in \(rounds) rounds")
            print("resumed ingest: \(kills) kills, \(resumes) resumes over \(rounds) rounds, \(expected.count) blocks compared each")
        }
    }

    @Test func aFullDiskStopsTheIngestAndARerunCompletesIt() throws {
        let directory = try TemporaryDirectory(prefix: "strata-resume")
        let count = 40_000
        let inputPath = directory.appending("input.jsonl")
        try numberedInput(count).write(toFile: inputPath, atomically: false, encoding: .utf8)
        let store = directory.appending("store")
        let arguments = ["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s", "--partitions", "2",
                         "--source", "input", "--commit-bytes", "65536"]
        // A real full disk from the kernel's point of view: a file-size limit, SIGXFSZ ignored.
        let full = try IngestChild(arguments, inputPath: inputPath, in: directory,
                                   shellPrefix: "trap '' XFSZ; ulimit -f 1024")
        let end = full.wait()
        #expect(!end.signaled && end.code == 1, "\(full.stderr)")
        #expect(full.stderr.contains("store full"), "\(full.stderr)")
        // It says exactly what is committed.
        let pattern = /committed: lines 1–(\d+) \(bytes 0–(\d+)\) of the input are in v/
        let match = try #require(full.stderr.firstMatch(of: pattern), "\(full.stderr)")
        let lines = Int(match.1) ?? -1
        #expect(lines > 0 && lines < count)
        let input = try String(contentsOfFile: inputPath, encoding: .utf8)
        #expect(Int(match.2) == input.split(separator: "\n").prefix(lines).reduce(0) { $0 + $1.utf8.count + 1 })
        do {
            let opened = try Store.open(at: store)
            let ids = try storedIDs(opened, "v", unsealed: true)
            #expect(ids.count == lines)
            expectExactlyOnce(ids, lines, "after the full disk")
        }
        let rerun = try IngestChild(arguments, inputPath: inputPath, in: directory)
        let again = rerun.wait()
        #expect(!again.signaled && again.code == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("source input: skipped \(lines) lines"), "\(rerun.stderr)")
        expectExactlyOnce(try storedIDs(try Store.open(at: store), "v"), count, "after the rerun")
    }

    @Test func sigtermCommitsWhatWasReadAndSaysWhatToFeedAgain() throws {
        let directory = try TemporaryDirectory(prefix: "strata-resume")
        let store = directory.appending("store")
        let text = numberedInput(3_000)
        let child = try IngestChild(["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s",
                                     "--partitions", "1", "--durability", "none"], inputPath: nil, in: directory)
        child.write(text)
        // The paused input is committed; wait until the reader sees all of it.
        try waitUntil("3 000 committed records") {
            guard let opened = try? Store.open(at: store), (try? opened.info(of: "v.late")) != nil else { return false }
            return try storedIDs(opened, "v", unsealed: true).count == 3_000
        }
        kill(child.pid, SIGTERM)
        let end = child.wait()
        #expect(!end.signaled && end.code == 128 + SIGTERM, "\(child.stderr)")
        #expect(child.stderr.contains("interrupted by SIGTERM"), "\(child.stderr)")
        #expect(child.stderr.contains("committed: lines 1–3000 (bytes 0–\(text.utf8.count)) of the input are in v"),
                "\(child.stderr)")
        #expect(child.stderr.contains("feed the input from byte \(text.utf8.count)"), "\(child.stderr)")
        // Intervals 1000 (complete by the watermark) is sealed; 1001 is committed, not sealed.
        let cat = try strata(["cat", "v", "--store", store, "--from", "1001", "--to", "1001", "--unsealed", "--json"])
        #expect(cat.status == 0, "\(cat.stderr)")
        let unsealedLines = cat.stdout.split(separator: "\n")
        #expect(unsealedLines.count == 999)  // ids 2000–2999 but the late 2990 (in v.late)
        #expect(unsealedLines.allSatisfy { $0.hasSuffix(#","sealed":false}"#) })
        #expect(cat.stderr.contains("not sealed yet"))
        // The next ingest without a source says what the interrupted one left.
        let next = try strata(["ingest", "v", "--store", store, "--no-seal-at-end"], stdin: "")
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("was interrupted after committing lines 1–3000 (bytes 0–\(text.utf8.count))"),
                "\(next.stderr)")
        // strata seal makes it readable.
        let seal = try strata(["seal", "v", "--store", store])
        #expect(seal.status == 0 && seal.stdout == "sealed v through 1001 (was 1000)\n", "\(seal.stdout)\(seal.stderr)")
        let sealed = try strata(["cat", "v", "--store", store, "--interval", "1001"])
        #expect(sealed.stdout.split(separator: "\n").count == 999)
        expectExactlyOnce(try storedIDs(try Store.open(at: store), "v"), 3_000, "after seal")
    }

    @Test func idleSealSealsAQuietEventTimeInput() throws {
        let directory = try TemporaryDirectory(prefix: "strata-resume")
        let store = directory.appending("store")
        let child = try IngestChild(["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s",
                                     "--partitions", "1", "--lateness", "1h", "--idle-seal", "1s", "--durability", "none"],
                                    inputPath: nil, in: directory)
        child.write(#"{"ts":5,"id":1}"# + "\n" + #"{"ts":7,"id":2}"# + "\n")
        // With an hour of lateness only the idle seal can seal them.
        try waitUntil("the idle seal") {
            guard let opened = try? Store.open(at: store), let info = try? opened.info(of: "v") else { return false }
            return info.frontier.sealedThrough == Interval(7)
        }
        child.closeInput()
        let end = child.wait()
        #expect(!end.signaled && end.code == 0, "\(child.stderr)")
        let cat = try strata(["cat", "v", "--store", store, "--from", "5", "--to", "7"])
        #expect(cat.stdout == #"{"ts":5,"id":1}"# + "\n" + #"{"ts":7,"id":2}"# + "\n")
    }
}

/// One writer per stream across processes (issue 10, item 2).
@Suite struct IngestWriterLockTests {
    @Test func aSecondWriterIsRefusedAtOnceNamingTheHolder() throws {
        let directory = try TemporaryDirectory(prefix: "strata-lock")
        let store = directory.appending("store")
        let inputPath = directory.appending("input.jsonl")
        let count = 4_000
        let text = numberedInput(count)
        try text.write(toFile: inputPath, atomically: false, encoding: .utf8)
        let arguments = ["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s", "--source", "s"]
        let first = try IngestChild(arguments, inputPath: nil, in: directory)
        let half = text.split(separator: "\n", omittingEmptySubsequences: false).prefix(count / 2).joined(separator: "\n") + "\n"
        first.write(half)
        try waitUntil("the first writer's lock") {
            let content = (try? String(contentsOfFile: store + "/writers/stream-1.lock", encoding: .utf8)) ?? ""
            return content == "\(first.pid)\n"
        }
        let second = try IngestChild(arguments, inputPath: inputPath, in: directory)
        let refused = second.wait()
        #expect(!refused.signaled && refused.code == 1)
        #expect(second.stderr == "Error: stream v is being written by process \(first.pid); one writer per stream: "
            + "wait for it to end or stop it\n")
        first.closeInput()
        #expect(first.wait().code == 0, "\(first.stderr)")
        // Now the second one runs, skipping what the first committed.
        let rerun = try IngestChild(arguments, inputPath: inputPath, in: directory)
        #expect(rerun.wait().code == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("skipped \(count / 2) lines"), "\(rerun.stderr)")
        expectExactlyOnce(try storedIDs(try Store.open(at: store), "v"), count, "two writers")
    }

    /// The issue's repro: two ingests of one input into one stream at the same time.
    @Test func concurrentIngestsNeverDuplicate() throws {
        let directory = try TemporaryDirectory(prefix: "strata-lock")
        let inputPath = directory.appending("input.jsonl")
        let count = 6_000
        try numberedInput(count).write(toFile: inputPath, atomically: false, encoding: .utf8)
        for trial in 0..<4 {
            let store = directory.appending("store\(trial)")
            let arguments = ["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s", "--source", "s",
                             "--durability", "none"]
            let a = try IngestChild(arguments, inputPath: inputPath, in: directory)
            let b = try IngestChild(arguments, inputPath: inputPath, in: directory)
            for child in [a, b] {
                let end = child.wait()
                #expect(!end.signaled)
                if end.code != 0 {
                    // The pid is named once the holder has written it; a refusal in the moment between
                    // its lock and its pid write says "another process".
                    #expect(child.stderr.contains("is being written by process")
                            || child.stderr.contains("is being written by another process"), "\(child.stderr)")
                }
            }
            expectExactlyOnce(try storedIDs(try Store.open(at: store), "v"), count, "trial \(trial)")
        }
    }
}
