import Foundation
import StrataStorage

/// One end of a slice, or one point in a stream's time, as the user wrote it.
///
/// This is the one time grammar of Strata: every API and every command-line option that takes an
/// interval (`--interval`, `--from`, `--to`, `--as-of`, `--through`) parses its text here, with
/// `init(parsing:)`:
///
/// | text | bound |
/// | --- | --- |
/// | `1795435200` (digits only) | `.interval`: that interval index |
/// | `21:00`, `21:05:30`, `21:05:30.250` | `.timeOfDay`: needs a day (see ``SliceRange``) |
/// | `2026-11-23`, `2026-11-23T21:00` (no offset) | `.localDateTime`: in the slice's time zone |
/// | `2026-11-23T21:00:00Z`, `…+01:00` | `.instant`: exactly that instant |
/// | `now`, `-90s`, `-5m`, `-2h`, `-1d`, `-250ms` | `.relative`: that long before the present |
/// | `beginning` | `.beginning`: the stream's first readable interval |
/// | `end` | `.end`: the stream's newest sealed interval |
///
/// `now` and relative times are the only bounds that read the wall clock, and only when a range is
/// resolved (``SliceRange/intervals(length:newestSealed:firstReadable:stream:)``), at the edge of
/// the system: a vertex never sees them, it sees interval indices.
///
/// `SliceBound` is `Sendable`; it is a plain value.
public enum SliceBound: Sendable, Equatable, CustomStringConvertible {
    /// An interval index.
    case interval(Interval)
    /// An instant (nanoseconds since the Unix epoch).
    case instant(Timestamp)
    /// A wall-clock date and time without an offset, read in the slice's time zone.
    case localDateTime(year: Int, month: Int, day: Int, nanosecondOfDay: Int64)
    /// A wall-clock time without a date; the day comes from ``SliceRange``.
    case timeOfDay(nanosecondOfDay: Int64)
    /// An instant relative to the present: `nanoseconds` after it (negative: before it; 0: now).
    case relative(nanoseconds: Int64)
    /// The stream's first readable interval (sealed, retained).
    case beginning
    /// The stream's newest sealed interval.
    case end

    /// Whether the bound is a time (`[from, to)` semantics) rather than an interval (`[from, to]`):
    /// interval indices, `beginning` and `end` name whole intervals.
    public var isTime: Bool {
        switch self {
        case .interval, .beginning, .end: false
        case .instant, .localDateTime, .timeOfDay, .relative: true
        }
    }

    /// Parses a bound.
    ///
    /// - Throws: `.invalidTime` naming what is wrong.
    public init(parsing text: String) throws(TimeTravelError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch trimmed.lowercased() {
        case "now":
            self = .relative(nanoseconds: 0)
            return
        case "beginning", "begin", "start":
            self = .beginning
            return
        case "end", "latest":
            self = .end
            return
        default: break
        }
        if trimmed.hasPrefix("-") {
            guard let nanos = Self.relativeNanoseconds(trimmed.dropFirst()) else {
                throw .invalidTime(text, reason: "expected a relative time such as -90s, -5m, -2h, -1d or -250ms")
            }
            self = .relative(nanoseconds: -nanos)
            return
        }
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let value = UInt64(trimmed) else { throw .invalidTime(text, reason: "interval index out of range") }
            self = .interval(Interval(value))
            return
        }
        if let time = Self.timeOfDay(Substring(trimmed)) {
            self = .timeOfDay(nanosecondOfDay: time)
            return
        }
        // ISO 8601: a date, then a time, then an optional offset.
        let utf8 = Array(trimmed.utf8)
        guard utf8.count >= 10, utf8[4] == 0x2D, utf8[7] == 0x2D,
              let year = Int(String(decoding: utf8[0..<4], as: UTF8.self)),
              let month = Int(String(decoding: utf8[5..<7], as: UTF8.self)),
              let day = Int(String(decoding: utf8[8..<10], as: UTF8.self)),
              (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day)
        else {
            throw .invalidTime(text, reason: Self.grammar)
        }
        if utf8.count == 10 {
            self = .localDateTime(year: year, month: month, day: day, nanosecondOfDay: 0)
            return
        }
        guard utf8[10] == 0x54 || utf8[10] == 0x74 || utf8[10] == 0x20 else {
            throw .invalidTime(text, reason: "expected T between the date and the time")
        }
        let rest = trimmed.utf8.dropFirst(11)
        // An offset is a trailing Z or a sign after the time (the date's dashes are behind us).
        if let last = rest.last, last == 0x5A || last == 0x7A || rest.contains(0x2B) || rest.contains(0x2D) {
            _ = last
            let nanos: Int64? = utf8.withUnsafeBytes { parseISO8601Nanoseconds($0) }
            guard let nanos else { throw .invalidTime(text, reason: "not a valid ISO 8601 date, time and offset") }
            self = .instant(Timestamp(rawValue: nanos))
            return
        }
        guard let time = Self.timeOfDay(Substring(String(decoding: Array(rest), as: UTF8.self))) else {
            throw .invalidTime(text, reason: "expected HH:MM[:SS[.fraction]] after the date")
        }
        self = .localDateTime(year: year, month: month, day: day, nanosecondOfDay: time)
    }

    /// The grammar in one line, for messages.
    public static let grammar =
        "expected an interval index, HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]][Z|±HH:MM], now, -5m (ms s m h d), beginning or end"

    /// `90s`, `5m`, `250ms`, `2h`, `1d` as nanoseconds, or nil.
    static func relativeNanoseconds(_ text: Substring) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1_000_000), ("us", 1_000), ("ns", 1), ("s", 1_000_000_000),
                                        ("m", 60_000_000_000), ("h", 3_600_000_000_000), ("d", 86_400_000_000_000)]
        for (suffix, unit) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(digits),
                  case (let nanos, false) = n.multipliedReportingOverflow(by: unit) else { return nil }
            return nanos
        }
        return nil
    }

    /// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fraction` as nanoseconds since midnight, or nil.
    static func timeOfDay(_ text: Substring) -> Int64? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3,
              parts[0].count == 2, parts[1].count == 2,
              let hour = Int64(parts[0]), let minute = Int64(parts[1]),
              (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        var nanos = (hour * 3600 + minute * 60) * 1_000_000_000
        if parts.count == 3 {
            let secondText = parts[2].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard secondText[0].count == 2, let second = Int64(secondText[0]), (0...59).contains(second) else { return nil }
            nanos += second * 1_000_000_000
            if secondText.count == 2 {
                let digits = secondText[1]
                guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(\.isASCII), let fraction = Int64(digits) else {
                    return nil
                }
                var scale: Int64 = 1
                for _ in digits.count..<9 { scale *= 10 }
                nanos += fraction * scale
            }
        }
        return nanos
    }

    public var description: String {
        switch self {
        case .interval(let interval): "interval \(interval)"
        case .instant(let time): "\(time.rawValue) ns"
        case .localDateTime(let y, let m, let d, let n): "\(y)-\(m)-\(d) +\(n) ns"
        case .timeOfDay(let n): "\(n / 3_600_000_000_000):\((n / 60_000_000_000) % 60) (time of day)"
        case .relative(let n): n == 0 ? "now" : "\(n) ns from now"
        case .beginning: "beginning"
        case .end: "end"
        }
    }
}
