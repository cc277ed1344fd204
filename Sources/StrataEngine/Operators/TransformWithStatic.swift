import StrataStorage

extension DStream {
    /// Combines each interval's keyed batch with a static dataset, for example to join a stream
    /// with a fixed table: the stream is shuffled by XXH64 of the encoded key (or by
    /// `partitioner`, when given) to `partitions` partitions (default: this stream's) through a
    /// durable stream `PROGRAM.vN.shuffle`, the static pairs are split by the same function when
    /// the program is defined, and `transform` is called per (interval, partition) with that
    /// partition's batch and static slice.
    ///
    /// ```swift
    /// let regions = [KeyValue("/home", "eu"), KeyValue("/cart", "us")]
    /// views.map { KeyValue($0.url, Int64(1)) }.transform(with: regions) { batch, table in
    ///     let region = Dictionary(table.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    ///     return ContiguousArray(batch.map { KeyValue(region[$0.key] ?? "?", $0.value) })
    /// }
    /// ```
    ///
    /// Both arguments keep their order: the batch in input-partition then record order, the
    /// slice in `staticDataset` order. `transform` must be deterministic (see `transform(_:)`).
    /// It is called for the intervals in which this stream has records. The dataset's digest is
    /// part of the vertex fingerprint: a program defined with other static data must take
    /// another name.
    ///
    /// - Complexity: O(static pairs) once, then one call of `transform` per (interval, partition).
    public func transform<Key: RecordCodable & Hashable, Value: RecordCodable, StaticValue: RecordCodable,
                          Out: RecordCodable>(
        with staticDataset: [KeyValue<Key, StaticValue>], partitions: Int? = nil,
        partitioner: KeyPartitioner<Key>? = nil,
        _ transform: @escaping @Sendable (
            ContiguousArray<KeyValue<Key, Value>>, ContiguousArray<KeyValue<Key, StaticValue>>
        ) throws -> ContiguousArray<Out>
    ) -> DStream<Out> where Record == KeyValue<Key, Value> {
        guard let shuffle = keyExchange("transformWithStatic", partitions: partitions, partitioner: partitioner,
                                        as: KeyValue<Key, Value>.self, prepare: { $0 })
        else { return invalid("transformWithStatic") }
        var slices = [ContiguousArray<KeyValue<Key, StaticValue>>](repeating: [], count: Int(shuffle.partitions))
        var scratch = BinaryWriter(capacity: 64)
        var all = BinaryWriter(capacity: 64)
        for pair in staticDataset {
            let target = partitioner?.partition(of: pair.key, among: shuffle.partitions)
                ?? stablePartition(of: pair.key, among: shuffle.partitions, scratch: &scratch)
            slices[Int(target)].append(pair)
            pair.encode(to: &all)
        }
        let digest = String(XXH64.hash(all.bytes), radix: 16)
        let log = builder.log
        return DStream<Out>(builder: builder, input: shuffle,
                            chain: "transformWithStatic(\(shuffle.name),\(staticDataset.count),\(digest)"
                                + "\(KeyPartitioner.suffix(partitioner)))") {
            [slices] interval, partition, codec in
            let batch: ContiguousArray<KeyValue<Key, Value>> =
                try PartitionReader.read(log, shuffle, interval, partition, codec: &codec)
            return try transform(batch, slices[Int(partition.rawValue)])
        }
    }
}
