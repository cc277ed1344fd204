import StrataStorage

/// One step of `Store.salvage(into:skipping:_:)`, reported as it happens.
///
/// `SalvageEvent` is `Sendable`; it is a plain value.
public enum SalvageEvent: Sendable, Equatable {
    /// Reading this interval starts (if the process ends now, this interval is the cause).
    case attempt(stream: String, interval: Interval)
    /// The interval was copied: its blocks that verify, and what its seal counts that was lost.
    case copied(stream: String, interval: Interval, blocks: UInt64, records: UInt64,
                lostBlocks: UInt64, lostPartitions: UInt64, lostRecords: UInt64)
    /// The committed blocks of an interval not sealed yet were copied, still unsealed: those that
    /// verify (`blocks`, holding `records`); `lostBlocks` (in `lostPartitions` partitions) did not.
    case copiedUnsealed(stream: String, interval: Interval, blocks: UInt64, records: UInt64,
                        lostBlocks: UInt64, lostPartitions: UInt64)
    /// The interval was not copied at all.
    case intervalLost(stream: String, interval: Interval, reason: String)
    /// Something about a stream as a whole: a damaged catalog, frontier or source row, a walk that
    /// stopped, the lines a source's position counts that were lost.
    case note(stream: String, text: String)
}

extension Store {
    /// Copies every sealed interval's blocks that still verify into `destination`, a new store, and
    /// reports what could not be copied (as SQLite's `.recover` does).
    ///
    /// Streams come from the catalog rows that verify; each stream's intervals from its seal rows
    /// (a cursor walk, then a lookup per interval past a damaged part of the tree); each block is
    /// looked up by the key its seal says it has and copied only when its checksum, decompression
    /// and framing verify. A copied interval's seal counts what was kept. The committed blocks of
    /// intervals not sealed yet are copied too (those that verify), still unsealed, and then, in
    /// the transaction that ends the stream, its source rows that verify (the positions of
    /// resumable appenders and `strata ingest --source`, the HTTP receiver's rotation): an ingest
    /// resumed on the new store goes on where one on the old store would have. A source row that
    /// does not verify is a note and is not copied; when records of a stream with source rows were
    /// lost, a note says that each position still counts their lines as read. The data of programs
    /// (progress, snapshots, states) is not copied.
    ///
    /// Intervals already sealed in `destination` are skipped, so a salvage ended by a fault in
    /// liblmdb (a damaged page) can run again with that interval in `skipping`: `strata salvage`
    /// does so, running each attempt in a child process.
    ///
    /// ```swift
    /// let damaged = try Store.openForReading(at: "views.strata")
    /// let fresh = try Store(at: "views.salvaged")
    /// try damaged.salvage(into: fresh, skipping: []) { event in print(event) }
    /// ```
    ///
    /// - Parameters:
    ///   - destination: The store the readable intervals are copied into.
    ///   - skipping: `(stream, interval)` pairs not to read, reported as lost.
    ///   - event: Called with each step, in order.
    /// - Throws: a storage error of the destination (it is full, it holds other streams).
    public func salvage(into destination: Store, skipping: [(String, Interval)],
                        _ event: (SalvageEvent) -> Void) throws(StorageError) {
        let (streams, damaged) = log.salvageCatalog()
        for (name, why) in damaged { event(.note(stream: name, text: "catalog row: \(why); not copied")) }
        for source in streams {
            // Creating the main stream creates its late side stream too.
            let mainName = source.lateRecordsOf ?? source.name
            let settings = source
            _ = try destination.log.createOrOpenStream(LogStore.StreamSpec(
                name: mainName, recordType: settings.recordType, intervalLength: settings.intervalLength,
                partitions: settings.partitions, retention: settings.retention, timeField: settings.timeField,
                keyField: settings.keyField, timeUnit: settings.timeUnit, keyPlacement: settings.keyPlacement))
            guard let target = try destination.log.descriptor(named: source.name) else {
                event(.note(stream: source.name, text: "cannot be created in the new store; not copied"))
                continue
            }
            try salvageStream(source, into: destination, target: target, skipping: skipping, event)
        }
    }

