import StrataStorage

/// The plumbing every exchange (a shuffle's map side, a key exchange, a repartition) shares: each
/// input partition's task fills one writer per output partition, and the interval's blocks are
/// ordered by output partition, then input partition, so that each (interval, q)'s chunks follow
/// the input order in every run.
enum ExchangeBlocks {
    /// Runs `fill` for every input partition (in parallel) with one writer per partition of
    /// `output`, and returns the blocks in (output partition, input partition) order.
    static func collect(inputPartitions: UInt32, output: StreamDescriptor, interval: Interval,
                        _ fill: @escaping @Sendable (PartitionIndex, inout [PartitionWriter]) throws -> Void)
        throws -> [PendingBlock]
    {
        let perInput = try forEachPartition(Int(inputPartitions)) { partition in
            var writers = (0..<output.partitions).map {
                PartitionWriter(descriptor: output, interval: interval, partition: PartitionIndex($0))
            }
            try fill(partition, &writers)
            return try writers.indices.map { try writers[$0].finish() }
        }
        var blocks: [PendingBlock] = []
        for q in 0..<Int(output.partitions) {
            for fromInput in perInput { blocks.append(contentsOf: fromInput[q]) }
        }
        return blocks
    }
}
