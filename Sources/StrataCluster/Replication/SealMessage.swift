import StrataStorage

/// The payload of a seal message: interval `t` of a stream is sealed in JetStream, with the
/// seal row of its blocks (empty when the interval holds no records).
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 4 | magic `STSL` |
/// | 4 | 1 | version (1) |
/// | 5 | 8 | interval, big-endian |
/// | 13 | 8 | first sequence: the JetStream sequence of the interval's first block message (0: none) |
/// | 21 | 4 | block messages of the interval (pieces), big-endian |
/// | 25 | 4 | seal row length, big-endian |
/// | 29 | n | the seal row as the store keeps it (`docs/format.md`), or nothing |
///
/// `SealMessage` is `Sendable`.
struct SealMessage: Sendable, Equatable {
    static let magic: [UInt8] = Array("STSL".utf8)
    static let version: UInt8 = 1

    var interval: Interval
    var firstSequence: UInt64
    var blockMessages: UInt32
    /// The seal row bytes (`SealRecord.encodedRow()`), empty for an empty interval.
    var sealRow: [UInt8]

    func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(29 + sealRow.count)
        bytes.append(Self.version)
        appendBigEndian(interval.rawValue, to: &bytes)
        appendBigEndian(firstSequence, to: &bytes)
        appendBigEndian(blockMessages, to: &bytes)
        appendBigEndian(UInt32(sealRow.count), to: &bytes)
        bytes += sealRow
        return bytes
    }

    /// Decodes a seal message; `what` names it in the error.
    init(decoding bytes: [UInt8], what: String) throws(ClusterError) {
        guard bytes.count >= 29, Array(bytes[0..<4]) == Self.magic else {
            throw .corrupt("\(what): not a seal message (\(bytes.count) bytes)")
        }
        guard bytes[4] == Self.version else { throw .corrupt("\(what): seal message version \(bytes[4])") }
        interval = Interval(rawValue: readBigEndian(bytes, at: 5))
        firstSequence = readBigEndian(bytes, at: 13)
        blockMessages = readBigEndian(bytes, at: 21)
        let length: UInt32 = readBigEndian(bytes, at: 25)
        guard bytes.count == 29 + Int(length) else {
            throw .corrupt("\(what): seal message of \(bytes.count) bytes announces a \(length)-byte seal row")
        }
        sealRow = Array(bytes[29...])
    }

    init(interval: Interval, firstSequence: UInt64, blockMessages: UInt32, sealRow: [UInt8]) {
        self.interval = interval
        self.firstSequence = firstSequence
        self.blockMessages = blockMessages
        self.sealRow = sealRow
    }

    /// The seal record, or `nil` for an empty interval.
    func sealRecord(partitions: UInt32, what: String) throws(ClusterError) -> SealRecord? {
        if sealRow.isEmpty { return nil }
        let decoded = sealRow.withUnsafeBytes { raw in
            Result { () throws(Corruption) in try SealRecord(row: raw, partitions: partitions) }
        }
        switch decoded {
        case let .success(record): return record
        case let .failure(error): throw .corrupt("\(what): seal row: \(error)")
        }
    }
}

/// The headers of a block message.
enum BlockMessageHeader {
    static let interval = "Strata-Interval"
    static let partition = "Strata-Partition"
    static let chunk = "Strata-Chunk"
    /// `i/n`: this is piece `i` (from 0) of `n` of the block.
    static let piece = "Strata-Piece"
}

/// Where a block message belongs, read from its headers.
struct BlockPiece: Sendable {
    var interval: Interval
    var partition: UInt32
    var chunk: UInt32
    var piece: Int
    var pieces: Int

    init(_ message: StoredMessage, what: String) throws(ClusterError) {
        guard let interval = message.header(BlockMessageHeader.interval).flatMap(UInt64.init),
              let partition = message.header(BlockMessageHeader.partition).flatMap(UInt32.init),
              let chunk = message.header(BlockMessageHeader.chunk).flatMap(UInt32.init),
              let pieceText = message.header(BlockMessageHeader.piece)
        else { throw .corrupt("\(what): block message \(message.sequence) lacks its Strata-* headers") }
        let parts = pieceText.split(separator: "/")
        guard parts.count == 2, let piece = Int(parts[0]), let pieces = Int(parts[1]), pieces >= 1, piece < pieces, piece >= 0
        else { throw .corrupt("\(what): block message \(message.sequence) has piece \"\(pieceText)\"") }
        self.interval = Interval(rawValue: interval)
        self.partition = partition
        self.chunk = chunk
        self.piece = piece
        self.pieces = pieces
    }
}

func appendBigEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
}

func readBigEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int) -> T {
    var value: T = 0
    for index in 0..<MemoryLayout<T>.size { value = value << 8 | T(bytes[offset + index]) }
    return value
}

/// Checks a block as the store would read it: header, length and checksum.
func verifyBlock(_ block: [UInt8], what: @autoclosure () -> String) throws(ClusterError) {
    let checked = block.withUnsafeBytes { raw in
        Result { () throws(Corruption) in
            let header = try BlockHeader(parsing: raw)
            let computed = BlockHeader.computeChecksum(raw)
            guard computed == header.checksum else {
                throw Corruption.checksumMismatch(stored: header.checksum, computed: computed)
            }
        }
    }
    if case let .failure(error) = checked { throw .corrupt("\(what()): \(error)") }
}
