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
/// speculative copies or retries tasks counts them with `AppendBatch.bumpVertexStats`; `run`
/// marks the start and the end of a run (`VertexRunState`).
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
    /// Speculative copies whose output was the one kept (they finished before the original).
    package var speculativeWins: UInt64 = 0
    /// Snapshots of the vertex's state written.
    package var snapshots: UInt64 = 0
    /// A change of the vertex's run state, if this commit makes one.
    package var run: RunMark?

    /// The start or end of a run, recorded in the stats row.
    package enum RunMark: Sendable, Equatable {
        /// The run's first commit for the vertex. With `counted`, this is the first run of the
        /// vertex in its process: the start is classified from the stored run state (resumed after
        /// a clean stop, recovered after a crash, restarted after a failure) and counted, and
        /// `progress` (the vertex's progress before the run) is kept with it.
        case began(counted: Bool, progress: Interval?)
        /// The run returned normally: every commit of it is durable.
        case stopped
        /// The run ended with an error.
        case failed
    }

    /// Creates an update.
    package init(inputs: [String]? = nil, outputs: [String]? = nil, recoveries: UInt64 = 0,
                 speculativeLaunches: UInt64 = 0, retries: UInt64 = 0, speculativeWins: UInt64 = 0,
                 snapshots: UInt64 = 0, run: RunMark? = nil) {
        self.inputs = inputs
        self.outputs = outputs
        self.recoveries = recoveries
        self.speculativeLaunches = speculativeLaunches
        self.retries = retries
        self.speculativeWins = speculativeWins
        self.snapshots = snapshots
        self.run = run
    }
}

/// Whether a vertex is being run, as its stats row last recorded.
///
/// A run marks the vertex `running` in its first commit and `stoppedCleanly` (or `failed`) when
/// it returns; a process killed in between leaves `running`, which is how the next run knows it
/// recovers from a crash. `Sendable`.
public enum VertexRunState: UInt8, Sendable, Equatable {
    /// No run recorded (a row written before run states were kept, or no run yet).
    case unknown = 0
    /// A run has committed and not yet returned — or its process died.
    case running = 1
    /// The last run returned normally (`Program.stop()`, a cancelled `run()`, or
    /// `runUntilCaughtUp()` caught up).
    case stoppedCleanly = 2
    /// The last run ended with an error.
    case failed = 3
}

/// How the vertex's latest run began, judged from the state the run before it left.
///
/// `Sendable`.
public enum VertexStart: UInt8, Sendable, Equatable {
    /// Not recorded (a row written before run states were kept).
    case unknown = 0
    /// The vertex's first run: it had no progress.
    case first = 1
    /// The run before stopped cleanly: a resume.
    case resumed = 2
    /// The run before was still marked running: its process died (`kill -9`, a crash, power
    /// loss); this run recovered from the committed progress and snapshots.
    case afterCrash = 3
    /// The run before ended with an error.
    case afterFailure = 4
    /// The vertex had progress but no recorded run state (written by an older version).
    case afterUnknown = 5
}

/// A vertex's stats row: its inputs and counters, committed with its progress.
///
/// Row (`vertex-stats` database, key: the vertex name): version `03`; inputs `Array<String>`;
/// recoveries, speculative launches, retries, each u64; outputs `Array<String>`; speculative
/// wins, resumes, crash recoveries, restarts after a failure, snapshots written, each u64; run
/// state u8; last start u8; progress at the last start (flag u8, interval u64); checksum (`docs/format.md`). Version
/// `01` rows (no outputs) and `02` rows (no run states) are still read.
public struct VertexStats: Sendable, Equatable {
    /// The names of the vertex's input streams.
    public var inputs: [String] = []
    /// Restarts that restored the vertex's state (snapshot plus replay), whatever the reason: a
    /// resume in a new process restores state too.
    public var recoveries: UInt64 = 0
    /// Speculative copies of the vertex's tasks launched.
    public var speculativeLaunches: UInt64 = 0
    /// Tasks of the vertex retried after a failure.
    public var retries: UInt64 = 0
    /// The names of the streams the vertex writes (empty in rows written before outputs were kept).
    public var outputs: [String] = []
    /// Speculative copies whose output was kept: they finished before the task they copied.
    public var speculativeWins: UInt64 = 0
    /// Runs that began after the previous run stopped cleanly.
    public var resumes: UInt64 = 0
    /// Runs that began after a run whose process died while it ran (the row still said `running`).
    public var crashRecoveries: UInt64 = 0
    /// Runs that began after a run that ended with an error.
    public var restartsAfterFailure: UInt64 = 0
    /// Snapshots of the vertex's state written (pruning removes old ones; this keeps counting).
    public var snapshotsWritten: UInt64 = 0
    /// The run state the row records now.
    public var runState: VertexRunState = .unknown
    /// How the latest run began.
    public var lastStart: VertexStart = .unknown
    /// The vertex's progress when the latest run began (`nil`: none, or not recorded).
    public var lastStartProgress: Interval?

