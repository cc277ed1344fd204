/// The LMDB key of one block: `(stream u32, interval u64, partition u32, chunk u32)`, 20 bytes big-endian,
/// so that LMDB's byte order is log order.
package struct BlockKey: Hashable, Sendable, CustomStringConvertible {
    package static let encodedCount = 20
    package var stream: StreamID
    package var interval: Interval
    package var partition: PartitionIndex
    package var chunk: ChunkIndex

    package init(stream: StreamID, interval: Interval, partition: PartitionIndex, chunk: ChunkIndex) {
        self.stream = stream
        self.interval = interval
        self.partition = partition
        self.chunk = chunk
    }

    /// Calls `body` with the 20 encoded key bytes; the pointer must not escape.
    package func withEncodedBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: Self.encodedCount, alignment: 8) { buffer in
            buffer.storeBytes(of: stream.rawValue.bigEndian, toByteOffset: 0, as: UInt32.self)
            buffer.storeBytes(of: interval.rawValue.bigEndian, toByteOffset: 4, as: UInt64.self)
            buffer.storeBytes(of: partition.rawValue.bigEndian, toByteOffset: 12, as: UInt32.self)
            buffer.storeBytes(of: chunk.rawValue.bigEndian, toByteOffset: 16, as: UInt32.self)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes a key read from the blocks database; `nil` when the length is wrong.
    package init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedCount else { return nil }
        stream = StreamID(rawValue: UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        interval = Interval(UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self)))
        partition = PartitionIndex(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        chunk = ChunkIndex(rawValue: UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
    }

    package var description: String { "stream \(stream) interval \(interval) partition \(partition) chunk \(chunk)" }

    /// Whether this key sorts before `other`, as their encodings do.
    package func isBefore(_ other: BlockKey) -> Bool {
        (stream.rawValue, interval.rawValue, partition.rawValue, chunk.rawValue)
            < (other.stream.rawValue, other.interval.rawValue, other.partition.rawValue, other.chunk.rawValue)
    }
}

/// The LMDB key of one seal record: `(stream u32, interval u64)`, 12 bytes big-endian.
package struct SealKey: Hashable, Sendable {
    package static let encodedCount = 12
    package var stream: StreamID
    package var interval: Interval

    package init(stream: StreamID, interval: Interval) {
        self.stream = stream
        self.interval = interval
    }

    /// Calls `body` with the 12 encoded key bytes; the pointer must not escape.
    package func withEncodedBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: Self.encodedCount, alignment: 8) { buffer in
            buffer.storeBytes(of: stream.rawValue.bigEndian, toByteOffset: 0, as: UInt32.self)
            buffer.storeBytes(of: interval.rawValue.bigEndian, toByteOffset: 4, as: UInt64.self)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Decodes a key read from the seals database; `nil` when the length is wrong.
    package init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedCount else { return nil }
        stream = StreamID(rawValue: UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        interval = Interval(UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self)))
    }
}

/// The LMDB key of per-stream rows (frontier): the stream ID, 4 bytes big-endian.
package struct StreamKey: Hashable, Sendable {
    package var stream: StreamID
    package init(_ stream: StreamID) { self.stream = stream }

    /// Calls `body` with the 4 encoded key bytes; the pointer must not escape.
    package func withEncodedBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var value = stream.rawValue.bigEndian
        return try withUnsafeBytes(of: &value) { try body($0) }
    }
}
