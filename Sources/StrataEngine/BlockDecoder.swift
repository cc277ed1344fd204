import StrataStorage

/// Decodes the records of stored blocks as `Record`.
///
/// Built by `@inlinable` entry points (`ProgramBuilder.read(_:)` in `Strata`, and the kernels of the
/// keyed operators) in the program's module, where `Record` is concrete: the per-record loop, and
/// the appending of blocks decoded ahead, are then specialized, so decoding a record calls its
/// `init(from:)` directly and copies it without its value witnesses and generic metadata. Built
/// anywhere else, the same code runs unspecialized; the records, the errors and their order are the
/// same either way.
@usableFromInline
package struct BlockDecoder<Record: RecordCodable>: Sendable {
    /// Verifies and decodes one stored block, appending its records to `records` (one array for
    /// a whole (interval, partition), so that no record is copied from a block's own array);
    /// returns how many it appended. `recordsBefore` is the number of records of the same
    /// (interval, partition) before the block, for the error's record index; `blocksLeft` the
    /// number of blocks still to append, this one included (0 when unknown).
    ///
    /// When `records` lacks room for the block, room is made for it and, at its record count, for
    /// the `blocksLeft − 1` after it (1/16 more), or, with `blocksLeft` unknown, at least twice the
    /// capacity: a partition's blocks appended one after the other move each record O(1) times,
    /// usually never.
    ///
    /// - Throws: `Corruption`, or `StorageError.recordRejected` at `location`; `records` may then
    ///   hold part of the block.
    @usableFromInline let decodeAppending: @Sendable (_ block: UnsafeRawBufferPointer, _ codec: inout BlockCodec,
                                                      _ location: StoreLocation, _ recordsBefore: Int,
                                                      _ blocksLeft: Int, _ records: inout ContiguousArray<Record>) throws
        -> Int

    /// Appends records decoded earlier (a block decoded ahead, `DecodedAhead`) to `records`.
    @usableFromInline let appendDecoded: @Sendable (_ decoded: ContiguousArray<Record>,
                                                    _ records: inout ContiguousArray<Record>) -> Void

    /// A decoder specialized for `Record` where it is called with a concrete type.
    @inlinable
    package init() {
        decodeAppending = { block, codec, location, recordsBefore, blocksLeft, records in
            try codec.withVerifiedFrames(block) { frames in
                // Every frame takes at least one byte: the payload bounds the count read from disk,
                // and `RecordFrames` yields at most `expectedCount` frames (a count that differs
                // from the header's is `Corruption.recordCountMismatch`).
                let bound = min(frames.expectedCount, frames.payload.count)
                let needed = records.count + bound
                if needed > records.capacity {
                    let estimate = blocksLeft > 1
                        ? records.count + bound * blocksLeft + bound * blocksLeft / 16
                        : 2 * records.capacity
                    records.reserveCapacity(Swift.max(needed, estimate))
                }
                let before = records.count
                while let frame = try frames.next() {
                    var reader = BinaryReader(frame)
                    do throws(RecordDecodingError) {
                        let record = try Record(from: &reader)
                        if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
                        records.append(record)
                    } catch {
                        throw StorageError.recordRejected(location, record: recordsBefore + frames.index - 1,
                                                          recordType: Record.recordTypeName, error)
                    }
                }
                return records.count - before
            }
        }
        appendDecoded = { decoded, records in records.append(contentsOf: decoded) }
    }

    /// The records of one stored block, verified and decoded into an array of their own (a block
    /// decoded ahead); `recordsBefore` as for `decodeAppending`.
    ///
    /// - Throws: `Corruption`, or `StorageError.recordRejected` at `location`.
    @inlinable
    package func decode(_ block: UnsafeRawBufferPointer, _ codec: inout BlockCodec, _ location: StoreLocation,
                        _ recordsBefore: Int) throws -> ContiguousArray<Record> {
        var records = ContiguousArray<Record>()
        _ = try decodeAppending(block, &codec, location, recordsBefore, 1, &records)
        return records
    }
}
