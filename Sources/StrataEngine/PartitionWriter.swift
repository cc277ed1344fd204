import StrataStorage

/// Builds the blocks of one output partition of one interval, cutting a block every 256 KiB of
/// raw payload, the same way in every run (deterministic chunking).
@usableFromInline
struct PartitionWriter {
    /// Raw payload bytes per block.
    @usableFromInline static let blockBytes = 256 << 10

    let descriptor: StreamDescriptor
    let interval: Interval
    let partition: PartitionIndex
    @usableFromInline var builder = PayloadBuilder(capacity: 0)
    private(set) var blocks: [PendingBlock] = []
    /// The first block that could not be made (a payload over the block limit), thrown by `finish`.
    private var failure: StorageError?

    init(descriptor: StreamDescriptor, interval: Interval, partition: PartitionIndex) {
        self.descriptor = descriptor
        self.interval = interval
        self.partition = partition
    }

    /// Frames one record into the current block. Inlinable, so that a kernel built in the
    /// program's module encodes its records with code specialized for their type.
    @inlinable
    mutating func append<Record: RecordCodable>(_ record: Record) {
        builder.append(record)
        if builder.byteCount >= Self.blockBytes { cut() }
    }

    /// Frames the pair `KeyValue(key, value)` from its key already encoded (`key`: the bytes the
    /// key's `encode` writes, as routing by key or a window entry has them): those bytes, then
    /// the value encoded — the frame `append(KeyValue(key, value))` makes, without encoding the
    /// key again.
    @inlinable
    mutating func append<Value: RecordCodable>(encodedKey key: UnsafeRawBufferPointer, value: Value) {
        let lengthAt = builder.writer.count
        builder.writer.write(byte: 0)
        builder.writer.write(raw: key)
        value.encode(to: &builder.writer)
        builder.finishFrame(lengthAt: lengthAt)
        if builder.byteCount >= Self.blockBytes { cut() }
    }

    /// Ends the current block, compressing it here, on the task's thread: the committer only writes.
    @usableFromInline
    mutating func cut() {
        guard builder.recordCount > 0 else { return }
        let count = builder.recordCount
        let (descriptor, interval, partition) = (self.descriptor, self.interval, self.partition)
        do {
            let block = try builder.writer.bytes.withUnsafeBytes { payload in
                try PendingBlock(stream: descriptor, interval: interval, partition: partition, payload: payload,
                                 recordCount: count)
            }
            blocks.append(block)
        } catch {
            if failure == nil { failure = StorageError(wrapping: error) }
        }
        builder.reset()
    }

    /// The partition's blocks, the last one cut from what remains.
    ///
    /// - Throws: `.recordTooLarge` when a block's payload was over the block limit.
    mutating func finish() throws(StorageError) -> [PendingBlock] {
        cut()
        if let failure { throw failure }
        return blocks
    }
}
