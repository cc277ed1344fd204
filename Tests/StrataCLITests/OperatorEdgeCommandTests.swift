import Foundation
import StrataTestSupport
import Testing

/// Edges an operator hits with odd but legal arguments: each one a typed error or the asked-for
/// result, never a trap, never a silent loss.
@Suite struct OperatorEdgeCommandTests {
    /// `--keep 5124096h` (past `UInt64.max` nanoseconds) once wrapped to about 25 minutes and
    /// dropped intervals the operator asked to keep.
    @Test func aRetentionLongerThanNanosecondsCanCountKeepsEverything() throws {
        // Intervals 100 and 5000: 4900 s apart, more than the wrapped 1526 s.
        let store = try IngestedStore("views", lines: "{\"ts\":100}\n{\"ts\":5000}\n")
        let path = store.path
        let keep = try strata(["retain", "views", "--store", path, "--keep", "5124096h"])
        #expect(keep.status == 0 && !keep.crashed, "\(keep.stderr)")
        #expect(keep.stdout.hasSuffix("nothing to drop\n"), "\(keep.stdout)")
        let cat = try strata(["cat", "views", "--store", path])
        #expect(cat.stdout == "{\"ts\":100}\n{\"ts\":5000}\n", "\(cat.stdout)\(cat.stderr)")
    }

    /// A duration retention on a stream whose interval length is close to `UInt64.max`
    /// nanoseconds once trapped, in `retain` and then in every later seal of the stream.
    @Test func aRetentionOnAHugeIntervalLengthDoesNotTrap() throws {
        let store = try IngestedStore("long", lines: "{\"t\":5}\n",
                                      arguments: ["--interval", "18446744073s", "--time-field", "t", "--time-unit", "s"])
        let path = store.path
        let retain = try strata(["retain", "long", "--store", path, "--keep", "1h"])
        #expect(retain.status == 0 && !retain.crashed, "\(retain.stderr)")
        let before = try strata(["retain", "long", "--store", path, "--before", "end"])
        #expect(before.status == 0 && !before.crashed, "\(before.stderr)")
        // A later ingest seals again, applying the retention again.
        let again = try strata(["ingest", "long", "--store", path], stdin: "{\"t\":6}\n")
        #expect(again.status == 0 && !again.crashed, "\(again.stderr)")
        let verify = try strata(["verify", "long", "--store", path])
        #expect(verify.status == 0 && !verify.crashed, "\(verify.stdout)\(verify.stderr)")
    }

