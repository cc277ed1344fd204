import Glibc
import StrataStorage

/// What `Store.replay` copied.
public struct ReplaySummary: Sendable, Equatable {
    /// Intervals sealed in the target, empty ones included.
    public var intervals: Int = 0
    /// Blocks copied.
    public var blocks: Int = 0
    /// Records in them.
    public var records: UInt64 = 0
}

extension Store {
    /// Replays the sealed intervals `range` of stream `source` into a new stream `target` (same
    /// record type, interval length, partitions, retention and JSON time/key fields): interval by
    /// interval, each block verified and copied as stored, each interval sealed in its own commit
    /// at the same interval index — a new version of the log that programs and subscribers see
    /// arrive as if live.
    ///
    /// With `pace`, the intervals are sealed at the original pace: one interval length (divided
    /// by `pace`, so 2 is twice as fast, within `ReEmitPace.speeds`) after the previous one;
    /// without, at full speed.
    ///
    /// - Parameters:
    ///   - source: The stream to read.
    ///   - range: The intervals to copy; all must be sealed and retained in `source`.
    ///   - target: The new stream to write (it must not exist); same record type and settings.
    ///   - pace: The speed factor of the original pace (`nil`: full speed).
    ///   - progress: Called after each interval is durable in the target.
    /// - Throws: `.unknownStream`; `.misuse` when `target` exists or `pace` is outside
    ///   `ReEmitPace.speeds`; `.beforeStreamStart`,
    ///   `.outsideRetention` or `.notSealed` for a range not wholly readable in `source`;
    ///   `.corrupt` naming the first damaged block (nothing of its interval is written).
    @discardableResult
    public func replay(_ source: String, range: ClosedRange<Interval>, into target: String, pace: Double? = nil,
                       progress: ((Interval, ReplaySummary) -> Void)? = nil) throws(StorageError) -> ReplaySummary {
        guard let descriptor = try log.descriptor(named: source) else { throw .unknownStream(source) }
        if try log.descriptor(named: target) != nil {
            throw .streamExists(target)
        }
        if let pace, !ReEmitPace.speeds.contains(pace) {
            throw .misuse("the replay pace must be within \(ReEmitPace.speeds.lowerBound)…\(Int(ReEmitPace.speeds.upperBound)), not \(pace)")
        }
        let frontier = try log.frontier(of: descriptor)
        let first = StoreLocation(stream: source, interval: range.lowerBound)
        guard let sealed = frontier.sealedThrough, let start = frontier.firstInterval else {
            throw .beforeStreamStart(first, firstInterval: nil)
        }
        if range.lowerBound < start { throw .beforeStreamStart(first, firstInterval: start) }
        if range.lowerBound < frontier.retainedFrom { throw .outsideRetention(first, retainedFrom: frontier.retainedFrom) }
        if range.upperBound > sealed {
            throw .notSealed(StoreLocation(stream: source, interval: range.upperBound), newestSealed: sealed)
        }
        let copy = try log.createOrOpenStream(LogStore.StreamSpec(
            name: target, recordType: descriptor.recordType, intervalLength: descriptor.intervalLength,
            partitions: descriptor.partitions, retention: descriptor.retention, timeField: descriptor.timeField,
            keyField: descriptor.keyField, timeUnit: descriptor.timeUnit,
            keyPlacement: descriptor.keyPlacement))

        var summary = ReplaySummary()
        var codec = BlockCodec()
        let pauseNanos = pace.map { Double(descriptor.intervalLength.rawValue) / $0 } ?? 0
        var next = Double(monotonicNanos())
        var interval = range.lowerBound
        while true {
            var batch = AppendBatch()
            do {
                try log.withSealedBlocks(of: descriptor, interval: interval) { partition, _, block in
                    do {
                        let records = try codec.withVerifiedPayload(block) { header, _ in header.recordCount }
                        summary.records += UInt64(records)
                        batch.blocks.append(try PendingBlock(stream: copy, interval: interval, partition: partition,
                                                             block: Array(block)))
                    } catch let corruption as Corruption {
                        throw StorageError.corrupt(StoreLocation(stream: source, interval: interval, partition: partition),
                                                   corruption)
                    }
                }
            } catch let error as StorageError {
                throw error
            } catch {
                throw StorageError(wrapping: error)
            }
            if pace != nil {
                // Saturating: the pause is at most an interval length times 1000 (the slowest
                // pace), and each sleep at most an hour, so no conversion can trap.
                let now = Double(monotonicNanos())
                if next > now { usleep(useconds_t(min((next - now) / 1000, 3_600_000_000))) }
                next = max(next, now) + pauseNanos
            }
            summary.blocks += batch.blocks.count
            summary.intervals += 1
            batch.seals = [(copy, interval)]
            try log.submit(batch, chain: nil).wait()
            progress?(interval, summary)
            guard interval < range.upperBound else { break }
            interval = interval.next
        }
        return summary
    }
}

/// Monotonic nanoseconds (for pacing only; nothing written depends on it).
private func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
