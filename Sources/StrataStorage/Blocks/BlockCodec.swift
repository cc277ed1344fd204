import Synchronization

/// Turns framed record payloads into blocks and back.
///
/// A payload is the records of one chunk, each framed as a LEB128 length followed by the record's
/// bytes. Encoding compresses with LZ4 and falls back to storing the payload uncompressed when
/// that is not smaller. Decoding verifies the checksum, decompresses with `LZ4_decompress_safe`
/// and checks the framing, so that any damage becomes a `Corruption`, never a crash.
///
/// A codec value owns reusable scratch buffers; use one per thread.
///
/// `@usableFromInline` for the engine's record decoders (`withVerifiedFrames`), which are
/// inlined into, and specialized for, the program's record types. Not part of the public API.
/// `Sendable` as before it was `@usableFromInline` (then inferred): plain byte arrays, moved
/// between threads through `encodeBlock`'s pool.
@usableFromInline package struct BlockCodec: Sendable {
    private var compressed: [UInt8] = []
    private var decompressed: [UInt8] = []

    package init() {}

    /// Encodes one block from a framed payload.
    ///
    /// - Precondition: `payload.count <= BlockHeader.maxRawLength` and `recordCount <= UInt32.max`.
    package mutating func encode(payload: UnsafeRawBufferPointer, recordCount: Int) -> [UInt8] {
        precondition(payload.count <= BlockHeader.maxRawLength, "block payload over the limit")
        let bound = LZ4.compressBound(payload.count)
        if compressed.count < bound { compressed = [UInt8](repeating: 0, count: bound) }
        let compressedCount = compressed.withUnsafeMutableBytes { LZ4.compress(payload, into: $0) }
        let useLZ4 = compressedCount > 0 && compressedCount < payload.count
        let storedCount = useLZ4 ? compressedCount : payload.count
        // Allocated uninitialized and written once: the header, then the stored payload, then the
        // checksum (no zero fill of a block's bytes before they are written).
        let block = [UInt8](unsafeUninitializedCapacity: BlockHeader.size + storedCount) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            out.storeBytes(of: UInt64(0), toByteOffset: 0, as: UInt64.self)
            out[0] = BlockHeader.magic[0]; out[1] = BlockHeader.magic[1]
            out[2] = BlockHeader.magic[2]; out[3] = BlockHeader.magic[3]
            out[4] = BlockHeader.formatVersion
            out[5] = (useLZ4 ? BlockHeader.Codec.lz4 : .none).rawValue
            out.storeBytes(of: UInt32(recordCount).bigEndian, toByteOffset: 8, as: UInt32.self)
            out.storeBytes(of: UInt32(payload.count).bigEndian, toByteOffset: 12, as: UInt32.self)
            out.storeBytes(of: UInt32(storedCount).bigEndian, toByteOffset: 16, as: UInt32.self)
            out.storeBytes(of: UInt32(0), toByteOffset: 20, as: UInt32.self)
            out.storeBytes(of: UInt64(0), toByteOffset: 24, as: UInt64.self)
            if storedCount > 0, let destination = out.baseAddress?.advanced(by: BlockHeader.size) {
                if useLZ4 {
                    compressed.withUnsafeBytes { source in
                        if let s = source.baseAddress { destination.copyMemory(from: s, byteCount: storedCount) }
                    }
                } else if let s = payload.baseAddress {
                    destination.copyMemory(from: s, byteCount: storedCount)
                }
            }
            let checksum = BlockHeader.computeChecksum(UnsafeRawBufferPointer(out))
            out.storeBytes(of: checksum.bigEndian, toByteOffset: 24, as: UInt64.self)
            initialized = BlockHeader.size + storedCount
        }
        return block
    }

    /// Scratch codecs for `encodeBlock`, one per thread compressing at a time.
    private static let pool = Mutex<[BlockCodec]>([])

    /// Encodes one block from a framed payload on the calling thread, with a scratch codec taken
    /// from a shared pool: appenders and engine tasks compress their own blocks in parallel.
    ///
    /// - Precondition: `payload.count <= BlockHeader.maxRawLength` and `recordCount <= UInt32.max`.
    package static func encodeBlock(payload: UnsafeRawBufferPointer, recordCount: Int) -> [UInt8] {
        var codec = pool.withLock { $0.popLast() } ?? BlockCodec()
        let block = codec.encode(payload: payload, recordCount: recordCount)
        pool.withLock { if $0.count < 16 { $0.append(codec) } }
        return block
    }

    /// Verifies a block and calls `body` with its header and raw framed payload.
    ///
    /// The payload pointer is valid only inside `body`: it points into this codec's scratch buffer
    /// or into `block` itself.
    package mutating func withVerifiedPayload<R>(
        _ block: UnsafeRawBufferPointer,
        _ body: (BlockHeader, UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        let header = try BlockHeader(parsing: block)
        let computed = BlockHeader.computeChecksum(block)
        guard computed == header.checksum else {
            throw Corruption.checksumMismatch(stored: header.checksum, computed: computed)
        }
        let stored = UnsafeRawBufferPointer(rebasing: block[BlockHeader.size...])
        switch header.codec {
        case .none:
            return try body(header, stored)
        case .lz4:
            if decompressed.count < header.rawLength {
                decompressed = [UInt8](repeating: 0, count: max(header.rawLength, decompressed.count * 2))
            }
            let ok = decompressed.withUnsafeMutableBytes { out in
                LZ4.decompress(stored, into: UnsafeMutableRawBufferPointer(rebasing: out[0..<header.rawLength]))
            }
            guard ok else { throw Corruption.decompressionFailed }
            return try decompressed.withUnsafeBytes { raw in
                try body(header, UnsafeRawBufferPointer(rebasing: raw[0..<header.rawLength]))
            }
        }
    }

    /// Verifies a block and calls `body` with the frames of its records (the count its header
    /// gives, checked against the framing as `body` iterates).
    ///
    /// Not generic in the record type: the caller's loop over the frames is, and is inlined where
    /// the record type is known. The frames' memory is valid only inside `body`.
    @usableFromInline
    package mutating func withVerifiedFrames<R>(
        _ block: UnsafeRawBufferPointer,
        _ body: (inout RecordFrames) throws -> R
    ) throws -> R {
        try withVerifiedPayload(block) { header, payload in
            var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
            return try body(&frames)
        }
    }

    /// Verifies a block completely: checksum, decompression and record framing.
    package mutating func verify(_ block: UnsafeRawBufferPointer) throws(Corruption) {
        do {
            try withVerifiedPayload(block) { header, payload in
                var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
                while try frames.next() != nil {}
            }
        } catch let corruption as Corruption {
            throw corruption
        } catch {
            throw .badFraming(offset: 0)
        }
    }
}

