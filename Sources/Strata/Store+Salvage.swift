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
    /// The interval was not copied at all.
    case intervalLost(stream: String, interval: Interval, reason: String)
    /// Something about a stream as a whole: a damaged catalog or frontier row, a walk that stopped.
    case note(stream: String, text: String)
}

extension Store {
    /// Copies every sealed interval's blocks that still verify into `destination`, a new store, and
    /// reports what could not be copied (as SQLite's `.recover` does).
    ///
    /// Streams come from the catalog rows that verify; each stream's intervals from its seal rows
    /// (a cursor walk, then a lookup per interval past a damaged part of the tree); each block is
    /// looked up by the key its seal says it has and copied only when its checksum, decompression
    /// and framing verify. A copied interval's seal counts what was kept. Unsealed blocks and the
    /// data of programs (progress, snapshots, states) are not copied.
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
        var copied = try destination.log.frontier(of: target)
        guard let first = frontier.firstReadable, let last = frontier.sealedThrough else {
            try destination.log.putSalvagedFrontier(frontier, of: target)
            return
        }
        var start = first
        if let done = copied.sealedThrough {
            guard done < last else { return }
            start = max(first, done.next)
        }
        let skipped = skipping.filter { $0.0 == source.name }.map(\.1)
        let (sealed, unreadable) = log.salvageSealedIntervals(of: source, from: start, through: last, notes: &notes)
        for interval in unreadable {
            event(.intervalLost(stream: source.name, interval: interval, reason: "its seal row cannot be looked up"))
        }
        for interval in sealed {
            if skipped.contains(interval) {
                event(.intervalLost(stream: source.name, interval: interval, reason: "reading it ended the process"))
                continue
            }
            event(.attempt(stream: source.name, interval: interval))
            let read: (seal: SealRecord, blocks: [[[UInt8]]], lostPerPartition: [UInt32])
            do {
                read = try log.salvageInterval(of: source, interval: interval)
            } catch {
                event(.intervalLost(stream: source.name, interval: interval, reason: "\(error)"))
                continue
            }
            let blocks = read.blocks.reduce(0) { $0 + UInt64($1.count) }
            if blocks > 0 && copied.firstInterval == nil { copied.firstInterval = interval }
            copied.sealedThrough = interval
            copied.retainedFrom = frontier.retainedFrom
            copied.lateRecords = frontier.lateRecords
            try destination.log.putSalvagedInterval(target, interval: interval, blocks: read.blocks, frontier: copied)
            var records: UInt64 = 0
            for partition in read.blocks {
                for block in partition {
                    records += block.withUnsafeBytes { bytes in
                        UInt64((try? BlockHeader(parsing: bytes).recordCount) ?? 0)
                    }
                }
            }
            let lostBlocks = read.lostPerPartition.reduce(0) { $0 + UInt64($1) }
            event(.copied(stream: source.name, interval: interval, blocks: blocks, records: records,
                          lostBlocks: lostBlocks, lostPartitions: UInt64(read.lostPerPartition.filter { $0 > 0 }.count),
                          lostRecords: read.seal.records > records ? read.seal.records - records : 0))
        }
        copied.sealedThrough = last
        copied.retainedFrom = frontier.retainedFrom
        copied.lateRecords = frontier.lateRecords
        try destination.log.putSalvagedFrontier(copied, of: target)
    }
}
