import Foundation
import StrataStorage

/// A range of a stream's intervals as the user wrote it, and how it becomes interval indices.
///
/// Rules (also in `docs/time-travel.md`):
/// - An interval index bound is inclusive at both ends: `from: "100", to: "104"` is 5 intervals.
/// - A time bound is a half-open time range `[from, to)`: the slice holds every interval that
///   overlaps it, so `"21:00"`–`"21:05"` on a 1 s stream is the 300 intervals starting
///   21:00:00 … 21:04:59.
/// - A time of day (`21:00`) is on `day` (`YYYY-MM-DD`) when given, else on the day, in `zone`, of
///   the start of the stream's newest sealed interval. When both ends are times of day and `to`
///   is not after `from`, `to` is on the next day (`23:55`–`00:05` spans midnight).
/// - Times without an offset are read in `zone` (default `UTC`, so that a range means the same on
///   every machine); the zone is used only to turn this text into instants, never stored.
///
/// `SliceRange` is `Sendable`; it is a plain value.
public struct SliceRange: Sendable, Equatable {
    /// The first bound.
    public var from: SliceBound
    /// The last bound (inclusive for an interval index, exclusive for a time).
    public var to: SliceBound
    /// The zone that times without an offset are read in.
    public var zone: String
    /// The day of bare times of day, `YYYY-MM-DD`; `nil`: the day of the newest sealed interval.
    public var day: String?

    /// Text of the bounds as given, for messages.
    var fromText: String
    var toText: String

    /// Parses a range.
    ///
    /// - Throws: `.invalidTime` for a bound or day that does not parse, `.unknownTimeZone`.
    public init(from: String, to: String, zone: String = "UTC", on day: String? = nil) throws(TimeTravelError) {
        self.from = try SliceBound(parsing: from)
        self.to = try SliceBound(parsing: to)
        self.zone = zone
        self.day = day
        fromText = from
        toText = to
        _ = try Self.timeZone(zone)
        if let day { _ = try Self.dayComponents(day) }
    }

    /// A range of interval indices, both included.
    public init(intervals range: ClosedRange<Interval>) {
        from = .interval(range.lowerBound)
        to = .interval(range.upperBound)
        zone = "UTC"
        day = nil
        fromText = range.lowerBound.description
        toText = range.upperBound.description
    }

    /// The intervals of a stream of interval length `length` that the range covers.
    ///
    /// - Parameters:
    ///   - newestSealed: The stream's newest sealed interval, which gives bare times of day their
    ///     day when `day` is `nil`.
    ///   - stream: The stream's name, for messages.
    /// - Throws: `.emptyRange`, `.noDayForTimeOfDay`, `.invalidTime` for a time before the Unix epoch.
    public func intervals(length: IntervalLength, newestSealed: Interval?, stream: String) throws(TimeTravelError)
        -> ClosedRange<Interval>
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
        func instant(_ bound: SliceBound, text: String, dayOffset: Int = 0) throws(TimeTravelError) -> Int64? {
            switch bound {
            case .interval: return nil
            case .instant(let time): return time.rawValue
            case .localDateTime(let y, let m, let d, let n):
                return try Self.instant(year: y, month: m, day: d + dayOffset, nanosecondOfDay: n, calendar: calendar, text: text)
            case .timeOfDay(let n):
                let day = try dayOfTimes()
                return try Self.instant(year: day.year, month: day.month, day: day.day + dayOffset, nanosecondOfDay: n,
                                        calendar: calendar, text: text)
            }
        }
        func interval(at nanos: Int64, text: String) throws(TimeTravelError) -> Interval {
            guard let interval = length.interval(containing: Timestamp(rawValue: nanos)) else {
                throw .invalidTime(text, reason: "before the Unix epoch")
            }
            return interval
        }

        let first: Interval
        let fromInstant = try instant(from, text: fromText)
        if case .interval(let index) = from { first = index } else { first = try interval(at: fromInstant ?? 0, text: fromText) }

        let last: Interval
        if case .interval(let index) = to {
            last = index
        } else {
            var toInstant = try instant(to, text: toText) ?? 0
            if case .timeOfDay = from, case .timeOfDay = to, let fromInstant, toInstant <= fromInstant {
                toInstant = try instant(to, text: toText, dayOffset: 1) ?? 0  // spans midnight
            }
            if let fromInstant, toInstant <= fromInstant { throw .emptyRange(from: fromText, to: toText) }
            guard toInstant > 0 else { throw .invalidTime(toText, reason: "before the Unix epoch") }
            last = try interval(at: toInstant - 1, text: toText)
        }
        guard first <= last else { throw .emptyRange(from: fromText, to: toText) }
        return first...last
    }

    /// The first interval the range covers, whatever its end: where a re-emission from `from` starts.
    ///
    /// - Throws: as ``intervals(length:newestSealed:stream:)``.
    public func firstInterval(length: IntervalLength, newestSealed: Interval?, stream: String) throws(TimeTravelError)
        -> Interval
    {
        var open = self
        open.to = .instant(Timestamp(rawValue: .max))
        open.toText = "the end of time"
        return try open.intervals(length: length, newestSealed: newestSealed, stream: stream).lowerBound
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
