import StrataStorage

/// A discretized stream inside a program: for every interval, a partitioned batch of records
/// computed deterministically from a durable input stream.
///
/// Narrow operators (`map`, `filter`, `flatMap`, `mapPartitions`) compose into one function per
/// batch and run fused in the vertex that consumes them; `reduceByKey`, `runningReduce`,
/// `save(as:)` and `foreach` end a vertex at a durable boundary.
///
/// ```swift
/// let program = try Program(name: "counts", store: store) { p in
///     p.read(views).map { KeyValue($0.url, Int64(1)) }.runningReduce(+).save(as: "urlCounts")
/// }
/// try program.runUntilCaughtUp()
/// ```
///
/// A `DStream` is a description, not data; it is `Sendable` when defined with `@Sendable` closures,
/// which every operator requires because partitions run in parallel.
public struct DStream<Record: RecordCodable>: Sendable {
    /// The program being built.
    let builder: ProgramBuilder
    /// The durable stream this chain reads.
    let input: StreamDescriptor
    /// A description of the chain, for the vertex fingerprint.
    let chain: String
    /// Computes this stream's records of one (interval, partition) from the input.
    let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>

    init(builder: ProgramBuilder, input: StreamDescriptor, chain: String,
         produce: @escaping @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>) {
        self.builder = builder
        self.input = input
        self.chain = chain
        self.produce = produce
    }

    /// Derives a stream by a function of each whole partition batch (the fused narrow step).
    func narrow<Out: RecordCodable>(_ name: String,
                                    _ step: @escaping @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<Out>)
        -> DStream<Out>
    {
        let parent = produce
        return DStream<Out>(builder: builder, input: input, chain: chain + "." + name) { interval, partition, codec in
            try step(try parent(interval, partition, &codec))
        }
    }
}
