/// How far an input has been appended to a stream: every record read from the input before this
/// position is committed, none after it.
///
/// A resumable appender (`StoredStream.eventTimeAppender(allowedLateness:source:limits:)` and its siblings) commits its position together
/// with the records in the same LMDB transaction, so after any interruption the position and the
/// stream agree exactly: resume reading the input at `bytes` (or after `lines` lines, or at what
/// `token` says for an input of your own, such as a message queue offset).
///
/// `InputPosition` is `Sendable`; it is a plain value.
public struct InputPosition: Sendable, Equatable {
    /// Lines (or records) of the input consumed, rejected and blank ones included.
    public var lines: UInt64
    /// Bytes of the input consumed: the offset of the first byte not yet appended.
    public var bytes: UInt64
    /// Free-form bytes of the caller's own (an offset, a file name, a cursor), at most
    /// `InputPosition.maxTokenBytes`; committed and returned as they are.
    public var token: [UInt8]

    /// The most bytes a token may hold.
    public static let maxTokenBytes = 4096

    /// A position; the start of an input by default.
    public init(lines: UInt64 = 0, bytes: UInt64 = 0, token: [UInt8] = []) {
        self.lines = lines
        self.bytes = bytes
        self.token = token
    }
}

/// What the store keeps for one source of one stream: its position, the event-time watermark
/// the appender had reached there, the partition its next unkeyed record goes to, and whether the
/// input ended.
///
/// Kept in the `meta` database under `source/` + stream ID (4 bytes, big-endian) + the source's
/// name (UTF-8; empty for the unnamed input of `strata ingest` without `--source`), written in
/// the same transaction as the blocks it accounts for. Layout: `docs/format.md`.
package struct SourceRecord: Sendable, Equatable {
    package var position: InputPosition
    /// The largest event time appended (nanoseconds), from which the watermark resumes.
    package var maxEventTime: Int64?
    /// Whether the input was read to its end (an unnamed input that did not finish was interrupted).
    package var finished: Bool
    /// The process that committed the row.
    package var processID: Int32
    /// The partition the appender's next unkeyed (round-robin) record goes to: a resumed appender
    /// continues the rotation there, so a resumed input is partitioned as an uninterrupted one.
    /// 0 in rows of version 1, written before it was kept.
    package var nextRoundRobinPartition: UInt32

    package init(position: InputPosition, maxEventTime: Int64?, finished: Bool, processID: Int32,
                 nextRoundRobinPartition: UInt32 = 0) {
        self.position = position
        self.maxEventTime = maxEventTime
        self.finished = finished
        self.processID = processID
        self.nextRoundRobinPartition = nextRoundRobinPartition
    }

    /// The `meta` key of a stream's source.
    package static func key(stream: StreamID, source: String) -> [UInt8] {
        var key = Array("source/".utf8)
        withUnsafeBytes(of: stream.rawValue.bigEndian) { key.append(contentsOf: $0) }
        key.append(contentsOf: source.utf8)
        return key
    }

    /// Whether `name` may name a source: 1–200 characters of A–Z a–z 0–9 . _ -, as a stream name.
    package static func isValidName(_ name: String) -> Bool { StreamDescriptor.isValidName(name) }
}

extension LogStore {
    /// The record committed for `source` of a stream, or `nil` when none was.
    ///
    /// - Throws: `.corrupt` when the row does not verify.
    package func sourceRecord(of descriptor: StreamDescriptor, source: String) throws(StorageError) -> SourceRecord? {
        let key = SourceRecord.key(stream: descriptor.id, source: source)
        return try wrap {
            try environment.read { txn in
                try key.withUnsafeBytes { k in
                    try txn.withValue(meta, key: k) { row -> SourceRecord? in
                        guard let row else { return nil }
                        do throws(Corruption) {
                            return try SourceRecord(row: row)
                        } catch {
                            let what = source.isEmpty ? "unnamed input" : "source \(source)"
                            throw StorageError.corrupt(StoreLocation(stream: "\(descriptor.name) (\(what))"), error)
                        }
                    }
                }
            }
        }
    }

    /// Puts a source row inside a write transaction.
    func putSourceRecord(_ record: SourceRecord, stream: StreamID, source: String, _ txn: borrowing Transaction) throws {
        let key = SourceRecord.key(stream: stream, source: source)
        let row = record.encodedRow()
        try key.withUnsafeBytes { k in try row.withUnsafeBytes { try txn.put(meta, key: k, value: $0) } }
    }