/// Iterates the framed records of a raw payload, checking every length against the bytes left.
///
/// `@usableFromInline` so that generic read loops can be inlined into, and specialized for, the
/// caller's record type; it only reads memory it is given. Not part of the public API.
@usableFromInline package struct RecordFrames {
    /// The raw payload.
    public let payload: UnsafeRawBufferPointer
    /// The record count its block header gives.
    public let expectedCount: Int
    /// The index of the next record.
    public var index = 0
    @usableFromInline var offset = 0

    /// Iterates `payload`, which must hold exactly `expectedCount` framed records.
    @inlinable
    public init(payload: UnsafeRawBufferPointer, expectedCount: Int) {
        self.payload = payload
        self.expectedCount = expectedCount
    }

    /// The next record's bytes, or `nil` after the last; throws when the framing is damaged or the
    /// count differs from the header's.
    @inlinable
    public mutating func next() throws(Corruption) -> UnsafeRawBufferPointer? {
        if offset == payload.count {
            guard index == expectedCount else { throw .recordCountMismatch(header: expectedCount, found: index) }
            return nil
        }
        guard index < expectedCount else { throw .recordCountMismatch(header: expectedCount, found: index + 1) }
        // LEB128 length, at most 4 bytes (records are under 256 MiB).
        var length = 0
        var shift = 0
        let start = offset
        while true {
            guard offset < payload.count, shift <= 21 else { throw .badFraming(offset: start) }
            let byte = payload[offset]
            offset += 1
            length |= Int(byte & 0x7f) << shift
            if byte < 0x80 { break }
            shift += 7
        }
        guard length <= payload.count - offset else { throw .badFraming(offset: start) }
        defer {
            offset += length
            index += 1
        }
        return UnsafeRawBufferPointer(rebasing: payload[offset..<offset + length])
    }
}

