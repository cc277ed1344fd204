import StrataStorage

/// Where two streams differ: one interval (and partition), or their settings.
///
/// `StreamDifference` is `Sendable`; it is a plain value.
public struct StreamDifference: Sendable, Equatable, CustomStringConvertible {
    /// The first interval whose records differ (`nil`: the streams' settings differ).
    public var interval: Interval?
    /// The first partition of it whose records differ (`nil` when the partition counts differ).
    public var partition: PartitionIndex?
    /// What differs, in words.
    public var reason: String

    /// Creates a difference.
    public init(interval: Interval?, partition: PartitionIndex?, reason: String) {
        self.interval = interval
        self.partition = partition
        self.reason = reason
    }

    public var description: String {
        var text = ""
        if let interval { text += "interval \(interval)" }
        if let partition { text += " partition \(partition)" }
        return text.isEmpty ? reason : text + ": " + reason
    }
}

/// The result of comparing two streams interval by interval (``Store/compare(_:_:in:progress:)``).
///
/// `StreamComparison` is `Sendable`; it is a plain value.
public struct StreamComparison: Sendable, Equatable {
    /// The streams' names, as given.
    public var first: String
    /// The second stream's name.
    public var second: String
    /// Each stream's readable range (`nil`: nothing readable).
    public var firstRange: ClosedRange<Interval>?
    /// The second stream's readable range.
    public var secondRange: ClosedRange<Interval>?
    /// Records in each stream's readable intervals (from the seal records).
    public var firstRecords: UInt64
    /// Records in the second stream's readable intervals.
    public var secondRecords: UInt64
    /// Intervals with records in either stream that were compared.
    public var intervalsCompared: UInt64
    /// Every interval where the streams differ, in interval order (one entry per interval, naming
    /// its first differing partition), or one entry without an interval when their settings differ.
    public var differences: [StreamDifference] = []
    /// The intervals compared: the range asked for, else both streams' readable intervals.
    public var range: ClosedRange<Interval>?

    /// Where the streams first differ, `nil` when they hold the same records.
    public var firstDifference: StreamDifference? { differences.first }

    /// Whether both streams hold the same records in the same intervals and partitions, in the same order.
    public var isIdentical: Bool { differences.isEmpty }
}

extension Store {
    /// Compares two streams interval by interval: the decoded-record bytes of every partition of
    /// every interval that holds records in either, listing every interval that differs.
    ///
    /// Records are compared as stored (their encoded bytes, across however many blocks they were
    /// written in), so two streams are identical when they hold the same records in the same
    /// (interval, partition, order), whatever their compression or chunking. An interval that is
    /// not readable in one stream (not sealed, dropped, before its start) counts as empty there.
    /// Streams of different record types or interval lengths differ at once; streams of different
    /// partition counts are compared interval by interval, all partitions together.
    ///
    /// ```swift
    /// let result = try store.compare("urlCounts", "urlCounts.replayed")
    /// if let difference = result.firstDifference { print(difference) }
    /// ```
    ///
    /// Comparing a replayed range with its source: pass the range, so that the intervals outside
    /// it, which only the source holds, are not differences.
    ///
    /// - Parameters:
    ///   - first: The name of the first stream.
    ///   - second: The name of the second stream.
    ///   - range: Only these intervals (`nil`: every readable interval of either stream). Record
    ///     counts and readable ranges are those of the range.
    ///   - progress: Called after each interval compared, with the comparison so far
    ///     (for progress output; runs on the caller's thread).
    /// - Throws: `.unknownStream`, `.corrupt` for a damaged block.
    /// - Complexity: O(bytes of the intervals compared).
    public func compare(_ first: String, _ second: String, in range: ClosedRange<Interval>? = nil,
                        progress: (StreamComparison) -> Void = { _ in }) throws(StorageError) -> StreamComparison
    {
        let a = try info(of: first), b = try info(of: second)
        let rangeA = Self.clamp(Self.readableRange(a.frontier), to: range)
        let rangeB = Self.clamp(Self.readableRange(b.frontier), to: range)
        let sealsA = try rangeA.map { range throws(StorageError) in try log.sealRecords(of: a.descriptor, in: range) } ?? []
        let sealsB = try rangeB.map { range throws(StorageError) in try log.sealRecords(of: b.descriptor, in: range) } ?? []
        var result = StreamComparison(
            first: first, second: second, firstRange: rangeA, secondRange: rangeB,
            firstRecords: sealsA.reduce(0) { $0 + $1.1.records }, secondRecords: sealsB.reduce(0) { $0 + $1.1.records },
            intervalsCompared: 0, range: range ?? Self.union(rangeA, rangeB))
        if a.descriptor.recordType != b.descriptor.recordType {
            result.differences.append(StreamDifference(interval: nil, partition: nil, reason:
                "record types differ: \(a.descriptor.recordType) and \(b.descriptor.recordType)"))
            return result
        }
        if a.descriptor.intervalLength != b.descriptor.intervalLength {
            result.differences.append(StreamDifference(interval: nil, partition: nil, reason:
                "interval lengths differ: \(a.descriptor.intervalLength) and \(b.descriptor.intervalLength)"))
            return result
        }
        // Every interval with records in either stream, in order, with each side's seal.
        var ia = 0, ib = 0
        while ia < sealsA.count || ib < sealsB.count {
            let interval: Interval
            var sealA: SealRecord?, sealB: SealRecord?
            if ib == sealsB.count || (ia < sealsA.count && sealsA[ia].0 < sealsB[ib].0) {
                (interval, sealA) = (sealsA[ia].0, sealsA[ia].1)
                ia += 1
            } else if ia == sealsA.count || sealsB[ib].0 < sealsA[ia].0 {
                (interval, sealB) = (sealsB[ib].0, sealsB[ib].1)
                ib += 1
            } else {
                (interval, sealA, sealB) = (sealsA[ia].0, sealsA[ia].1, sealsB[ib].1)
                ia += 1
                ib += 1
            }
            result.intervalsCompared += 1
            if let difference = try difference(in: interval, a.descriptor, sealA, b.descriptor, sealB) {
                result.differences.append(difference)
            }
            progress(result)
        }
        return result
    }

