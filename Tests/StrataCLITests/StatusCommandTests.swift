import Foundation
import StrataTestSupport
import Testing

// `strata status` on a store written by the seed programs of `strata-crash-child program`
// (tools/crash/ProgramMode.swift): 9 vertices, 3 of them stateful, snapshots every 4 intervals.

@Suite struct StatusCommandTests {
    /// Runs the seed programs over intervals 0…9, then restarts them for 10…11: the stateful
    /// vertices (v1 running count, v5 window, v7 sessions) restore once.
    static func makeStore() throws -> (TemporaryDirectory, String) {
        let directory = try TemporaryDirectory(prefix: "strata-cli-status")
        let path = directory.appending("store")
        for intervals in ["10", "12"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata-crash-child")
            process.arguments = ["program", "--store", path, "--intervals", intervals, "--snapshot-every", "4",
                                 "--events-per-interval", "50"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw ChildFailed(status: process.terminationStatus) }
        }
        return (directory, path)
    }

    struct ChildFailed: Error { var status: Int32 }

    @Test func statusShowsProgressLagSnapshotsAndRecoveries() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let run = try strata(["status", "--store", path])
        #expect(run.status == 0)
        #expect(run.stderr == "")
        // Intervals print as their start times: interval 11 of 1 s intervals is 00:00:11 on 1970-01-01.
        var expected = ["PROGRAM  VERTEX    PROGRESS              LAG  SNAPSHOT              RECOVERIES  SPECULATIVE  RETRIES"]
        for v in 0..<9 {
            let stateful = [1, 5, 7].contains(v)
            let snapshot = stateful ? "1970-01-01T00:00:11Z" : "-                   "
            expected.append("seeds    seeds.v\(v)  1970-01-01T00:00:11Z  0    \(snapshot)  \(stateful ? 1 : 0)"
                            + "           0            0")
        }
        #expect(run.stdout == expected.joined(separator: "\n") + "\n")
    }

    @Test func statusJSONIsOneObjectPerVertexWithSortedKeys() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let run = try strata(["status", "seeds", "--store", path, "--json"])
        #expect(run.status == 0)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 9)
        #expect(lines.first.map(String.init) == #"{"lag":0,"lastSnapshot":null,"lastSnapshotTime":null,"program":"seeds","#
                + #""progress":11,"progressTime":"1970-01-01T00:00:11Z","recoveries":0,"#
                + #""retries":0,"speculativeLaunches":0,"vertex":"seeds.v0"}"#)
        let window = try jsonObject(lines[5])
        #expect(window["vertex"] as? String == "seeds.v5")
        #expect(window["lastSnapshot"] as? Int == 11)
        #expect(window["recoveries"] as? Int == 1)
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
