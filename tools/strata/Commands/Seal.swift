import ArgumentParser
import Glibc
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

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stream's name.")
    var stream: String

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "The last interval to seal: an index, end, or a time it contains (ISO 8601, -5m, now).", valueName: "T"))
    var through: TimeArgument?

    mutating func validate() throws {
        try through?.validate("--through")
        if case .success(let bound) = through?.parsed {
            switch bound {
            case .timeOfDay, .localDateTime, .beginning:
                throw ValidationError("--through takes an interval index, end, an ISO 8601 time with its offset or a relative time (-5m, now)")
            default: break
            }
        }
    }

    func run() throws {
        let store = try options.openStore()
        let length = try store.info(of: stream).descriptor.intervalLength
        var last: Interval?
        if case .success(let bound) = through?.parsed {
            switch bound {
            case .interval(let interval): last = interval
            case .instant(let time): last = length.interval(containing: time)
            case .relative(let nanoseconds):
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                let (sum, overflow) = (Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)).addingReportingOverflow(nanoseconds)
                last = overflow ? nil : length.interval(containing: Timestamp(nanoseconds: sum))
            default: last = nil
            }
        }
        let report = try store.seal(stream, through: last)
        let before = report.sealedBefore.map { (interval: Interval) in interval.description } ?? "none"
        let after = report.sealedAfter.map { (interval: Interval) in interval.description } ?? "none"
        if report.sealedAfter != report.sealedBefore {
            print("sealed \(stream) through \(after) (was \(before))")
        } else if let late = report.lateSealedAlone {
            print("sealed the late records of \(stream) in \(stream).late through \(late); \(stream) stays sealed through \(after)")
        } else {
            print("nothing to seal in \(stream): sealed through \(after), no committed records after it")
        }
    }
}
