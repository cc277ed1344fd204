/// The key of one snapshot row: `vertex name (UTF-8) · 0x00 · interval u64 BE · partition u32 BE`.
///
/// Vertex names use only `A–Z a–z 0–9 . _ -`, so the `0x00` separator sorts before any longer
/// name with the same prefix: LMDB's byte order is (vertex, interval, partition) order, and one
/// vertex's snapshots are a contiguous key range. Byte layout: `docs/format.md`.
package struct SnapshotKey: Sendable, Equatable {
    /// The vertex whose state the row holds.
    package var vertex: String
    /// The interval through which the state reflects the input.
    package var interval: Interval
    /// The partition of the state.
    package var partition: PartitionIndex

    /// Creates a key.
    package init(vertex: String, interval: Interval, partition: PartitionIndex) {
        self.vertex = vertex
        self.interval = interval
        self.partition = partition
    }

    /// The key's bytes.
    package var encoded: [UInt8] {
        var bytes = Self.prefix(of: vertex)
        withUnsafeBytes(of: interval.rawValue.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: partition.rawValue.bigEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The bytes every key of `vertex` starts with: its name and the `0x00` separator.
    package static func prefix(of vertex: String) -> [UInt8] { Array(vertex.utf8) + [0] }

    /// Decodes a key of `vertex`, or `nil` when the bytes are not one.
    package init?(decoding bytes: UnsafeRawBufferPointer, vertex: String) {
        let prefix = Self.prefix(of: vertex)
        guard bytes.count == prefix.count + 12, bytes.starts(with: prefix) else { return nil }
        self.vertex = vertex
        interval = Interval(UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: prefix.count, as: UInt64.self)))
        partition = PartitionIndex(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: prefix.count + 8,
                                                                           as: UInt32.self)))
    }
}

/// Snapshot rows to put and to prune in one commit.
package struct SnapshotWrites: Sendable {
    /// One partition's state: the snapshot block (header and payload as stored, see `BlockCodec`).
    package var rows: [(SnapshotKey, [UInt8])] = []
    /// Per vertex, delete its snapshot rows with an interval below this one.
    package var pruneBefore: [(vertex: String, interval: Interval)] = []

    package init() {}

    /// Whether nothing is written.
    package var isEmpty: Bool { rows.isEmpty && pruneBefore.isEmpty }
}

/// What one commit adds to a vertex's stats row.
///
/// The engine's run loop sets `inputs` and counts `recoveries`; a scheduler that launches
/// speculative copies or retries tasks counts them with `AppendBatch.bumpVertexStats`.
package struct VertexStatsUpdate: Sendable, Equatable {
    /// The vertex's input streams, when known (replaces the stored list).
    package var inputs: [String]?
    /// The vertex's output streams, when known (replaces the stored list).
    package var outputs: [String]?
    /// Restarts that restored the vertex's state from its snapshot and input.
    package var recoveries: UInt64 = 0
    /// Speculative copies of the vertex's tasks launched.
    package var speculativeLaunches: UInt64 = 0
    /// Tasks of the vertex retried after a failure.
    package var retries: UInt64 = 0

    /// Creates an update.
    package init(inputs: [String]? = nil, outputs: [String]? = nil, recoveries: UInt64 = 0,
                 speculativeLaunches: UInt64 = 0, retries: UInt64 = 0) {
        self.inputs = inputs
        self.outputs = outputs
        self.recoveries = recoveries
        self.speculativeLaunches = speculativeLaunches
        self.retries = retries
    }
}

/// A vertex's stats row: its inputs and counters, committed with its progress.
///
/// Row (`vertex-stats` database, key: the vertex name): version `02`; inputs `Array<String>`;
/// recoveries, speculative launches, retries, each u64; outputs `Array<String>`; checksum
/// (`docs/format.md`). Version `01` rows (no outputs) are still read.
public struct VertexStats: Sendable, Equatable {
    /// The names of the vertex's input streams.
    public var inputs: [String] = []
    /// Restarts that restored the vertex's state (snapshot plus replay).
    public var recoveries: UInt64 = 0
    /// Speculative copies of the vertex's tasks launched.
    public var speculativeLaunches: UInt64 = 0
    /// Tasks of the vertex retried after a failure.
    public var retries: UInt64 = 0
    /// The names of the streams the vertex writes (empty in rows written before outputs were kept).
    public var outputs: [String] = []

