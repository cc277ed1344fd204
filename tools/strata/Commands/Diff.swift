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

    func run() throws {
        let comparison: StreamComparison
        do {
            comparison = try options.openStore().compare(first, second)
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
