import StrataStorage

/// Reads and decodes one partition of one sealed interval of a stream.
enum PartitionReader {
    /// The records of (interval, partition), in (chunk, sequence) order.
    ///
    /// A sealed interval before the stream's first interval with records (or of a stream that has
    /// sealed intervals but no records yet) is empty: the vertex reading it processes an interval
    /// once every input sealed it, and an input that has not begun has nothing in it. This is
    /// what lets `count()` run before the first record and `union`, the joins and `cogroup`
    /// combine inputs whose first records come in different intervals (issue 11, bugs 1 and 2).
    ///
    /// Blocks that an idle core already decoded for this task (`DecodedAhead`, under the task's
    /// vertex) are taken as they are instead of decoded again: the same records either way.
    ///
    /// `decoder` decodes each block (specialized for `Record` when built where it is concrete);
    /// by default one built here, unspecialized: the same records.
    ///
    /// - Throws: `StorageError` (including `.corrupt` naming where, and `.recordRejected` for a
    ///   record that `Record` does not accept); `.notSealed` and `.outsideRetention` stay errors.
    static func read<Record: RecordCodable>(_ log: LogStore, _ descriptor: StreamDescriptor, _ interval: Interval,
                                            _ partition: PartitionIndex, codec: inout BlockCodec,
                                            decoder: BlockDecoder<Record> = BlockDecoder())
        throws -> ContiguousArray<Record>
    {
        var records = ContiguousArray<Record>()
        let location = StoreLocation(stream: descriptor.name, interval: interval, partition: partition)
        let ahead = DecodedAhead.current
        do {
            try log.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { _, chunk, block in
                let decoded: ContiguousArray<Record>
                if let ahead, let taken: ContiguousArray<Record> = ahead.take(
                    DecodedAhead.BlockID(stream: descriptor.id, interval: interval, partition: partition, chunk: chunk)) {
                    decoded = taken
                } else {
                    decoded = try decoder.decode(block, &codec, location, records.count)
                }
                // Evidence for speculation: how far the task has got (once per block).
                TaskProgress.current?.add(decoded.count)
                if records.isEmpty {
                    records = decoded
                } else {
                    records.append(contentsOf: decoded)
                }
            }
        } catch let corruption as Corruption {
            throw StorageError.corrupt(location, corruption)
        } catch StorageError.beforeStreamStart {
            // Thrown only for a sealed interval (`sealRecord` checks the seal first): empty.
            return []
        } catch {
            throw StorageError(wrapping: error)
        }
        return records
    }

    /// Calls `body` with the encoding of every record of (interval, partition), in (chunk,
    /// sequence) order, the location, and the record's index in the partition: the records
    /// `read` would decode, undecoded (`countByEncodedKey`). The same empty cases and errors as
    /// `read`; nothing is taken from or left for `DecodedAhead`.
    static func forEachFrame(_ log: LogStore, _ descriptor: StreamDescriptor, _ interval: Interval,
                             _ partition: PartitionIndex, codec: inout BlockCodec,
                             _ body: (UnsafeRawBufferPointer, StoreLocation, Int) throws -> Void) throws {
        let location = StoreLocation(stream: descriptor.name, interval: interval, partition: partition)
        var before = 0
        do {
            try log.withSealedBlocks(of: descriptor, interval: interval, partition: partition) { _, _, block in
                let count = try codec.withVerifiedPayload(block) { header, payload in
                    var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
                    while let frame = try frames.next() { try body(frame, location, before + frames.index - 1) }
                    return header.recordCount
                }
                // Evidence for speculation: how far the task has got (once per block).
                TaskProgress.current?.add(count)
                before += count
            }
        } catch let corruption as Corruption {
            throw StorageError.corrupt(location, corruption)
        } catch StorageError.beforeStreamStart {
            // Thrown only for a sealed interval (`sealRecord` checks the seal first): empty.
            return
        }
    }

    /// The records of one stored block, verified and decoded (unspecialized: `BlockDecoder`
    /// built here); `recordsBefore` is the number of records of the same (interval, partition)
    /// before it, for the error's record index.
    ///
    /// - Throws: `Corruption`, or `StorageError.recordRejected` at `location`.
    static func decode<Record: RecordCodable>(_ block: UnsafeRawBufferPointer, codec: inout BlockCodec,
                                              location: StoreLocation, recordsBefore: Int) throws
        -> ContiguousArray<Record>
    {
        try BlockDecoder<Record>().decode(block, &codec, location, recordsBefore)
    }
}