    /// Empty stats.
    public init() {}

    static let rowVersion: UInt8 = 2

    /// The stats row.
    package func encodedRow() -> [UInt8] {
        var w = BinaryWriter(capacity: 64)
        w.write(byte: Self.rowVersion)
        w.write(inputs)
        w.write(recoveries)
        w.write(speculativeLaunches)
        w.write(retries)
        w.write(outputs)
        return RowChecksum.seal(w.bytes)
    }

    /// Decodes a stats row, verifying its checksum.
    package init(row: UnsafeRawBufferPointer) throws(Corruption) {
        let body = try RowChecksum.verified(row, what: "vertex stats row")
        var r = BinaryReader(body)
        do {
            let version = try r.readByte()
            guard version == 1 || version == Self.rowVersion else { throw Corruption.badRow("vertex stats row version") }
            inputs = try r.read()
            recoveries = try r.read()
            speculativeLaunches = try r.read()
            retries = try r.read()
            if version >= 2 { outputs = try r.read() }
            guard r.remaining == 0 else { throw Corruption.badRow("vertex stats row") }
        } catch let error as Corruption {
            throw error
        } catch {
            throw .badRow("vertex stats row (\(error))")
        }
    }

    /// Adds an update's counters (and takes its inputs, when given).
    mutating func apply(_ update: VertexStatsUpdate) {
        if let names = update.inputs { inputs = names }
        if let names = update.outputs { outputs = names }
        recoveries &+= update.recoveries
        speculativeLaunches &+= update.speculativeLaunches
        retries &+= update.retries
    }
}

extension AppendBatch {
    /// Adds to a vertex's speculative-launch and retry counters in this batch's commit.
    ///
    /// For the scheduler: the counters become durable with the batch (typically the one carrying
    /// the vertex's progress), so a crash never counts a launch twice nor loses a committed one.
    package mutating func bumpVertexStats(vertex: String, speculativeLaunches: UInt64 = 0, retries: UInt64 = 0) {
        vertexStats.append((vertex, VertexStatsUpdate(speculativeLaunches: speculativeLaunches, retries: retries)))
    }
}

extension LogStore {
    /// The location errors name for a vertex's snapshot.
    package static func snapshotLocation(_ vertex: String, _ interval: Interval?, _ partition: PartitionIndex?)
        -> StoreLocation
    {
        StoreLocation(stream: "snapshot of \(vertex)", interval: interval, partition: partition)
    }

    /// Puts and prunes snapshot rows and adds to stats rows, inside the batch's transaction.
    func applySnapshots(_ writes: SnapshotWrites, vertexStats: [(String, VertexStatsUpdate)],
                        in txn: borrowing Transaction) throws {
        for (key, block) in writes.rows {
            let keyBytes = key.encoded
            try keyBytes.withUnsafeBytes { k in try block.withUnsafeBytes { try txn.put(snapshots, key: k, value: $0) } }
        }
        for (vertex, before) in writes.pruneBefore {
            let prefix = SnapshotKey.prefix(of: vertex)
            // Re-seek after every delete rather than trusting the cursor position lmdb.h leaves
            // after `mdb_cursor_del`.
            try txn.withCursor(snapshots) { cursor in
                while let (keyBytes, _) = try prefix.withUnsafeBytes({ try cursor.seek(atLeast: $0) }),
                      let key = SnapshotKey(decoding: keyBytes, vertex: vertex), key.interval < before {
                    try cursor.deleteCurrent()
                }
            }
        }
        for (vertex, update) in vertexStats {
            var stats = try self.vertexStats(named: vertex, in: txn) ?? VertexStats()
            stats.apply(update)
            let row = stats.encodedRow()
            var name = vertex
            try name.withUTF8 { utf8 in
                try row.withUnsafeBytes { try txn.put(vertexStatsRows, key: UnsafeRawBufferPointer(utf8), value: $0) }
            }
        }
    }

