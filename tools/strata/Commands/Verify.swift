import ArgumentParser
import Strata

/// `strata verify [STREAM]`: checks every block, seal and frontier; exit status 65 on problems.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every block of every sealed interval, and every seal and frontier.",
        discussion: """
            Each block's checksum, decompression and record framing are checked, and every block a seal lists \
            must exist. Each problem prints as 'stream S interval T partition P: corrupt: WHAT'. \
            Exit status 65 when anything is wrong.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "One stream (default: every stream).")
    var stream: String?

    @Flag(help: "Print one JSON object with the totals and the problems.")
    var json = false

    @Flag(help: "Show progress on standard error even when it is not a terminal.")
    var progress = false

    func run() throws {
        let store = try options.openStore()
        let showProgress = progress || standardErrorIsTerminal
        var lastShown = ContinuousClock.now
        var progressShown = false
        let report = try store.verify(stream: stream) { report in
            guard showProgress, ContinuousClock.now - lastShown >= .seconds(1) else { return }
            lastShown = ContinuousClock.now
            let text = "\(report.intervals) intervals, \(report.blocks) blocks, \(report.problems.count) problems"
            if standardErrorIsTerminal {
                writeError("\r" + text)
                progressShown = true
            } else {
                printError(text)
            }
        }
        if progressShown { printError("") }

        var out = OutputBuffer()
        if json {
            let problems: [JSONValue] = report.problems.map { problem in
                .object([
                    "stream": .string(problem.location.stream),
                    "interval": .interval(problem.location.interval),
                    "partition": problem.location.partition.map { .unsigned(UInt64($0.rawValue)) } ?? .null,
                    "problem": .string(problem.corruption.description),
                    "message": .string(Self.message(problem)),
                ])
            }
            let object: JSONValue = .object([
                "streams": .unsigned(UInt64(report.streams)),
                "intervals": .unsigned(report.intervals),
                "blocks": .unsigned(report.blocks),
                "records": .unsigned(report.records),
                "unsealedBlocks": .unsigned(report.unsealedBlocks),
                "clean": .bool(report.isClean),
                "problems": .array(problems),
            ])
            out.append(object.text + "\n")
        } else {
            for problem in report.problems { out.append(Self.message(problem) + "\n") }
            var line = "verified \(report.streams) streams: \(report.intervals) sealed intervals, "
                + "\(report.blocks) blocks, \(report.records) records"
            if report.unsealedBlocks > 0 { line += " (\(report.unsealedBlocks) blocks not sealed yet)" }
            line += report.isClean ? "; no problems"
                : report.problems.count == 1 ? "; 1 problem" : "; \(report.problems.count) problems"
            out.append(line + "\n")
        }
        try out.flush()
        if !report.isClean { throw ExitCode.corruptDataFound }
    }

    /// `stream S interval T partition P: corrupt: WHAT`, as the storage layer words it.
    private static func message(_ problem: VerifyProblem) -> String {
        StorageError.corrupt(problem.location, problem.corruption).description
    }
}
