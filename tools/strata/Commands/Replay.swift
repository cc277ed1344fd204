import ArgumentParser
import Foundation
import Strata

/// `strata replay STREAM --from T1 --to T2 --into NEW`: re-drives a past range of a log as a new
/// stream, at full speed or at the original pace.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay sealed intervals of a stream into a new stream, at full speed or at the original pace.",
        discussion: """
            Copies intervals T1…T2 of STREAM (default: all it retains; times as in docs/cli.md, "Times"), block by block (each verified), into the new stream NEW with the \
            same record type, interval length, partitions and retention, sealing each interval in its own commit \
            at the same interval index. Programs and subscribers following NEW see the intervals arrive as if \
            live; a program run over NEW under a new name gives a new version of its outputs, which \
            `strata diff` compares with the old one. With --pace, one interval is sealed per interval length \
            (divided by --speed). Progress goes to standard error.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stream to replay.", completion: .custom(completeStreamNames))
    var stream: String

    @OptionGroup var range: RangeOptions

    @Option(help: ArgumentHelp("The new stream to write (must not exist).", valueName: "NEW"))
    var into: String

    @Flag(help: "Seal one interval per interval length (the original pace) instead of at full speed.")
    var pace = false

    @Option(parsing: .unconditional, help: "With --pace, how many times faster than the original pace.")
    var speed: Double = 1

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    func validate() throws {
        guard ReEmitPace.speeds.contains(speed) else {
            throw ValidationError("--speed must be a number from 0.001 to 1000000, not \(speed)")
        }
        if speed != 1 && !pace { throw ValidationError("--speed goes with --pace") }
    }

    func run() throws {
        let store = try options.openStore()
        let info = try store.info(of: stream)
        let intervals = try range.intervals(in: info)
        let length = info.descriptor.intervalLength
        let from = intervals.lowerBound, to = intervals.upperBound
        let total = to.rawValue - from.rawValue + 1
        let started = Date()
        let summary = try store.replay(stream, range: intervals, into: into,
                                       pace: pace ? speed : nil) { interval, sofar in
            if pace || sofar.intervals % 100 == 0 || interval == to {
                FileHandle.standardError.write(Data("replay: interval \(interval) (\(sofar.intervals)/\(total)), \(sofar.records) records\n".utf8))
            }
        }
        let seconds = Date().timeIntervalSince(started)
        var out = OutputBuffer()
        if json {
            out.append(JSONValue.object([
                "stream": .string(stream), "into": .string(into),
                "from": .unsigned(from.rawValue), "to": .unsigned(to.rawValue),
                "fromTime": .string(display.time(of: from, length: length)),
                "toTime": .string(display.time(of: to, length: length)),
                "intervals": .unsigned(UInt64(summary.intervals)), "blocks": .unsigned(UInt64(summary.blocks)),
                "records": .unsigned(summary.records), "seconds": .double(seconds),
            ]).text + "\n")
        } else {
            out.append("replayed \(stream) intervals \(from)–\(to) (\(display.time(of: from, length: length))–"
                       + "\(display.time(of: to, length: length))) into \(into): "
                       + "\(summary.intervals) intervals, \(summary.blocks) blocks, \(summary.records) records in "
                       + String(format: "%.2f s", seconds) + "\n")
        }
        try out.flush()
    }
}