/// Builds the framed payload of one chunk: records are encoded in place behind a length prefix.
@usableFromInline
package struct PayloadBuilder: Sendable {
    /// The framed bytes so far.
    @usableFromInline package var writer = BinaryWriter()
    /// The number of records framed.
    @usableFromInline package var recordCount = 0

    package init(capacity: Int) { writer = BinaryWriter(capacity: capacity) }

    /// An empty payload that writes into `buffer`'s storage (emptied first).
    package init(reusing buffer: consuming [UInt8]) {
        var storage = consume buffer
        if !storage.isEmpty { storage.removeAll(keepingCapacity: true) }
        writer._bytes = storage
    }

    /// The number of payload bytes.
    @inlinable package var byteCount: Int { writer.count }

    /// Frames one record, encoding it directly into the payload.
    @inlinable
    package mutating func append<R: RecordCodable>(_ record: R) {
        let lengthAt = writer._bytes.count
        writer.write(byte: 0)
        record.encode(to: &writer)
        finishFrame(lengthAt: lengthAt)
    }

    /// Frames one record whose encoding is `leadingKey` (its partition key, already encoded to
    /// choose the partition) followed by what `remainder` writes; when `remainder` returns `false`
    /// (the encoding does not start with the key), the record is encoded whole instead.
    @inlinable
    package mutating func append<R: RecordCodable>(_ record: R, leadingKey: UnsafeRawBufferPointer,
                                                  remainder: (R, inout BinaryWriter) -> Bool) {
        let lengthAt = writer._bytes.count
        writer.write(byte: 0)
        writer.write(raw: leadingKey)
        if !remainder(record, &writer) {
            writer._bytes.removeSubrange((lengthAt + 1)...)
            record.encode(to: &writer)
        }
        finishFrame(lengthAt: lengthAt)
    }

    /// Frames one record given as bytes already encoded.
    @inlinable
    package mutating func append(encoded bytes: UnsafeRawBufferPointer) {
        // A record under 128 bytes (a JSON line, say) has a one-byte length: written inline,
        // without the varint loop's call.
        if bytes.count < 0x80 {
            writer.write(byte: UInt8(truncatingIfNeeded: bytes.count))
        } else {
            writer.write(varint: UInt64(bytes.count))
        }
        writer.write(raw: bytes)
        recordCount += 1
    }

    /// Ends the frame whose one-byte length placeholder is at `lengthAt`: the length of the bytes
    /// after it, as a LEB128 varint. A record under 128 bytes (the common case) patches the byte
    /// in place, inlined into the record loop; a longer one widens the prefix out of line.
    @inlinable @inline(__always)
    package mutating func finishFrame(lengthAt: Int) {
        let length = writer._bytes.count - lengthAt - 1
        if length < 0x80 {
            writer._bytes[lengthAt] = UInt8(truncatingIfNeeded: length)
        } else {
            widenLengthPrefix(at: lengthAt, length: length)
        }
        recordCount += 1
    }

    /// Replaces the one-byte length placeholder at `lengthAt` with `length` (≥ 128) as a varint.
    @usableFromInline @inline(never)
    package mutating func widenLengthPrefix(at lengthAt: Int, length: Int) {
        var prefix: [UInt8] = []
        var v = length
        while v >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        prefix.append(UInt8(v))
        writer._bytes.replaceSubrange(lengthAt..<lengthAt + 1, with: prefix)
    }

    /// Hands over the framed bytes and starts again with `buffer` (emptied) as storage.
    package mutating func takeBytes(replacingWith buffer: consuming [UInt8]) -> [UInt8] {
        // Consumed, and emptied only when it is not empty: emptying an array that is shared
        // (the caller's copy) would allocate a new one instead of keeping this storage.
        var next = consume buffer
        if !next.isEmpty { next.removeAll(keepingCapacity: true) }
        let bytes = writer.bytes
        writer._bytes = next
        recordCount = 0
        return bytes
    }

    /// Forgets the records, keeping the storage.
    package mutating func reset() {
        writer.removeAll()
        recordCount = 0
    }
}
