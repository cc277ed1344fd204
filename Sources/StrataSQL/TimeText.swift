import Strata

/// ISO 8601 UTC text of instants, as the `time` column shows interval starts:
/// `2026-11-23T21:00:00Z`, with `.250` (milliseconds) or nine digits when the instant has a fraction.
enum TimeText {
    static func iso8601(_ time: Timestamp) -> String {
        let nanos = time.rawValue
        let seconds = nanos >= 0 ? nanos / 1_000_000_000 : (nanos - 999_999_999) / 1_000_000_000
        let fraction = nanos - seconds * 1_000_000_000
        var text = CivilTime(secondsSinceEpoch: seconds).text
        if fraction != 0 {
            if fraction % 1_000_000 == 0 {
                let ms = String(fraction / 1_000_000)
                text += "." + String(repeating: "0", count: 3 - ms.count) + ms
            } else {
                let ns = String(fraction)
                text += "." + String(repeating: "0", count: 9 - ns.count) + ns
            }
        }
        return text + "Z"
    }
}
