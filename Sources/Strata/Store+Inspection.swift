import StrataStorage

/// Totals of one stream's sealed, retained intervals.
public struct StreamStats: Sendable, Equatable {
    /// The stream.
    public var name: String
    /// The first readable interval, if any.
    public var firstInterval: Interval?
    /// The newest sealed interval, if any.
    public var newestSealed: Interval?
    /// Readable sealed intervals, empty ones included; `UInt64.max` also for all 2^64 of them (a
    /// stream from interval 0 sealed through the last index), which it cannot hold.
    public var intervals: UInt64
    /// Readable sealed intervals that hold records.
    public var nonEmptyIntervals: UInt64
    /// Records in readable sealed intervals.
    public var records: UInt64
    /// Raw (uncompressed, framed) bytes of those records.
    public var rawBytes: UInt64
    /// Bytes stored for them: block headers plus payloads.
    public var storedBytes: UInt64
    /// Records that arrived late and were kept in the late side stream.
    public var lateRecords: UInt64

    /// Raw bytes per stored byte (1 when nothing is stored).
    public var compressionRatio: Double { storedBytes == 0 ? 1 : Double(rawBytes) / Double(storedBytes) }
}

/// One problem `verify` found.
public struct VerifyProblem: Sendable, Equatable, CustomStringConvertible {
    /// Where it is.
    public var location: StoreLocation
    /// What is wrong.
    public var corruption: Corruption
    public var description: String { "\(location): \(corruption)" }
}

/// What `verify` checked and found.
public struct VerifyReport: Sendable, Equatable {
    /// Streams checked.
    public var streams: Int = 0
    /// Sealed intervals checked.
    public var intervals: UInt64 = 0
    /// Blocks whose checksum, decompression and framing were checked.
    public var blocks: UInt64 = 0
    /// Records found in them.
    public var records: UInt64 = 0
    /// Blocks of intervals not sealed yet (appended, waiting for their seal); not problems.
    public var unsealedBlocks: UInt64 = 0
    /// Everything wrong, in (stream, interval, partition) order.
    public var problems: [VerifyProblem] = []
    /// Whether nothing is wrong.
    public var isClean: Bool { problems.isEmpty }
}

extension Store {
    /// Totals per stream from the seal records (no block is read).
    ///
    /// - Parameter name: One stream, or `nil` for all of them.
    public func stats(of name: String? = nil) throws(StorageError) -> [StreamStats] {
        let infos: [StreamInfo]
        if let name { infos = [try info(of: name)] } else { infos = try streams() }
        var result: [StreamStats] = []
        for info in infos {
            let d = info.descriptor, f = info.frontier
            var stats = StreamStats(name: d.name, firstInterval: f.firstReadable, newestSealed: f.sealedThrough,
                                    intervals: 0, nonEmptyIntervals: 0, records: 0, rawBytes: 0, storedBytes: 0,
                                    lateRecords: f.lateRecords)
            if let first = f.firstReadable, let last = f.sealedThrough {
                // `+ 1` would trap for the whole index space: it saturates there.
                let span = last.rawValue - first.rawValue
                stats.intervals = span < UInt64.max ? span + 1 : UInt64.max
                for (_, seal) in try log.sealRecords(of: d, in: first...last) {
                    stats.nonEmptyIntervals += 1
                    stats.records += seal.records
                    stats.rawBytes += seal.rawBytes
                    stats.storedBytes += seal.storedBytes
                }
            }
            result.append(stats)
        }
        return result
    }

    /// Checks every block of every sealed interval (checksum, decompression, record framing),
    /// every seal and frontier row, and that every block below the frontier belongs to a seal.
    ///
    /// Problems are collected, not thrown, so one damaged block does not hide the others.
    ///
    /// - Parameters:
    ///   - stream: One stream, or `nil` for all.
    ///   - progress: Called after each interval with the report so far.
    /// - Throws: `.unknownStream`, or a storage error that stops the whole check (an LMDB failure).
    public func verify(stream: String? = nil, progress: (VerifyReport) -> Void = { _ in }) throws(StorageError) -> VerifyReport {
        var report = VerifyReport()
        let descriptors: [StreamDescriptor]
        if let stream {
            guard let d = try log.descriptor(named: stream) else { throw .unknownStream(stream) }
            descriptors = [d]
        } else {
            do {
                descriptors = try log.descriptors()
            } catch .corrupt(let location, let corruption) {
                report.problems.append(VerifyProblem(location: location, corruption: corruption))
                return report
            }
        }
        for descriptor in descriptors {
            report.streams += 1
            let frontier: StreamFrontier
            do {
                frontier = try log.frontier(of: descriptor)
            } catch .corrupt(let location, let corruption) {
                report.problems.append(VerifyProblem(location: location, corruption: corruption))
                continue
            }
            try verifyBlocks(of: descriptor, frontier: frontier, into: &report, progress: progress)
        }
        return report
    }

