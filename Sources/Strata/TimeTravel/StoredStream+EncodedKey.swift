import StrataEngine
import StrataStorage

extension BinaryReader {
    /// Skips the next encoded value of type `T` (a `String` without building it).
    ///
    /// - Throws: `RecordDecodingError` when the bytes end early or do not decode as a `T`.
    @inlinable
    public mutating func skip<T: RecordCodable>(_ type: T.Type) throws(RecordDecodingError) {
        _ = try encodedBytes(of: type)
    }

    /// The encoded bytes of the next value of type `T`, borrowing the reader's memory: for a
    /// `String` its length prefix and UTF-8 bytes, read without building the `String` (and not
    /// validated: decode the bytes to validate them); other types are decoded to find their end.
    ///
    /// - Throws: `RecordDecodingError` when the bytes end early or do not decode as a `T`.
    @inlinable
    public mutating func encodedBytes<T: RecordCodable>(of type: T.Type) throws(RecordDecodingError)
        -> UnsafeRawBufferPointer
    {
        let start = offset
        if T.self == String.self {
            _ = try readLengthPrefixed()
        } else {
            _ = try T(from: &self)
        }
        return UnsafeRawBufferPointer(rebasing: buffer[start..<offset])
    }
}

extension StoredStream {
    /// Counts the records of the sealed intervals `from` through `through` per key, reading each
    /// record's key from its encoding as bytes: records are never decoded, and a key is decoded
    /// once per task, when first seen. The fastest aggregation of a slice; for anything else,
    /// ``slice(from:through:)`` with `map` and `reduceByKey`.
    ///
    /// `key` gets a reader at the start of each record's encoding and returns the encoded bytes of
    /// the record's key, with ``StrataStorage/BinaryReader/skip(_:)`` for the fields before it and
    /// ``StrataStorage/BinaryReader/encodedBytes(of:)`` for the key. Keys are equal when these bytes are — the
    /// engine's one key rule, so the counts equal those of
    /// `slice(from:through:).map { KeyValue(key, 1) }.reduceByKey(+)`, pair for pair and in the same
    /// order: keys go to output partition `XXH64(encoded key) mod partitions` (default: the
    /// stream's partition count), first seen first within each (input partition, then log order).
    ///
    /// ```swift
    /// // PageView encodes ts (Int64), url (String), user, ev: count per url.
    /// let perURL = try views.countByEncodedKey(from: t0, through: t1, as: String.self) { record in
    ///     try record.skip(Int64.self)
    ///     return try record.encodedBytes(of: String.self)
    /// }
    /// let top = try perURL.topK(10)
    /// ```
    ///
    /// Runs now, one task per (partition, run of intervals) on all cores, as a slice does.
    ///
    /// - Throws: the range errors of ``slice(from:through:)`` (as `TimeTravelError`); storage
    ///   errors naming where (`.corrupt`, and `.recordRejected` with the record's index when `key`
    ///   throws a `RecordDecodingError` or its bytes do not decode as a `Key`, e.g. invalid UTF-8);
    ///   any other error `key` throws, as it is.
    /// - Complexity: O(records) time, one key lookup by bytes per record; O(distinct keys) memory
    ///   per task.
    public func countByEncodedKey<Key: RecordCodable>(
        from: Interval, through: Interval, as keyType: Key.Type, partitions: Int? = nil,
        key: @escaping @Sendable (inout BinaryReader) throws -> UnsafeRawBufferPointer
    ) throws -> Dataset<KeyValue<Key, Int64>> {
        guard from <= through else { throw TimeTravelError.emptyRange(from: from.description, to: through.description) }
        try checkSliceable(from...through)
        let stream = self, name = descriptor.name
        let inputs = Int(descriptor.partitions)
        let outputs = max(1, partitions ?? inputs)
        // Each partition's intervals split into runs, as `slice` does: about 32 tasks in all.
        let length = through.rawValue - from.rawValue + 1
        let splits = Int(min(length, UInt64(max(1, (32 + inputs - 1) / inputs))))
        typealias Pair = KeyValue<Key, Int64>
        let routed = try Dataset<Pair>.runPartitions(inputs * splits) { task -> [ContiguousArray<Pair>] in
            let p = task / splits, split = task % splits
            var table = EncodedKeyTable()
            // Per distinct key (table index): the key, decoded once, and its count. The counts are
            // a concrete array: this generic code touches nothing generic per record.
            var keys = ContiguousArray<Key>()
            var counts: [Int64] = []
            if let run = sliceRun(split, of: splits, from: from, length: length) {
                var decoded = 0
                var current: Interval?
                try stream.forEachPayload(in: run, partition: PartitionIndex(UInt32(p))) {
                    interval, partition, payload, count in
                    if current != interval {
                        current = interval
                        decoded = 0
                    }
                    let location = { StoreLocation(stream: name, interval: interval, partition: partition) }
                    var frames = RecordFrames(payload: payload, expectedCount: count)
                    while true {
                        let frame: UnsafeRawBufferPointer?
                        do throws(Corruption) { frame = try frames.next() } catch { throw StorageError.corrupt(location(), error) }
                        guard let frame else { break }
                        var reader = BinaryReader(frame)
                        let bytes: UnsafeRawBufferPointer
                        do {
                            bytes = try key(&reader)
                        } catch let error as RecordDecodingError {
                            throw StorageError.recordRejected(location(), record: decoded + frames.index - 1,
                                                              recordType: Record.recordTypeName, error)
                        }
                        let (index, inserted) = table.index(ofEncoded: bytes)
                        if inserted {
                            var keyReader = BinaryReader(bytes)
                            do throws(RecordDecodingError) {
                                let decodedKey = try Key(from: &keyReader)
                                if keyReader.remaining != 0 { throw .trailingBytes(offset: keyReader.offset) }
                                keys.append(decodedKey)
                                counts.append(1)
                            } catch {
                                throw StorageError.recordRejected(location(), record: decoded + frames.index - 1,
                                                                  recordType: Record.recordTypeName, error)
                            }
                        } else {
                            counts[index] &+= 1
                        }
                    }
                    decoded += count
                }
            }
            var pairs = ContiguousArray<Pair>()
            pairs.reserveCapacity(keys.count)
            for (index, key) in keys.enumerated() { pairs.append(KeyValue(key, counts[index])) }
            return Dataset<Pair>.route(pairs, table, among: outputs)
        }
        // Each output partition merges its share, tasks in (partition, split) order.
        let merged = try Dataset<Pair>.runPartitions(outputs) { q -> [Pair] in
            var table = EncodedKeyTable(routing: false)
            var scratch = BinaryWriter(capacity: 64)
            var result: [Pair] = []
            for task in routed {
                for pair in task[q] {
                    let (i, inserted) = table.index(of: pair.key, scratch: &scratch)
                    if inserted { result.append(pair) } else { result[i].value &+= pair.value }
                }
            }
            return result
        }
        return Dataset(partitions: merged)
    }
}
