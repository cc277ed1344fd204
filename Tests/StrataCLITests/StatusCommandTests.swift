import Foundation
import StrataTestSupport
import Testing

// `strata status` on a store written by the seed programs of `strata-crash-child program`
// (tools/crash/ProgramMode.swift): 10 vertices, 4 of them stateful, snapshots every 4 intervals.

@Suite struct StatusCommandTests {
    /// Runs the seed programs over intervals 0…9, then restarts them for 10…11: the stateful
    /// vertices (v1 running count, v5 window, v7 sessions, v9 running count per user) restore once.
    static func makeStore() throws -> (TemporaryDirectory, String) {
        let directory = try TemporaryDirectory(prefix: "strata-cli-status")
        let path = directory.appending("store")
        for intervals in [10, 12] { try runSeedPrograms(store: path, intervals: intervals) }
        return (directory, path)
    }

    /// A rerun after a clean stop is a resume, not a recovery: every vertex says `resumed`.
    @Test func statusShowsProgressLagSnapshotsAndAResumeAfterACleanStop() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let run = try strata(["status", "--store", path])
        #expect(run.status == 0)
        #expect(run.stderr == "")
        // Intervals print as their start times: interval 11 of 1 s intervals is 00:00:11 on 1970-01-01.
        var expected = ["PROGRAM  VERTEX    PROGRESS              LAG  SNAPSHOT              STARTED  RECOVERIES  "
                        + "SPECULATIVE  RETRIES"]
        for v in 0..<10 {
            let stateful = [1, 5, 7, 9].contains(v)
            let snapshot = stateful ? "1970-01-01T00:00:11Z" : "-                   "
            expected.append("seeds    seeds.v\(v)  1970-01-01T00:00:11Z  0    \(snapshot)  resumed  0           "
                            + "0            0")
        }
        expected.append("seeds: resumed after a clean stop (10 vertices)")
        #expect(run.stdout == expected.joined(separator: "\n") + "\n")
    }

    /// A run killed (SIGKILL) after its first commit leaves its vertex marked running: the next
    /// run of the program is a crash recovery for that vertex, shown and counted as one.
    @Test func statusShowsACrashRecoveryAfterSIGKILL() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli-status-crash")
        defer { withExtendedLifetime(directory) {} }
        let path = directory.appending("store")
        let common = ["--snapshot-every", "4", "--events-per-interval", "50"]
        // Intervals 0…5 complete; the run for interval 6 commits seeds.v0's interval 6 and stalls
        // in every other vertex. The child and the polling run on a thread of their own.
        let running = try await onOwnThread { () throws -> Bool in
            let child = Process()
            child.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata-crash-child")
            child.arguments = ["program", "--store", path, "--intervals", "100", "--stall-at", "6"] + common
            child.standardOutput = FileHandle.nullDevice
            try child.run()
            defer {
                kill(child.processIdentifier, SIGKILL)
                child.waitUntilExit()
            }
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline, child.isRunning {
                let status = try strata(["status", "seeds", "--json", "--store", path])
                if status.status == 0, let first = status.stdout.split(separator: "\n").first,
                   let v0 = try? jsonObject(first), v0["runState"] as? String == "running", v0["progress"] as? Int == 6 {
                    return true
                }
                usleep(50_000)
            }
            return false
        }
        try #require(running, "the child never committed seeds.v0's interval 6 while stalled")
        let killed = try await strataOffThePool(["status", "seeds", "--json", "--store", path])
        #expect(killed.stdout.split(separator: "\n").first.map { $0.contains(#""runState":"running""#) } == true)

        // The restart: seeds.v0 recovers from the crash; the others stopped cleanly after interval 5.
        let restarted = try await onOwnThread { () throws -> Int32 in
            let restart = Process()
            restart.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata-crash-child")
            restart.arguments = ["program", "--store", path, "--intervals", "8"] + common
            restart.standardOutput = FileHandle.nullDevice
            try restart.run()
            restart.waitUntilExit()
            return restart.terminationStatus
        }
        try #require(restarted == 0)
        let run = try await strataOffThePool(["status", "seeds", "--store", path])
        #expect(run.status == 0)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 12)
        // Fields: PROGRAM VERTEX PROGRESS LAG SNAPSHOT STARTED RECOVERIES SPECULATIVE RETRIES.
        let fields = lines.map { $0.split(separator: " ").map(String.init) }
        #expect(fields[1][1] == "seeds.v0" && fields[1][5] == "recovered" && fields[1][6] == "1", "\(lines[1])")
        #expect(fields[2...10].allSatisfy { $0[5] == "resumed" && $0[6] == "0" }, "\(run.stdout)")
        #expect(lines.last == "seeds: recovered after a crash (vertex seeds.v0 was mid-run; restarted from progress "
                + "1970-01-01T00:00:06Z); resumed after a clean stop (9 vertices)")
        let json = try await strataOffThePool(["status", "seeds", "--json", "--store", path])
        let v0 = try jsonObject(json.stdout.split(separator: "\n")[0])
        #expect(v0["lastStart"] as? String == "crash-recovery")
        #expect(v0["recoveries"] as? Int == 1 && v0["resumes"] as? Int == 0 && v0["runState"] as? String == "stopped")
        #expect(v0["lastStartProgress"] as? Int == 6)
        let v1 = try jsonObject(json.stdout.split(separator: "\n")[1])
        #expect(v1["lastStart"] as? String == "resumed" && v1["recoveries"] as? Int == 0 && v1["resumes"] as? Int == 1)
        // The running count restored its state from a snapshot and its input.
        #expect(v1["stateRestores"] as? Int == 1)
    }

    @Test func statusJSONIsOneObjectPerVertexWithSortedKeys() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let run = try strata(["status", "seeds", "--store", path, "--json"])
        #expect(run.status == 0)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 10)
        #expect(lines.first.map(String.init) == #"{"lag":0,"lastSnapshot":null,"lastSnapshotTime":null,"lastStart":"resumed","#
                + #""lastStartProgress":9,"program":"seeds","progress":11,"progressTime":"1970-01-01T00:00:11Z","#
                + #""recentIntervals":12,"recoveries":0,"restartsAfterFailure":0,"resumes":1,"retries":0,"runState":"stopped","snapshots":0,"#
                + #""speculativeLaunches":0,"speculativePer100Intervals":0.0,"speculativeWins":0,"stateRestores":0,"#
                + #""vertex":"seeds.v0"}"#)
        let window = try jsonObject(lines[5])
        #expect(window["vertex"] as? String == "seeds.v5")
        #expect(window["lastSnapshot"] as? Int == 11)
        #expect(window["recoveries"] as? Int == 0)
        #expect(window["stateRestores"] as? Int == 1)
        // Snapshots every 4 intervals over 0…11: at 3, 7 and 11.
        #expect(window["snapshots"] as? Int == 3)
    }

    @Test func statusReportsAMissingStoreOrAnUnknownProgram() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli-status")
        let missing = try strata(["status", "--store", directory.appending("none")])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: no store at \(directory.appending("none"))\n")
        #expect(missing.stdout == "")

        let (fixture, path) = try Self.makeStore()
        defer { _ = fixture }
        let unknown = try strata(["status", "nope", "--store", path])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "Error: no program named nope in the store (no vertex nope.vN has committed progress)\n")
        #expect(!unknown.crashed)
    }
}