    /// Empty stats.
    public init() {}

    /// Adds an update's counters (and takes its inputs, when given), and applies its run mark.
    mutating func apply(_ update: VertexStatsUpdate) {
        if let names = update.inputs { inputs = names }
        if let names = update.outputs { outputs = names }
        recoveries &+= update.recoveries
        speculativeLaunches &+= update.speculativeLaunches
        retries &+= update.retries
        speculativeWins &+= update.speculativeWins
        snapshotsWritten &+= update.snapshots
        switch update.run {
        case nil: break
        case .began(let counted, let progress):
            if counted {
                // Classified here, inside the commit's transaction, from what the row says now.
                switch runState {
                case .running:
                    lastStart = .afterCrash
                    crashRecoveries &+= 1
                case .stoppedCleanly:
                    lastStart = .resumed
                    resumes &+= 1
                case .failed:
                    lastStart = .afterFailure
                    restartsAfterFailure &+= 1
                case .unknown:
                    lastStart = progress == nil ? .first : .afterUnknown
                }
                lastStartProgress = progress
            }
            runState = .running
        case .stopped: runState = .stoppedCleanly
        case .failed: runState = .failed
        }
    }
}

extension AppendBatch {
    /// Adds to a vertex's speculative-launch and retry counters in this batch's commit.
    ///
    /// For the scheduler: the counters become durable with the batch (typically the one carrying
    /// the vertex's progress), so a crash never counts a launch twice nor loses a committed one.
    package mutating func bumpVertexStats(vertex: String, speculativeLaunches: UInt64 = 0, retries: UInt64 = 0,
                                          speculativeWins: UInt64 = 0) {
        vertexStats.append((vertex, VertexStatsUpdate(speculativeLaunches: speculativeLaunches, retries: retries,
                                                      speculativeWins: speculativeWins)))
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

extension VertexStats: RowCodec {
    package static let rowName = "vertex stats row"
    package static let rowVersion: UInt8 = 3
    /// Rows of versions 1 and 2 (before outputs, and before the run counters) still read.
    package static var readableRowVersions: ClosedRange<UInt8> { 1...rowVersion }
    package var rowCapacity: Int { 96 }

    /// The stats row's fields.
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(inputs)
        w.write(recoveries)
        w.write(speculativeLaunches)
        w.write(retries)
        w.write(outputs)
        w.write(speculativeWins)
        w.write(resumes)
        w.write(crashRecoveries)
        w.write(restartsAfterFailure)
        w.write(snapshotsWritten)
        w.write(byte: runState.rawValue)
        w.write(byte: lastStart.rawValue)
        w.write(byte: lastStartProgress == nil ? 0 : 1)
        w.write(lastStartProgress?.rawValue ?? 0)
    }

    /// Decodes a stats row, verifying its checksum.
    package init(row: UnsafeRawBufferPointer) throws(Corruption) {
        self = try Self.decodeRow(row) { version, r in
            var stats = VertexStats()
            stats.inputs = try r.read()
            stats.recoveries = try r.read()
            stats.speculativeLaunches = try r.read()
            stats.retries = try r.read()
            if version >= 2 { stats.outputs = try r.read() }
            if version >= 3 {
                stats.speculativeWins = try r.read()
                stats.resumes = try r.read()
                stats.crashRecoveries = try r.read()
                stats.restartsAfterFailure = try r.read()
                stats.snapshotsWritten = try r.read()
                guard let state = VertexRunState(rawValue: try r.readByte()),
                      let start = VertexStart(rawValue: try r.readByte())
                else { throw Corruption.badRow("vertex stats row run state") }
                stats.runState = state
                stats.lastStart = start
                let hasProgress = try r.readByte()
                let progress: UInt64 = try r.read()
                guard hasProgress <= 1 else { throw Corruption.badRow("vertex stats row start progress flag") }
                stats.lastStartProgress = hasProgress == 1 ? Interval(progress) : nil
            }
            return stats
        }
    }
}
