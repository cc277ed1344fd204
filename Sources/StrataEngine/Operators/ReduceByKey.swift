import StrataStorage

/// The per-batch kernels of a shuffle's map side, built by the `@inlinable` operator entry points
/// so that they are specialized for the program's key and value types in the program's module;
/// the vertex calls each once per (interval, partition) batch.
@usableFromInline
struct ShuffleKernels<Key: RecordCodable & Hashable, Value: RecordCodable>: Sendable {
    /// Combines a batch's pairs by key (`combineByKey`).
    @usableFromInline let combine: @Sendable (ContiguousArray<KeyValue<Key, Value>>) throws -> ContiguousArray<KeyValue<Key, Value>>
    /// Appends each pair in order to `writers[XXH64(encoded key) mod writers.count]`.
    @usableFromInline let route: @Sendable (ContiguousArray<KeyValue<Key, Value>>, inout [PartitionWriter]) -> Void

    /// Combines the pairs of one partition of a stream declared partitioned by key, and finds the
    /// first key whose stable hash routes it elsewhere (`assumingPartitionedByKey()`).
    @usableFromInline let combineInPartition: @Sendable (ContiguousArray<KeyValue<Key, Value>>, _ partition: UInt32,
                                                         _ count: UInt32) throws
        -> (combined: ContiguousArray<KeyValue<Key, Value>>, misplaced: (index: Int, routesTo: UInt32)?)

    /// The user partition function's fingerprint suffix (empty for the stable hash).
    @usableFromInline let partitionerSuffix: String
    /// Whether keys route by the stable hash (no user partition function).
    @usableFromInline let routesByStableHash: Bool
    /// Decodes the shuffle stream's blocks for the reduce side.
    @usableFromInline let decoder: BlockDecoder<KeyValue<Key, Value>>

    @inlinable
    init(combine: @escaping @Sendable (Value, Value) throws -> Value, partitioner: KeyPartitioner<Key>? = nil) {
        self.combine = { pairs in try combineByKey(pairs, combine) }
        combineInPartition = { pairs, partition, count in
            try combineByKey(pairs, inPartition: partition, of: count, combine)
        }
        routesByStableHash = partitioner == nil
        if let partitioner {
            self.route = { pairs, writers in routeByKey(pairs, into: &writers, partitioner: partitioner) }
        } else {
            self.route = { pairs, writers in routeByKey(pairs, into: &writers) }
        }
        partitionerSuffix = KeyPartitioner.suffix(partitioner)
        decoder = BlockDecoder()
    }
}

/// Combines pairs with equal keys (equal encoded bytes), keeping each key at its first
/// position: `combineInPlace` with the first value as the combiner.
@inlinable
func combineByKey<Key: RecordCodable, Value: RecordCodable>(_ pairs: ContiguousArray<KeyValue<Key, Value>>,
                                                           _ combine: (Value, Value) throws -> Value) rethrows
    -> ContiguousArray<KeyValue<Key, Value>>
{
    try combineInPlace(pairs, create: { $0 }, merge: { combined, value in combined = try combine(combined, value) })
}


extension DStream {
    /// Combines, per interval, the values of equal keys with `combine`, which must be associative
    /// (values are combined map-side within each input partition first, then across partitions,
    /// in partition order).
    ///
    /// The pairs are shuffled through a durable stream `PROGRAM.vN.shuffle` with `partitions`
    /// partitions (default: the input's), by a stable hash of the encoded key — unless this stream
    /// is declared partitioned by that hash over as many partitions (`assumingPartitionedByKey()`):
    /// each partition's pairs are then combined where they are, with the same result, and no
    /// shuffle stream is written.
    @inlinable
    public func reduceByKey<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        _ combine: @escaping @Sendable (Value, Value) throws -> Value
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        let kernels = ShuffleKernels<Key, Value>(combine: combine, partitioner: partitioner)
        return shuffled(partitions: partitions, kernels: kernels)
    }

    /// `reduceByKey` with its kernels: the shuffle vertex, then the reduce side reading the shuffle;
    /// over a stream declared partitioned by key to as many partitions by the stable hash, and
    /// unless `keepsShuffle`, the combine where the pairs are (`combinedWhereTheyAre`).
    @usableFromInline
    func shuffled<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int?, kernels: ShuffleKernels<Key, Value>, keepsShuffle: Bool = false
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        let count = partitions.flatMap { UInt32(exactly: $0) } ?? partitionCount
        if isKeyPartitioned, !keepsShuffle, kernels.routesByStableHash, count == partitionCount {
            return combinedWhereTheyAre(kernels)
        }
        let name = builder.nextVertexName
        guard count >= 1,
              let shuffle = builder.outputStream(name + ".shuffle", of: KeyValue<Key, Value>.self, partitions: count, like: input)
        else {
            builder.fail(EngineError.misuse("reduceByKey: partitions must be 1 to 4096"))
            return DStream<KeyValue<Key, Value>>(builder: builder, input: input, chain: chain + ".invalid") { _, _, _ in [] }
        }
        // The map side: an exchange vertex combining each input partition's pairs by key, then
        // routing each key to output partition `XXH64(encoded key) mod Q`.
        let combine = kernels.combine, route = kernels.route
        builder.add(ExchangeVertex(name: name, definition: "shuffle|\(chain)|\(shuffle.name)|\(shuffle.partitions)\(kernels.partitionerSuffix)",
                                   log: builder.log, stream: self, output: shuffle, prepare: combine,
                                   route: { pairs, _, writers in route(pairs, &writers) }))
        let log = builder.log, decoder = kernels.decoder
        builder.registerDecoder(shuffle, decoder: decoder)
        return DStream<KeyValue<Key, Value>>(builder: builder, input: shuffle, chain: "reduceByKey(\(shuffle.name))") {
            interval, partition, codec in
            let pairs = try PartitionReader.read(log, shuffle, interval, partition, codec: &codec, decoder: decoder)
            return try combine(pairs)
        }
    }
}
