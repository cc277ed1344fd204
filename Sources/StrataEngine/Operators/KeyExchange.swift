import StrataStorage

extension DStream {
    /// The pairs routed by key to `partitions` partitions through a durable exchange stream
    /// `PROGRAM.vN.exchange`, uncombined and in a deterministic order (an `ExchangeVertex` routing by key).
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
        // The exchange vertex routing every pair, uncombined and in order, by its key: partition `q`
        // holds the pairs of input partition 0 that route to `q`, then those of 1, and so on, so
        // the values of a key reach a stateful vertex in the same order in every run.
        let suffix = KeyPartitioner.suffix(route.partitioner)
        let decoder = route.decoder, route = route.route
        builder.add(ExchangeVertex(name: name,
                                   definition: "exchange|\(chain)|\(exchange.name)|\(exchange.partitions)\(suffix)",
                                   log: builder.log, stream: self, output: exchange, prepare: { $0 },
                                   route: { pairs, _, writers in route(pairs, &writers) }))
        return DStream<KeyValue<Key, Value>>(builder: builder, reading: exchange, chain: "exchange(\(exchange.name))",
                                             decoder: decoder)
    }
}

/// The routing of an exchange, built by the `@inlinable` operator entry points so that it is
/// specialized for the program's key and value types.
@usableFromInline
struct RouteKernel<Key: RecordCodable, Value: RecordCodable>: Sendable {
    /// Appends each pair in order to `writers[XXH64(encoded key) mod writers.count]`.
    @usableFromInline let route: @Sendable (ContiguousArray<KeyValue<Key, Value>>, inout [PartitionWriter]) -> Void
    /// The user partition function, `nil` for the stable hash.
    @usableFromInline let partitioner: KeyPartitioner<Key>?
    /// Decodes the exchange stream's blocks for the vertex reading it.
    @usableFromInline let decoder: BlockDecoder<KeyValue<Key, Value>>

    @inlinable
    init(partitioner: KeyPartitioner<Key>? = nil) {
        self.partitioner = partitioner
        decoder = BlockDecoder()
        if let partitioner {
            route = { pairs, writers in routeByKey(pairs, into: &writers, partitioner: partitioner) }
        } else {
            route = { pairs, writers in routeByKey(pairs, into: &writers) }
        }
    }
}
