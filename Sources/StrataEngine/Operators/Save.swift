import StrataStorage

/// Writes a stream's records to a named durable stream, partition `p` to partition `p`.
final class SaveVertex<Record: RecordCodable>: VertexRunner {
    let name: String
    let inputs: [StreamDescriptor]
    let needsEveryInterval: Bool
    let partitionCount: UInt32
    let outputs: [StreamDescriptor]
    let fingerprint: UInt64
    let isStateful = false
    private let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>

    init(name: String, stream: DStream<Record>, output: StreamDescriptor) {
        self.name = name
        inputs = stream.inputs
        needsEveryInterval = stream.needsEveryInterval
        partitionCount = stream.partitionCount
        outputs = [output]
        produce = stream.produce
        fingerprint = XXH64.hash(Array("save|\(stream.chain)|\(output.name)|\(output.recordType)".utf8))
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
            return writer.finish()
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
