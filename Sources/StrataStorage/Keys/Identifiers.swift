/// The index of the time slice `[t·Δ, (t+1)·Δ)` of a stream, counted from the Unix epoch.
///
/// `Interval` is `Sendable`; it is a plain value.
public struct Interval: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The interval index.
    public var rawValue: UInt64
    /// Creates an interval from its index.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Creates an interval from its index.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
    /// The interval after this one.
    public var next: Interval { Interval(rawValue &+ 1) }
}

/// One shard of an interval's records, chosen by a stable hash of the record key.
///
/// `PartitionIndex` is `Sendable`; it is a plain value.
public struct PartitionIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The partition number, from 0 to the stream's partition count − 1.
    public var rawValue: UInt32
    /// Creates a partition index.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Creates a partition index.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// The store-wide numeric identity of a stream; keys of every log entry start with it.
///
/// `StreamID` is `Sendable`; it is a plain value.
public struct StreamID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The identifier, assigned once when the stream is created and never reused.
    public var rawValue: UInt32
    /// Creates a stream identifier.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// The position of one block within a partition of an interval: blocks are numbered 0, 1, 2 …
/// in the order they were appended.
package struct ChunkIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The chunk number.
    public var rawValue: UInt32
    /// Creates a chunk index.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A point in time: nanoseconds since the Unix epoch (UTC).
///
/// Times are given by the user or by the arrival clock at ingestion; processing never reads a clock.
public struct Timestamp: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    public var rawValue: Int64
    /// Creates a timestamp from nanoseconds since the Unix epoch.
    public init(rawValue: Int64) { self.rawValue = rawValue }
    /// Creates a timestamp from nanoseconds since the Unix epoch.
    public init(nanoseconds: Int64) { self.rawValue = nanoseconds }
    /// Creates a timestamp from milliseconds since the Unix epoch; saturates instead of overflowing.
    public init(milliseconds: Int64) { self.rawValue = milliseconds.multipliedReportingOverflow(by: 1_000_000).overflow ? (milliseconds < 0 ? .min : .max) : milliseconds * 1_000_000 }
    /// Creates a timestamp from seconds since the Unix epoch; saturates instead of overflowing.
    public init(seconds: Int64) { self.rawValue = seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow ? (seconds < 0 ? .min : .max) : seconds * 1_000_000_000 }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(rawValue)ns" }
}

/// The length of every interval of a stream, in nanoseconds (at least one millisecond).
public struct IntervalLength: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The length in nanoseconds.
    public var rawValue: UInt64
    /// Creates an interval length from nanoseconds.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// An interval length of whole milliseconds.
    public static func milliseconds(_ n: UInt64) -> IntervalLength { IntervalLength(rawValue: n * 1_000_000) }
    /// An interval length of whole seconds.
    public static func seconds(_ n: UInt64) -> IntervalLength { IntervalLength(rawValue: n * 1_000_000_000) }

    /// The interval that contains `time`, or `nil` for a time before the Unix epoch.
    @inlinable
    public func interval(containing time: Timestamp) -> Interval? {
        guard time.rawValue >= 0, rawValue > 0 else { return nil }
        return Interval(UInt64(time.rawValue) / rawValue)
    }

    /// The first instant of `interval`, saturating at the largest timestamp.
    public func start(of interval: Interval) -> Timestamp {
        let (product, overflow) = interval.rawValue.multipliedReportingOverflow(by: rawValue)
        if overflow || product > UInt64(Int64.max) { return Timestamp(rawValue: .max) }
        return Timestamp(rawValue: Int64(product))
    }

    /// A compact human form: `1s`, `100ms`, `250us`, `5ns`.
    public var description: String {
        if rawValue % 1_000_000_000 == 0 { return "\(rawValue / 1_000_000_000)s" }
        if rawValue % 1_000_000 == 0 { return "\(rawValue / 1_000_000)ms" }
        if rawValue % 1_000 == 0 { return "\(rawValue / 1_000)us" }
        return "\(rawValue)ns"
    }

    /// Parses `500ms`, `1s`, `2m`, `1h`, `250us`; `nil` for anything else or a length under 1 ms.
    public init?(parsing text: String) {
        let units: [(String, UInt64)] = [("ms", 1_000_000), ("us", 1_000), ("ns", 1), ("s", 1_000_000_000),
                                         ("m", 60_000_000_000), ("h", 3_600_000_000_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let n = UInt64(text.dropLast(suffix.count)), n > 0 else { return nil }
            let (value, overflow) = n.multipliedReportingOverflow(by: scale)
            guard !overflow, value >= 1_000_000 else { return nil }
            self.rawValue = value
            return
        }
        return nil
    }
}
