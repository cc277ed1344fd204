import Strata

/// What became of the lines of one request body, or of one stretch of a file.
///
/// `LineCounts` is `Sendable`; it is a plain value.
public struct LineCounts: Sendable, Equatable {
    /// Lines read, blank ones included.
    public var lines = 0
    /// Records appended (late ones included).
    public var accepted = 0
    /// Accepted records that were late: kept in the late side stream `NAME.late`.
    public var late = 0
    /// Malformed lines; each went to the dead-letter stream `NAME.dead`.
    public var rejected = 0
    /// Blank lines skipped.
    public var blank = 0
    /// The first and last interval that received records on time, if any did.
    public var intervals: ClosedRange<Interval>?
    /// The first rejected lines with their reasons (line numbers count from 1).
    public var rejections: [LineRejection] = []

    /// No lines.
    public init() {}

    /// Notes that a record went into `interval`.
    @inline(__always)
    mutating func note(_ interval: Interval) {
        if let range = intervals {
            if interval < range.lowerBound {
                intervals = interval...range.upperBound
            } else if interval > range.upperBound {
                intervals = range.lowerBound...interval
            }
        } else {
            intervals = interval...interval
        }
    }

    /// Adds the counts of a later stretch (rejections are kept up to `limit`).
    mutating func add(_ other: LineCounts, keepingRejections limit: Int) {
        lines += other.lines
        accepted += other.accepted
        late += other.late
        rejected += other.rejected
        blank += other.blank
        if let range = other.intervals {
            note(range.lowerBound)
            note(range.upperBound)
        }
        for rejection in other.rejections where rejections.count < limit { rejections.append(rejection) }
    }
}

/// One rejected line: where it was and why.
public struct LineRejection: Sendable, Equatable, CustomStringConvertible {
    /// The 1-based line number within the request body or file.
    public var line: Int
    /// Why it was rejected.
    public var reason: String
    /// The file the line is in, for a watched directory's files (`nil` for a request body).
    public var file: String?

    /// A rejection of `line` (of `file`, when it came from one) for `reason`.
    public init(line: Int, reason: String, file: String? = nil) {
        self.line = line
        self.reason = reason
        self.file = file
    }

    /// `FILE line N: reason` for a file's line (so that a rejected `_MANIFEST.txt` says so), else
    /// `line N: reason`.
    public var description: String { (file.map { "\($0) " } ?? "") + "line \(line): \(reason)" }
}