    private func salvageStream(_ source: StreamDescriptor, into destination: Store, target: StreamDescriptor,
                               skipping: [(String, Interval)], _ event: (SalvageEvent) -> Void) throws(StorageError) {
        var notes: [String] = []
        defer { for note in notes { event(.note(stream: source.name, text: note)) } }
        guard let frontier = log.salvageFrontier(of: source, notes: &notes) else { return }
        let sources = log.salvageSourceRows(of: source, notes: &notes)
        let skipped = skipping.filter { $0.0 == source.name }.map(\.1)
        var copied = try destination.log.frontier(of: target)
        var recordsLost = false
        if let first = frontier.firstReadable, let last = frontier.sealedThrough {
            var start = first
            if let done = copied.sealedThrough { start = max(first, done < last ? done.next : last) }
            if copied.sealedThrough.map({ $0 < last }) ?? true {
                recordsLost = try salvageSealedIntervals(source, frontier: frontier, from: start, through: last,
                                                         into: destination, target: target, copied: &copied,
                                                         skipped: skipped, notes: &notes, event)
            }
            copied.sealedThrough = last
            copied.retainedFrom = frontier.retainedFrom
            copied.lateRecords = frontier.lateRecords
        } else {
            copied = frontier
        }
        // The committed blocks past the sealed frontier: what the source rows count beyond it.
        var unsealed: [LogStore.SalvagedUnsealedInterval] = []
        do {
            if let oldest = try log.salvageOldestUnsealedInterval(of: source, after: frontier.sealedThrough) {
                if skipped.contains(oldest) {
                    recordsLost = true
                    event(.intervalLost(stream: source.name, interval: oldest,
                                        reason: "reading its unsealed blocks ended the process; they and those of later intervals are not copied"))
                } else {
                    event(.attempt(stream: source.name, interval: oldest))
                    unsealed = try log.salvageUnsealedBlocks(of: source, from: oldest)
                }
            }
        } catch {
            recordsLost = true
            notes.append("the unsealed blocks cannot be read (\(error)); none is copied")
            unsealed = []
        }
        try destination.log.putSalvagedTail(target, frontier: copied, unsealed: unsealed, sources: sources)
        for interval in unsealed {
            let blocks = interval.blocks.reduce(0) { $0 + UInt64($1.count) }
            if interval.lost > 0 { recordsLost = true }
            event(.copiedUnsealed(stream: source.name, interval: interval.interval, blocks: blocks,
                                  records: Self.recordCount(interval.blocks), lostBlocks: interval.lost,
                                  lostPartitions: UInt64(interval.lostPerPartition.filter { $0 > 0 }.count)))
        }
        if recordsLost {
            // The rotation row holds no position; the unnamed input's is told only when it was interrupted.
            for (name, row) in sources where (row.position.lines > 0 || row.position.bytes > 0 || !row.position.token.isEmpty)
                && (!name.isEmpty || !row.finished) {
                let what = name.isEmpty ? "the unnamed input" : "source \(name)"
                notes.append("\(what): its position (\(row.position.lines) lines, \(row.position.bytes) bytes) still counts "
                             + "the lines of the records lost here as read; resuming the input does not read them again")
            }
        }
    }

    /// Copies the sealed intervals `from…through` of a stream; returns whether records were lost.
    private func salvageSealedIntervals(_ source: StreamDescriptor, frontier: StreamFrontier, from start: Interval,
                                        through last: Interval, into destination: Store, target: StreamDescriptor,
                                        copied: inout StreamFrontier, skipped: [Interval], notes: inout [String],
                                        _ event: (SalvageEvent) -> Void) throws(StorageError) -> Bool {
        var recordsLost = false
        let (sealed, unreadable) = log.salvageSealedIntervals(of: source, from: start, through: last, notes: &notes)
        for interval in unreadable {
            recordsLost = true
            event(.intervalLost(stream: source.name, interval: interval, reason: "its seal row cannot be looked up"))
        }
        for interval in sealed {
            if skipped.contains(interval) {
                recordsLost = true
                event(.intervalLost(stream: source.name, interval: interval, reason: "reading it ended the process"))
                continue
            }
            event(.attempt(stream: source.name, interval: interval))
            let read: (seal: SealRecord, blocks: [[[UInt8]]], lostPerPartition: [UInt32])
            do {
                read = try log.salvageInterval(of: source, interval: interval)
            } catch {
                recordsLost = true
                event(.intervalLost(stream: source.name, interval: interval, reason: "\(error)"))
                continue
            }
            let blocks = read.blocks.reduce(0) { $0 + UInt64($1.count) }
            if blocks > 0 && copied.firstInterval == nil { copied.firstInterval = interval }
            copied.sealedThrough = interval
            copied.retainedFrom = frontier.retainedFrom
            copied.lateRecords = frontier.lateRecords
            try destination.log.putSalvagedInterval(target, interval: interval, blocks: read.blocks, frontier: copied)
            let records = Self.recordCount(read.blocks)
            let lostBlocks = read.lostPerPartition.reduce(0) { $0 + UInt64($1) }
            if lostBlocks > 0 || read.seal.records > records { recordsLost = true }
            event(.copied(stream: source.name, interval: interval, blocks: blocks, records: records,
                          lostBlocks: lostBlocks, lostPartitions: UInt64(read.lostPerPartition.filter { $0 > 0 }.count),
                          lostRecords: read.seal.records > records ? read.seal.records - records : 0))
        }
        return recordsLost
    }

    /// The records the (verified) blocks hold, from their headers.
    private static func recordCount(_ blocks: [[[UInt8]]]) -> UInt64 {
        var records: UInt64 = 0
        for partition in blocks {
            for block in partition {
                records += block.withUnsafeBytes { bytes in
                    UInt64((try? BlockHeader(parsing: bytes).recordCount) ?? 0)
                }
            }
        }
        return records
    }
}
