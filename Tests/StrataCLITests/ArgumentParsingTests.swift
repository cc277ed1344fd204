import ArgumentParser
import Testing

@testable import StrataCLI

@Suite struct ArgumentParsingTests {
    @Test func catTakesOneIntervalOrARange() throws {
        let one = try #require(try StrataCommand.parseAsRoot(
            ["cat", "views", "--store", "/s", "--interval", "7", "--partition", "2", "--json"]) as? Cat)
        #expect(one.stream == "views")
        #expect(one.options.path == "/s")
        #expect(one.interval?.text == "7" && one.range.from == nil && one.range.to == nil)
        #expect(one.partition?.partition.rawValue == 2)
        #expect(one.json)

        let range = try #require(try StrataCommand.parseAsRoot(
            ["cat", "views", "--store", "/s", "--from", "3", "--to", "9"]) as? Cat)
        #expect(range.range.from?.text == "3" && range.range.to?.text == "9")

        // Every option that takes an interval takes the one time grammar, relative times included.
        let relative = try #require(try StrataCommand.parseAsRoot(
            ["cat", "views", "--store", "/s", "--from", "-5m", "--to", "now"]) as? Cat)
        #expect(relative.range.from?.text == "-5m" && relative.range.to?.text == "now")
        let whole = try #require(try StrataCommand.parseAsRoot(["cat", "views", "--store", "/s"]) as? Cat)
        #expect(whole.interval == nil && whole.range.from == nil && whole.range.to == nil)
    }

    @Test(arguments: [
        ["cat", "v", "--store", "/s", "--interval", "1", "--from", "1", "--to", "2"],
        ["cat", "v", "--store", "/s", "--interval", "-1"],
        ["cat", "v", "--store", "/s", "--from", "9pm"],
        ["state", "v", "--store", "/s", "--as-of", "yesterday"],
        ["cat", "v", "--store", "/s", "--key", "k", "--partition", "1"],
        ["cat", "v", "--store", "/s", "--interval", "1", "--partition", "x"],
        ["cat", "--store", "/s", "--interval", "1"],
        ["ingest", "v", "--store", "/s", "--interval", "abc"],
        ["ingest", "v", "--store", "/s", "--interval", "0ms"],
        ["ingest", "v", "--store", "/s", "--partitions", "0"],
        ["ingest", "v", "--store", "/s", "--partitions", "5000"],
        ["ingest", "v", "--store", "/s", "--lateness", "soon"],
        ["ingest", "v", "--store", "/s", "--durability", "sometimes"],
        ["ingest", "v", "--store", "/s", "--time-unit", "days"],
        ["ingest", "v", "--store", "/s", "--format", "xml"],
        ["ingest", "v", "--store", "/s", "--format", "lines", "--time-field", "ts"],
        ["ingest", "v", "--store", ""],
        ["describe", "--store", "/s"],
        ["frobnicate"],
    ])
    func argumentErrorsAreUsageErrors(arguments: [String]) {
        #expect {
            _ = try StrataCommand.parseAsRoot(arguments)
        } throws: { error in
            StrataCommand.exitCode(for: error) == .validationFailure
        }
    }

    /// A negative number is the option's value, not an unknown flag: the error names the option and
    /// what was wrong with the value, never "Missing value" (numeric options parse unconditionally).
    @Test(arguments: [
        (["ingest", "v", "--store", "/s", "--partitions", "-1"], "--partitions must be 1 to 4096, not -1"),
        (["ingest", "v", "--store", "/s", "--interval", "-1s"], "'-1s' is invalid for '--interval"),
        (["ingest", "v", "--store", "/s", "--lateness", "-2s"], "'-2s' is invalid for '--lateness"),
        (["serve", "--store", "/s", "--max-connections", "-1"], "--max-connections must be at least 1, not -1"),
        (["serve", "--store", "/s", "--partitions", "-4", "--watch", "/d", "--watch-stream", "w"], "-4"),
        (["retain", "v", "--store", "/s", "--last", "-1"], "'-1' is invalid for '--last"),
        (["retain", "v", "--store", "/s", "--keep", "-5m"], "'-5m' is invalid for '--keep"),
        (["slice", "v", "--store", "/s", "--top", "-1"], "--top must be at least 1"),
        (["tail", "v", "--store", "/s", "--pace", "--speed", "-2"], "--speed must be a number from 0.001"),
        (["cat", "v", "--store", "/s", "--interval", "1", "--partition", "-1"], "'-1' is invalid for '--partition"),
        (["ingest", "v", "--store", "/s", "--commit-bytes", "-1"], "-1"),
        (["serve", "--store", "/s", "--port", "-80"], "-80"),
        (["ingest", "v", "--store", "/s", "--partitions", "--format", "lines"], "'--format' is invalid for '--partitions"),
    ])
    func negativeNumbersReachTheOptionsOwnCheck(arguments: [String], message: String) {
        do {
            _ = try StrataCommand.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed")
        } catch {
            #expect(StrataCommand.exitCode(for: error) == .validationFailure)
            let text = StrataCommand.message(for: error)
            #expect(text.contains(message), "\(arguments): \(text)")
            #expect(!text.contains("Missing value"), "\(arguments): \(text)")
        }
    }

    @Test func ingestDefaultsAndFlags() throws {
        let defaults = try #require(try StrataCommand.parseAsRoot(["ingest", "v", "--store", "/s"]) as? Ingest)
        // Omitted settings are nil: a new stream gets the defaults (1s, 4, ms), an existing one its own.
        #expect(defaults.interval == nil)
        #expect(defaults.partitions == nil)
        #expect(defaults.timeField == nil && defaults.keyField == nil)
        #expect(defaults.timeUnit == nil)
        #expect(defaults.source == nil && defaults.idleSeal == nil)
        #expect(defaults.lateness.duration == .zero)
        #expect(defaults.format == .jsonl)
        #expect(!defaults.failFast)
        #expect(defaults.sealAtEnd)
        #expect(defaults.durability == .group)

        let set = try #require(try StrataCommand.parseAsRoot([
            "ingest", "v", "--store", "/s", "--interval", "100ms", "--partitions", "8", "--key-field", "k", "--time-unit", "us", "--lateness", "2s", "--format", "lines", "--fail-fast",
            "--no-seal-at-end", "--durability", "none",
        ]) as? Ingest)
        #expect(set.interval?.length == .milliseconds(100))
        #expect(set.partitions == 8)
        #expect(set.timeField == nil && set.keyField == "k")
        #expect(set.format == .lines)
        #expect(set.timeUnit?.unit == .microseconds)
        #expect(set.lateness.duration == .seconds(2))
        #expect(set.failFast && !set.sealAtEnd)
        #expect(set.durability.durability == .noSync)
    }

    @Test func durationsParse() {
        #expect(DurationArgument(argument: "0")?.duration == .zero)
        #expect(DurationArgument(argument: "0s")?.duration == .zero)
        #expect(DurationArgument(argument: "250ms")?.duration == .milliseconds(250))
        #expect(DurationArgument(argument: "3m")?.duration == .seconds(180))
        #expect(DurationArgument(argument: "-1s") == nil)
        #expect(DurationArgument(argument: "1.5s") == nil)
        #expect(DurationArgument(argument: "s") == nil)
    }
}
