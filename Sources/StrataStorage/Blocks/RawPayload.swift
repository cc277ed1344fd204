/// One block's framed payload in raw memory, for an appender of records that arrive already
/// encoded (the JSON ingest): the appender frames each record straight into it, the compressor
/// reads it in place, and its memory then goes back to the appender for a later block.
///
/// The bytes are exactly those `PayloadBuilder.append(encoded:)` frames (a LEB128 length, then
/// the record), so a block cut from it is byte for byte the block a `PayloadBuilder` would give.
/// Unlike a `PayloadBuilder`'s `[UInt8]`, appending to it involves no uniqueness check, no
/// copy-on-write and no generic `append(contentsOf:)`.
///
/// `@unchecked Sendable`: it has one owner at a time, which hands it on whole and keeps no
/// reference — the appender that fills it, then the `PendingBlock` that carries it to the
/// appender's `BlockCompressor`, then the compressor's spare list, then an appender again.
package final class RawPayload: @unchecked Sendable {
    /// The first byte; `count` bytes from here are framed records, `capacity` are allocated.
    package private(set) var base: UnsafeMutableRawPointer
    /// The bytes allocated at `base`.
    package private(set) var capacity: Int
    /// The payload's bytes (set by the owner that fills it).
    package var count = 0
    /// The number of records framed in the payload (set by the owner that fills it).
    package var recordCount = 0

    /// An empty payload with room for `capacity` bytes (at least 1).
    package init(capacity: Int) {
        self.capacity = max(1, capacity)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// The payload's bytes; valid until the payload grows or is freed.
    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Moves the payload to an allocation of at least `minimumCapacity` bytes (and at least
    /// twice the current one), keeping its first `keeping` bytes; `base` and `capacity` change.
    ///
    /// - Precondition: `keeping <= capacity`.
    package func grow(toAtLeast minimumCapacity: Int, keeping: Int) {
        precondition(keeping <= capacity, "RawPayload keeps more bytes than it holds")
        let grown = max(minimumCapacity, 2 * capacity)
        let next = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
        if keeping > 0 { next.copyMemory(from: base, byteCount: keeping) }
        base.deallocate()
        base = next
        capacity = grown
    }

    /// Forgets the records, keeping the memory.
    package func reset() {
        count = 0
        recordCount = 0
    }
}
