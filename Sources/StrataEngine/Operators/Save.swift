import StrataStorage

/// Writes a stream's records to a named durable stream, partition `p` to partition `p`.
final class SaveVertex<Record: RecordCodable>: VertexRunner {
    let identity: VertexIdentity
    private let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>

    init(name: String, stream: DStream<Record>, output: StreamDescriptor) {
        identity = VertexIdentity(name: name, computing: stream, outputs: [output], isStateful: false,
                                  definition: "save|\(stream.chain)|\(output.name)|\(output.recordType)")
        produce = stream.produce
    }

    func restore(through: Interval?) throws {}

    func process(_ interval: Interval) throws -> [PendingBlock] {
        let output = outputs[0]
        let name = self.name, produce = self.produce
        return try forEachPartition(Int(partitionCount)) { partition in
            var codec = BlockCodec()
            let records = try userClosure(name, interval, partition) { try produce(interval, partition, &codec) }
            var writer = PartitionWriter(descriptor: output, interval: interval, partition: partition)
            for record in records { writer.append(record) }
            return try writer.finish()
        }.flatMap { $0 }
    }
}

extension DStream {
    /// Saves the stream as the durable named stream `name` (created with this stream's interval
    /// length and partition count), readable with `Store.stream(named:of:)` and `strata cat`.
    ///
    /// Each interval's records commit together with the vertex's progress: exactly once.
    ///
    /// Saving a vertex's output as it is (as `runningReduce(+).save(as:)` does) adds no vertex: the
    /// vertex that computes the records also writes them to `name`, in the same transaction.
    public func save(as name: String) {
        guard let output = builder.outputStream(name, of: Record.self, partitions: partitionCount, like: input) else { return }
        if let source = plainRead, builder.mirror(source, to: output) { return }
        builder.add(SaveVertex(name: builder.nextVertexName, stream: self, output: output))
    }
}
