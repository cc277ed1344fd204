import StrataStorage

/// The map side of a shuffle: combines each input partition's pairs by key, then routes each key
/// to output partition `XXH64(encoded key) mod Q` of the shuffle stream.
final class ShuffleVertex<Key: RecordCodable & Hashable, Value: RecordCodable>: VertexRunner {
    let name: String
    let inputs: [StreamDescriptor]
    let needsEveryInterval: Bool
    let partitionCount: UInt32
    let outputs: [StreamDescriptor]
    let fingerprint: UInt64
    let isStateful = false
    private let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<KeyValue<Key, Value>>
    private let kernels: ShuffleKernels<Key, Value>

    init(name: String, stream: DStream<KeyValue<Key, Value>>, output: StreamDescriptor, kernels: ShuffleKernels<Key, Value>) {
        self.name = name
        inputs = stream.inputs
        needsEveryInterval = stream.needsEveryInterval
        partitionCount = stream.partitionCount
        outputs = [output]
        produce = stream.produce
        self.kernels = kernels
        fingerprint = XXH64.hash(Array("shuffle|\(stream.chain)|\(output.name)|\(output.partitions)".utf8))
    }

    func restore(through: Interval?) throws {}

    func process(_ interval: Interval) throws -> [PendingBlock] {
        let output = outputs[0]
        let name = self.name, produce = self.produce, kernels = self.kernels
        return try ExchangeBlocks.collect(inputPartitions: partitionCount, output: output, interval: interval) {
            partition, writers in
            var codec = BlockCodec()
            let combined = try userClosure(name, interval, partition) {
                try kernels.combine(try produce(interval, partition, &codec))
            }
            kernels.route(combined, &writers)
        }
    }
}

/// The per-batch kernels of a shuffle's map side, built by the `@inlinable` operator entry points
/// so that they are specialized for the program's key and value types in the program's module;
/// the vertex calls each once per (interval, partition) batch.
@usableFromInline
struct ShuffleKernels<Key: RecordCodable & Hashable, Value: RecordCodable>: Sendable {
    /// Combines a batch's pairs by key (`combineByKey`).
    @usableFromInline let combine: @Sendable (ContiguousArray<KeyValue<Key, Value>>) throws -> ContiguousArray<KeyValue<Key, Value>>
    /// Appends each pair in order to `writers[XXH64(encoded key) mod writers.count]`.
    @usableFromInline let route: @Sendable (ContiguousArray<KeyValue<Key, Value>>, inout [PartitionWriter]) -> Void

    @inlinable
    init(combine: @escaping @Sendable (Value, Value) throws -> Value) {
        self.combine = { pairs in try combineByKey(pairs, combine) }
        self.route = { pairs, writers in routeByKey(pairs, into: &writers) }
    }
}

/// Appends each pair in order to the writer of its output partition, `XXH64(encoded key) mod
/// writers.count`, the same in every process.
@inlinable
func routeByKey<Key: RecordCodable, Value: RecordCodable>(_ pairs: ContiguousArray<KeyValue<Key, Value>>,
                                                         into writers: inout [PartitionWriter]) {
    var key = BinaryWriter(capacity: 64)
    let partitions = UInt64(writers.count)
    for pair in pairs {
        key.removeAll()
        pair.key.encode(to: &key)
        let target = key.bytes.withUnsafeBytes { XXH64.hash($0) } % partitions
        writers[Int(target)].append(pair)
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
    /// partitions (default: the input's), by a stable hash of the encoded key.
    @inlinable
    public func reduceByKey<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int? = nil, _ combine: @escaping @Sendable (Value, Value) throws -> Value
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        let kernels = ShuffleKernels<Key, Value>(combine: combine)
        return shuffled(partitions: partitions, kernels: kernels)
    }

    /// `reduceByKey` with its kernels: the shuffle vertex, then the reduce side reading the shuffle.
    @usableFromInline
    func shuffled<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int?, kernels: ShuffleKernels<Key, Value>
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        let name = builder.nextVertexName
        let count = partitions.flatMap { UInt32(exactly: $0) } ?? partitionCount
        guard count >= 1,
              let shuffle = builder.outputStream(name + ".shuffle", of: KeyValue<Key, Value>.self, partitions: count, like: input)
        else {
            builder.fail(EngineError.misuse("reduceByKey: partitions must be 1 to 4096"))
            return DStream<KeyValue<Key, Value>>(builder: builder, input: input, chain: chain + ".invalid") { _, _, _ in [] }
        }
        builder.add(ShuffleVertex(name: name, stream: self, output: shuffle, kernels: kernels))
        let log = builder.log
        let combine = kernels.combine
        return DStream<KeyValue<Key, Value>>(builder: builder, input: shuffle, chain: "reduceByKey(\(shuffle.name))") {
            interval, partition, codec in
            let pairs: ContiguousArray<KeyValue<Key, Value>> = try PartitionReader.read(log, shuffle, interval, partition, codec: &codec)
            return try combine(pairs)
        }
    }
}
