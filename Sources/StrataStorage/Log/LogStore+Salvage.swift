extension LogStore {
    /// The streams the catalog still lists, each decoded on its own; damaged rows are returned as
    /// the key's text and the corruption.
    package func salvageCatalog() -> (streams: [StreamDescriptor], damaged: [(String, String)]) {
        var streams: [StreamDescriptor] = []
        var damaged: [(String, String)] = []
        do {
            try environment.read { txn in
                try txn.withCursor(catalog) { cursor in
                    var entry = try cursor.first()
                    var previous: [UInt8] = []
                    while let (key, row) = entry {
                        let name = String(decoding: key, as: UTF8.self)
                        guard previous.isEmpty || previous.lexicographicallyPrecedes(key) else {
                            damaged.append((name, "catalog key out of order; the catalog walk stopped there"))
                            return
                        }
                        previous = Array(key)
                        do throws(Corruption) {
                            let descriptor = try StreamDescriptor(row: row)
                            if descriptor.name.utf8.elementsEqual(key) {
                                streams.append(descriptor)
                            } else {
                                damaged.append((name, "catalog row stored under another name (\(descriptor.name))"))
                            }
                        } catch {
                            damaged.append((name, error.description))
                        }
                        entry = try cursor.next()
                    }
                }
            }
        } catch {
            damaged.append(("catalog", "the catalog walk stopped: \(error)"))
        }
        return (streams, damaged)
    }

    /// The frontier of a stream for salvage: the stored one, or one rebuilt from its seal keys when
    /// the row is damaged (a note says so).
    package func salvageFrontier(of descriptor: StreamDescriptor, notes: inout [String]) -> StreamFrontier? {
        do {
            return try frontier(of: descriptor)
        } catch {
            notes.append("frontier row unreadable (\(error)); rebuilt from the seal rows")
        }
        do {
            return try environment.read { txn in
                try txn.withCursor(seals) { cursor in
                    var first: Interval?
                    var last: Interval?
                    var entry = try SealKey(stream: descriptor.id, interval: Interval(0)).withEncodedBytes {
                        try cursor.seek(atLeast: $0)
                    }
                    while let (keyBytes, _) = entry, let key = SealKey(decoding: keyBytes), key.stream == descriptor.id {
                        if let last, key.interval <= last { break }
                        if first == nil { first = key.interval }
                        last = key.interval
                        entry = try cursor.next()
                    }
                    return StreamFrontier(sealedThrough: last, firstInterval: first)
                }
            }
        } catch {
            notes.append("the seal rows cannot be walked either: \(error)")
            return nil
        }
    }

    /// The intervals of a stream that have a seal row, in order, from `from` on: by a cursor walk,
    /// or, where the walk fails, by looking up each interval up to `through` (at most `lookupLimit`).
    ///
    /// - Returns: the intervals with a seal row, and those whose seal row could not be looked up.
    package func salvageSealedIntervals(of descriptor: StreamDescriptor, from: Interval, through: Interval,
                                        notes: inout [String]) -> (sealed: [Interval], unreadable: [Interval]) {
        var found: [Interval] = []
        var resumeAt = from
        do {
            try environment.read { txn in
                try txn.withCursor(seals) { cursor in
                    var entry = try SealKey(stream: descriptor.id, interval: from).withEncodedBytes {
                        try cursor.seek(atLeast: $0)
                    }
                    while let (keyBytes, _) = entry {
                        guard let key = SealKey(decoding: keyBytes) else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("seal key"))
                        }
                        guard key.stream == descriptor.id, key.interval <= through else { return }
                        guard key.interval >= resumeAt else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("seal key order"))
                        }
                        found.append(key.interval)
                        guard key.interval.rawValue < UInt64.max else { return }
                        resumeAt = key.interval.next
                        entry = try cursor.next()
                    }
                }
            }
            return (found, [])
        } catch {
            notes.append("the seal rows walk stopped at interval \(resumeAt) (\(error)); looked up one by one from there")
        }
        // Per-key lookups resume past the damaged part of the tree.
        let lookupLimit: UInt64 = 1_000_000
        guard through.rawValue >= resumeAt.rawValue, through.rawValue - resumeAt.rawValue < lookupLimit else {
            notes.append("too many intervals to look up one by one; intervals from \(resumeAt) on are not copied")
            return (found, [])
        }
        var unreadable: [Interval] = []
        var interval = resumeAt
        while interval <= through {
            do {
                let present = try environment.read { txn in
                    try SealKey(stream: descriptor.id, interval: interval).withEncodedBytes { key in
                        try txn.withValue(seals, key: key) { $0 != nil }
                    }
                }
                if present { found.append(interval) }
            } catch {
                unreadable.append(interval)
            }
            guard interval.rawValue < UInt64.max else { break }
            interval = interval.next
        }
        return (found, unreadable)
    }

    /// Reads one sealed interval for salvage: its seal, and for each partition the blocks that
    /// verify, in chunk order (missing or damaged ones are counted in `lostPerPartition`).
    ///
    /// - Throws: the seal row's corruption, or an LMDB error.
    package func salvageInterval(of descriptor: StreamDescriptor, interval: Interval)
        throws -> (seal: SealRecord, blocks: [[[UInt8]]], lostPerPartition: [UInt32])
    {
        try environment.read { txn in
            let seal = try SealKey(stream: descriptor.id, interval: interval).withEncodedBytes { key in
                try txn.withValue(seals, key: key) { row -> SealRecord in
                    guard let row else {
                        throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: interval),
                                                   .badRow("seal row (missing)"))
                    }
                    do throws(Corruption) {
                        return try SealRecord(row: row, partitions: descriptor.partitions)
                    } catch {
                        throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: interval), error)
                    }
                }
            }
            var codec = BlockCodec()
            var kept: [[[UInt8]]] = []
            var lost: [UInt32] = []
            for p in 0..<descriptor.partitions {
                var partitionBlocks: [[UInt8]] = []
                var partitionLost: UInt32 = 0
                for c in 0..<seal.chunks[Int(p)] {
                    let key = BlockKey(stream: descriptor.id, interval: interval, partition: PartitionIndex(p),
                                       chunk: ChunkIndex(rawValue: c))
                    let block: [UInt8]? = try? key.withEncodedBytes { keyBytes in
                        try txn.withValue(blocks, key: keyBytes) { value -> [UInt8]? in
                            guard let value else { return nil }
                            do throws(Corruption) {
                                try codec.verify(value)
                                return Array(value)
                            } catch {
                                return nil
                            }
                        }
                    }
                    if let block { partitionBlocks.append(block) } else { partitionLost += 1 }
                }
                kept.append(partitionBlocks)
                lost.append(partitionLost)
            }
            return (seal, kept, lost)
        }
    }

    /// Writes one salvaged interval into this (new) store: its blocks as chunks `0..<n` of each
    /// partition, its seal with the totals of what was kept, and the frontier through it.
    package func putSalvagedInterval(_ descriptor: StreamDescriptor, interval: Interval, blocks kept: [[[UInt8]]],
                                     frontier: StreamFrontier) throws(StorageError) {
        var records: UInt64 = 0, raw: UInt64 = 0, stored: UInt64 = 0
        for partition in kept {
            for block in partition {
                // Every block kept was verified when it was read; a header that does not parse is a misuse.
                guard let header = block.withUnsafeBytes({ try? BlockHeader(parsing: $0) }) else {
                    throw StorageError.misuse("salvage: an unverified block of stream \(descriptor.name) interval \(interval)")
                }
                records += UInt64(header.recordCount)
                raw += UInt64(header.rawLength)
                stored += UInt64(block.count)
            }
        }
        let seal = SealRecord(chunks: kept.map { UInt32($0.count) }, records: records, rawBytes: raw, storedBytes: stored)
        let hasRecords = records > 0
        let blocksDB = blocks, sealsDB = seals
        try committer.write { [self] txn in
            // Blocks written outside `apply`: the seal counts start again from the disk.
            sealTally.invalidate()
            for (p, partition) in kept.enumerated() {
                for (c, block) in partition.enumerated() {
                    let key = BlockKey(stream: descriptor.id, interval: interval, partition: PartitionIndex(UInt32(p)),
                                       chunk: ChunkIndex(rawValue: UInt32(c)))
                    try key.withEncodedBytes { k in try block.withUnsafeBytes { try txn.put(blocksDB, key: k, value: $0) } }
                }
            }
            if hasRecords {
                let row = seal.encodedRow()
                try SealKey(stream: descriptor.id, interval: interval).withEncodedBytes { k in
                    try row.withUnsafeBytes { try txn.put(sealsDB, key: k, value: $0) }
                }
            }
            try putFrontier(frontier, of: descriptor.id, txn)
        }
    }

    /// The source rows of a stream for salvage (`SourceRecord`, under `source/` + its ID in
    /// `meta`): each row that verifies with its source's name, in key order; a row that does not
    /// verify, or whose key names no valid source, is a note instead.
    package func salvageSourceRows(of descriptor: StreamDescriptor, notes: inout [String]) -> [(String, SourceRecord)] {
        let prefix = SourceRecord.key(stream: descriptor.id, source: "")
        var rows: [(String, SourceRecord)] = []
        var found: [String] = []
        do {
            try environment.read { txn in
                try txn.withCursor(meta) { cursor in
                    var entry = try prefix.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                    var previous: [UInt8] = []
                    while let (key, row) = entry, key.count >= prefix.count, key.prefix(prefix.count).elementsEqual(prefix) {
                        guard previous.isEmpty || previous.lexicographicallyPrecedes(key) else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("source key order"))
                        }
                        previous = Array(key)
                        // The key is not checksummed: a name that no writer could have used is damage. Besides
                        // the names of sources, rows of Strata's own have names of printable ASCII (`http receiver`).
                        let nameBytes = key.dropFirst(prefix.count)
                        if nameBytes.count > 200 || !nameBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                            found.append("a source row under a key that names no valid source; not copied")
                        } else {
                            let name = String(decoding: nameBytes, as: UTF8.self)
                            let what = name.isEmpty ? "the unnamed input's source row" : "source row \(name)"
                            do throws(Corruption) {
                                rows.append((name, try SourceRecord(row: row)))
                            } catch {
                                found.append("\(what): \(error.description); not copied")
                            }
                        }
                        entry = try cursor.next()
                    }
                }
            }
        } catch {
            found.append("the source rows walk stopped (\(error)); the rows after it are not copied")
        }
        notes += found
        return rows
    }

    /// The oldest interval of a stream after `sealedThrough` (every one when `nil`) that holds
    /// committed blocks; `nil` when none does.
    package func salvageOldestUnsealedInterval(of descriptor: StreamDescriptor, after sealedThrough: Interval?)
        throws -> Interval?
    {
        var from = Interval(0)
        if let sealedThrough {
            guard sealedThrough.rawValue < .max else { return nil }
            from = sealedThrough.next
        }
        return try environment.read { txn in
            try txn.withCursor(blocks) { cursor -> Interval? in
                let start = BlockKey(stream: descriptor.id, interval: from, partition: PartitionIndex(0),
                                     chunk: ChunkIndex(rawValue: 0))
                guard let (keyBytes, _) = try start.withEncodedBytes({ try cursor.seek(atLeast: $0) }) else { return nil }
                guard let key = BlockKey(decoding: keyBytes) else {
                    throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("block key"))
                }
                return key.stream == descriptor.id ? key.interval : nil
            }
        }
    }

    /// One interval not sealed yet, read for salvage: for each partition its committed blocks
    /// that verify, in chunk order, and how many did not (per partition, and in all: a block key
    /// naming a partition the stream does not have counts in `lost` alone).
    package struct SalvagedUnsealedInterval: Sendable {
        package var interval: Interval
        package var blocks: [[[UInt8]]]
        package var lostPerPartition: [UInt64]
        package var lost: UInt64
    }

    /// Reads the committed blocks of a stream's intervals from `from` on (none of them sealed),
    /// keeping those that verify (checksum, decompression, framing).
    ///
    /// - Throws: an LMDB error, or `.corrupt` when the block keys are damaged (out of order, or
    ///   not a block key).
    package func salvageUnsealedBlocks(of descriptor: StreamDescriptor, from: Interval) throws -> [SalvagedUnsealedInterval] {
        try environment.read { txn in
            var codec = BlockCodec()
            var result: [SalvagedUnsealedInterval] = []
            try txn.withCursor(blocks) { cursor in
                var entry = try BlockKey(stream: descriptor.id, interval: from, partition: PartitionIndex(0),
                                         chunk: ChunkIndex(rawValue: 0)).withEncodedBytes { try cursor.seek(atLeast: $0) }
                var previous: BlockKey?
                while let (keyBytes, value) = entry {
                    guard let key = BlockKey(decoding: keyBytes) else {
                        throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("block key"))
                    }
                    guard key.stream == descriptor.id else { return }
                    if let previous {
                        guard (previous.interval, previous.partition.rawValue, previous.chunk.rawValue)
                            < (key.interval, key.partition.rawValue, key.chunk.rawValue) else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("block key order"))
                        }
                    }
                    previous = key
                    if result.last?.interval != key.interval {
                        result.append(SalvagedUnsealedInterval(
                            interval: key.interval,
                            blocks: Array(repeating: [], count: Int(descriptor.partitions)),
                            lostPerPartition: Array(repeating: 0, count: Int(descriptor.partitions)), lost: 0))
                    }
                    let last = result.count - 1
                    let partition = Int(key.partition.rawValue)
                    if key.partition.rawValue < descriptor.partitions {
                        do throws(Corruption) {
                            try codec.verify(value)
                            result[last].blocks[partition].append(Array(value))
                        } catch {
                            result[last].lostPerPartition[partition] += 1
                            result[last].lost += 1
                        }
                    } else {
                        result[last].lost += 1
                    }
                    entry = try cursor.next()
                }
            }
            return result
        }
    }

    /// Ends the salvage of one stream in one transaction: the committed blocks of its intervals
    /// not sealed yet (as chunks `0..<n` of each partition, still not sealed), its frontier, and
    /// its source rows, so the rows never count blocks the new store lacks for a reason other
    /// than damage.
    package func putSalvagedTail(_ descriptor: StreamDescriptor, frontier: StreamFrontier,
                                 unsealed: [SalvagedUnsealedInterval], sources: [(String, SourceRecord)]) throws(StorageError) {
        let blocksDB = blocks
        try committer.write { [self] txn in
            // Blocks written outside `apply`: the seal counts start again from the disk.
            sealTally.invalidate()
            for interval in unsealed {
                for (p, partition) in interval.blocks.enumerated() {
                    for (c, block) in partition.enumerated() {
                        let key = BlockKey(stream: descriptor.id, interval: interval.interval,
                                           partition: PartitionIndex(UInt32(p)), chunk: ChunkIndex(rawValue: UInt32(c)))
                        try key.withEncodedBytes { k in try block.withUnsafeBytes { try txn.put(blocksDB, key: k, value: $0) } }
                    }
                }
            }
            try putFrontier(frontier, of: descriptor.id, txn)
            for (name, record) in sources { try putSourceRecord(record, stream: descriptor.id, source: name, txn) }
        }
    }
}