    /// The newest interval after the stream's sealed frontier that holds committed blocks: blocks
    /// committed before their interval was sealed (by an appender that stopped or was killed).
    /// `nil` when there are none.
    package func newestUnsealedInterval(of descriptor: StreamDescriptor) throws(StorageError) -> Interval? {
        try wrap {
            try environment.read { txn in
                let frontier = try frontier(of: descriptor, in: txn)
                return try txn.withCursor(blocks) { cursor -> Interval? in
                    // The stream's last block: seek past its largest possible key, step back.
                    let after = BlockKey(stream: StreamID(rawValue: descriptor.id.rawValue &+ 1), interval: Interval(0),
                                         partition: PartitionIndex(0), chunk: ChunkIndex(rawValue: 0))
                    let found = descriptor.id.rawValue == .max ? nil : try after.withEncodedBytes { try cursor.seek(atLeast: $0) }
                    let previous = found == nil ? try cursor.last() : try cursor.previous()
                    guard let (keyBytes, _) = previous, let key = BlockKey(decoding: keyBytes),
                          key.stream == descriptor.id else { return nil }
                    if let sealed = frontier.sealedThrough, key.interval <= sealed { return nil }
                    return key.interval
                }
            }
        }
    }

    /// The oldest interval after the stream's sealed frontier that holds committed blocks; `nil`
    /// when there are none (or the stream is sealed through the last interval index).
    package func oldestUnsealedInterval(of descriptor: StreamDescriptor) throws(StorageError) -> Interval? {
        try wrap {
            try environment.read { txn in
                let frontier = try frontier(of: descriptor, in: txn)
                var from = Interval(0)
                if let sealed = frontier.sealedThrough {
                    guard sealed.rawValue < .max else { return nil }
                    from = sealed.next
                }
                return try txn.withCursor(blocks) { cursor -> Interval? in
                    let start = BlockKey(stream: descriptor.id, interval: from, partition: PartitionIndex(0),
                                         chunk: ChunkIndex(rawValue: 0))
                    guard let (keyBytes, _) = try start.withEncodedBytes({ try cursor.seek(atLeast: $0) }),
                          let key = BlockKey(decoding: keyBytes), key.stream == descriptor.id else { return nil }
                    return key.interval
                }
            }
        }
    }

    /// Calls `body` with every committed block of the unsealed intervals of a stream in `range`, in
    /// key order (interval, partition, chunk), inside one read transaction; returns the stream's
    /// sealed frontier as the blocks were read. Blocks of sealed intervals are not visited.
    ///
    /// These blocks are durable but not sealed: their interval may still receive records.
    package func withUnsealedBlocks(
        of descriptor: StreamDescriptor, in range: ClosedRange<Interval>,
        _ body: (BlockKey, UnsafeRawBufferPointer) throws -> Void
    ) throws -> Interval? {
        try environment.read { txn in
            let frontier = try frontier(of: descriptor, in: txn)
            var from = range.lowerBound
            if let sealed = frontier.sealedThrough {
                guard sealed < range.upperBound else { return sealed }
                from = max(from, sealed.next)
            }
            try txn.withCursor(blocks) { cursor in
                var entry = try BlockKey(stream: descriptor.id, interval: from, partition: PartitionIndex(0),
                                         chunk: ChunkIndex(rawValue: 0)).withEncodedBytes { try cursor.seek(atLeast: $0) }
                while let (keyBytes, value) = entry {
                    guard let key = BlockKey(decoding: keyBytes), key.stream == descriptor.id,
                          key.interval <= range.upperBound else { return }
                    try body(key, value)
                    entry = try cursor.next()
                }
            }
            return frontier.sealedThrough
        }
    }
}

extension SourceRecord: RowCodec {
    package static let rowName = "source row"
    package static let rowVersion: UInt8 = 2
    /// Rows of version 1 (before the round-robin partition was kept) still read, as partition 0.
    package static var readableRowVersions: ClosedRange<UInt8> { 1...rowVersion }
    package var rowCapacity: Int { 52 + position.token.count }

    /// The row's fields: flags, lines, bytes, max event time, pid, token, next round-robin partition.
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(byte: (maxEventTime == nil ? 0 : 1) | (finished ? 2 : 0))
        w.write(position.lines)
        w.write(position.bytes)
        w.write(UInt64(bitPattern: maxEventTime ?? 0))
        w.write(UInt32(bitPattern: processID))
        w.write(position.token)
        w.write(nextRoundRobinPartition)
    }

    /// Decodes a source row, verifying its checksum.
    package init(row: UnsafeRawBufferPointer) throws(Corruption) {
        self = try Self.decodeRow(row) { version, r in
            let flags = try r.readByte()
            let lines: UInt64 = try r.read()
            let bytes: UInt64 = try r.read()
            let eventTime: UInt64 = try r.read()
            let pid: UInt32 = try r.read()
            let token: [UInt8] = try r.read()
            let nextRoundRobin: UInt32 = try version >= 2 ? r.read() : 0
            guard r.remaining == 0, flags & ~3 == 0, token.count <= InputPosition.maxTokenBytes else {
                throw Corruption.badRow("source row")
            }
            return SourceRecord(position: InputPosition(lines: lines, bytes: bytes, token: token),
                                maxEventTime: flags & 1 != 0 ? Int64(bitPattern: eventTime) : nil,
                                finished: flags & 2 != 0, processID: Int32(bitPattern: pid),
                                nextRoundRobinPartition: nextRoundRobin)
        }
    }
}
