import Strata

/// Instants as ISO 8601 text in UTC, `2026-11-23T21:00:05Z` (with milliseconds when they are not zero).
enum ISOTime {
    /// The text of `time`.
    static func string(_ time: Timestamp) -> String {
        let nanos = time.rawValue
        var seconds = nanos / 1_000_000_000
        var remainder = nanos % 1_000_000_000
        if remainder < 0 {
            remainder += 1_000_000_000
            seconds -= 1
        }
        var text = CivilTime(secondsSinceEpoch: seconds).text
        if remainder != 0 { text += "." + pad(remainder / 1_000_000, 3) }
        return text + "Z"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
