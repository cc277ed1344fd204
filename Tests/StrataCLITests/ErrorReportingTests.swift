import Foundation
import StrataTestSupport
import Testing

/// Every error is one clear line on standard error, a non-zero exit status and no crash trace.
@Suite struct ErrorReportingTests {
    /// An error at run time: exit status 1 and exactly one line, `Error: …`.
    private func expectOneLineError(_ run: StrataRun, containing text: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status == 1, sourceLocation: sourceLocation)
        #expect(run.stdout == "", sourceLocation: sourceLocation)
        #expect(run.stderrLines.count == 1, "\(run.stderr)", sourceLocation: sourceLocation)
        #expect(run.stderr.hasPrefix("Error: "), sourceLocation: sourceLocation)
        #expect(run.stderr.contains(text), "\(run.stderr)", sourceLocation: sourceLocation)
        #expect(!run.crashed, sourceLocation: sourceLocation)
    }

    /// A usage error: exit status 64, the error first, then the usage.
    private func expectUsageError(_ run: StrataRun, containing text: String,
                                  sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status == 64, sourceLocation: sourceLocation)
        #expect(run.stdout == "", sourceLocation: sourceLocation)
        #expect(run.stderrLines.first?.hasPrefix("Error: ") == true, sourceLocation: sourceLocation)
        #expect(run.stderrLines.first?.contains(text) == true, "\(run.stderr)", sourceLocation: sourceLocation)
        #expect(!run.crashed, sourceLocation: sourceLocation)
    }

    @Test func missingStore() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        for command in [["streams"], ["describe", "x"], ["cat", "x", "--interval", "1"], ["verify"], ["stats"]] {
            let run = try strata(command + ["--store", dir.appending("absent")])
            expectOneLineError(run, containing: "no store at \(dir.appending("absent"))")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appending("absent")))
    }

    @Test func noStoreGiven() throws {
        for command in [["streams"], ["cat", "x", "--interval", "1"], ["ingest", "x"]] {
            let run = try strata(command)
            expectUsageError(run, containing: "no store given: pass --store PATH or set STRATA_STORE")
        }
    }

    @Test func unknownStream() throws {
        let store = try FixtureStore()
        for command in [["describe", "nope"], ["cat", "nope", "--interval", "100"], ["verify", "nope"],
                        ["stats", "nope"]] {
            expectOneLineError(try strata(command + ["--store", store.path]), containing: "unknown stream nope")
        }
    }

    @Test func unsealedInterval() throws {
        let store = try FixtureStore()
        let run = try strata(["cat", "views", "--store", store.path, "--interval", "104"])
        expectOneLineError(run, containing: "stream views interval 104 is not sealed (newest sealed: 103)")
        let range = try strata(["cat", "views", "--store", store.path, "--from", "100", "--to", "200"])
        expectOneLineError(range, containing: "interval 200 is not sealed")
    }

    @Test func intervalBeforeTheStreamBegan() throws {
        let store = try FixtureStore()
        let run = try strata(["cat", "views", "--store", store.path, "--interval", "99"])
        expectOneLineError(run, containing: "stream views interval 99 is before the stream began (first interval 100)")
    }

    @Test func badPartition() throws {
        let store = try FixtureStore()
        let run = try strata(["cat", "views", "--store", store.path, "--interval", "100", "--partition", "1"])
        expectOneLineError(run, containing: "stream views interval 100 partition 1: the stream has 1 partitions")
        expectUsageError(try strata(["cat", "views", "--store", store.path, "--interval", "100", "--partition", "-1"]),
                         containing: "--partition")
    }

    @Test func badIntervalValues() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let store = dir.appending("store")
        for value in ["abc", "0s", "10", "1.5s", "500us"] {
            expectUsageError(try strata(["ingest", "s", "--store", store, "--interval", value]),
                             containing: "The value '\(value)' is invalid for '--interval <length>'")
        }
        expectUsageError(try strata(["cat", "s", "--store", store, "--interval", "soon"]),
                         containing: "--interval soon: invalid time \"soon\"")
        let noStore = try strata(["cat", "s", "--store", store])
        #expect(noStore.status == 1 && noStore.stderr == "Error: no store at \(store)\n")
        // Nothing was created by the rejected commands.
        #expect(!FileManager.default.fileExists(atPath: store))
    }

    @Test func invalidStreamName() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let run = try strata(["ingest", "a/b", "--store", dir.appending("store")], stdin: "{}\n")
        expectOneLineError(run, containing: #"invalid stream name "a/b""#)
    }

    @Test func notAStore() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let file = dir.appending("file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        expectOneLineError(try strata(["streams", "--store", file]), containing: "is not a Strata store")
    }
}
