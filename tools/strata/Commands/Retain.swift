import ArgumentParser
import Strata

/// `strata retain STREAM --last N | --keep DURATION | --forever | --before T`: sets a stream's
/// retention and applies it now, or drops the intervals before a time once.
struct Retain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set how long a stream keeps sealed intervals, and drop older ones now.",
        discussion: """
            --last N keeps the newest N sealed intervals; --keep DURATION (or --for; 90s, 15m, 24h …) keeps the \
            intervals that end within DURATION of the newest one's end; --forever keeps everything: each sets \
            the stream's retention, applied now and at every seal. --before T drops the sealed intervals before \
            T once (T in the time grammar: an index, 21:00, ISO 8601, -2h, now; the newest sealed interval is \
            always kept) and leaves the retention setting as it is. The stream's late side stream follows. \
            Dropped pages are reused by the store; strata compact returns them to the file system.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stream's name.")
    var stream: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Keep the newest N sealed intervals.", valueName: "N"))
    var last: UInt64?

    @Option(name: [.customLong("keep"), .customLong("for")], parsing: .unconditional,
            help: ArgumentHelp("Keep this much time: 90s, 15m, 24h …", valueName: "duration"))
    var duration: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Drop the sealed intervals before this one, once: an index, 21:00, ISO 8601, -2h, now.", valueName: "T"))
    var before: TimeArgument?

    @OptionGroup var reading: TimeReadingOptions

    @Flag(help: "Keep every interval.")
    var forever = false

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    mutating func validate() throws {
        let given = (last != nil ? 1 : 0) + (duration != nil ? 1 : 0) + (forever ? 1 : 0) + (before != nil ? 1 : 0)
        guard given == 1 else {
            throw ValidationError("give exactly one of --last N, --keep DURATION, --forever, --before T")
        }
        if let last, last == 0 { throw ValidationError("--last must be at least 1") }
        if let duration, duration.duration <= .zero { throw ValidationError("--keep must be a positive duration") }
        try before?.validate("--before")
    }

    /// The retention asked for.
    var retention: Retention {
        if let last { return .intervals(last) }
        if let duration { return .duration(duration.duration) }
        return .forever
    }

    func run() throws {
        let store = try options.openStore()
        let change: RetentionChange
        if let before {
            change = try store.drop(intervalsBefore: try reading.interval(before, in: try store.info(of: stream)),
                                    of: stream)
        } else {
            change = try store.retain(retention, of: stream)
        }
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
