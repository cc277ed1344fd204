import ArgumentParser
import Strata

/// `strata seal STREAM [--through T]`: seals a stream's committed, unsealed intervals.
struct Seal: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal a stream's intervals, making their committed records readable.",
        discussion: """
            Seals every interval up to and including --through (default: the newest interval holding committed \
            records), as an ingest does when its input ends or its event time passes them. Use it after an ingest \
            was stopped or killed before its intervals were sealed, or for a quiet event-time stream. Records \
            that arrive later for a sealed interval go to the late side stream STREAM.late. Refused while \
            another process writes the stream (it names the process).
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The stream's name.")
    var stream: String

    @Option(help: ArgumentHelp("The last interval to seal (its index).", valueName: "T"))
    var through: IntervalArgument?

    func run() throws {
        let store = try options.openStore()
        let report = try store.seal(stream, through: through?.interval)
        let before = report.sealedBefore.map(\.description) ?? "none"
        let after = report.sealedAfter.map(\.description) ?? "none"
        if report.changed {
            print("sealed \(stream) through \(after) (was \(before))")
        } else {
            print("nothing to seal in \(stream): sealed through \(after), no committed records after it")
        }
    }
}
