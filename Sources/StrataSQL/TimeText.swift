import Strata

/// ISO 8601 UTC text of instants, as the `time` column shows interval starts:
/// `2026-11-23T21:00:00Z`, with `.250` (milliseconds) or nine digits when the instant has a fraction.
enum TimeText {
    static func iso8601(_ time: Timestamp) -> String {
        let nanos = time.rawValue
        let seconds = nanos >= 0 ? nanos / 1_000_000_000 : (nanos - 999_999_999) / 1_000_000_000
        let fraction = nanos - seconds * 1_000_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var text = "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))"
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
