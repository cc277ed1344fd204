import ArgumentParser
import Strata

/// `strata verify [STREAM]`: walks the store's LMDB structure, then checks every block, seal and
/// frontier; exit status 65 on problems.
///
/// The checks run in a child process (this binary again, with `--in-child`): on a damaged file
/// liblmdb can fault (SIGBUS) or abort, and the parent then reports that as damage, exit 65.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the store's structure, every block of every sealed interval, and every seal and frontier.",
        discussion: """
            First every LMDB database is walked (key order, entry counts, every value read, every page \
            accounted for); each problem prints as 'store: database D: WHAT'. Then each block's checksum, \
            decompression and record framing are checked, and every block a seal lists must exist; each \
            problem prints as 'stream S interval T partition P: corrupt: WHAT'. The checks run in a child \
            process: when damage makes it fail with a signal, that is reported as damage too. \
            Exit status 65 when anything is wrong.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "One stream (default: every stream).")
    var stream: String?

    @Flag(help: "Print one JSON object with the totals and the problems.")
    var json = false

    @Flag(help: "Show progress on standard error even when it is not a terminal.")
    var progress = false

    @Flag(name: .customLong("in-child"), help: .hidden)
    var inChild = false

    func run() throws {
        guard inChild else { return try runChild() }
        let store = try options.openStoreForReading()
        let structure = stream == nil ? try store.checkStructure() : StructureReport()
        if !json && !structure.isClean {
            var out = OutputBuffer()
            for problem in structure.problems { out.append("store: \(problem)\n") }
            try out.flush()
        }
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
            let structureProblems: [JSONValue] = structure.problems.map { problem -> JSONValue in
                JSONValue.object(["database": JSONValue.string(problem.database), "problem": JSONValue.string(problem.what)])
            }
            let structureJSON: JSONValue = .object([
                "databases": .unsigned(UInt64(structure.databases)),
                "entries": .unsigned(UInt64(structure.entries)),
                "pages": .unsigned(structure.pages),
                "problems": .array(structureProblems),
            ])
            let object: JSONValue = .object([
                "streams": .unsigned(UInt64(report.streams)),
                "intervals": .unsigned(report.intervals),
                "blocks": .unsigned(report.blocks),
                "records": .unsigned(report.records),
                "unsealedBlocks": .unsigned(report.unsealedBlocks),
                "clean": .bool(report.isClean && structure.isClean),
                "problems": .array(problems),
                "structure": structureJSON,
            ])
            out.append(object.text + "\n")
        } else {
            for problem in report.problems { out.append(Self.message(problem) + "\n") }
            var line = "verified \(report.streams) streams: \(report.intervals) sealed intervals, "
                + "\(report.blocks) blocks, \(report.records) records"
            if report.unsealedBlocks > 0 { line += " (\(report.unsealedBlocks) blocks not sealed yet)" }
            let count = report.problems.count + structure.problems.count
            line += count == 0 ? "; no problems" : count == 1 ? "; 1 problem" : "; \(count) problems"
            out.append(line + "\n")
        }
        try out.flush()
        if !report.isClean || !structure.isClean { throw ExitCode.corruptDataFound }
    }

    /// Runs the checks in a child process and reports its death by a signal as damage.
    private func runChild() throws {
        let arguments = Array(CommandLine.arguments.dropFirst()) + ["--in-child"]
        switch try ChildProcess.run(arguments) {
        case .exited(0): return
        case .exited(let status): throw ExitCode(status)
        case .signaled(let signal):
            printError("Error: store \(options.path) is damaged: checking it ended with \(ChildProcess.name(of: signal)) "
                       + "(liblmdb read through a damaged page or past the end of the file); what was found "
                       + "before is above. 'strata salvage' copies what still verifies.")
            throw ExitCode.corruptDataFound
        }
    }

    /// `stream S interval T partition P: corrupt: WHAT`, as the storage layer words it.
    private static func message(_ problem: VerifyProblem) -> String {
        StorageError.corrupt(problem.location, problem.corruption).description
    }
}
