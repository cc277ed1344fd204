import StrataStorage

extension StoredStream {
    /// Calls `body` with each committed record of the **unsealed** intervals in `range`, in
    /// (interval, partition, chunk, sequence) order, and returns the stream's newest sealed
    /// interval as they were read.
    ///
    /// Blocks of an interval that is not sealed yet are durable once committed (an appender that
    /// stopped or was killed before sealing leaves them, and an ingest commits them as it goes), but
    /// `read` and `forEach` show only sealed intervals. This shows what they hold now; the
    /// interval may still receive records, so what it shows is not final. Intervals at or before
    /// the sealed frontier are skipped: read them with `forEach(in:partition:_:)`.
    ///
    /// ```swift
    /// let sealed = try views.forEachUnsealed(in: Interval(0)...Interval(.max)) { interval, partition, view in
    ///     print(interval, partition, view, "(not sealed)")
    /// }
    /// ```
    ///
    /// - Throws: `.corrupt` naming stream, interval and partition for a block that does not
    ///   verify or decode; `.partitionOutOfRange`; whatever `body` throws.
    /// - Complexity: O(records in the unsealed intervals of `range`).
    @discardableResult
    public func forEachUnsealed(in range: ClosedRange<Interval>, partition: PartitionIndex? = nil,
                                _ body: (Interval, PartitionIndex, Record) throws -> Void) throws -> Interval? {
        if let partition, partition.rawValue >= descriptor.partitions {
            throw StorageError.partitionOutOfRange(StoreLocation(stream: name, interval: range.lowerBound, partition: partition),
                                                   partitions: descriptor.partitions)
        }
        var codec = BlockCodec()
        return try store.withUnsealedBlocks(of: descriptor, in: range) { key, block in
            if let partition, key.partition != partition { return }
            let location = StoreLocation(stream: name, interval: key.interval, partition: key.partition)
            guard key.partition.rawValue < descriptor.partitions else {
                throw StorageError.partitionOutOfRange(location, partitions: descriptor.partitions)
            }
            try Self.withPayload(block, codec: &codec, location: location) { payload, count in
                try Self.decodeRecords(payload, count: count, location: location) { try body(key.interval, key.partition, $0) }
            }
        }
    }

    /// The newest interval holding committed records that are not sealed, or `nil`.
    public func newestUnsealedInterval() throws(StorageError) -> Interval? {
        try store.newestUnsealedInterval(of: descriptor)
    }
}
