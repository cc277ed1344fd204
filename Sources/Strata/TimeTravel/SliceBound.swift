import Foundation
import StrataStorage

/// One end of a slice as the user wrote it: an interval index, an instant, or a time of day.
///
/// Parsed from text by `init(parsing:)`:
///
/// | text | bound |
/// | --- | --- |
/// | `1795435200` (digits only) | `.interval`: that interval index |
/// | `21:00`, `21:05:30`, `21:05:30.250` | `.timeOfDay`: needs a day (see ``SliceRange``) |
/// | `2026-11-23T21:00` (no offset) | `.localDateTime`: in the slice's time zone |
/// | `2026-11-23T21:00:00Z`, `…+01:00` | `.instant`: exactly that instant |
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

    /// Parses a bound.
    ///
    /// - Throws: `.invalidTime` naming what is wrong.
    public init(parsing text: String) throws(TimeTravelError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
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
            throw .invalidTime(text, reason: "expected an interval index, HH:MM[:SS], or YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]")
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
        }
    }
}
