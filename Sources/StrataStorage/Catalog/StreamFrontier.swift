/// Where a stream's log stands: what is sealed, where it began, what retention still keeps.
///
/// `StreamFrontier` is `Sendable`; it is a plain value.
public struct StreamFrontier: Sendable, Equatable {
    /// Every interval up to and including this one is sealed (`nil`: nothing sealed yet).
    public var sealedThrough: Interval?
    /// The first interval that held records when sealed (`nil`: no records sealed yet).
    public var firstInterval: Interval?
    /// Intervals before this one were dropped by retention.
    public var retainedFrom: Interval
    /// Records that arrived after their interval was sealed, kept in the late side stream.
    public var lateRecords: UInt64

    /// An empty stream's frontier.
    public init(sealedThrough: Interval? = nil, firstInterval: Interval? = nil,
                retainedFrom: Interval = Interval(0), lateRecords: UInt64 = 0) {
        self.sealedThrough = sealedThrough
        self.firstInterval = firstInterval
        self.retainedFrom = retainedFrom
        self.lateRecords = lateRecords
    }

    /// The first interval still readable, if any interval is.
    public var firstReadable: Interval? {
        guard let first = firstInterval, let last = sealedThrough else { return nil }
        let from = max(first, retainedFrom)
        return from <= last ? from : nil
    }
}

extension StreamFrontier: RowCodec {
    package static let rowName = "frontier row"
    package static let rowVersion: UInt8 = 1
    package var rowCapacity: Int { 48 }

    /// The frontier row's fields: flags, three intervals, late count.
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(byte: (sealedThrough == nil ? 0 : 1) | (firstInterval == nil ? 0 : 2))
        w.write(sealedThrough?.rawValue ?? 0)
        w.write(firstInterval?.rawValue ?? 0)
        w.write(retainedFrom.rawValue)
        w.write(lateRecords)
    }

    /// Decodes a frontier row, verifying its checksum.
    package init(row: UnsafeRawBufferPointer) throws(Corruption) {
        self = try Self.decodeRow(row) { _, r in
            let flags = try r.readByte()
            let sealed: UInt64 = try r.read()
            let first: UInt64 = try r.read()
            let retainedFrom = Interval(try r.read())
            let lateRecords: UInt64 = try r.read()
            guard r.remaining == 0, flags & ~3 == 0 else { throw Corruption.badRow("frontier row") }
            return StreamFrontier(sealedThrough: flags & 1 != 0 ? Interval(sealed) : nil,
                                  firstInterval: flags & 2 != 0 ? Interval(first) : nil,
                                  retainedFrom: retainedFrom, lateRecords: lateRecords)
        }
    }
}

/// The seal of one interval that holds records: per-partition chunk counts and totals.
///
/// An interval at or below the frontier with no seal row is sealed and empty.
package struct SealRecord: Sendable, Equatable {
    /// The number of chunks (blocks) of each partition.
    public var chunks: [UInt32]
    /// Records in the interval.
    public var records: UInt64
    /// Raw (uncompressed) payload bytes.
    public var rawBytes: UInt64
    /// Stored bytes: block headers plus payloads as stored.
    public var storedBytes: UInt64

    /// Creates a seal record.
    public init(chunks: [UInt32], records: UInt64, rawBytes: UInt64, storedBytes: UInt64) {
        self.chunks = chunks
        self.records = records
        self.rawBytes = rawBytes
        self.storedBytes = storedBytes
    }
}

extension SealRecord: RowCodec {
    package static let rowName = "seal row"
    package static let rowVersion: UInt8 = 1
    package var rowCapacity: Int { 40 + 4 * chunks.count }

    /// The seal row's fields: totals, then the chunk counts.
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(records)
        w.write(rawBytes)
        w.write(storedBytes)
        w.write(chunks)
    }

    /// Decodes a seal row, verifying its checksum and that it lists `partitions` partitions.
    package init(row: UnsafeRawBufferPointer, partitions: UInt32) throws(Corruption) {
        self = try Self.decodeRow(row) { _, r in
            let records: UInt64 = try r.read()
            let rawBytes: UInt64 = try r.read()
            let storedBytes: UInt64 = try r.read()
            let chunks: [UInt32] = try r.read()
            guard r.remaining == 0, chunks.count == Int(partitions) else { throw Corruption.badRow("seal row") }
            return SealRecord(chunks: chunks, records: records, rawBytes: rawBytes, storedBytes: storedBytes)
        }
    }
}
