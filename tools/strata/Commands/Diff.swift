import ArgumentParser
import Strata

/// `strata diff A B`: compares two streams interval by interval; exit 0 when they hold the same
/// records, 1 when they differ, 2 on error.
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two streams interval by interval.",
        discussion: """
            Records are compared as stored, partition by partition, in every interval that holds records in \
            either stream; the first differing interval and partition is printed, with both streams' record \
            counts. Exit status: 0 identical, 1 different, 2 error (unknown stream, corrupt block), 64 usage.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The first stream.")
    var first: String

    @Argument(help: "The second stream.")
    var second: String

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Show progress on standard error even when it is not a terminal.")
    var progress = false

    func run() throws {
        let comparison: StreamComparison
        let showProgress = progress || standardErrorIsTerminal
        var lastShown = ContinuousClock.now
        var progressShown = false
        do {
            comparison = try options.openStoreForReading().compare(first, second) { soFar in
                guard showProgress, ContinuousClock.now - lastShown >= .seconds(1) else { return }
                lastShown = ContinuousClock.now
                let text = "\(soFar.intervalsCompared) intervals compared"
                if standardErrorIsTerminal {
                    writeError("\r" + text)
                    progressShown = true
                } else {
                    printError(text)
                }
            }
            if progressShown { printError("") }
        } catch {
            // `diff` reserves exit status 1 for "different".
            printError("Error: \(error)")
            throw ExitCode(2)
        }
        var out = OutputBuffer()
        if json {
            let difference: JSONValue = comparison.firstDifference.map { d in
                .object([
                    "interval": .interval(d.interval),
                    "partition": d.partition.map { .unsigned(UInt64($0.rawValue)) } ?? .null,
                    "reason": .string(d.reason),
                ])
            } ?? .null
            out.append(JSONValue.object([
                "first": .string(first),
                "second": .string(second),
                "identical": .bool(comparison.isIdentical),
                "firstRecords": .unsigned(comparison.firstRecords),
                "secondRecords": .unsigned(comparison.secondRecords),
                "intervalsCompared": .unsigned(comparison.intervalsCompared),
                "firstDifference": difference,
            ]).text + "\n")
        } else {
            let counts = "\(first): \(comparison.firstRecords) records in \(Self.text(comparison.firstRange)); "
                + "\(second): \(comparison.secondRecords) records in \(Self.text(comparison.secondRange))"
            if let difference = comparison.firstDifference {
                out.append("different: \(difference)\n\(counts)\n")
            } else {
                out.append("identical: \(comparison.intervalsCompared) intervals with records compared\n\(counts)\n")
            }
        }
        try out.flush()
        if !comparison.isIdentical { throw ExitCode(1) }
    }

    /// `intervals 100–103`, or `no readable intervals`.
    static func text(_ range: ClosedRange<Interval>?) -> String {
        guard let range else { return "no readable intervals" }
        return "intervals \(range.lowerBound)–\(range.upperBound)"
    }
}
