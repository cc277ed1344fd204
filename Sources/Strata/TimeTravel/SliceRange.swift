import Foundation
import StrataStorage

/// A range of a stream's intervals as the user wrote it, and how it becomes interval indices.
///
/// Rules (also in `docs/cli.md`, "Times", and `docs/time-travel.md`):
/// - An interval index bound is inclusive at both ends: `from: "100", to: "104"` is 5 intervals;
///   so are `beginning` (the first readable interval) and `end` (the newest sealed one).
/// - A time bound is a half-open time range `[from, to)`: the slice holds every interval that
///   overlaps it, so `"21:00"`–`"21:05"` on a 1 s stream is the 300 intervals starting
///   21:00:00 … 21:04:59.
/// - A time of day (`21:00`) is on `day` (`YYYY-MM-DD`) when given, else on the day, in `zone`, of
///   the start of the stream's newest sealed interval. When both ends are times of day and `to`
///   is before `from`, `to` is on the next day (`23:55`–`00:05` spans midnight); equal ones make
///   an empty range, an error.
/// - `now` and relative times (`-5m`) are read against `now` when given, else against the system's
///   real-time clock when the range is resolved: the edge of the system, never inside a vertex.
/// - Times without an offset are read in `zone` (default `UTC`, so that a range means the same on
///   every machine); the zone is used only to turn this text into instants, never stored.
///
/// A single point (`--interval T`, `--as-of T`) is ``point(_:zone:on:now:)``: an index names its
/// interval, a time the interval that contains it.
///
/// ```swift
/// let lastHour = try SliceRange(from: "-1h", to: "end")
/// let range = try views.intervals(of: lastHour)       // ClosedRange<Interval>
/// ```
///
/// `SliceRange` is `Sendable`; it is a plain value.
public struct SliceRange: Sendable, Equatable {
    /// The first bound.
    public var from: SliceBound
    /// The last bound (inclusive for an interval index, `beginning` or `end`; exclusive for a time).
    public var to: SliceBound
    /// The zone that times without an offset are read in.
    public var zone: String
    /// The day of bare times of day, `YYYY-MM-DD`; `nil`: the day of the newest sealed interval.
    public var day: String?
    /// The present, for `now` and relative bounds; `nil`: the system's real-time clock, read when
    /// the range is resolved.
    public var now: Timestamp?
    /// Whether this is one point: both bounds name the interval that contains `from`.
    public private(set) var isPoint = false

    /// Text of the bounds as given, for messages.
    var fromText: String
    var toText: String

    /// Parses a range.
    ///
    /// - Throws: `.invalidTime` for a bound or day that does not parse, `.unknownTimeZone`.
    public init(from: String, to: String, zone: String = "UTC", on day: String? = nil, now: Timestamp? = nil)
        throws(TimeTravelError)
    {
        try self.init(from: try SliceBound(parsing: from), to: try SliceBound(parsing: to), zone: zone, on: day,
                      now: now, fromText: from, toText: to)
    }

    /// A range of two parsed bounds.
    ///
    /// - Throws: `.invalidTime` for a day that does not parse, `.unknownTimeZone`.
    public init(from: SliceBound, to: SliceBound, zone: String = "UTC", on day: String? = nil, now: Timestamp? = nil,
                fromText: String? = nil, toText: String? = nil) throws(TimeTravelError)
    {
        self.from = from
        self.to = to
        self.zone = zone
        self.day = day
        self.now = now
        self.fromText = fromText ?? from.description
        self.toText = toText ?? to.description
        _ = try Self.timeZone(zone)
        if let day { _ = try Self.dayComponents(day) }
    }

    /// One point in a stream's time: an interval index, or the interval that contains a time.
    ///
    /// ```swift
    /// let asOf = try views.intervals(of: .point("21:00")).lowerBound
    /// ```
    ///
    /// - Throws: `.invalidTime` for text that does not parse, `.unknownTimeZone`.
    public static func point(_ text: String, zone: String = "UTC", on day: String? = nil, now: Timestamp? = nil)
        throws(TimeTravelError) -> SliceRange
    {
        var range = try SliceRange(from: text, to: text, zone: zone, on: day, now: now)
        range.isPoint = true
        return range
    }

