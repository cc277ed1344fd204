import StrataStorage

/// Routes every pair, uncombined, to output partition `XXH64(encoded key) mod Q` of a durable
/// exchange stream (the partitioning `reduceByKey` uses), keeping their order.
///
/// Partition `q` of an interval holds, in order, the pairs of input partition 0 that route to `q`,
/// then those of input partition 1, and so on, each in its input order: the values of a key reach
/// a stateful vertex in the same order in every run.
final class KeyExchangeVertex<Key: RecordCodable, Value: RecordCodable>: VertexRunner {
    let name: String
    let inputs: [StreamDescriptor]
    let needsEveryInterval: Bool
    let partitionCount: UInt32
    let outputs: [StreamDescriptor]
    let fingerprint: UInt64
    let isStateful = false
    private let produce:
        @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<KeyValue<Key, Value>>
    private let route: RouteKernel<Key, Value>

    init(name: String, stream: DStream<KeyValue<Key, Value>>, output: StreamDescriptor, route: RouteKernel<Key, Value>) {
        self.route = route
        self.name = name
        inputs = stream.inputs
        needsEveryInterval = stream.needsEveryInterval
        partitionCount = stream.partitionCount
        outputs = [output]
        produce = stream.produce
        fingerprint = XXH64.hash(Array("exchange|\(stream.chain)|\(output.name)|\(output.partitions)".utf8))
    }

    func restore(through: Interval?) throws {}

    func process(_ interval: Interval) throws -> [PendingBlock] {
        let output = outputs[0]
        let name = self.name, produce = self.produce, route = self.route
        return try ExchangeBlocks.collect(inputPartitions: partitionCount, output: output, interval: interval) {
            partition, writers in
            var codec = BlockCodec()
            let pairs = try userClosure(name, interval, partition) { try produce(interval, partition, &codec) }
            route.route(pairs, &writers)
        }
    }
}

extension DStream {
    /// The pairs routed by key to `partitions` partitions through a durable exchange stream
    /// `PROGRAM.vN.exchange`, uncombined and in a deterministic order (see `KeyExchangeVertex`).
    ///
    /// Returns `nil` after recording a definition error.
    func exchangeByKey<Key: RecordCodable, Value: RecordCodable>(partitions: Int?, route: RouteKernel<Key, Value>)
        -> DStream<KeyValue<Key, Value>>?
    where Record == KeyValue<Key, Value> {
        let name = builder.nextVertexName
        guard let count = partitions.map({ UInt32(exactly: $0) }) ?? partitionCount, count >= 1 else {
            builder.fail(EngineError.misuse("\(name): partitions must be 1 to 4096"))
            return nil
        }
        guard let exchange = builder.outputStream(name + ".exchange", of: KeyValue<Key, Value>.self, partitions: count,
                                                  like: input) else { return nil }
        builder.add(KeyExchangeVertex(name: name, stream: self, output: exchange, route: route))
        return DStream<KeyValue<Key, Value>>(builder: builder, reading: exchange, chain: "exchange(\(exchange.name))")
    }
}

/// The routing of an exchange, built by the `@inlinable` operator entry points so that it is
/// specialized for the program's key and value types.
@usableFromInline
struct RouteKernel<Key: RecordCodable, Value: RecordCodable>: Sendable {
    /// Appends each pair in order to `writers[XXH64(encoded key) mod writers.count]`.
    @usableFromInline let route: @Sendable (ContiguousArray<KeyValue<Key, Value>>, inout [PartitionWriter]) -> Void

    @inlinable
    init() {
        route = { pairs, writers in routeByKey(pairs, into: &writers) }
    }
}
