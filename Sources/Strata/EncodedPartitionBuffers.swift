import StrataStorage

/// Where one partition's block is being filled: the memory of its `RawPayload`, the bytes framed
/// so far, and their records. A trivial value, read and written in place by the append path
/// (`StreamAppender.appendEncoded`) without reference counting or uniqueness checks.
struct RawFill {
    /// The payload's memory (`RawPayload.base`).
    var base: UnsafeMutableRawPointer
    /// The bytes framed so far.
    var count: Int
    /// The bytes allocated at `base`.
    var capacity: Int
    /// The records framed so far.
    var records: Int

    /// An empty fill of `payload`'s memory.
    init(_ payload: RawPayload) {
        base = payload.base
        count = 0
        capacity = payload.capacity
        records = 0
    }
}

/// The partition buffers of one open interval of an appender that takes records already encoded
/// (the JSON ingest): a `RawPayload` per partition, which becomes a block as it is, and each
/// one's `RawFill`, in raw memory, for the append path.
///
/// Not `Sendable`: it belongs to its appender, which is used by one thread at a time. The
/// payloads it hands over (`take(_:replacingWith:)`, `takeAll()`) it no longer references.
final class EncodedPartitionBuffers {
    /// The payloads being filled, by partition; their counts are set when they are handed over.
    private var payloads: [RawPayload]
    /// Each partition's fill (`partitionCount` of them): the append path's state.
    let fills: UnsafeMutablePointer<RawFill>
    /// The number of partitions.
    private let partitionCount: Int

    /// Buffers that fill `payloads` (empty ones), one per partition.
    init(payloads: [RawPayload]) {
        self.payloads = payloads
        partitionCount = payloads.count
        fills = .allocate(capacity: max(1, payloads.count))
        for p in payloads.indices { (fills + p).initialize(to: RawFill(payloads[p])) }
    }

    deinit {
        fills.deinitialize(count: partitionCount)
        fills.deallocate()
    }

    /// Frames `bytes` as one record (a LEB128 length, then the bytes) into partition `p`, growing
    /// its payload when it lacks room: the path of a record of 128 bytes or more, or one that
    /// does not fit; `StreamAppender.appendEncoded` frames the others itself.
    ///
    /// - Precondition: `bytes.count < 1 << 28` (a length of at most four LEB128 bytes).
    @inline(never)
    func appendFraming(_ bytes: UnsafeRawBufferPointer, partition p: Int) {
        precondition(bytes.count < 1 << 28, "an encoded record of \(bytes.count) bytes")
        var length = UInt64(bytes.count)
        var prefix: UInt32 = 0
        var prefixBytes = 0
        while length >= 0x80 {
            prefix |= UInt32((length & 0x7F) | 0x80) << UInt32(8 * prefixBytes)
            length >>= 7
            prefixBytes += 1
        }
        prefix |= UInt32(length) << UInt32(8 * prefixBytes)
        prefixBytes += 1
        let needed = prefixBytes + bytes.count
        if fills[p].capacity - fills[p].count < needed {
            payloads[p].grow(toAtLeast: fills[p].count + needed, keeping: fills[p].count)
            fills[p].base = payloads[p].base
            fills[p].capacity = payloads[p].capacity
        }
        let at = fills[p].base + fills[p].count
        withUnsafeBytes(of: prefix.littleEndian) { at.copyMemory(from: $0.baseAddress!, byteCount: prefixBytes) }
        if let source = bytes.baseAddress { (at + prefixBytes).copyMemory(from: source, byteCount: bytes.count) }
        fills[p].count += needed
    }

    /// Hands over partition `p`'s payload with the records framed so far, and starts the
    /// partition again in `next` (empty).
    func take(_ p: Int, replacingWith next: RawPayload) -> RawPayload {
        let taken = payloads[p]
        taken.count = fills[p].count
        taken.recordCount = fills[p].records
        payloads[p] = next
        fills[p] = RawFill(next)
        return taken
    }

    /// Hands over every partition's payload, emptied (for reuse); the buffers must not be used
    /// afterwards.
    func takeAll() -> [RawPayload] {
        let all = payloads
        payloads = []
        for payload in all { payload.reset() }
        // No room left in any fill: a stale use of these buffers takes the growing path, which
        // traps on the payloads now gone, instead of writing into memory handed over.
        for p in 0..<partitionCount {
            fills[p].count = 0
            fills[p].capacity = 0
        }
        return all
    }
}