    /// A range of interval indices, both included.
    public init(intervals range: ClosedRange<Interval>) {
        from = .interval(range.lowerBound)
        to = .interval(range.upperBound)
        zone = "UTC"
        day = nil
        now = nil
        fromText = range.lowerBound.description
        toText = range.upperBound.description
    }

    /// The intervals of a stream of interval length `length` that the range covers.
    ///
    /// - Parameters:
    ///   - length: The stream's interval length.
    ///   - newestSealed: The stream's newest sealed interval: `end`, and the day of bare times of
    ///     day when `day` is `nil`.
    ///   - firstReadable: The stream's first readable interval: `beginning`.
    ///   - stream: The stream's name, for messages.
    /// - Throws: `.emptyRange`, `.noDayForTimeOfDay`, `.nothingReadable` for `beginning`/`end` on a
    ///   stream with nothing readable, `.invalidTime` for a time before the Unix epoch.
    public func intervals(length: IntervalLength, newestSealed: Interval?, firstReadable: Interval? = nil,
                          stream: String) throws(TimeTravelError) -> ClosedRange<Interval>
    {
        let zone = try Self.timeZone(zone)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        // The day of bare times of day, found only when needed.
        var referenceDay: (year: Int, month: Int, day: Int)?
        func dayOfTimes() throws(TimeTravelError) -> (year: Int, month: Int, day: Int) {
            if let referenceDay { return referenceDay }
            let found: (year: Int, month: Int, day: Int)
            if let day = self.day {
                found = try Self.dayComponents(day)
            } else {
                guard let newestSealed else { throw .noDayForTimeOfDay(stream: stream) }
                let start = length.start(of: newestSealed).rawValue
                let date = Date(timeIntervalSince1970: Double(start / 1_000_000_000))
                let parts = calendar.dateComponents([.year, .month, .day], from: date)
                found = (parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
            }
            referenceDay = found
            return found
        }
        // The present, read once per resolution so that both ends agree.
        var present: Int64?
        func presentNanoseconds() -> Int64 {
            if let present { return present }
            let value = (now ?? ArrivalClock.system.now()).rawValue
            present = value
            return value
        }
        enum Resolved { case index(Interval), time(Int64) }
        func resolve(_ bound: SliceBound, text: String, dayOffset: Int = 0) throws(TimeTravelError) -> Resolved {
            switch bound {
            case .interval(let index): return .index(index)
            case .beginning:
                guard let firstReadable else { throw .nothingReadable(stream: stream, bound: text) }
                return .index(firstReadable)
            case .end:
                guard let newestSealed else { throw .nothingReadable(stream: stream, bound: text) }
                return .index(newestSealed)
            case .instant(let time): return .time(time.rawValue)
            case .relative(let offset):
                let (sum, overflow) = presentNanoseconds().addingReportingOverflow(offset)
                guard !overflow else { throw .invalidTime(text, reason: "out of range") }
                return .time(sum)
            case .localDateTime(let y, let m, let d, let n):
                return .time(try Self.instant(year: y, month: m, day: d + dayOffset, nanosecondOfDay: n,
                                              calendar: calendar, text: text))
            case .timeOfDay(let n):
                let day = try dayOfTimes()
                return .time(try Self.instant(year: day.year, month: day.month, day: day.day + dayOffset,
                                              nanosecondOfDay: n, calendar: calendar, text: text))
            }
        }
        func interval(at nanos: Int64, text: String) throws(TimeTravelError) -> Interval {
            guard let interval = length.interval(containing: Timestamp(rawValue: nanos)) else {
                throw .invalidTime(text, reason: "before the Unix epoch")
            }
            return interval
        }

        let first: Interval
        var fromInstant: Int64?
        switch try resolve(from, text: fromText) {
        case .index(let index): first = index
        case .time(let nanos):
            fromInstant = nanos
            first = try interval(at: nanos, text: fromText)
        }
        if isPoint { return first...first }

        let last: Interval
        switch try resolve(to, text: toText) {
        case .index(let index): last = index
        case .time(var toInstant):
            if case .timeOfDay = from, case .timeOfDay = to, let fromInstant, toInstant < fromInstant,
               case .time(let nextDay) = try resolve(to, text: toText, dayOffset: 1) {
                toInstant = nextDay  // spans midnight
            }
            if let fromInstant, toInstant <= fromInstant { throw .emptyRange(from: fromText, to: toText) }
            guard toInstant > 0 else { throw .invalidTime(toText, reason: "before the Unix epoch") }
            last = try interval(at: toInstant - 1, text: toText)
        }
        guard first <= last else {
            // From a time after the newest sealed interval to `end`: say what is sealed.
            if case .end = to { throw .storage(.notSealed(StoreLocation(stream: stream, interval: first), newestSealed: last)) }
            throw .emptyRange(from: fromText, to: toText)
        }
        return first...last
    }

    /// The first interval the range covers, whatever its end: where a re-emission from `from` starts.
    ///
    /// - Throws: as ``intervals(length:newestSealed:firstReadable:stream:)``.
    public func firstInterval(length: IntervalLength, newestSealed: Interval?, firstReadable: Interval? = nil,
                              stream: String) throws(TimeTravelError) -> Interval
    {
        var open = self
        open.isPoint = true
        return try open.intervals(length: length, newestSealed: newestSealed, firstReadable: firstReadable,
                                  stream: stream).lowerBound
    }

    /// The instant of a wall-clock date and time in `calendar`'s zone, in nanoseconds.
    static func instant(year: Int, month: Int, day: Int, nanosecondOfDay: Int64, calendar: Calendar,
                        text: String) throws(TimeTravelError) -> Int64 {
        let seconds = Int(nanosecondOfDay / 1_000_000_000)
        let components = DateComponents(year: year, month: month, day: day, hour: seconds / 3600,
                                        minute: (seconds / 60) % 60, second: seconds % 60)
        guard let date = calendar.date(from: components) else {
            throw .invalidTime(text, reason: "no such time in the time zone")
        }
        // Whole seconds are exact in a Date; the fraction is added in integers.
        let whole = date.timeIntervalSince1970.rounded()
        guard let wholeSeconds = Int64(exactly: whole),
              case (let product, false) = wholeSeconds.multipliedReportingOverflow(by: 1_000_000_000),
              case (let sum, false) = product.addingReportingOverflow(nanosecondOfDay % 1_000_000_000) else {
            throw .invalidTime(text, reason: "out of range")
        }
        return sum
    }

    /// The time zone named `name`: `UTC`/`Z`, an offset `±HH:MM`/`±HHMM`/`±HH`, or an IANA identifier.
    static func timeZone(_ name: String) throws(TimeTravelError) -> TimeZone {
        if name == "UTC" || name == "Z" || name == "utc" { return TimeZone(identifier: "UTC") ?? .gmt }
        if let sign = name.first, sign == "+" || sign == "-" {
            let digits = name.dropFirst().filter { $0 != ":" }
            guard digits.count == 2 || digits.count == 4, digits.allSatisfy(\.isASCII),
                  let hours = Int(digits.prefix(2)), let minutes = Int(digits.count == 4 ? digits.suffix(2) : "00"),
                  hours <= 23, minutes <= 59,
                  let zone = TimeZone(secondsFromGMT: (sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60))
            else { throw .unknownTimeZone(name) }
            return zone
        }
        guard let zone = TimeZone(identifier: name) else { throw .unknownTimeZone(name) }
        return zone
    }

    /// `YYYY-MM-DD` as numbers.
    static func dayComponents(_ text: String) throws(TimeTravelError) -> (year: Int, month: Int, day: Int) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day) else {
            throw .invalidTime(text, reason: "expected a day as YYYY-MM-DD")
        }
        return (year, month, day)
    }
}
