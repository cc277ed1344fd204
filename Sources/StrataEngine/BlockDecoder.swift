import StrataStorage

/// Decodes the records of one stored block as `Record`.
///
/// Built by `@inlinable` entry points (`ProgramBuilder.read(_:)` in `Strata`, and the kernels of the
/// keyed operators) in the program's module, where `Record` is concrete: the per-record loop is
/// then specialized, so decoding a record calls its `init(from:)` directly instead of through
/// its witness and generic metadata. Built anywhere else, the same code runs unspecialized; the
/// records, the errors and their order are the same either way.
@usableFromInline
package struct BlockDecoder<Record: RecordCodable>: Sendable {
    /// The records of one stored block, verified and decoded; `recordsBefore` is the number of
    /// records of the same (interval, partition) before it, for the error's record index.
    ///
    /// - Throws: `Corruption`, or `StorageError.recordRejected` at `location`.
    @usableFromInline let decode: @Sendable (_ block: UnsafeRawBufferPointer, _ codec: inout BlockCodec,
                                             _ location: StoreLocation, _ recordsBefore: Int) throws
        -> ContiguousArray<Record>

    /// A decoder specialized for `Record` where it is called with a concrete type.
    @inlinable
    package init() {
        decode = { block, codec, location, recordsBefore in
            try codec.withVerifiedFrames(block) { frames in
                // Decoded straight into the block's own array through its buffer. Every frame
                // takes at least one byte: the payload bounds the count read from disk.
                let expected = frames.expectedCount
                let capacity = min(expected, frames.payload.count)
                return try ContiguousArray<Record>(unsafeUninitializedCapacity: capacity) { buffer, initialized in
                    while let frame = try frames.next() {
                        // RecordFrames yields at most `expectedCount` frames, each of at least one byte.
                        guard initialized < buffer.count, let base = buffer.baseAddress else {
                            throw Corruption.recordCountMismatch(header: expected, found: initialized + 1)
                        }
                        var reader = BinaryReader(frame)
                        do throws(RecordDecodingError) {
                            let record = try Record(from: &reader)
                            if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
                            (base + initialized).initialize(to: record)
                            initialized += 1
                        } catch {
                            throw StorageError.recordRejected(location, record: recordsBefore + frames.index - 1,
                                                              recordType: Record.recordTypeName, error)
                        }
                    }
                }
            }
        }
    }
}
