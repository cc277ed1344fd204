import ArgumentParser
import Strata

/// `strata compact`: rewrites the store without its free pages and swaps the copy in.
struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite the store's data file without free pages (after retention dropped data).",
        discussion: """
            Refuses while any other process has the store open. Other processes that open the store during \
            compaction wait for it. The copy is written to data.mdb.compact, flushed, and renamed over data.mdb: \
            a crash leaves the old file or the complete new one. Prints the data file's size before and after.
            """)

    @OptionGroup var options: StoreArguments

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        if standardErrorIsTerminal { printError("compacting \(options.path) …") }
        // The store is not opened here: compaction needs it closed in every process, this one included.
        let report = try Store.compact(at: options.path)
        var out = OutputBuffer()
        if json {
            out.append(JSONValue.object([
                "store": .string(report.path),
                "bytesBefore": .unsigned(UInt64(report.bytesBefore)),
                "bytesAfter": .unsigned(UInt64(report.bytesAfter)),
            ]).text + "\n")
        } else {
            let saved = report.bytesBefore - report.bytesAfter
            out.append("compacted \(report.path): \(report.bytesBefore) bytes → \(report.bytesAfter) bytes "
                       + "(\(saved >= 0 ? "saved \(saved)" : "grew \(-saved)") bytes)\n")
        }
        try out.flush()
    }
}
