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
    /// Computes one (interval, partition) batch of a stream from its durable inputs.
    typealias Produce = @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>

    /// The program being built.
    let builder: ProgramBuilder
    /// The durable streams this chain reads (one, or several for unions and joins); the first
    /// one's interval length applies to all.
    let inputs: [StreamDescriptor]
    /// The number of partitions of each interval's batch.
    let partitionCount: UInt32
    /// Whether an interval with no input records can still have output (windows, timeouts): the
    /// vertex then processes every interval, not only those with records.
    let needsEveryInterval: Bool
    /// A description of the chain, for the vertex fingerprint.
    let chain: String
    /// Computes this stream's records of one (interval, partition) from the inputs.
    let produce: Produce
    /// The durable stream this one reads unchanged, partition `p` from partition `p`, when it is
    /// nothing more: `save(as:)` of a vertex's output then mirrors that output instead of copying it.
    let plainRead: StreamDescriptor?
    /// Whether every pair of partition `p` is declared to route to `p` by the stable key hash,
    /// `XXH64(encoded key) mod partitionCount` (`assumingPartitionedByKey()`, kept by `mapValues`,
    /// `flatMapValues` and `filter`): a keyed shuffle to as many partitions by that hash is then
    /// elided (`reduceByKey`, `runningReduce`, `reduceByKeyAndWindow`).
    let isKeyPartitioned: Bool
    /// Whether this stream reads a JSON stream as stored whose key field placed every line where
    /// the engine routes the field's text as a `String` key (`assumingPartitionedByKeyField()`,
    /// checked against the stream's `KeyPlacement`): `countByEncodedKey` to as many partitions
    /// then counts each partition where it is, with no shuffle.
    let isPlacedByKeyField: Bool

    init(builder: ProgramBuilder, inputs: [StreamDescriptor], partitionCount: UInt32, needsEveryInterval: Bool = false,
         chain: String, plainRead: StreamDescriptor? = nil, isKeyPartitioned: Bool = false,
         isPlacedByKeyField: Bool = false, produce: @escaping Produce) {
        self.plainRead = plainRead
        self.isKeyPartitioned = isKeyPartitioned
        self.isPlacedByKeyField = isPlacedByKeyField
        self.builder = builder
        self.inputs = inputs
        self.partitionCount = partitionCount
        self.needsEveryInterval = needsEveryInterval
        self.chain = chain
        self.produce = produce
    }

    /// A stream reading one durable stream, partition `p` of the batch from partition `p`.
    init(builder: ProgramBuilder, input: StreamDescriptor, chain: String, produce: @escaping Produce) {
        self.init(builder: builder, inputs: [input], partitionCount: input.partitions, chain: chain, produce: produce)
    }

    /// A stream of a durable stream's records as stored, partition `p` from partition `p`, each
    /// block decoded by `decoder` (specialized when an `@inlinable` entry point built it).
    init(builder: ProgramBuilder, reading stream: StreamDescriptor, chain: String,
         decoder: BlockDecoder<Record> = BlockDecoder()) {
        let log = builder.log
        builder.registerDecoder(stream, decoder: decoder)
        self.init(builder: builder, inputs: [stream], partitionCount: stream.partitions, chain: chain,
                  plainRead: stream) { interval, partition, codec in
            try PartitionReader.read(log, stream, interval, partition, codec: &codec, decoder: decoder)
        }
    }

    /// The first input, whose interval length and retention the program's outputs take.
    var input: StreamDescriptor { inputs[0] }

    /// Derives a stream by a function of each whole partition batch (the fused narrow step).
    ///
    /// - Parameter keepsKeys: Whether `step` keeps every output record in the partition of its key
    ///   when its input was (it keeps or drops pairs, or changes only their values): the result
    ///   then stays key-partitioned if this stream is.
    @usableFromInline
    func narrow<Out: RecordCodable>(_ name: String, keepsKeys: Bool = false,
                                    _ step: @escaping @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<Out>)
        -> DStream<Out>
    {
        let parent = produce
        return DStream<Out>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                            needsEveryInterval: needsEveryInterval, chain: chain + "." + name,
                            isKeyPartitioned: keepsKeys && isKeyPartitioned) { interval, partition, codec in
            try step(try parent(interval, partition, &codec))
        }
    }
}
