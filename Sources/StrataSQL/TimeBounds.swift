import Strata

/// Turns the values of `interval`, `time` and `partition` constraints into interval and
/// partition ranges, exactly.
struct ScanBounds {
    /// Intervals, both ends included.
    var lower: UInt64 = 0
    var upper: UInt64 = .max
    /// Partitions, both ends included.
    var firstPartition: UInt32 = 0
    var lastPartition: UInt32 = .max
    /// A constraint no interval can meet.
    var empty = false

    /// The SQL comparison of a constraint.
    enum Operator: Character {
        case equal = "=", greater = ">", greaterOrEqual = "g", less = "<", lessOrEqual = "l"
    }

    mutating func intersect(intervalsFrom low: UInt64, through high: UInt64) {
        lower = max(lower, low)
        upper = min(upper, high)
        if lower > upper { empty = true }
    }

    /// An integer constraint on `interval` (or on `partition`, into the partition range).
    ///
    /// SQLite checks these constraints again (they are not omitted), so a bound only has to
    /// keep every matching row: a real or text value narrows only as far as it surely can.
    mutating func constrainInteger(_ op: Operator, _ value: OpaquePointerValue, partition: Bool) {
        guard let number = value.number else { return }  // not numeric: SQLite decides alone
        var low: Double = 0, high: Double = partition ? Double(UInt32.max) : 1.8e19
        switch op {
        case .equal: low = number.rounded(.up); high = number.rounded(.down)
        case .greater: low = number.rounded(.down) + 1
        case .greaterOrEqual: low = number.rounded(.up)
        case .less: high = number.rounded(.up) - 1
        case .lessOrEqual: high = number.rounded(.down)
        }
        if high < 0 || low > high { empty = true; return }
        let lowInt = low <= 0 ? 0 : (low >= 1.8e19 ? UInt64.max : UInt64(low))
        let highInt = high >= 1.8e19 ? UInt64.max : UInt64(high)
        if partition {
            firstPartition = max(firstPartition, UInt32(clamping: lowInt))
            lastPartition = min(lastPartition, UInt32(clamping: highInt))
            if firstPartition > lastPartition { empty = true }
        } else {
            intersect(intervalsFrom: lowInt, through: highInt)
        }
    }

    /// A constraint on `time` (interval starts) against an instant in nanoseconds.
    mutating func constrainTime(_ op: Operator, instant x: Int64, length: IntervalLength) {
        let l = Int64(clamping: length.rawValue)
        func floorDiv(_ a: Int64) -> Int64 { a >= 0 ? a / l : -((-a + l - 1) / l) }
        func ceilDiv(_ a: Int64) -> Int64 { a >= 0 ? (a + l - 1) / l : -(-a / l) }
        var low: Int64 = 0, high: Int64 = .max
        switch op {
        case .equal:
            guard x >= 0, x % l == 0 else { empty = true; return }
            low = x / l; high = x / l
        case .greaterOrEqual: low = ceilDiv(x)
        case .greater: low = floorDiv(x) + 1
        case .lessOrEqual: high = floorDiv(x)
        case .less: high = ceilDiv(x) - 1
        }
        if high < 0 { empty = true; return }
        intersect(intervalsFrom: UInt64(max(0, low)), through: UInt64(high))
    }
}

/// A constraint's value as SQLite handed it to `xFilter`.
struct OpaquePointerValue {
    var text: String?
    var number: Double?
    var integer: Int64?
}

/// Resolves the time forms `strata slice` accepts (interval index, `HH:MM[:SS]`, ISO 8601, and
/// whatever else `SliceBound` parses) to instants, with the library's one parser.
enum TimeForms {
    /// The instant `text` means for a stream of interval length `length`: an interval index means
    /// the start of that interval; a bare time of day is on the day of the newest sealed interval.
    ///
    /// - Throws: `TimeTravelError.invalidTime` and the other errors of `SliceRange`.
    static func instant(_ text: String, length: IntervalLength, newestSealed: Interval?, stream: String) throws
        -> Int64
    {
        if case .interval(let index) = try SliceBound(parsing: text) {
            return length.start(of: index).rawValue
        }
        // With intervals of one nanosecond, the interval containing an instant is the instant itself.
        let nanosecond = IntervalLength(rawValue: 1)
        let newest = newestSealed.map { Interval(UInt64(clamping: length.start(of: $0).rawValue)) }
        let range = try SliceRange(from: text, to: text)
        return Int64(clamping: try range.firstInterval(length: nanosecond, newestSealed: newest, stream: stream).rawValue)
    }
}
