import StrataStorage

/// Every error of the time-travel API (slices, re-emission, comparisons): bad time text, or the
/// storage layer's error, wrapped.
///
/// `TimeTravelError` is `Sendable`; it is a plain value.
@frozen
public enum TimeTravelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A slice bound is neither an interval index, a time of day, nor an ISO 8601 date and time.
    case invalidTime(String, reason: String)
    /// A time zone name that is neither an IANA identifier (`Europe/Paris`), `UTC`, nor an offset (`+02:00`).
    case unknownTimeZone(String)
    /// The range ends before it begins (`from` and `to` as given).
    case emptyRange(from: String, to: String)
    /// A bare time of day needs a day, and the stream has no sealed interval to take it from
    /// (give one with `on:`).
    case noDayForTimeOfDay(stream: String)
    /// `beginning` or `end` (as given in `bound`) on a stream with no readable interval yet.
    case nothingReadable(stream: String, bound: String)
    /// A wait for a stream (`waitingFor`, in words) gave up after `after`.
    case timedOut(stream: String, waitingFor: String, after: Duration)
    /// A dataset was asked for fewer than one partition.
    case invalidPartitionCount(Int)
    /// A storage error: the stream is unknown, the range is not sealed, outside retention or
    /// before the stream began, a block is corrupt…
    case storage(StorageError)

    public var description: String {
        switch self {
        case .invalidTime(let text, let reason): "invalid time \"\(text)\": \(reason)"
        case .unknownTimeZone(let name): "unknown time zone \"\(name)\": use an IANA name (Europe/Paris), UTC, or an offset (+02:00)"
        case .emptyRange(let from, let to) where from == to:
            "the range \(from)–\(to) is empty: a time range [T1, T2) excludes its end; give a later end, or one interval with --interval \(from)"
        case .emptyRange(let from, let to): "the range \(from)–\(to) is empty: it ends before it begins"
        case .nothingReadable(let stream, let bound): "stream \(stream) has no readable interval yet, so \"\(bound)\" names none"
        case .noDayForTimeOfDay(let stream):
            "stream \(stream) has no sealed interval to take the day of a bare time from; give the day (on: / --on YYYY-MM-DD)"
        case .timedOut(let stream, let what, let after): "gave up waiting for \(what) (stream \(stream)) after \(after)"
        case .invalidPartitionCount(let count): "a dataset has at least one partition, not \(count)"
        case .storage(let error): error.description
        }
    }
}

extension TimeTravelError: StorageErrorCarrying {
    /// The storage error of `.storage`; `nil` for the other cases (bad time text, timeouts, …).
    public var storageError: StorageError? {
        if case .storage(let error) = self { return error }
        return nil
    }
}
