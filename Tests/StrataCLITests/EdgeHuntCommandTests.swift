import Foundation
import Strata
import StrataTestSupport
import Testing

@testable import StrataCLI

/// What the edge hunts found at the command line and left for later: each once a silent wrong
/// answer, a misleading message or an exit 0 for a mistake.
@Suite struct EdgeHuntCommandTests {
    /// The set-up `IngestedStore` kept a failed ingest for the test to look at, and a test that
    /// did not look ran on a store its set-up had not made: it throws, with the ingest's stderr.
    @Test func aFailedIngestOfTheSetUpIsThrownWithItsStandardError() throws {
        let error = #expect(throws: FixtureError.self) {
            _ = try IngestedStore("v", lines: "{\"ts\":1}\n", arguments: ["--time-field", ""])
        }
        #expect(error?.run.status == 64)
        #expect(error?.description.contains("--time-field") == true, "\(String(describing: error))")
    }

    /// An ingest whose records were all late once sealed one more, empty, interval of the stream
    /// (106 here): the on-time record for it that came next then counted as late.
    @Test func anIngestOfLateRecordsOnlySealsNoIntervalOfTheStream() throws {
        let store = try IngestedStore("v", lines: "{\"ts\":100}\n{\"ts\":105}\n")
        let path = store.path
        for round in 1...2 {
            let late = try strata(["ingest", "v", "--store", path], stdin: "{\"ts\":10\(round)}\n")
            #expect(late.status == 0, "\(late.stderr)")
            #expect(late.stderrLines.first == "ingested 1 lines into v: 1 accepted, 0 rejected, 1 late", "\(late.stderr)")
            #expect(late.stderrLines.dropFirst().first == "intervals none, sealed through 105", "\(late.stderr)")
        }
        // The late records are readable at once, in the late side stream.
        let lateRecords = try strata(["cat", "v.late", "--store", path])
        #expect(lateRecords.status == 0 && lateRecords.stdout == "{\"ts\":101}\n{\"ts\":102}\n",
                "\(lateRecords.stdout)\(lateRecords.stderr)")
        // Interval 106 is still open: a record for it is on time.
        let onTime = try strata(["ingest", "v", "--store", path], stdin: "{\"ts\":106}\n")
        #expect(onTime.stderrLines.first == "ingested 1 lines into v: 1 accepted, 0 rejected, 0 late", "\(onTime.stderr)")
        #expect(onTime.stderrLines.dropFirst().first == "intervals 106–106, sealed through 106", "\(onTime.stderr)")
        let cat = try strata(["cat", "v", "--store", path])
        #expect(cat.stdout == "{\"ts\":100}\n{\"ts\":105}\n{\"ts\":106}\n", "\(cat.stdout)\(cat.stderr)")
        let verify = try strata(["verify", "--store", path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// `--format lines` once reported a 3 MiB line as `line of 1048588 bytes` (where it was cut,
    /// plus the record's framing) and counted an invalid UTF-8 byte's offset from the start of the
    /// record `{"line":"…`, after the escapes (11 and 17 for bytes 2 and 6 of the lines here).
    @Test func textLinesAreRejectedInTheLinesOwnTerms() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let path = directory.appending("store")
        var input = Data("ok\n".utf8)
        input.append(Data(repeating: UInt8(ascii: "x"), count: 3 << 20))
        input.append(Data([0x0A, 0x61, 0x62, 0xFF, 0x63, 0x64, 0x0A]))  // ab, a lone 0xFF, cd
        input.append(Data([0x22, 0x71, 0x22, 0x20, 0xC3, 0xA9, 0xE9, 0x0A]))  // "q" é, then a lone 0xE9
        // Escapes make a line just under the limit too long a record.
        input.append(Data(repeating: UInt8(ascii: "\""), count: (1 << 20) - 100))
        input.append(Data("\nlast".utf8))
        let file = directory.appending("input.txt")
        try input.write(to: URL(fileURLWithPath: file))
        let run = try strata(["ingest", "l", "--store", path, "--format", "lines", "--source", "in"], stdinFile: file)
        #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
        #expect(Array(run.stderrLines.prefix(5)) == [
            "line 2: line of 3145728 bytes is too long: its record {\"line\":…} would exceed the limit of 1048576 bytes",
            "line 3: byte 2 of the line: invalid UTF-8 (a line must be UTF-8 text)",
            "line 4: byte 6 of the line: invalid UTF-8 (a line must be UTF-8 text)",
            "line 5: line of 1048476 bytes is too long: its record {\"line\":…} would exceed the limit of 1048576 bytes",
            "ingested 6 lines into l: 2 accepted, 4 rejected, 0 late",
        ], "\(run.stderr)")
        let cat = try strata(["cat", "l", "--store", path])
        #expect(cat.stdout == "{\"line\":\"ok\"}\n{\"line\":\"last\"}\n", "\(cat.stdout)\(cat.stderr)")
        // The rejected lines count in the committed position: a rerun skips every line.
        let again = try strata(["ingest", "l", "--store", path, "--format", "lines", "--source", "in"], stdinFile: file)
        #expect(again.stderrLines.first == "source in: skipped 6 lines (\(input.count) bytes) already committed",
                "\(again.stderr)")
    }

    /// Messages once read `is not a s number` (a time field's unit) and `is not a Int64` (a key type).
    @Test func messagesNameUnitsAndTypesInWords() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let run = try strata(["ingest", "v", "--store", directory.appending("store"), "--time-field", "ts",
                              "--time-unit", "s"], stdin: "{\"ts\":\"noon\"}\n")
        #expect(run.stderrLines.first == "line 1: time field \"ts\" is neither a number of seconds nor an ISO 8601 time",
                "\(run.stderr)")
        #expect(StreamDescriptor.readableTypeNameWithArticle("Swift.Int64") == "an Int64")
        #expect(StreamDescriptor.readableTypeNameWithArticle("Swift.UInt64") == "a UInt64")
        #expect(StreamDescriptor.readableTypeNameWithArticle("Swift.String") == "a String")
    }

    /// `strata sql ''` (and SQL of only whitespace or comments) once ran nothing and exited 0.
    @Test(arguments: [("", nil), ("  \n\t ", nil), (" ; ;", nil), (nil, "-- only a comment\n"), (nil, "")] as [(String?, String?)])
    func sqlWithoutAStatementIsAUsageError(argument: String?, standardInput: String?) throws {
        let store = try FixtureStore()
        let run = try strata(["sql", "--store", store.path] + (argument.map { [$0] } ?? []), stdin: standardInput ?? "")
        #expect(run.status == 64 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines.first
                    == "Error: no SQL statement given: pass one as the argument, with -f FILE, or on standard input",
                "\(run.stderr)")
        #expect(run.stdout.isEmpty)
        // A statement still runs.
        let query = try strata(["sql", "--store", store.path, "SELECT count(*) AS n FROM views"])
        #expect(query.status == 0 && query.stdout == "n\n4\n", "\(query.stdout)\(query.stderr)")
    }

    /// `--idle-seal 0` was accepted: it sealed every open interval at each pause of the input,
    /// whatever lateness the stream allows.
    @Test(arguments: ["0", "0s", "0ms", "999us"])
    func idleSealBelowOneMillisecondIsAUsageError(duration: String) throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let path = directory.appending("store")
        let message = "--idle-seal must be from 1ms to 1000000000h (e.g. 500ms, 30s, 5m), not \(duration)"
        let run = try strata(["ingest", "v", "--store", path, "--time-field", "ts", "--idle-seal", duration])
        #expect(run.status == 64 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines.first == "Error: " + message, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
        // `serve` refuses it when parsing (parsed here: a `serve` that took it would run until stopped).
        #expect {
            _ = try StrataCommand.parseAsRoot(["serve", "--store", path, "--port", "0", "--idle-seal", duration])
        } throws: { error in
            StrataCommand.exitCode(for: error) == .validationFailure && StrataCommand.message(for: error) == message
        }
        let negative = try strata(["ingest", "v", "--store", path, "--idle-seal", "-1s"])
        #expect(negative.status == 64 && !negative.crashed, "\(negative.stderr)")
        let oneMillisecond = try strata(["ingest", "v", "--store", path, "--idle-seal", "1ms"], stdin: "{}\n")
        #expect(oneMillisecond.status == 0, "\(oneMillisecond.stderr)")
    }
    /// `strata seal --through 18446744073709551615` (the last interval index) once sealed it: the
    /// interval after it wrapped to 0, so the next late record failed the ingest with `stream
    /// v.late interval 0 partition 0 is already sealed`, and every later one with it.
    @Test func theLastIntervalIndexCannotBeSealed() throws {
        let store = try IngestedStore("v", lines: "{\"ts\":100}\n")
        let path = store.path
        let seal = try strata(["seal", "v", "--store", path, "--through", "18446744073709551615"])
        #expect(seal.status == 1 && !seal.crashed, "\(seal.stderr)")
        #expect(seal.stderrLines == ["Error: stream v: interval 18446744073709551615 is the last interval index and "
                                     + "cannot be sealed: no interval would follow it for later records"], "\(seal.stderr)")
        let late = try strata(["ingest", "v", "--store", path], stdin: "{\"ts\":99}\n")
        #expect(late.status == 0 && late.stderrLines.first == "ingested 1 lines into v: 1 accepted, 0 rejected, 1 late",
                "\(late.stderr)")
        let lateRecords = try strata(["cat", "v.late", "--store", path])
        #expect(lateRecords.stdout == "{\"ts\":99}\n", "\(lateRecords.stdout)\(lateRecords.stderr)")
    }

    /// After `strata seal --through 18446744073709551614`, late records alone once went to
    /// `v.late` interval 18446744073709551615 and sealed it (the last index, which `seal` refuses
    /// for `v`), and the next late records went to that sealed interval again. Now a late record
    /// with no interval left is a typed error naming both streams, and nothing of it is stored;
    /// `describe` shows the end of the sealed range as beyond the representable times, never a
    /// wrapped or clamped time.
    @Test func lateRecordsPastTheLastSealableIntervalAreRefused() throws {
        let store = try IngestedStore("v", lines: "{\"ts\":100}\n")
        let path = store.path
        let seal = try strata(["seal", "v", "--store", path, "--through", "18446744073709551614"])
        #expect(seal.status == 0 && !seal.crashed, "\(seal.stdout)\(seal.stderr)")
        for round in 1...2 {
            let late = try strata(["ingest", "v", "--store", path], stdin: "{\"ts\":99}\n")
            #expect(late.status == 1 && !late.crashed, "round \(round): \(late.stderr)")
            #expect(late.stderrLines.contains(
                "Error: stream v is sealed through 18446744073709551614: a late record would go to v.late interval "
                + "18446744073709551615, the last interval index, which cannot be sealed: no interval would follow it "
                + "for later late records"), "round \(round): \(late.stderr)")
        }
        let lateRecords = try strata(["cat", "v.late", "--store", path])
        #expect(lateRecords.stdout == "", "\(lateRecords.stdout)\(lateRecords.stderr)")
        let verify = try strata(["verify", "--store", path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        let describe = try strata(["describe", "v", "--store", path])
        #expect(describe.status == 0, "\(describe.stderr)")
        let sealedRow = describe.stdout.split(separator: "\n").first { $0.hasPrefix("sealed through ") }
        #expect(sealedRow?.hasSuffix(" 18446744073709551614 (ends beyond the representable range, after "
                                     + "2262-04-11T23:47:16Z)") == true, "\(describe.stdout)")
        let json = try jsonObject(try strata(["describe", "v", "--store", path, "--json"]).stdout)
        #expect(json["sealedThrough"] as? UInt64 == 18_446_744_073_709_551_614)
        #expect(json["sealedThroughTime"] is NSNull, "\(json)")
    }

    /// `strata describe` of a stream sealed through an interval that starts before the last
    /// representable instant and ends after it once printed the end clamped to it.
    @Test func anEndPastTheRepresentableTimesIsNamedSo() throws {
        let store = try IngestedStore("v", lines: "{\"ts\":100}\n")
        // 9223372036 s starts at 2262-04-11T23:47:16Z and ends after the last nanosecond an Int64 counts.
        let seal = try strata(["seal", "v", "--store", store.path, "--through", "9223372036"])
        #expect(seal.status == 0, "\(seal.stderr)")
        let describe = try strata(["describe", "v", "--store", store.path])
        #expect(describe.stdout.contains(
            "9223372036 (ends beyond the representable range, after 2262-04-11T23:47:16Z)"), "\(describe.stdout)")
        let json = try jsonObject(try strata(["describe", "v", "--store", store.path, "--json"]).stdout)
        #expect(json["sealedThroughTime"] as? String == "2262-04-11T23:47:16Z", "\(json)")
    }

    /// `strata ingest --store DIR/missing/store` once created the missing parent silently
    /// (`mkdir -p`), so a mistyped path became a new store. Every command that creates a store
    /// refuses, naming the parent, with exit 73 (`EX_CANTCREAT`), and creates nothing.
    @Test func noStoreIsCreatedUnderAMissingParent() throws {
        let source = try IngestedStore("v", lines: "{\"ts\":100}\n")
        let directory = source.directory
        let parent = directory.appending("missing")
        let path = parent + "/store"
        let message = "Error: cannot create store \(path): its parent directory \(parent) does not exist; "
            + "create it first (mkdir -p \(parent))"
        let inbox = directory.appending("in")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: false)
        let commands: [([String], String)] = [
            (["ingest", "v", "--store", path], "{\"ts\":1}\n"),
            (["serve", "--store", path, "--watch", inbox, "--watch-stream", "v", "--once"], ""),
            (["salvage", source.path, "--into", path], ""),
        ]
        for (arguments, input) in commands {
            let run = try strata(arguments, stdin: input)
            #expect(run.status == 73 && !run.crashed, "\(arguments[0]): \(run.stderr)")
            #expect(run.stderrLines.last == message, "\(arguments[0]): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: parent), "\(arguments[0]) created \(parent)")
        }
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        let ingest = try strata(["ingest", "v", "--store", path], stdin: "{\"ts\":1}\n")
        #expect(ingest.status == 0, "\(ingest.stderr)")
    }

    /// A store path under a file once failed with `Error: not a directory`: no path, no call.
    @Test func aFailedSystemCallNamesItsPathAndCall() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let file = directory.appending("file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let run = try strata(["ingest", "v", "--store", file + "/store"], stdin: "{}\n")
        #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines == ["Error: \(file)/store: stat failed: not a directory"], "\(run.stderr)")
    }

    /// `sql --continuous --into 'a b'` once said `Error: misuse: invalid program name "sql.a b": …`,
    /// naming a program the user never named; every other command says the stream name is invalid.
    @Test func aContinuousQueryIntoAnInvalidNameSaysTheStreamNameIsInvalid() throws {
        let store = try FixtureStore()
        let run = try strata(["sql", "--store", store.path, "--continuous", "--into", "a b", "--until-caught-up",
                              "SELECT user FROM views"])
        #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines == [#"Error: invalid stream name "a b": use 1–195 characters of A–Z a–z 0–9 . _ -, not ending in .late"#],
                "\(run.stderr)")
    }

    /// `slice('views', 100)` (an argument short) and `state('views')` once failed with SQLite's
    /// `SQL error: no query solution`, which says nothing of what is missing.
    @Test(arguments: [("SELECT * FROM slice('views', 100)", "slice(stream, from, to) needs three non-NULL arguments"),
                      ("SELECT * FROM slice('views')", "slice(stream, from, to) needs three non-NULL arguments"),
                      ("SELECT * FROM state('views')", "state(stream, as_of) needs two non-NULL arguments")])
    func aTableFunctionShortOfArgumentsSaysWhatItNeeds(query: String, message: String) throws {
        let store = try FixtureStore()
        let run = try strata(["sql", "--store", store.path, query])
        #expect(run.status == 1 && !run.crashed, "\(run.stderr)")
        #expect(run.stderrLines == ["Error: " + message], "\(run.stderr)")
        // With every argument, the same function reads.
        let whole = try strata(["sql", "--store", store.path, "SELECT count(*) AS n FROM slice('views', 100, 103)"])
        #expect(whole.status == 0 && whole.stdout == "n\n4\n", "\(whole.stdout)\(whole.stderr)")
    }

    /// Late records an ingest committed and did not seal (`--no-seal-at-end`, or a kill) once made
    /// `strata seal` seal one more, empty, interval of the stream; now they are sealed in the late
    /// side stream alone, and the seal says so.
    @Test func sealingLeftOverLateRecordsSealsOnlyTheLateSideStream() throws {
        let store = try IngestedStore("v", lines: "{\"ts\":100}\n{\"ts\":105}\n")
        let path = store.path
        let late = try strata(["ingest", "v", "--store", path, "--no-seal-at-end"], stdin: "{\"ts\":101}\n")
        #expect(late.status == 0, "\(late.stderr)")
        let seal = try strata(["seal", "v", "--store", path])
        #expect(seal.status == 0, "\(seal.stderr)")
        #expect(seal.stdout == "sealed the late records of v in v.late through 106; v stays sealed through 105\n",
                "\(seal.stdout)\(seal.stderr)")
        let lateRecords = try strata(["cat", "v.late", "--store", path])
        #expect(lateRecords.stdout == "{\"ts\":101}\n", "\(lateRecords.stdout)\(lateRecords.stderr)")
        let again = try strata(["seal", "v", "--store", path])
        #expect(again.stdout == "nothing to seal in v: sealed through 105, no committed records after it\n", "\(again.stdout)")
    }
}

/// Runs the built `strata` binary with `arguments` and the file `stdinFile` as its standard input
/// (bytes a `String` cannot hold, such as invalid UTF-8).
private func strata(_ arguments: [String], stdinFile: String) throws -> StrataRun {
    try strata(["-c", "exec \"$0\" \"$@\" < \"$STRATA_TEST_STDIN\"", builtProductsDirectory() + "/strata"] + arguments,
               environment: ["STRATA_TEST_STDIN": stdinFile], executable: "/bin/sh")
}