    func vertexStats(named vertex: String, in txn: borrowing Transaction) throws -> VertexStats? {
        var name = vertex
        return try name.withUTF8 { utf8 in
            try txn.withValue(vertexStatsRows, key: UnsafeRawBufferPointer(utf8)) { row -> VertexStats? in
                guard let row else { return nil }
                do throws(Corruption) {
                    return try VertexStats(row: row)
                } catch {
                    throw StorageError.corrupt(StoreLocation(stream: "stats of \(vertex)"), error)
                }
            }
        }
    }

    /// The stats row of `vertex`, or `nil` when it has none.
    ///
    /// - Throws: `.corrupt` for a damaged row.
    package func vertexStats(named vertex: String) throws(StorageError) -> VertexStats? {
        try wrap { try environment.read { txn in try vertexStats(named: vertex, in: txn) } }
    }

    /// The intervals at which `vertex` has snapshot rows, ascending, with the partitions each has.
    package func snapshotIntervals(of vertex: String) throws(StorageError) -> [(Interval, [PartitionIndex])] {
        try wrap {
            try environment.read { txn in
                try txn.withCursor(snapshots) { cursor in
                    let prefix = SnapshotKey.prefix(of: vertex)
                    var result: [(Interval, [PartitionIndex])] = []
                    var entry = try prefix.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                    while let (keyBytes, _) = entry, let key = SnapshotKey(decoding: keyBytes, vertex: vertex) {
                        if result.last?.0 == key.interval {
                            result[result.count - 1].1.append(key.partition)
                        } else {
                            result.append((key.interval, [key.partition]))
                        }
                        entry = try cursor.next()
                    }
                    return result
                }
            }
        }
    }

    /// The newest interval at which `vertex` has a snapshot, or `nil`.
    package func latestSnapshotInterval(of vertex: String) throws(StorageError) -> Interval? {
        try wrap {
            try environment.read { txn in
                try txn.withCursor(snapshots) { cursor in
                    // The first key after every key of `vertex`: its prefix with the separator 0x01.
                    var after = Array(vertex.utf8)
                    after.append(1)
                    let found = try after.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                    let previous = found == nil ? try cursor.last() : try cursor.previous()
                    guard let (keyBytes, _) = previous, let key = SnapshotKey(decoding: keyBytes, vertex: vertex) else {
                        return nil
                    }
                    return key.interval
                }
            }
        }
    }

    /// Reads one partition's snapshot: verifies the block and calls `body` with the raw state
    /// payload, or with `nil` when there is no such row.
    ///
    /// The payload pointer is valid only inside `body`.
    ///
    /// - Throws: `.corrupt(snapshot of VERTEX interval T partition P, …)` when the block fails
    ///   validation (checksum, header, LZ4); whatever `body` throws.
    package func withSnapshot<R>(_ key: SnapshotKey, codec: inout BlockCodec,
                                 _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        let keyBytes = key.encoded
        // Copy the block out of the read transaction: decoding the state may take a while.
        let block: [UInt8]? = try environment.read { txn in
            try keyBytes.withUnsafeBytes { k in try txn.withValue(snapshots, key: k) { $0.map { Array($0) } } }
        }
        guard let block else { return try body(nil) }
        do {
            return try block.withUnsafeBytes { bytes in
                try codec.withVerifiedPayload(bytes) { _, payload in try body(payload) }
            }
        } catch let corruption as Corruption {
            throw StorageError.corrupt(Self.snapshotLocation(key.vertex, key.interval, key.partition), corruption)
        }
    }

    /// Overwrites one byte of a snapshot row (for corruption tests).
    package func unsafeDamageSnapshot(_ key: SnapshotKey, byteOffset: Int) throws {
        let keyBytes = key.encoded
        try committer.write { [self] txn in
            let block: [UInt8]? = try keyBytes.withUnsafeBytes { k in
                try txn.withValue(snapshots, key: k) { $0.map { Array($0) } }
            }
            guard var block, byteOffset < block.count else { throw StorageError.misuse("no such snapshot byte") }
            block[byteOffset] ^= 0xFF
            try keyBytes.withUnsafeBytes { k in try block.withUnsafeBytes { try txn.put(snapshots, key: k, value: $0) } }
        }
    }
}
