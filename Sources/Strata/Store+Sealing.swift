import StrataStorage

/// What `Store.seal(_:through:)` did to one stream.
///
/// `SealReport` is `Sendable`; it is a plain value.
public struct SealReport: Sendable, Equatable {
    /// The stream sealed.
    public var stream: String
    /// The newest sealed interval before (`nil`: none).
    public var sealedBefore: Interval?
    /// The newest sealed interval after (`nil`: none).
    public var sealedAfter: Interval?
    /// The late side stream's newest sealed interval after the seal, when the seal sealed late
    /// records there and left the stream's own frontier where it was (the stream had nothing to
    /// seal); `nil` otherwise.
    public var lateSealedAlone: Interval? = nil

    /// Whether the seal changed anything.
    public var changed: Bool { sealedBefore != sealedAfter || lateSealedAlone != nil }
}

extension Store {
    /// Seals a stream through `through`, or through the newest interval holding committed records
    /// when `nil` (late records left unsealed are then sealed too, in the late side stream alone
    /// when the stream has no such interval), and returns once the seal is durable: the committed records of those intervals
    /// (left unsealed by an ingest that was stopped or killed, or by a quiet event-time input)
    /// become readable, and later records for them go to the late side stream.
    ///
    /// ```swift
    /// let report = try store.seal("views")          // everything committed becomes readable
    /// print(report.sealedAfter as Any)
    /// ```
    ///
    /// Takes the stream's writer lock for the moment of the seal.
    ///
    /// - Throws: `.unknownStream`; `.misuse` for a late side stream; `.streamBusy` naming the
    ///   process that is writing the stream; a commit error (`.storeFull`, …).
    public func seal(_ name: String, through: Interval? = nil) throws(StorageError) -> SealReport {
        guard let descriptor = try log.descriptor(named: name) else { throw .unknownStream(name) }
        let stream = StoredStream<Bytes>(store: log, descriptor: descriptor)
        let before = try stream.frontier().sealedThrough
        let late = try log.descriptor(named: descriptor.lateStreamName)
        var lateBefore: Interval?
        if let late { lateBefore = try log.frontier(of: late).sealedThrough }
        let appender = try stream.explicitAppender()
        if let through {
            try appender.seal(through: through)
        } else {
            // Late records left unsealed are sealed in the late side stream alone when the stream
            // itself has nothing to seal.
            try appender.sealAll()
        }
        var report = SealReport(stream: name, sealedBefore: before, sealedAfter: try stream.frontier().sealedThrough)
        if report.sealedAfter == before, let late, let lateAfter = try log.frontier(of: late).sealedThrough,
           lateAfter != lateBefore {
            report.lateSealedAlone = lateAfter
        }
        return report
    }

    /// Seals, in every JSON stream with arrival time, the intervals that ended before now and hold
    /// committed records: what a writer left open when it was stopped or killed becomes readable
    /// without waiting for new data (`strata serve` does this at startup). Streams another
    /// writer holds are left to it.
    ///
    /// - Returns: The streams whose frontier moved.
    /// - Throws: a storage error other than `.streamBusy`.
    public func sealElapsedArrivalIntervals() throws(StorageError) -> [SealReport] {
        var reports: [SealReport] = []
        for descriptor in try log.descriptors()
        where descriptor.recordType == JSONRecord.recordTypeName && descriptor.timeField == nil
            && descriptor.lateRecordsOf == nil && !descriptor.name.hasSuffix(".src") {
            // (`NAME.src`, a directory source's positions, counts commits in its intervals, not time.)
            let stream = StoredStream<JSONRecord>(store: log, descriptor: descriptor)
            let before = try stream.frontier().sealedThrough
            do {
                // An arrival appender seals the elapsed intervals when it opens.
                _ = try stream.arrivalAppender()
            } catch .streamBusy {
                continue
            }
            let after = try stream.frontier().sealedThrough
            if after != before { reports.append(SealReport(stream: descriptor.name, sealedBefore: before, sealedAfter: after)) }
        }
        return reports
    }
}