    /// Where one interval's records differ between two streams, or `nil`.
    private func difference(in interval: Interval, _ a: StreamDescriptor, _ sealA: SealRecord?,
                            _ b: StreamDescriptor, _ sealB: SealRecord?) throws(StorageError) -> StreamDifference? {
        let recordsA = sealA?.records ?? 0, recordsB = sealB?.records ?? 0
        let samePartitioning = a.partitions == b.partitions
        if recordsA != recordsB {
            var partition: PartitionIndex?
            if samePartitioning, let sealA, let sealB {
                partition = try firstDifferingPartition(in: interval, a, b, partitions: a.partitions,
                                                        hasRecordsA: sealA, hasRecordsB: sealB)
            }
            return StreamDifference(interval: interval, partition: partition,
                                    reason: "\(recordsA) records in \(a.name), \(recordsB) in \(b.name)")
        }
        if samePartitioning {
            if let partition = try firstDifferingPartition(in: interval, a, b, partitions: a.partitions,
                                                           hasRecordsA: sealA, hasRecordsB: sealB) {
                return StreamDifference(interval: interval, partition: partition, reason: "records differ")
            }
            return nil
        }
        let bytesA = try payloadBytes(a, interval, partition: nil), bytesB = try payloadBytes(b, interval, partition: nil)
        return bytesA == bytesB ? nil : StreamDifference(interval: interval, partition: nil, reason: "records differ")
    }

    /// The first partition whose records differ, or `nil`.
    private func firstDifferingPartition(in interval: Interval, _ a: StreamDescriptor, _ b: StreamDescriptor,
                                         partitions: UInt32, hasRecordsA: SealRecord?, hasRecordsB: SealRecord?)
        throws(StorageError) -> PartitionIndex?
    {
        for p in 0..<partitions {
            let partition = PartitionIndex(p)
            let bytesA = hasRecordsA == nil ? [] : try payloadBytes(a, interval, partition: partition)
            let bytesB = hasRecordsB == nil ? [] : try payloadBytes(b, interval, partition: partition)
            if bytesA != bytesB { return partition }
        }
        return nil
    }

    /// The decompressed payloads (framed encoded records) of one interval, concatenated in
    /// (partition, chunk) order: the same bytes whatever the chunking.
    private func payloadBytes(_ descriptor: StreamDescriptor, _ interval: Interval, partition: PartitionIndex?)
        throws(StorageError) -> [UInt8]
    {
        var bytes: [UInt8] = []
        var codec = BlockCodec()
        do {
            try log.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { p, _, block in
                try StoredStream<Bytes>.withPayload(block, codec: &codec, location: StoreLocation(
                    stream: descriptor.name, interval: interval, partition: p)) { payload, _ in
                    bytes.append(contentsOf: payload)
                }
            }
        } catch {
            throw StorageError(wrapping: error)
        }
        return bytes
    }

    /// `range` cut to `limit`, or `nil` when nothing is left.
    static func clamp(_ range: ClosedRange<Interval>?, to limit: ClosedRange<Interval>?) -> ClosedRange<Interval>? {
        guard let range else { return nil }
        guard let limit else { return range }
        let low = max(range.lowerBound, limit.lowerBound), high = min(range.upperBound, limit.upperBound)
        return low <= high ? low...high : nil
    }

    /// The smallest range holding both, or `nil`.
    static func union(_ a: ClosedRange<Interval>?, _ b: ClosedRange<Interval>?) -> ClosedRange<Interval>? {
        switch (a, b) {
        case (nil, nil): nil
        case (let a?, nil): a
        case (nil, let b?): b
        case (let a?, let b?): min(a.lowerBound, b.lowerBound)...max(a.upperBound, b.upperBound)
        }
    }

    /// The readable intervals of a frontier, or `nil`.
    static func readableRange(_ frontier: StreamFrontier) -> ClosedRange<Interval>? {
        guard let first = frontier.firstReadable, let last = frontier.sealedThrough else { return nil }
        return first...last
    }
}
