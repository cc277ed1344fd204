import ArgumentParser
import Foundation
import Strata

/// A point in a stream's time as written on the command line, in the one grammar of
/// `SliceBound` (docs/cli.md, "Times"): an interval index, `HH:MM[:SS]`, ISO 8601, `now`,
/// `-5m`, `beginning` or `end`.
///
/// Every option that takes an interval uses this type. Parsing never fails here, so that a bad
/// time is reported with the library's reason (`expected …`) by ``validate(_:)`` from the
/// command's `validate()`, as a usage error (exit 64).
struct TimeArgument: ExpressibleByArgument, Sendable {
    /// The text as given.
    var text: String
    /// The parsed bound, or why it does not parse.
    var parsed: Result<SliceBound, TimeTravelError>

    init(argument: String) {
        text = argument
        parsed = Result { () throws(TimeTravelError) in try SliceBound(parsing: argument) }
    }

    /// Throws a usage error naming the option when the text is not a time.
    func validate(_ option: String) throws {
        if case .failure(let error) = parsed { throw ValidationError("\(option) \(text): \(error)") }
    }

    /// Completes the named times of the grammar.
    static var defaultCompletionKind: CompletionKind {
        .list(["now", "beginning", "end", "-1m", "-5m", "-1h", "-1d"])
    }
}

/// `--zone` and `--on`: how times without an offset or a day are read.
struct TimeReadingOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The time zone of times without an offset: UTC, Europe/Paris, +02:00 …", valueName: "zone"))
    var zone = "UTC"

    @Option(help: ArgumentHelp(
        "The day of bare times of day (default: the day of the newest sealed interval).", valueName: "YYYY-MM-DD"))
    var on: String?

    /// One point: the interval `time` names on the stream described by `info`.
    func interval(_ time: TimeArgument, in info: StreamInfo) throws -> Interval {
        let range = try SliceRange.point(time.text, zone: zone, on: on)
        return try range.intervals(length: info.descriptor.intervalLength, newestSealed: info.frontier.sealedThrough,
                                   firstReadable: info.frontier.firstReadable, stream: info.descriptor.name).lowerBound
    }

    /// A range from `from` (default `beginning`) to `to` (default `end`) on the stream described by `info`.
    func intervals(from: TimeArgument?, to: TimeArgument?, in info: StreamInfo) throws -> ClosedRange<Interval> {
        let range = try SliceRange(from: from?.text ?? "beginning", to: to?.text ?? "end", zone: zone, on: on)
        return try range.intervals(length: info.descriptor.intervalLength, newestSealed: info.frontier.sealedThrough,
                                   firstReadable: info.frontier.firstReadable, stream: info.descriptor.name)
    }
}

/// `--utc` / `--local`: the zone interval start times print in.
enum DisplayZone: String, EnumerableFlag, Sendable {
    case utc, local

    static func help(for value: DisplayZone) -> ArgumentHelp? {
        switch value {
        case .utc: "Print times in UTC (the default)."
        case .local: "Print times in this machine's time zone ($TZ)."
        }
    }
}

/// The `--utc/--local` flag of every command that prints times.
struct TimeDisplayOptions: ParsableArguments {
    @Flag var displayZone: DisplayZone = .utc

    /// The start time of `interval` on a stream of interval length `length`, as ISO 8601 text:
    /// `2025-11-23T12:00:03Z` (`.250` added when the length is not whole seconds), or with
    /// `--local` the local time and its offset, `2025-11-23T13:00:03+01:00`.
    /// An interval that starts after the last representable instant (`Int64.max` nanoseconds
    /// since the epoch, 2262-04-11T23:47:16.854775807Z) has no time: `beyondRange` stands for it,
    /// never a wrapped or clamped time.
    func time(of interval: Interval, length: IntervalLength) -> String {
        guard let start = Self.start(of: interval, length: length) else { return Self.beyondRange }
        return formatTime(start, fractional: length.rawValue % 1_000_000_000 != 0, zone: displayZone)
    }

    /// `time(of:length:)` for an optional interval, `-` for none.
    func time(of interval: Interval?, length: IntervalLength) -> String {
        interval.map { time(of: $0, length: length) } ?? "-"
    }

    /// When `interval` ends (the start of the next one), or `beyondRange` when that is past the
    /// last representable instant (the last interval index included: no interval follows it).
    func endTime(of interval: Interval, length: IntervalLength) -> String {
        guard interval.rawValue < UInt64.max else { return Self.beyondRange }
        return time(of: interval.next, length: length)
    }

    /// A JSON time, or `null` for none and for an interval that starts past the last
    /// representable instant (its index, printed beside it, is exact).
    func json(_ interval: Interval?, length: IntervalLength) -> JSONValue {
        guard let interval, Self.start(of: interval, length: length) != nil else { return .null }
        return .string(time(of: interval, length: length))
    }

    /// What an instant past `Int64.max` nanoseconds since the epoch prints as.
    static let beyondRange = "beyond the representable range, after 2262-04-11T23:47:16Z"

    /// The instant `interval` starts, or `nil` when it is past `Int64.max` nanoseconds since the
    /// epoch (`IntervalLength.start(of:)` saturates there).
    static func start(of interval: Interval, length: IntervalLength) -> Timestamp? {
        let (product, overflow) = interval.rawValue.multipliedReportingOverflow(by: length.rawValue)
        guard !overflow, product <= UInt64(Int64.max) else { return nil }
        return Timestamp(rawValue: Int64(product))
    }
}

/// An instant as ISO 8601 text in UTC (`Z`) or the local zone (`±HH:MM`); milliseconds when `fractional`.
func formatTime(_ instant: Timestamp, fractional: Bool, zone: DisplayZone) -> String {
    let nanos = instant.rawValue
    var seconds = nanos >= 0 ? nanos / 1_000_000_000 : (nanos - 999_999_999) / 1_000_000_000
    let millis = (nanos - seconds * 1_000_000_000) / 1_000_000
    var offset = 0
    if zone == .local {
        offset = TimeZone.current.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds)))
        seconds += Int64(offset)
    }
    func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
    var text = CivilTime(secondsSinceEpoch: seconds).text
    if fractional { text += "." + String(String(millis + 1000).dropFirst()) }
    if zone == .utc {
        text += "Z"
    } else {
        let sign = offset < 0 ? "-" : "+"
        let magnitude = Int64(abs(offset))
        text += "\(sign)\(two(magnitude / 3600)):\(two(magnitude / 60 % 60))"
    }
    return text
}
