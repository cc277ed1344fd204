import StrataStorage

/// What a compaction did: the data file's size before and after.
public typealias CompactionReport = StrataStorage.CompactionReport

/// What applying a retention did to a stream.
///
/// `RetentionChange` is `Sendable`; it is a plain value.
public struct RetentionChange: Sendable, Equatable {
    /// The stream.
    public var stream: String
    /// The retention now in force.
    public var retention: Retention
    /// The first retained interval before.
    public var retainedFromBefore: Interval
    /// The first retained interval after: intervals before it are gone.
    public var retainedFromAfter: Interval
    /// The number of interval indices dropped (empty ones included).
    public var droppedIntervals: UInt64 { retainedFromAfter.rawValue - retainedFromBefore.rawValue }
}

extension Store {
    /// Sets a stream's retention (and its late side stream's) and applies it now: sealed
    /// intervals older than it keeps are dropped in one commit, instead of at the next seal.
    ///
    /// ```swift
    /// let change = try store.retain(.intervals(3600), of: "pageViews")   // keep the last hour of 1 s intervals
    /// ```
    ///
    /// The file does not shrink: LMDB reuses the freed pages; ``compact(at:)`` returns them to the
    /// file system.
    ///
    /// - Throws: `.unknownStream`; `.storeFull` or `.lmdb` when a commit fails.
    public func retain(_ retention: Retention, of name: String) throws(StorageError) -> RetentionChange {
        try setRetention(retention, of: name)
        let (before, after) = try log.applyRetentionNow(of: name)
        if let late = try log.descriptor(named: name)?.lateStreamName, try log.descriptor(named: late) != nil {
            _ = try log.applyRetentionNow(of: late)
        }
        return RetentionChange(stream: name, retention: retention, retainedFromBefore: before, retainedFromAfter: after)
    }

    /// Drops a stream's sealed intervals before `interval` now, in one commit (and its late side
    /// stream's), without changing its retention setting; the newest sealed interval is always
    /// kept.
    ///
    /// ```swift
    /// let change = try store.drop(intervalsBefore: Interval(1_795_435_200), of: "pageViews")
    /// ```
    ///
    /// The file does not shrink: LMDB reuses the freed pages; ``compact(at:)`` returns them.
    ///
    /// - Throws: `.unknownStream`; `.storeFull` or `.lmdb` when a commit fails.
    public func drop(intervalsBefore interval: Interval, of name: String) throws(StorageError) -> RetentionChange {
        guard let descriptor = try log.descriptor(named: name) else { throw .unknownStream(name) }
        let (before, after) = try log.applyRetentionNow(of: name, cutBefore: interval)
        if try log.descriptor(named: descriptor.lateStreamName) != nil {
            _ = try log.applyRetentionNow(of: descriptor.lateStreamName, cutBefore: after)
        }
        return RetentionChange(stream: name, retention: descriptor.retention, retainedFromBefore: before,
                               retainedFromAfter: after)
    }

    /// Rewrites the store at `path` without its free pages (LMDB's compacting copy) and swaps the
    /// copy in atomically; returns the data file's size before and after.
    ///
    /// The store must not be open in any process, this one included: compaction takes LMDB's lock
    /// file exclusively (other processes that open the store meanwhile wait), writes
    /// `data.mdb.compact`, flushes it, and renames it over `data.mdb`. A crash leaves either the
    /// old file or the complete new one. See `docs/time-travel.md`, "Compaction".
    ///
    /// - Throws: `.storeNotFound`; `.storeInUse` when another process has the store open;
    ///   `.misuse` when this process has; `.system`, `.lmdb` or `.storeFull` when a step fails
    ///   (the store is then unchanged).
    public static func compact(at path: String) throws(StorageError) -> CompactionReport {
        try LogStore.compact(path: path)
    }
}
