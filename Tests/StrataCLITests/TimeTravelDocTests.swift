import Foundation
import Strata
import StrataTestSupport
import Testing

/// The command-line examples of docs/time-travel.md, run in order against the store they describe.
@Suite struct TimeTravelDocTests {
    /// The page views of the doc's ingest command.
    static let views = [
        #"{"ts":1795467600100,"url":"/home"}"#, #"{"ts":1795467600900,"url":"/cart"}"#,
        #"{"ts":1795467601200,"url":"/home"}"#, #"{"ts":1795467602500,"url":"/home"}"#,
        #"{"ts":1795467603700,"url":"/buy"}"#, #"{"ts":1795467604100,"url":"/cart"}"#,
    ]

    /// The doc's console block after "compares their output": each command with its expected lines.
    static func examples() throws -> [(command: [String], expected: [String])] {
        let doc = try String(contentsOfFile: docsPath("time-travel.md"), encoding: .utf8)
        guard let intro = doc.range(of: "compares their output"),
              let open = doc.range(of: "```console\n", range: intro.upperBound..<doc.endIndex),
              let close = doc.range(of: "```", range: open.upperBound..<doc.endIndex) else { return [] }
        var examples: [(command: [String], expected: [String])] = []
        for line in doc[open.upperBound..<close.lowerBound].split(separator: "\n") {
            if line.hasPrefix("$ strata ") {
                examples.append((line.dropFirst(9).split(separator: " ").map(String.init), []))
            } else if !examples.isEmpty {
                examples[examples.count - 1].expected.append(String(line))
            }
        }
        return examples
    }

    @Test func docExamplesPrintWhatTheDocShows() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli-doc")
        let path = directory.appending("views.strata")
        let doc = try String(contentsOfFile: docsPath("time-travel.md"), encoding: .utf8)
        for view in Self.views { #expect(doc.contains("'\(view)'")) }
        let ingest = try strata(["ingest", "views", "--store", path, "--time-field", "ts", "--key-field", "url",
                                 "--partitions", "2"], stdin: Self.views.joined(separator: "\n") + "\n")
        #expect(ingest.status == 0)
        do {
            // urlCounts: each interval's views per url, as a program would write them.
            let store = try Store(at: path, options: StoreOptions(durability: .noSync))
            let counts = try store.stream("urlCounts", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
            let appender = try counts.appender(timing: .explicit)
            for (second, url) in [(0, "/home"), (0, "/cart"), (1, "/home"), (2, "/home"), (3, "/buy"), (4, "/cart")] {
                try appender.append(KeyValue(url, 1), interval: Interval(UInt64(1_795_467_600 + second)))
            }
            try appender.seal(through: Interval(1_795_467_604))
        }
        let examples = try Self.examples()
        #expect(examples.count >= 9)
        for (command, expected) in examples {
            let run = try strata(command, environment: ["STRATA_STORE": path])
            let errorLines = run.stderrLines.filter { $0.hasPrefix("Error:") }
            let shown = run.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
                + errorLines
            #expect(shown == expected, "strata \(command.joined(separator: " "))")
            #expect((run.status == 0) == errorLines.isEmpty, "strata \(command.joined(separator: " ")): exit \(run.status)")
        }
    }
}

/// The path of a file in the package's `docs/` directory, found from this source file.
func docsPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs").appendingPathComponent(name).path
}
