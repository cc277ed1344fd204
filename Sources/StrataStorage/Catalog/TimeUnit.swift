/// How a numeric time field of a JSON stream is read.
///
/// Kept in the stream's catalog row as its raw value (`s`, `ms`, `us`, `ns`); `TimeUnit` is `Sendable`.
public enum TimeUnit: String, Sendable, CaseIterable {
    /// Seconds since the Unix epoch.
    case seconds = "s"
    /// Milliseconds since the Unix epoch.
    case milliseconds = "ms"
    /// Microseconds since the Unix epoch.
    case microseconds = "us"
    /// Nanoseconds since the Unix epoch.
    case nanoseconds = "ns"

    /// The unit's name in the plural, for messages: `seconds`, `milliseconds`, …
    package var plural: String {
        switch self {
        case .seconds: "seconds"
        case .milliseconds: "milliseconds"
        case .microseconds: "microseconds"
        case .nanoseconds: "nanoseconds"
        }
    }

    /// Nanoseconds in one of this unit.
    package var nanosecondsPerUnit: Int64 {
        switch self {
        case .seconds: 1_000_000_000
        case .milliseconds: 1_000_000
        case .microseconds: 1_000
        case .nanoseconds: 1
        }
    }

    /// The power of ten that converts one of this unit to nanoseconds.
    package var nanosecondsExponent: Int {
        switch self {
        case .seconds: 9
        case .milliseconds: 6
        case .microseconds: 3
        case .nanoseconds: 0
        }
    }
}
