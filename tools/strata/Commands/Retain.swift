import ArgumentParser
import Strata

/// `strata retain STREAM --last N | --for DURATION | --forever`: sets a stream's retention and
/// applies it now.
struct Retain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set how long a stream keeps sealed intervals, and drop older ones now.",
        discussion: """
            --last N keeps the newest N sealed intervals; --for DURATION (90s, 15m, 24h …) keeps the intervals \
            that end within DURATION of the newest one's end; --forever keeps everything. The stream's late side \
            stream follows. Dropped pages are reused by the store; strata compact returns them to the file system.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The stream's name.")
    var stream: String

    @Option(help: ArgumentHelp("Keep the newest N sealed intervals.", valueName: "N"))
    var last: UInt64?

    @Option(name: .customLong("for"), help: ArgumentHelp("Keep this much time: 90s, 15m, 24h …", valueName: "duration"))
    var duration: DurationArgument?

    @Flag(help: "Keep every interval.")
    var forever = false

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    mutating func validate() throws {
        let given = (last != nil ? 1 : 0) + (duration != nil ? 1 : 0) + (forever ? 1 : 0)
        guard given == 1 else { throw ValidationError("give exactly one of --last N, --for DURATION, --forever") }
        if let last, last == 0 { throw ValidationError("--last must be at least 1") }
        if let duration, duration.duration <= .zero { throw ValidationError("--for must be a positive duration") }
    }

    /// The retention asked for.
    var retention: Retention {
        if let last { return .intervals(last) }
        if let duration { return .duration(duration.duration) }
        return .forever
    }

    func run() throws {
        let store = try options.openStore()
        let change = try store.retain(retention, of: stream)
        let length = try store.info(of: stream).descriptor.intervalLength
        var out = OutputBuffer()
        if json {
            out.append(JSONValue.object([
                "stream": .string(stream),
                "retention": Streams.retention(change.retention),
                "retainedFromBefore": .unsigned(change.retainedFromBefore.rawValue),
                "retainedFrom": .unsigned(change.retainedFromAfter.rawValue),
                "retainedFromTime": .string(display.time(of: change.retainedFromAfter, length: length)),
                "droppedIntervals": .unsigned(change.droppedIntervals),
            ]).text + "\n")
        } else {
            var line = "\(stream): retention \(change.retention)"
            if change.droppedIntervals > 0 {
                line += "; dropped the intervals before \(change.retainedFromAfter) "
                    + "(\(display.time(of: change.retainedFromAfter, length: length)))"
            } else {
                line += "; nothing to drop"
            }
            out.append(line + "\n")
        }
        try out.flush()
    }
}