    /// An empty stream name once reached LMDB as an empty key: `Error: mdb_get failed:
    /// MDB_BAD_VALSIZE …`. It is an invalid stream name, for every command that looks one up.
    @Test(arguments: [["describe", ""], ["cat", ""], ["stats", ""], ["verify", ""], ["drop", ""], ["seal", ""],
                      ["slice", ""], ["tail", ""], ["retain", "", "--last", "1"], ["state", "", "--as-of", "1"],
                      ["replay", "views", "--into", ""], ["rename", "", "other"]])
    func anEmptyStreamNameIsAnInvalidName(arguments: [String]) throws {
        let store = try FixtureStore()
        let run = try strata(arguments + ["--store", store.path])
        #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines == [#"Error: invalid stream name "": use 1–195 characters of A–Z a–z 0–9 . _ -, not ending in .late"#],
                "\(run.stderr)")
    }

    /// `salvage` of a path holding no store once added, after the child's own error, `Error: salvage
    /// of P ended with its exit outside any interval (the catalog or a frontier is damaged …); what
    /// was copied is in NEW` and exit 65, for a store that is missing, not damaged, and a NEW that
    /// was never created.
    @Test func salvageOfAMissingStoreSaysSoAndExitsOne() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let file = directory.appending("file")
        try Data("not a store".utf8).write(to: URL(fileURLWithPath: file))
        for (source, message) in [(directory.appending("missing"), "Error: no store at \(directory.appending("missing"))"),
                                  (file, "Error: \(file) is not a Strata store: not a directory")] {
            let into = directory.appending("rescued")
            let run = try strata(["salvage", source, "--into", into])
            #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
            #expect(run.stderrLines == [message], "\(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: into))
        }
    }

    /// `compact` of a path that is a file once said `Error: no store at P`, where every other
    /// command says what the path is.
    @Test func compactOfAFileSaysItIsNotAStore() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let file = directory.appending("file")
        try Data("not a store".utf8).write(to: URL(fileURLWithPath: file))
        let run = try strata(["compact", "--store", file])
        #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines == ["Error: \(file) is not a Strata store: not a directory"], "\(run.stderr)")
    }

    /// `--time-field ''` or `--key-field ''` once created a stream that rejects every line
    /// (`missing time field ""`) and keeps that setting for good; now a usage error, before anything
    /// is created.
    @Test(arguments: ["--time-field", "--key-field"])
    func anEmptyFieldNameIsAUsageError(option: String) throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let path = directory.appending("store")
        let ingest = try strata(["ingest", "views", "--store", path, option, ""], stdin: "{\"a\":1}\n")
        #expect(ingest.status == 64 && !ingest.crashed, "\(ingest.stderr)")
        #expect(ingest.stderrLines.first == "Error: \(option) needs a field name, not an empty one", "\(ingest.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
        let watched = directory.appending("watched")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        let serve = try strata(["serve", "--store", path, "--watch", watched, "--watch-stream", "views", "--once", option, ""])
        #expect(serve.status == 64 && !serve.crashed, "\(serve.stderr)")
        #expect(serve.stderrLines.first == "Error: \(option) needs a field name, not an empty one", "\(serve.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// A full disk before the first commit once printed `committed: lines 1–0 (bytes 0–0) …` and
    /// `tail -c +1 FILE | …`; it says that nothing is in the stream and to feed the whole input.
    @Test func aFullDiskBeforeTheFirstCommitSaysNothingIsCommitted() throws {
        let store = try IngestedStore("f", lines: "{\"ts\":1}\n")
        let path = store.path
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int)
        // One commit of this input needs more than the store may grow by (a file-size limit, in 512-byte blocks).
        let input = (0..<20_000).map { #"{"ts":2,"n":\#($0),"pad":"0123456789abcdef0123456789abcdef"}"# }.joined(separator: "\n") + "\n"
        let script = "trap '' XFSZ; ulimit -f \(size / 512 + 64); exec \"$0\" ingest f --store \"$1\""
        let run = try strata(["-c", script, builtProductsDirectory() + "/strata", path], stdin: input, executable: "/bin/sh")
        #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines.contains { $0.hasPrefix("Error: store full: ") }, "\(run.stderr)")
        #expect(run.stderrLines.suffix(2) == ["committed: nothing of the input is in f", "to resume: feed the whole input again"],
                "\(run.stderr)")
    }

    /// An ad hoc `strata sql` opened the store for writing, so it failed (`mdb_env_open failed:
    /// Permission denied`) on a store every read command reads: one without write permission or on
    /// a read-only mount. Root ignores permission bits, so another user (`setpriv`) runs it.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func anAdHocQueryReadsAStoreWithoutWritePermission() throws {
        let store = try FixtureStore()
        makeReadOnlyForOthers(store)
        let binary = builtProductsDirectory() + "/strata"
        let closed = buildDirectoryClosedToOthers()
        try #require(closed == nil, "the build directory \(closed ?? "") is not reachable by another user")
        let query = ["sql", "select user, count(*) from views group by user order by user", "--csv", "--store", store.path]
        let run = try strata(["--reuid=65534", "--regid=65534", "--clear-groups", binary] + query,
                             executable: "/usr/bin/setpriv")
        #expect(run.status == 0 && !run.crashed, "\(run.stderr)")
        #expect(run.stdout == "user,count(*)\nalice,2\nbob,1\ncarol,1\n", "\(run.stdout)")
        #expect(run.stderr.contains("opened without LMDB's lock"), "\(run.stderr)")
    }

    /// `strata sql -f FILE` of a missing file or a directory once said only `cannot read the SQL
    /// file FILE`, followed by the root command's usage; it says why, with sql's usage.
    @Test func anUnreadableSQLFileSaysWhy() throws {
        let store = try FixtureStore()
        let missing = store.directory.appending("missing.sql")
        for (file, why) in [(missing, "no such file or directory"), (store.directory.path, "not a regular file")] {
            let run = try strata(["sql", "-f", file, "--store", store.path])
            #expect(run.status == 64 && !run.crashed, "\(run.stderr)")
            #expect(run.stderrLines.first == "Error: cannot read the SQL file \(file): \(why)", "\(run.stderr)")
            #expect(run.stderr.contains("Usage: strata sql"), "\(run.stderr)")
        }
    }
}
