import StrataStorage

/// Hands each interval's records to a user sink, then commits the vertex's progress.
final class ForeachVertex<Record: RecordCodable>: VertexRunner {
    let identity: VertexIdentity
    private let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>
    private let sink: @Sendable (Interval, [ContiguousArray<Record>]) throws -> Void

    init(name: String, stream: DStream<Record>, sink: @escaping @Sendable (Interval, [ContiguousArray<Record>]) throws -> Void) {
        identity = VertexIdentity(name: name, computing: stream, outputs: [], isStateful: false,
                                  definition: "foreach|\(stream.chain)")
        produce = stream.produce
        self.sink = sink
    }

    func restore(through: Interval?) throws {}

    func process(_ interval: Interval) throws -> [PendingBlock] {
        let name = self.name, produce = self.produce
        let partitions = try forEachPartition(Int(partitionCount)) { partition in
            var codec = BlockCodec()
            return try userClosure(name, interval, partition) { try produce(interval, partition, &codec) }
        }
        try userClosure(name, interval, nil) { try sink(interval, partitions) }
        return []
    }
}

extension DStream {
    /// Calls `sink` with each interval and its records, partition by partition, for external
    /// systems.
    ///
    /// The contract: `sink` is called once per interval in interval order; after a crash it may be
    /// called again for the intervals whose progress was not yet committed (at least once), so make
    /// it idempotent by interval.
    public func foreach(_ sink: @escaping @Sendable (Interval, [ContiguousArray<Record>]) throws -> Void) {
        builder.add(ForeachVertex(name: builder.nextVertexName, stream: self, sink: sink))
    }
}
