import Foundation
import Strata
import StrataTestSupport
import Testing

/// `strata slice`, `diff`, `tail`, `retain` and `compact` on fixture stores, exit codes included.
@Suite struct TimeTravelCommandTests {
    /// The page views of `FixtureStore` are at 100, 100, 101 and 103 s: 00:01:40–00:01:43 UTC on 1970-01-01.

    @Test func sliceByIndicesPrintsRecordsAsCatDoes() throws {
        let store = try FixtureStore()
        let slice = try strata(["slice", "views", "--store", store.path, "--from", "100", "--to", "103"])
        let cat = try strata(["cat", "views", "--store", store.path, "--from", "100", "--to", "103"])
        #expect(slice.status == 0)
        #expect(slice.stdout == cat.stdout)
        let json = try strata(["slice", "views", "--store", store.path, "--from", "101", "--to", "103", "--json"])
        #expect(json.stdout == """
            {"interval":101,"partition":0,"record":{"ts":101,"user":"alice","page":"/c"},"time":"1970-01-01T00:01:41Z"}
            {"interval":103,"partition":0,"record":{"ts":103,"user":"carol","page":"/d"},"time":"1970-01-01T00:01:43Z"}

            """)
    }

    @Test func sliceByTimeIsHalfOpenInTheChosenZone() throws {
        let store = try FixtureStore()
        let utc = try strata(["slice", "views", "--store", store.path, "--from", "00:01:40", "--to", "00:01:41"])
        #expect(utc.status == 0)
        #expect(utc.stdout == """
            {"ts":100,"user":"alice","page":"/a"}
            {"ts":100,"user":"bob","page":"/b"}

            """)
        let offset = try strata(["slice", "views", "--store", store.path, "--from", "1970-01-01T02:01:41",
                                 "--to", "1970-01-01T02:01:44", "--zone", "+02:00"])
        #expect(offset.status == 0)
        #expect(offset.stdout == """
            {"ts":101,"user":"alice","page":"/c"}
            {"ts":103,"user":"carol","page":"/d"}

            """)
    }

    @Test func unreadableRangesAndBadArgumentsExitNonZero() throws {
        let store = try FixtureStore()
        let before = try strata(["slice", "views", "--store", store.path, "--from", "99", "--to", "101"])
        #expect(before.status == 1)
        #expect(before.stderrLines == ["Error: stream views interval 99 is before the stream began (first interval 100)"])
        let unsealed = try strata(["slice", "views", "--store", store.path, "--from", "100", "--to", "104"])
        #expect(unsealed.status == 1)
        #expect(unsealed.stderr.contains("interval 104 is not sealed"))
        let badTime = try strata(["slice", "views", "--store", store.path, "--from", "9pm", "--to", "10pm"])
        #expect(badTime.status == 64)
        #expect(badTime.stderr.hasPrefix("Error: --from 9pm: invalid time \"9pm\""))
        let badZone = try strata(["slice", "views", "--store", store.path, "--from", "00:01", "--to", "00:02",
                                  "--zone", "Nowhere/Else"])
        #expect(badZone.status == 1)
        let missing = try strata(["slice", "nope", "--store", store.path, "--from", "1", "--to", "2"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: unknown stream nope\n")
        for arguments in [["--from", "100", "--to", "101", "--top", "0"],
                          ["--from", "100", "--to", "101", "--combine", "sum"]] {
            let run = try strata(["slice", "views", "--store", store.path] + arguments)
            #expect(run.status == 64, "\(arguments)")
        }
        let top = try strata(["slice", "views", "--store", store.path, "--from", "100", "--to", "101", "--top", "2"])
        #expect(top.status == 64)
        #expect(top.stderr.contains("--top needs a stream of KeyValue records"))
        #expect(!before.crashed && !unsealed.crashed && !badTime.crashed && !top.crashed)
    }

    @Test func retainDropsOldIntervalsAndSlicesOutsideRetentionFail() throws {
        let store = try FixtureStore()
        let retain = try strata(["retain", "views", "--store", store.path, "--last", "2"])
        #expect(retain.status == 0)
        #expect(retain.stdout == "views: retention last 2 intervals; dropped the intervals before 102 (1970-01-01T00:01:42Z)\n")
        let outside = try strata(["slice", "views", "--store", store.path, "--from", "101", "--to", "103"])
        #expect(outside.status == 1)
        #expect(outside.stderrLines == ["Error: stream views interval 101 is outside retention (kept from interval 102)"])
        let json = try strata(["retain", "views", "--store", store.path, "--for", "10s", "--json"])
        #expect(json.status == 0)
        #expect(try jsonObject(json.stdout.dropLast())["droppedIntervals"] as? Int == 0)
        let both = try strata(["retain", "views", "--store", store.path, "--last", "2", "--forever"])
        #expect(both.status == 64)
        let none = try strata(["retain", "views", "--store", store.path])
        #expect(none.status == 64)
    }

    /// `retain --before T` takes the one time grammar and drops once, leaving the setting alone;
    /// `--keep` is the duration setting's name the issue asks for.
    @Test func retainBeforeTakesATimeAndKeepTakesADuration() throws {
        let store = try FixtureStore()
        let time = try strata(["retain", "views", "--store", store.path, "--before", "00:01:41"])
        #expect(time.status == 0, "\(time.stderr)")
        #expect(time.stdout == "views: retention forever; dropped the intervals before 101 (1970-01-01T00:01:41Z)\n")
        #expect(try strata(["cat", "views", "--store", store.path]).stdout
                == #"{"ts":101,"user":"alice","page":"/c"}"# + "\n" + #"{"ts":103,"user":"carol","page":"/d"}"# + "\n")
        let describe = try strata(["describe", "views", "--store", store.path, "--json"])
        #expect(describe.stdout.contains(#""kind":"forever""#))
        // ISO 8601 and `end`: the newest sealed interval is always kept.
        let iso = try strata(["retain", "views", "--store", store.path, "--before", "1970-01-01T00:01:42Z", "--json"])
        #expect(try jsonObject(iso.stdout.dropLast())["retainedFrom"] as? Int == 102)
        let end = try strata(["retain", "views", "--store", store.path, "--before", "end"])
        #expect(end.stdout == "views: retention forever; dropped the intervals before 103 (1970-01-01T00:01:43Z)\n")
        #expect(try strata(["cat", "views", "--store", store.path]).stdout == #"{"ts":103,"user":"carol","page":"/d"}"# + "\n")
        let bad = try strata(["retain", "views", "--store", store.path, "--before", "yesterday"])
        #expect(bad.status == 64 && bad.stderr.hasPrefix("Error: --before yesterday: "))
        let keep = try strata(["retain", "views", "--store", store.path, "--keep", "1h"])
        #expect(keep.status == 0 && keep.stdout.hasPrefix("views: retention last 3600s"), "\(keep.stdout)")
        let two = try strata(["retain", "views", "--store", store.path, "--keep", "1h", "--before", "end"])
        #expect(two.status == 64)
    }

    @Test func diffExitsZeroWhenIdenticalOneWhenDifferentTwoOnError() throws {
        let store = try FixtureStore()
        let other = try strata(["ingest", "copy", "--store", store.path, "--time-field", "ts", "--time-unit", "s",
                                "--key-field", "user", "--partitions", "1"], stdin: pageViews)
        #expect(other.status == 0)
        let same = try strata(["diff", "views", "copy", "--store", store.path])
        #expect(same.status == 0)
        #expect(same.stdout.hasPrefix("identical: 3 intervals with records compared\n"))
        let changed = pageViews.replacingOccurrences(of: "/c", with: "/x")
        _ = try strata(["ingest", "changed", "--store", store.path, "--time-field", "ts", "--time-unit", "s",
                        "--key-field", "user", "--partitions", "1"], stdin: changed)
        let different = try strata(["diff", "views", "changed", "--store", store.path])
        #expect(different.status == 1)
        #expect(different.stdout.hasPrefix("""
            interval 101 (1970-01-01T00:01:41Z) partition 0: records differ
            different: 1 of 3 intervals with records differ

            """))
        let json = try strata(["diff", "views", "changed", "--store", store.path, "--json"])
        #expect(json.status == 1)
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let summary = try jsonObject(lines.last ?? "")
        #expect(summary["identical"] as? Bool == false)
        #expect(summary["differingIntervals"] as? Int == 1)
        #expect(try jsonObject(lines.first ?? "")["interval"] as? Int == 101)
        let error = try strata(["diff", "views", "nope", "--store", store.path])
        #expect(error.status == 2)
        #expect(error.stderr == "Error: unknown stream nope\n")
    }

    @Test func tailPrintsFromAnIntervalOnAtFullSpeedOrPaced() throws {
        let store = try FixtureStore()
        let newest = try strata(["tail", "views", "--store", store.path])
        #expect(newest.status == 0)
        #expect(newest.stdout == "{\"ts\":103,\"user\":\"carol\",\"page\":\"/d\"}\n")
        let from = try strata(["tail", "views", "--store", store.path, "--from", "101", "--json"])
        #expect(from.stdout == """
            {"interval":101,"partition":0,"record":{"ts":101,"user":"alice","page":"/c"},"time":"1970-01-01T00:01:41Z"}
            {"interval":103,"partition":0,"record":{"ts":103,"user":"carol","page":"/d"},"time":"1970-01-01T00:01:43Z"}

            """)
        let paced = try strata(["tail", "views", "--store", store.path, "--from", "100", "--pace", "--speed", "1000"])
        #expect(paced.status == 0)
        #expect(paced.stdout == pageViews)
        let early = try strata(["tail", "views", "--store", store.path, "--from", "50"])
        #expect(early.status == 1)
        #expect(early.stderr.contains("before the stream began"))
        let speedAlone = try strata(["tail", "views", "--store", store.path, "--speed", "2"])
        #expect(speedAlone.status == 64)
    }

    @Test func tailFollowPrintsIntervalsSealedAfterItStarted() throws {
        let store = try FixtureStore()
        let follower = try BackgroundStrata(["tail", "-f", "views", "--store", store.path, "--from", "100"])
        defer { follower.stop() }
        #expect(follower.waitForOutput { $0.contains("carol") })
        let more = #"{"ts":105,"user":"dave","page":"/e"}"# + "\n" + #"{"ts":107,"user":"erin","page":"/f"}"# + "\n"
        let ingest = try strata(["ingest", "views", "--store", store.path, "--time-field", "ts", "--time-unit", "s",
                                 "--key-field", "user", "--partitions", "1"], stdin: more)
        #expect(ingest.status == 0)
        #expect(follower.waitForOutput { $0.contains("erin") })
        #expect(follower.output() == pageViews + more)
    }

    @Test func compactShrinksAClosedStoreAndRefusesAnOpenOne() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli-compact")
        let path = directory.appending("store")
        let lines = (0..<20_000).map { #"{"ts":\#(1_000 + $0 / 1_000),"n":\#($0),"pad":"\#(String(repeating: "x", count: 40))"}"# }
        let ingest = try strata(["ingest", "big", "--store", path, "--time-field", "ts", "--time-unit", "s"],
                                stdin: lines.joined(separator: "\n") + "\n")
        #expect(ingest.status == 0)
        #expect(try strata(["retain", "big", "--store", path, "--last", "1"]).status == 0)

        let holder = try BackgroundStrata(["tail", "-f", "big", "--store", path])
        #expect(holder.waitForOutput { !$0.isEmpty })
        let refused = try strata(["compact", "--store", path])
        holder.stop()
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("is open in another process (pid \(holder.processID))"))

        let compact = try strata(["compact", "--store", path, "--json"])
        #expect(compact.status == 0)
        let report = try jsonObject(compact.stdout.dropLast())
        let before = report["bytesBefore"] as? Int ?? 0, after = report["bytesAfter"] as? Int ?? 0
        #expect(after > 0 && after < before)
        let verify = try strata(["verify", "--store", path])
        #expect(verify.status == 0)
        let cat = try strata(["cat", "big", "--store", path, "--interval", "1019"])
        #expect(cat.stdout.split(separator: "\n").count == 1_000)
        let missing = try strata(["compact", "--store", directory.appending("none")])
        #expect(missing.status == 1)
    }
}

/// A `strata` process left running (`tail -f`), its output going to a file.
final class BackgroundStrata {
    private let process = Process()
    private let scratch: TemporaryDirectory
    private let outPath: String

    init(_ arguments: [String]) throws {
        scratch = try TemporaryDirectory(prefix: "strata-cli-bg")
        outPath = scratch.appending("stdout")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["STRATA_STORE"] = nil
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The process's pid.
    var processID: Int32 { process.processIdentifier }

    /// What the process printed so far.
    func output() -> String {
        (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    }

    /// Polls the output until `condition` holds (true) or 60 s pass (false).
    func waitForOutput(_ condition: (String) -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if condition(output()) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Kills the process and waits for it. SIGKILL, because a child of the test runner may
    /// inherit a signal mask that blocks SIGTERM.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// `strata compact` killed at any moment leaves a store that opens, verifies and holds every record.
@Suite struct CompactionCrashTests {
    @Test func compactionKilledAtAnyPointLeavesAWholeStore() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli-compact-kill")
        let path = directory.appending("store")
        let lines = (0..<60_000).map { #"{"ts":\#(1_000 + $0 / 2_000),"n":\#($0),"pad":"\#(String(repeating: "y", count: 60))"}"# }
        #expect(try strata(["ingest", "big", "--store", path, "--time-field", "ts", "--time-unit", "s"],
                           stdin: lines.joined(separator: "\n") + "\n").status == 0)
        #expect(try strata(["retain", "big", "--store", path, "--last", "20"]).status == 0)
        let expected = try strata(["cat", "big", "--store", path, "--from", "1010", "--to", "1029"]).stdout
        #expect(expected.split(separator: "\n").count == 40_000)
        // Kill points spread from before the copy starts to after the rename.
        for delay in [0, 2_000, 5_000, 10_000, 20_000, 40_000, 80_000] as [UInt32] {
            let compaction = try BackgroundStrata(["compact", "--store", path])
            usleep(delay)
            compaction.stop()
            let verify = try strata(["verify", "--store", path])
            #expect(verify.status == 0, "killed after \(delay) µs: \(verify.stdout) \(verify.stderr)")
            let cat = try strata(["cat", "big", "--store", path, "--from", "1010", "--to", "1029"])
            #expect(cat.stdout == expected, "killed after \(delay) µs")
        }
        let finished = try strata(["compact", "--store", path])
        #expect(finished.status == 0)
        #expect(try strata(["cat", "big", "--store", path, "--from", "1010", "--to", "1029"]).stdout == expected)
    }
}