    private func verifyBlocks(of descriptor: StreamDescriptor, frontier: StreamFrontier, into report: inout VerifyReport,
                              progress: (VerifyReport) -> Void) throws(StorageError) {
        var seals: [Interval: SealRecord] = [:]  // lookup only
        var damagedSeals = Set<Interval>()  // lookup only: their blocks cannot be checked against a seal
        if let first = frontier.firstReadable, let last = frontier.sealedThrough {
            for (interval, row) in try log.sealRows(of: descriptor, in: first...last) {
                switch row {
                case .success(let seal): seals[interval] = seal
                case .failure(let corruption):
                    damagedSeals.insert(interval)
                    report.problems.append(VerifyProblem(
                        location: StoreLocation(stream: descriptor.name, interval: interval), corruption: corruption))
                }
            }
        }
        var codec = BlockCodec()
        var checked = Set<Interval>()  // lookup only
        // One pass over the stream's keys, one short read transaction per interval.
        var cursorInterval: Interval? = Interval(0)
        while let interval = cursorInterval {
            var found: Interval?
            var problems: [VerifyProblem] = []
            var blocks: UInt64 = 0, records: UInt64 = 0, unsealed: UInt64 = 0
            do {
                try log.forEachBlock(of: descriptor, fromInterval: interval) { key, block in
                    if found == nil { found = key.interval }
                    guard key.interval == found else { return false }
                    let location = StoreLocation(stream: descriptor.name, interval: key.interval, partition: key.partition)
                    if damagedSeals.contains(key.interval) { return true }
                    if let sealed = frontier.sealedThrough, key.interval <= sealed {
                        let listed = seals[key.interval].map { key.partition.rawValue < $0.chunks.count
                            && key.chunk.rawValue < $0.chunks[Int(key.partition.rawValue)] } ?? false
                        if !listed {
                            problems.append(VerifyProblem(location: location, corruption: .orphanBlock(chunk: key.chunk.rawValue)))
                            return true
                        }
                        blocks += 1
                        do throws(Corruption) {
                            let header = try BlockHeader(parsing: block)
                            try codec.verify(block)
                            records += UInt64(header.recordCount)
                        } catch {
                            problems.append(VerifyProblem(location: location, corruption: error))
                        }
                    } else {
                        unsealed += 1
                    }
                    return true
                }
            } catch StorageError.corrupt(let location, let corruption) {
                report.problems.append(VerifyProblem(location: location, corruption: corruption))
                break
            } catch {
                throw StorageError(wrapping: error)
            }
            guard let interval = found else { break }
            // The walk only moves forward: a key sorting before the one sought is damage, and
            // stopping there keeps the loop bounded by the keys that exist.
            guard interval >= (cursorInterval ?? interval) else {
                report.problems.append(VerifyProblem(location: StoreLocation(stream: descriptor.name, interval: interval),
                                                     corruption: .badRow("block key order")))
                break
            }
            report.blocks += blocks
            report.records += records
            report.unsealedBlocks += unsealed
            report.problems += problems
            if seals[interval] != nil { checked.insert(interval); report.intervals += 1 }
            progress(report)
            // No interval follows the last index: `next` would wrap to 0 and walk the stream again, forever.
            guard interval.rawValue < UInt64.max else { break }
            cursorInterval = interval.next
        }
        // Seals whose blocks are missing altogether.
        for (interval, seal) in seals.sorted(by: { $0.key < $1.key }) where !checked.contains(interval) {
            if let p = seal.chunks.firstIndex(where: { $0 > 0 }) {
                report.problems.append(VerifyProblem(
                    location: StoreLocation(stream: descriptor.name, interval: interval, partition: PartitionIndex(UInt32(p))),
                    corruption: .missingBlock(chunk: 0)))
            }
        }
        // Chunk counts: every chunk a seal lists must have been seen.
        for interval in checked.sorted() {
            guard let seal = seals[interval] else { continue }
            for (p, count) in seal.chunks.enumerated() where count > 0 {
                let missing = try log.firstMissingChunk(of: descriptor, interval: interval,
                                                        partition: PartitionIndex(UInt32(p)), expected: count)
                if let missing {
                    report.problems.append(VerifyProblem(
                        location: StoreLocation(stream: descriptor.name, interval: interval, partition: PartitionIndex(UInt32(p))),
                        corruption: .missingBlock(chunk: missing)))
                }
            }
        }
        report.problems.sort { a, b in
            (a.location.stream, a.location.interval?.rawValue ?? 0, a.location.partition?.rawValue ?? 0)
                < (b.location.stream, b.location.interval?.rawValue ?? 0, b.location.partition?.rawValue ?? 0)
        }
    }
}

/// The totals of one sealed interval that holds records, from its seal record.
///
/// `IntervalStats` is `Sendable`; it is a plain value.
public struct IntervalStats: Sendable, Equatable {
    /// The interval.
    public var interval: Interval
    /// Records in it.
    public var records: UInt64
    /// Raw (uncompressed, framed) bytes of those records.
    public var rawBytes: UInt64
    /// Bytes stored for them: block headers plus payloads.
    public var storedBytes: UInt64

    /// Raw bytes per stored byte (1 when nothing is stored).
    public var compressionRatio: Double { storedBytes == 0 ? 1 : Double(rawBytes) / Double(storedBytes) }
}

extension Store {
    /// Per-interval totals of a stream's readable sealed intervals that hold records, in interval
    /// order, from the seal records (no block is read). Intervals without records are not listed.
    ///
    /// ```swift
    /// for s in try store.intervalStats(of: "views") { print(s.interval, s.records) }
    /// ```
    ///
    /// - Parameters:
    ///   - name: The stream's name.
    ///   - range: Only these intervals (`nil`: every readable one).
    /// - Throws: `.unknownStream`, `.corrupt` for a damaged seal row.
    /// - Complexity: O(intervals with records in the range).
    public func intervalStats(of name: String, in range: ClosedRange<Interval>? = nil) throws(StorageError)
        -> [IntervalStats]
    {
        let info = try info(of: name)
        guard let readable = Self.clamp(Self.readableRange(info.frontier), to: range) else { return [] }
        return try log.sealRecords(of: info.descriptor, in: readable).map { interval, seal in
            IntervalStats(interval: interval, records: seal.records, rawBytes: seal.rawBytes, storedBytes: seal.storedBytes)
        }
    }
}
