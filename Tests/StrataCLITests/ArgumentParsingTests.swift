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
