import Foundation
import StrataTestSupport
import Testing

@Suite struct IngestCommandTests {
    @Test func summaryGoesToStandardErrorAndNothingToStandardOutput() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let run = try strata(["ingest", "views", "--store", dir.appending("store"), "--time-field", "ts",
                              "--time-unit", "s", "--partitions", "2"], stdin: pageViews)
        #expect(run.status == 0)
        #expect(run.stdout == "")
        let lines = run.stderrLines
        #expect(lines.count == 3)
        #expect(lines.first == "ingested 4 lines into views: 4 accepted, 0 rejected, 0 late")
        #expect(lines.dropFirst().first == "intervals 100–103, sealed through 103")
        #expect(lines.last?.hasSuffix("records/s") == true)
    }

    @Test func malformedLinesAreReportedByNumberAndExitOne() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let input = """
            {"ts":100,"v":1}
            not json
            {"ts":100,"v":2}
            {"v":3}
            {"ts":101,"v":"unterminated}

            """
        let run = try strata(["ingest", "s", "--store", dir.appending("store"), "--time-field", "ts", "--time-unit", "s",
                              "--partitions", "1"], stdin: input)
        #expect(run.status == 1)
        let lines = run.stderrLines
        #expect(lines.count == 6)
        #expect(lines[0] == "line 2: byte 0: not a JSON object, a line must start with '{'")
        #expect(lines[1] == #"line 4: missing time field "ts""#)
        #expect(lines[2].hasPrefix("line 5: byte "))
        #expect(lines[3] == "ingested 5 lines into s: 2 accepted, 3 rejected, 0 late")
        #expect(!run.crashed)
        // The good lines are kept and readable.
        let cat = try strata(["cat", "s", "--store", dir.appending("store"), "--interval", "100"])
        #expect(cat.stdout == "{\"ts\":100,\"v\":1}\n{\"ts\":100,\"v\":2}\n")
    }

    @Test func failFastStopsAtTheFirstMalformedLine() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let input = "{\"ts\":100}\n{\"ts\":\n{\"ts\":100}\nalso bad\n"
        let run = try strata(["ingest", "s", "--store", dir.appending("store"), "--time-field", "ts", "--time-unit", "s",
                              "--partitions", "1", "--fail-fast"], stdin: input)
        #expect(run.status == 1)
        #expect(run.stderr.contains("ingested 2 lines into s: 1 accepted, 1 rejected"))
        #expect(run.stderrLines.last?.hasPrefix("Error: malformed input at line 2: ") == true)
        #expect(!run.stderr.contains("line 4"))
        #expect(!run.crashed)
        // What came before the malformed line is kept.
        let cat = try strata(["cat", "s", "--store", dir.appending("store"), "--interval", "100"])
        #expect(cat.stdout == "{\"ts\":100}\n")
    }

    @Test func linesFormatWrapsEachTextLineAsAJSONString() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let store = dir.appending("store")
        let input = "GET /index.html \"quoted\"\r\n\ttab\\slash\n\nno newline at end"
        let run = try strata(["ingest", "log", "--store", store, "--format", "lines", "--partitions", "1",
                              "--interval", "1h"], stdin: input)
        #expect(run.status == 0)
        #expect(run.stderrLines.first == "ingested 4 lines into log: 4 accepted, 0 rejected, 0 late")
        // Arrival time: read every interval the ingest sealed.
        let info = try strata(["describe", "log", "--store", store, "--json"])
        let object = try jsonObject(info.stdout)
        let first = try #require(object["firstReadable"] as? Int), last = try #require(object["sealedThrough"] as? Int)
        let cat = try strata(["cat", "log", "--store", store, "--from", String(first), "--to", String(last)])
        #expect(cat.stdout == #"""
            {"line":"GET /index.html \"quoted\""}
            {"line":"\ttab\\slash"}
            {"line":""}
            {"line":"no newline at end"}

            """#)
    }

    @Test func existingStreamWithOtherSettingsIsOneClearLine() throws {
        let store = try FixtureStore()
        for arguments in [["--partitions", "2", "--time-field", "ts", "--time-unit", "s", "--key-field", "user"],
                          ["--partitions", "1", "--interval", "2s", "--time-field", "ts", "--time-unit", "s",
                           "--key-field", "user"],
                          ["--key-field", "page"], ["--time-unit", "ms"]] {
            let run = try strata(["ingest", "views", "--store", store.path] + arguments, stdin: pageViews)
            #expect(run.status == 1)
            #expect(run.stderrLines.count == 1)
            #expect(run.stderr.hasPrefix("Error: stream views exists with other settings: "))
        }
        let named = try strata(["ingest", "views", "--store", store.path, "--key-field", "page"], stdin: "")
        #expect(named.stderr == "Error: stream views exists with other settings: --key-field is user, not page as given; "
            + "omit --key-field to take the stream's\n")
        // The same settings append to the stream.
        let again = try strata(["ingest", "views", "--store", store.path, "--partitions", "1", "--time-field", "ts",
                                "--time-unit", "s", "--key-field", "user"], stdin: #"{"ts":104,"user":"dan"}"#)
        #expect(again.status == 0)
        #expect(again.stderr.contains("sealed through 104"))
    }

    /// Issue 13 item 5: appending to an existing stream takes its settings; flags given must match.
    @Test func ingestIntoAnExistingStreamTakesItsSettings() throws {
        let store = try FixtureStore()
        let run = try strata(["ingest", "views", "--store", store.path], stdin: #"{"ts":104,"user":"dan","page":"/e"}"# + "\n")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("sealed through 104"))
        let partial = try strata(["ingest", "views", "--store", store.path, "--time-field", "ts", "--partitions", "1"],
                                 stdin: #"{"ts":105,"user":"erin","page":"/f"}"# + "\n")
        #expect(partial.status == 0, "\(partial.stderr)")
        let cat = try strata(["cat", "views", "--store", store.path, "--interval", "105"])
        #expect(cat.stdout == #"{"ts":105,"user":"erin","page":"/f"}"# + "\n")
    }

    /// Issue 10, item 3: late records of a re-ingest are readable when it ends, without new data.
    @Test func lateRecordsOfAReingestAreReadableAtTheEnd() throws {
        let store = try FixtureStore()
        let run = try strata(["ingest", "views", "--store", store.path], stdin: #"{"ts":100,"user":"eve","page":"/z"}"# + "\n")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("1 accepted, 0 rejected, 1 late"))
        let late = try strata(["cat", "views.late", "--store", store.path, "--interval", "104"])
        #expect(late.status == 0, "\(late.stderr)")
        #expect(late.stdout == #"{"ts":100,"user":"eve","page":"/z"}"# + "\n")
    }

    /// `tail --unsealed` prints committed records of open intervals after the sealed ones, marked.
    @Test func tailUnsealedShowsOpenIntervalsMarked() throws {
        let store = try FixtureStore()
        let run = try strata(["ingest", "views", "--store", store.path, "--no-seal-at-end"],
                             stdin: #"{"ts":105,"user":"fay","page":"/y"}"# + "\n")
        #expect(run.status == 0, "\(run.stderr)")
        let tail = try strata(["tail", "views", "--store", store.path, "--unsealed", "--json"])
        #expect(tail.status == 0, "\(tail.stderr)")
        // From the newest sealed interval (104, empty: the watermark of ts 105 sealed it) on.
        #expect(tail.stdout == #"{"interval":105,"partition":0,"record":{"ts":105,"user":"fay","page":"/y"},"time":"1970-01-01T00:01:45Z","sealed":false}"# + "\n")
        #expect(tail.stderr.contains("1 records of unsealed intervals"))
        let follow = try strata(["tail", "-f", "views", "--store", store.path, "--unsealed"])
        #expect(follow.status == 64)
    }

    @Test func storeFromTheEnvironment() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let env = ["STRATA_STORE": dir.appending("store")]
        let ingest = try strata(["ingest", "e", "--time-field", "ts", "--time-unit", "s", "--partitions", "1"],
                                stdin: "{\"ts\":5}\n", environment: env)
        #expect(ingest.status == 0)
        let cat = try strata(["cat", "e", "--interval", "5"], environment: env)
        #expect(cat.stdout == "{\"ts\":5}\n")
    }
}
