import Foundation
import Strata
import StrataTestSupport
import Testing

@testable import StrataCLI

/// Issue 13: what operators expect of the command line (times, whole streams, keys, waiting,
/// every difference, drop and rename, typos, version).
@Suite struct CommandLineHabitsTests {
    @Test func everyIntervalOptionTakesTheOneTimeGrammar() throws {
        let store = try FixtureStore()
        // Interval 101 is 1970-01-01T00:01:41Z.
        for point in ["101", "00:01:41", "00:01:41.500", "1970-01-01T00:01:41Z", "1970-01-01T01:01:41+01:00"] {
            let run = try strata(["cat", "views", "--store", store.path, "--interval", point])
            #expect(run.stdout == #"{"ts":101,"user":"alice","page":"/c"}"# + "\n", "\(point)")
        }
        let ends = try strata(["cat", "views", "--store", store.path, "--from", "beginning", "--to", "end"])
        #expect(ends.stdout == pageViews)
        let whole = try strata(["cat", "views", "--store", store.path])
        #expect(whole.stdout == pageViews)
        // Relative times: the fixture is from 1970, so the last hour holds nothing readable.
        let recent = try strata(["cat", "views", "--store", store.path, "--from", "-1h"])
        #expect(recent.status == 1)
        #expect(recent.stderr.contains("is not sealed (newest sealed: 103)"), "\(recent.stderr)")
        let empty = try strata(["cat", "views", "--store", store.path, "--from", "00:01:41", "--to", "00:01:41"])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("excludes its end"))
        let asOf = try strata(["replay", "views", "--store", store.path, "--from", "00:01:40", "--to", "end",
                               "--into", "copy"])
        #expect(asOf.status == 0)
        #expect(asOf.stdout.hasPrefix("replayed views intervals 100–103 (1970-01-01T00:01:40Z–1970-01-01T00:01:43Z) into copy"))
    }

    @Test func keyFilterReadsOneKeyOnCatSliceAndTail() throws {
        let store = try FixtureStore(partitions: 3)
        let alice = #"{"ts":100,"user":"alice","page":"/a"}"# + "\n" + #"{"ts":101,"user":"alice","page":"/c"}"# + "\n"
        #expect(try strata(["cat", "views", "--store", store.path, "--key", "alice"]).stdout == alice)
        #expect(try strata(["slice", "views", "--store", store.path, "--key", "alice", "--to", "101"]).stdout == alice)
        #expect(try strata(["tail", "views", "--store", store.path, "--key", "alice", "--from", "100"]).stdout == alice)
        #expect(try strata(["cat", "views", "--store", store.path, "--key", "nobody"]).stdout == "")
    }

    @Test func keyFilterSelectsTheRecordsOfAKeyValueStream() throws {
        let (directory, path) = try StatusCommandTests.makeStore()
        defer { _ = directory }
        let run = try strata(["cat", "urlCounts", "--key", "/p1", "--from", "5", "--to", "7", "--store", path])
        #expect(run.stdout == #"{"key":"/p1","value":8}"# + "\n" + #"{"key":"/p1","value":14}"# + "\n"
                + #"{"key":"/p1","value":20}"# + "\n")
        let slice = try strata(["slice", "urlCounts", "--key", "/p1", "--from", "5", "--to", "7", "--store", path])
        #expect(slice.stdout == run.stdout)
        let tail = try strata(["tail", "sessionUpdates", "--key", "2", "--from", "6", "--store", path])
        #expect(tail.status == 0 && tail.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix(#"{"key":2,"#) })
        let notAKey = try strata(["cat", "sessionUpdates", "--key", "x", "--store", path])
        #expect(notAKey.status == 64)
        #expect(notAKey.stderr.hasPrefix("Error: --key x is not a UInt64, the key type of the stream\nUsage: strata cat"))
    }

    @Test func statsPerIntervalCountsRecordsAndBytes() throws {
        let store = try FixtureStore()
        let run = try strata(["stats", "views", "--per-interval", "--store", store.path])
        #expect(run.status == 0)
        let rows = run.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.map { $0.prefix(3) } == [["INTERVAL", "TIME", "RECORDS"], ["100", "1970-01-01T00:01:40Z", "2"],
                                              ["101", "1970-01-01T00:01:41Z", "1"], ["103", "1970-01-01T00:01:43Z", "1"]])
        let json = try strata(["stats", "views", "--per-interval", "--from", "101", "--json", "--store", store.path])
        #expect(json.stdout.split(separator: "\n").count == 2)
        #expect(try jsonObject(json.stdout.split(separator: "\n")[0])["time"] as? String == "1970-01-01T00:01:41Z")
    }

    @Test func diffListsEveryDifferingIntervalWithinARange() throws {
        let store = try FixtureStore()
        let changed = pageViews.replacingOccurrences(of: "/a", with: "/x").replacingOccurrences(of: "/d", with: "/y")
        _ = try strata(["ingest", "changed", "--store", store.path, "--time-field", "ts", "--time-unit", "s",
                        "--key-field", "user", "--partitions", "1"], stdin: changed)
        let all = try strata(["diff", "views", "changed", "--records", "--store", store.path])
        #expect(all.status == 1)
        #expect(all.stdout.hasPrefix("""
            interval 100 (1970-01-01T00:01:40Z) partition 0: records differ
            - {"ts":100,"user":"alice","page":"/a"}
            + {"ts":100,"user":"alice","page":"/x"}
            interval 103 (1970-01-01T00:01:43Z) partition 0: records differ
            - {"ts":103,"user":"carol","page":"/d"}
            + {"ts":103,"user":"carol","page":"/y"}
            different: 2 of 3 intervals with records differ

            """))
        let inRange = try strata(["diff", "views", "changed", "--from", "101", "--to", "102", "--store", store.path])
        #expect(inRange.status == 0)
        #expect(inRange.stdout.hasPrefix("identical: 1 intervals with records compared\n"))
    }

    /// A `strata tail -f STREAM` child whose standard output and error go to files.
    struct Follower {
        let process = Process()
        let outPath: String
        let errPath: String

        init(_ stream: String, store: String, in directory: TemporaryDirectory) throws {
            outPath = directory.appending(stream + ".out")
            errPath = directory.appending(stream + ".err")
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
            process.arguments = ["tail", "-f", stream, "--store", store, "--timeout", "120s"]
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            try process.run()
        }

        func read(_ path: String) -> String {
            String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data(), as: UTF8.self)
        }

        /// Standard output once it contains `text`, or after 60 s.
        func output(containing text: String) async throws -> String {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, !read(outPath).contains(text), process.isRunning {
                try await Task.sleep(for: .milliseconds(50))
            }
            return read(outPath)
        }

        func stop() { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    @Test func tailFollowWaitsForTheStreamAndItsFirstSeal() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli-wait")
        let path = directory.appending("store")
        _ = try await strataOffThePool(["ingest", "other", "--store", path], stdin: "{}\n")
        // Gives up when told to: nothing is created.
        let gaveUp = try await strataOffThePool(["tail", "-f", "late", "--store", path, "--timeout", "200ms"])
        #expect(gaveUp.status == 1)
        #expect(gaveUp.stderr.contains("gave up waiting for the stream to be created"))

        // A follower started before its stream exists prints it once sealed.
        let early = try Follower("early", store: path, in: directory)
        defer { early.stop() }
        let made = try await strataOffThePool(["ingest", "early", "--store", path, "--time-field", "ts", "--time-unit", "s"],
                              stdin: #"{"ts":5,"n":1}"# + "\n")
        #expect(made.status == 0)
        let earlyOutput = try await early.output(containing: #""n":1"#)
        #expect(earlyOutput == #"{"ts":5,"n":1}"# + "\n", "stderr: \(early.read(early.errPath))")
        #expect(early.process.isRunning)

        // A stream whose only sealed intervals are empty (the watermark at 5 s sealed 0…4; the input's
        // own interval stays open) has nothing readable: the follower waits for its first records.
        let open = try await strataOffThePool(["ingest", "live", "--store", path, "--time-field", "ts", "--time-unit", "s",
                               "--no-seal-at-end"], stdin: #"{"ts":5,"n":0}"# + "\n")
        #expect(open.status == 0)
        let live = try Follower("live", store: path, in: directory)
        defer { live.stop() }
        let sealed = try await strataOffThePool(["ingest", "live", "--store", path, "--time-field", "ts", "--time-unit", "s"],
                                stdin: #"{"ts":6,"n":1}"# + "\n")
        #expect(sealed.status == 0)
        let liveOutput = try await live.output(containing: #""n":1"#)
        #expect(liveOutput.hasSuffix(#"{"ts":6,"n":1}"# + "\n"), "stderr: \(live.read(live.errPath))")
        #expect(live.read(live.errPath).isEmpty && live.process.isRunning)
    }

    @Test func dropAndRenameRefuseWhatProgramsUseAndExistingNames() throws {
        let store = try FixtureStore()
        _ = try strata(["replay", "views", "--into", "copy", "--store", store.path])
        let taken = try strata(["rename", "copy", "views", "--store", store.path])
        #expect(taken.status == 1)
        #expect(taken.stderr == "Error: stream views already exists; choose another name (or drop it first: strata drop views)\n")
        #expect(try strata(["rename", "copy", "copy2", "--store", store.path]).stdout == "renamed copy to copy2\n")
        #expect(try strata(["cat", "copy2", "--store", store.path]).stdout == pageViews)
        let late = try strata(["drop", "copy2.late", "--store", store.path])
        #expect(late.status == 1 && late.stderr.contains("goes with it: drop copy2"))
        let dropped = try strata(["drop", "copy2", "--store", store.path])
        #expect(dropped.stdout == "dropped copy2 and copy2.late: 3 blocks\n")
        #expect(try strata(["cat", "copy2", "--store", store.path]).stderr == "Error: unknown stream copy2\n")
        #expect(try strata(["verify", "--store", store.path]).status == 0)
    }

    @Test func dropRefusesProgramStreamsUnlessForced() throws {
        let (directory, path) = try StatusCommandTests.makeStore()
        defer { _ = directory }
        for stream in ["events", "urlCounts", "seeds.v0.shuffle"] {
            let refused = try strata(["drop", stream, "--store", path])
            #expect(refused.status == 1, "\(stream)")
            #expect(refused.stderr.contains("is used by program seeds"), "\(stream)")
        }
        let forced = try strata(["drop", "urlCounts", "--force", "--store", path])
        #expect(forced.status == 0)
        #expect(forced.stdout.contains("(used by program seeds)"))
    }

    @Test func typosGetSuggestionsAndVersionPrints() throws {
        let typo = try strata(["cta", "views"])
        #expect(typo.status == 64)
        #expect(typo.stderr == "Error: unknown command 'cta'; did you mean 'cat'? (strata --help lists the commands)\n")
        let option = try strata(["cat", "views", "--kye", "x", "--store", "/nonexistent"])
        #expect(option.status == 64 && option.stderr.contains("Did you mean '--key'?"))
        let noCommand = try strata(["--store", "/nonexistent"])
        #expect(noCommand.status == 64 && noCommand.stderr.hasPrefix("Error: --store PATH needs a command after it"))
        let version = try strata(["--version"])
        #expect(version.stdout == "strata \(Store.libraryVersion) (store format \(Store.formatVersion))\n")
        let store = try FixtureStore()
        let top = try strata(["slice", "views", "--store", store.path, "--top", "2"])
        #expect(top.status == 64)
        #expect(top.stderr.contains("Usage: strata slice"))
    }

    @Test func aWatchedFileThatIsNotJSONLinesIsNamed() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli-watch")
        let incoming = directory.appending("incoming")
        try FileManager.default.createDirectory(atPath: incoming, withIntermediateDirectories: true)
        try Data("MANIFEST v1\n".utf8).write(to: URL(fileURLWithPath: incoming + "/_MANIFEST.txt"))
        let run = try strata(["serve", "--store", directory.appending("store"), "--watch", incoming,
                              "--watch-stream", "files", "--once"])
        #expect(run.status == 1)
        #expect(run.stderrLines.contains { $0.hasPrefix("_MANIFEST.txt line 1: ") }, "\(run.stderr)")
    }

    @Test func streamNamesCompleteFromTheStoreOnTheLine() throws {
        let store = try FixtureStore()
        _ = try strata(["replay", "views", "--into", "visits", "--store", store.path])
        #expect(completeStreamNames(["strata", "cat", "--store", store.path, ""], 4, "") == ["views", "visits"])
        #expect(completeStreamNames(["strata", "cat", "--store=\(store.path)", "vis"], 3, "vis") == ["visits"])
        #expect(completeStreamNames(["strata", "cat", "--store", "/nonexistent", ""], 4, "") == [])
        let script = try strata(["--generate-completion-script", "bash"])
        #expect(script.status == 0 && script.stdout.contains("strata"))
    }

    @Test func docHarnessMatchesElisionsAndReadsContinuedCommands() {
        #expect(DocTests.matches(["a", "…", "d"], ["a", "b", "c", "d"]))
        #expect(DocTests.matches(["a", "…"], ["a"]))
        #expect(!DocTests.matches(["a", "…", "d"], ["a", "b"]))
        let examples = DocTests.examples(in: "text\n```console\n$ printf x \\\n  | strata cat v\nout\n```\n")
        #expect(examples.count == 1)
        #expect(examples.first?.command == "printf x \\\n  | strata cat v")
        #expect(examples.first?.expected == ["out"])
    }

    @Test func systemErrorsReadAsPlainWords() {
        struct NIOLike: Error, CustomStringConvertible {
            var description: String { "bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)" }
        }
        #expect(describeError(NIOLike()) == "bind failed: address already in use")
        #expect(describeError(StorageError.misuse("stream x is used by program p")) == "stream x is used by program p")
        // A system error that names its path and call keeps them (it once read only "not a directory").
        #expect(describeError(StorageError.system(call: "mkdir", errno: ENOTDIR, path: "/s/file"))
                    == "/s/file: mkdir failed: not a directory")
    }
}
