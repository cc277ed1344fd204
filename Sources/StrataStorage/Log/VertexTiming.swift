/// How long one processed interval of a vertex took, kept in a small rolling table of the store so
/// that any process (`strata status`, the console of a `strata serve` on the same store) can chart
/// the timings of a program another process runs.
///
/// Rows live in the `vertex-stats` database under `vertex name (UTF-8) · 0x00 · slot u16 BE`, the
/// slot being the interval modulo `VertexTiming.slots`: one put per processed interval, in the
/// commit that carries the interval's outputs and progress, and never more than `slots` rows per
/// vertex. Readers keep the rows of the newest `slots` intervals. The values are measurements of
/// one run (wall-clock durations), not outputs: they differ from run to run and no output depends
/// on them. Byte layout: `docs/format.md`.
///
/// `Sendable`; a plain value.
public struct VertexTiming: Sendable, Equatable {
    /// The interval processed.
    public var interval: Interval
    /// Computing the interval, all partitions, in nanoseconds (commit not included).
    public var processingNanoseconds: UInt64
    /// From the moment the vertex found the interval ready (the start of its pass over the ready
    /// intervals) to the start of its processing, in nanoseconds.
    public var schedulingDelayNanoseconds: UInt64
    /// Records in the interval of the vertex's inputs (their seal rows).
    public var recordsIn: UInt64
    /// Records the vertex wrote for the interval, all its output streams.
    public var recordsOut: UInt64
    /// Speculative copies of the interval's tasks launched.
    public var speculativeLaunches: UInt32
    /// Speculative copies whose output was kept.
    public var speculativeWins: UInt32
    /// Tasks of the interval retried after a failure.
    public var retries: UInt32

    /// The rows kept per vertex: the timings of the newest 256 intervals.
    public static let slots: UInt64 = 256

    /// Creates a timing.
    public init(interval: Interval, processingNanoseconds: UInt64, schedulingDelayNanoseconds: UInt64,
                recordsIn: UInt64, recordsOut: UInt64, speculativeLaunches: UInt32 = 0, speculativeWins: UInt32 = 0,
                retries: UInt32 = 0) {
        self.interval = interval
        self.processingNanoseconds = processingNanoseconds
        self.schedulingDelayNanoseconds = schedulingDelayNanoseconds
        self.recordsIn = recordsIn
        self.recordsOut = recordsOut
        self.speculativeLaunches = speculativeLaunches
        self.speculativeWins = speculativeWins
        self.retries = retries
    }

    /// The key of the row that holds `interval`'s timing for `vertex`.
    package static func key(vertex: String, interval: Interval) -> [UInt8] {
        var bytes = prefix(of: vertex)
        let slot = UInt16(interval.rawValue % slots)
        withUnsafeBytes(of: slot.bigEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The bytes every timing key of `vertex` starts with.
    package static func prefix(of vertex: String) -> [UInt8] { Array(vertex.utf8) + [0] }
}

extension LogStore {
    /// Puts timing rows inside the batch's transaction.
    func applyVertexTimings(_ timings: [(String, VertexTiming)], in txn: borrowing Transaction) throws {
        for (vertex, timing) in timings {
            let key = VertexTiming.key(vertex: vertex, interval: timing.interval)
            let row = timing.encodedRow()
            try key.withUnsafeBytes { k in try row.withUnsafeBytes { try txn.put(vertexStatsRows, key: k, value: $0) } }
        }
    }

    /// The timings of `vertex`'s newest processed intervals (at most `VertexTiming.slots`, those
    /// within `slots` intervals of the newest), in interval order.
    ///
    /// - Throws: `.corrupt` naming the vertex for a damaged row.
    package func vertexTimings(of vertex: String) throws(StorageError) -> [VertexTiming] {
        try wrap {
            try environment.read { txn in
                try txn.withCursor(vertexStatsRows) { cursor in
                    let prefix = VertexTiming.prefix(of: vertex)
                    var rows: [VertexTiming] = []
                    var entry = try prefix.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                    while let (key, value) = entry, key.count == prefix.count + 2, key.starts(with: prefix) {
                        do throws(Corruption) {
                            rows.append(try VertexTiming(row: value))
                        } catch {
                            throw StorageError.corrupt(StoreLocation(stream: "timings of \(vertex)"), error)
                        }
                        entry = try cursor.next()
                    }
                    rows.sort { $0.interval < $1.interval }
                    guard let newest = rows.last?.interval else { return rows }
                    return rows.filter { newest.rawValue - $0.interval.rawValue < VertexTiming.slots }
                }
            }
        }
    }
}

extension VertexTiming: RowCodec {
    package static let rowName = "vertex timing row"
    package static let rowVersion: UInt8 = 1
    package var rowCapacity: Int { 64 }

    /// The row's fields: interval u64; processing ns u64; scheduling delay ns u64; records in
    /// u64; records out u64; speculative launches, wins, retries, each u32.
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(interval.rawValue)
        w.write(processingNanoseconds)
        w.write(schedulingDelayNanoseconds)
        w.write(recordsIn)
        w.write(recordsOut)
        w.write(speculativeLaunches)
        w.write(speculativeWins)
        w.write(retries)
    }

    /// Decodes a timing row, verifying its checksum.
    package init(row: UnsafeRawBufferPointer) throws(Corruption) {
        self = try Self.decodeRow(row) { _, r in
            VertexTiming(interval: Interval(try r.read() as UInt64), processingNanoseconds: try r.read(),
                         schedulingDelayNanoseconds: try r.read(), recordsIn: try r.read(), recordsOut: try r.read(),
                         speculativeLaunches: try r.read(), speculativeWins: try r.read(), retries: try r.read())
        }
    }
}
