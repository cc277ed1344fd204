import Glibc
import StrataStorage

/// How an appender puts records into intervals: the time mode of `StreamAppender`'s shared
/// core. The public API states the mode as a type instead (`ArrivalAppender`,
/// `EventTimeAppender`, `ExplicitAppender`); this enum remains for the paths that choose it at run
/// time (the JSON ingestor, from its stream's catalog).
enum TimeAssignment: Sendable {
    /// By arrival: the interval containing the clock's time when the record is appended. An
    /// interval is sealed as soon as a record arrives in a later one, or by `ArrivalAppender.sealElapsed()`.
    /// A record that arrives after its interval was sealed goes into the first open interval.
    case arrival(ArrivalClock)
    /// By event time, given with each record. The watermark is the largest event time seen minus
    /// `allowedLateness`; intervals that end at or before it are sealed. A record whose interval
    /// is already sealed is late: it is kept in the stream's late side stream (`NAME.late`) and
    /// counted, never dropped.
    case eventTime(allowedLateness: Duration)
    /// By the caller: each record names its interval, and the caller seals with `seal(through:)`.
    case explicit

    /// Arrival time from the system's real-time clock.
    static var arrival: TimeAssignment { .arrival(.system) }
}

/// Where arrival time comes from; tests pass a clock of their own.
///
/// `ArrivalClock` is `Sendable`; `now` may be called from any thread.
public struct ArrivalClock: Sendable {
    /// The current time.
    public var now: @Sendable () -> Timestamp

    /// A clock reading `now`.
    public init(now: @escaping @Sendable () -> Timestamp) { self.now = now }

    /// The system's real-time clock (`clock_gettime(CLOCK_REALTIME)`).
    public static let system = ArrivalClock {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(nanoseconds: Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec))
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to `0...Int64.max`.
    var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow || seconds < 0 { return seconds < 0 ? 0 : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? .max : max(0, sum)
    }
}
