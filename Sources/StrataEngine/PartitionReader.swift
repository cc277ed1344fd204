import StrataStorage

/// Reads and decodes one partition of one sealed interval of a stream.
enum PartitionReader {
    /// The records of (interval, partition), in (chunk, sequence) order.
    ///
    /// - Throws: `StorageError` (including `.corrupt` naming where).
    static func read<Record: RecordCodable>(_ log: LogStore, _ descriptor: StreamDescriptor, _ interval: Interval,
                                            _ partition: PartitionIndex, codec: inout BlockCodec)
        throws -> ContiguousArray<Record>
    {
        var records = ContiguousArray<Record>()
        let location = StoreLocation(stream: descriptor.name, interval: interval, partition: partition)
        do {
            try log.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { _, _, block in
                try codec.withVerifiedPayload(block) { header, payload in
                    if records.count + header.recordCount > records.capacity {
                        records.reserveCapacity(max(records.count + header.recordCount, records.capacity * 2))
                    }
                    var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
                    while let frame = try frames.next() {
                        var reader = BinaryReader(frame)
                        do throws(RecordDecodingError) {
                            records.append(try Record(from: &reader))
                            if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
                        } catch {
                            throw Corruption.undecodableRecord(index: frames.index - 1, error)
                        }
                    }
                }
            }
        } catch let corruption as Corruption {
            throw StorageError.corrupt(location, corruption)
        } catch {
            throw StorageError(wrapping: error)
        }
        return records
    }
}

/// Builds the blocks of one output partition of one interval, cutting a block every 256 KiB of
/// raw payload, the same way in every run (deterministic chunking).
struct PartitionWriter {
    static let blockBytes = 256 << 10

    let descriptor: StreamDescriptor
    let interval: Interval
    let partition: PartitionIndex
    private var builder = PayloadBuilder(capacity: 0)
    private(set) var blocks: [PendingBlock] = []

    init(descriptor: StreamDescriptor, interval: Interval, partition: PartitionIndex) {
        self.descriptor = descriptor
        self.interval = interval
        self.partition = partition
    }

    mutating func append<Record: RecordCodable>(_ record: Record) {
        builder.append(record)
        if builder.byteCount >= Self.blockBytes { cut() }
    }

    private mutating func cut() {
        guard builder.recordCount > 0 else { return }
        let count = builder.recordCount
        let payload = builder.takeBytes(replacingWith: [])
        blocks.append(PendingBlock(stream: descriptor, interval: interval, partition: partition, payload: payload,
                                   recordCount: count))
    }

    /// The partition's blocks, the last one cut from what remains.
    mutating func finish() -> [PendingBlock] {
        cut()
        return blocks
    }
}
