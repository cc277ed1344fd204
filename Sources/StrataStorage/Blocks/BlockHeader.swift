/// The 32-byte header in front of every block's payload (format version 1).
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 4 | magic `STBK` |
/// | 4 | 1 | format version (1) |
/// | 5 | 1 | codec: 0 none, 1 LZ4 block |
/// | 6 | 2 | reserved, zero |
/// | 8 | 4 | record count, big-endian |
/// | 12 | 4 | raw (uncompressed) payload length, big-endian |
/// | 16 | 4 | stored payload length, big-endian |
/// | 20 | 4 | reserved, zero |
/// | 24 | 8 | checksum, big-endian: `XXH64(payload, seed: XXH64(header[0..<24]))` |
package struct BlockHeader: Sendable, Equatable {
    package static let size = 32
    package static let magic: [UInt8] = Array("STBK".utf8)
    package static let formatVersion: UInt8 = 1
    /// The largest raw payload of one block.
    package static let maxRawLength = 64 << 20

    /// How a block's payload is stored.
    package enum Codec: UInt8, Sendable {
        case none = 0
        case lz4 = 1
    }

    package var codec: Codec
    package var recordCount: Int
    package var rawLength: Int
    package var storedLength: Int
    package var checksum: UInt64

    /// Parses and checks a header without touching the payload (no checksum verification).
    package init(parsing block: UnsafeRawBufferPointer) throws(Corruption) {
        guard block.count >= Self.size else { throw .truncated(expected: Self.size, actual: block.count) }
        guard block[0] == Self.magic[0], block[1] == Self.magic[1], block[2] == Self.magic[2],
              block[3] == Self.magic[3] else { throw .badMagic }
        guard block[4] == Self.formatVersion else { throw .unsupportedVersion(block[4]) }
        guard let codec = Codec(rawValue: block[5]) else { throw .unknownCodec(block[5]) }
        guard block[6] == 0, block[7] == 0, block.loadUnaligned(fromByteOffset: 20, as: UInt32.self) == 0 else {
            throw .reservedFieldSet
        }
        self.codec = codec
        recordCount = Int(UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        rawLength = Int(UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        storedLength = Int(UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
        checksum = UInt64(bigEndian: block.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        guard storedLength == block.count - Self.size else {
            throw .truncated(expected: Self.size + storedLength, actual: block.count)
        }
        guard rawLength <= Self.maxRawLength else { throw .badFraming(offset: 0) }
        if codec == .none && rawLength != storedLength { throw .badFraming(offset: 0) }
        // Every record takes at least one byte of framing.
        guard recordCount <= rawLength else { throw .recordCountMismatch(header: recordCount, found: rawLength) }
    }

    /// The checksum of a block as stored: seeded with the header's first 24 bytes.
    package static func computeChecksum(_ block: UnsafeRawBufferPointer) -> UInt64 {
        let seed = XXH64.hash(UnsafeRawBufferPointer(rebasing: block[0..<24]))
        return XXH64.hash(UnsafeRawBufferPointer(rebasing: block[Self.size...]), seed: seed)
    }
}
