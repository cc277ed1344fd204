import StrataStorage

/// The engine's one exchange vertex (Timely Dataflow's `exchange(route)`): prepares each input
/// partition's batch of an interval with a `prepare` kernel (a map-side combine, a partial count,
/// or nothing), then a `route` kernel appends each prepared record to the writer of its output
/// partition of a durable exchange stream. Every shuffle is one: `reduceByKey`'s and
/// `combineByKey`'s (combine, then route by key), the key exchanges of the joins and keyed state
/// (route by key), `count` and `reduce` (a partial, to partition 0), `repartition` (round robin).
///
/// Blocks come out in (output partition, input partition, chunk) order, so a reader of output
/// partition `q` sees input partition 0's records first, then 1's, each in its prepared order:
/// the same order in every run, whatever order the partition tasks finish in.
///
/// A vertex that processes every interval (its input does, or `count` asks) prepares nothing
/// before its inputs' first interval with records.
final class ExchangeVertex<Record: RecordCodable, Out: RecordCodable>: VertexRunner, SendingExchange {
    /// Chooses the output partition of the prepared record at `position` of input partition
    /// `partition`'s batch; `scratch` is a reusable buffer for encoding keys.
    typealias Route = @Sendable (Out, Int, PartitionIndex, UInt32, inout BinaryWriter) -> UInt32
    /// Prepares one input partition's batch.
    typealias Prepare = @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<Out>
    /// Appends a prepared batch of input partition `partition` to the writers of its records'
    /// output partitions, in order.
    typealias RouteBatch = @Sendable (ContiguousArray<Out>, PartitionIndex, inout [PartitionWriter]) -> Void

    let identity: VertexIdentity
    private let log: LogStore
    private let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>
    private let prepare: Prepare
    private let route: RouteBatch

    /// - Parameters:
    ///   - definition: What the fingerprint digests besides nothing else (kind, chain, output):
    ///     each former exchange vertex's text, so that programs that ran keep their fingerprints.
    ///   - everyInterval: Process every interval, not only those where some input has records.
    init(name: String, definition: String, log: LogStore, stream: DStream<Record>, output: StreamDescriptor,
         everyInterval: Bool = false, prepare: @escaping Prepare, route: @escaping RouteBatch) {
        identity = VertexIdentity(name: name, computing: stream, outputs: [output], everyInterval: everyInterval,
                                  isStateful: false, definition: definition)
        self.log = log
        produce = stream.produce
        self.prepare = prepare
        self.route = route
    }

    /// The batch route of a per-record `route` (positions count from 0 in each prepared batch).
    static func batchRoute(_ route: @escaping Route, among count: UInt32, vertex name: String) -> RouteBatch {
        { prepared, partition, writers in
            var scratch = BinaryWriter(capacity: 64)
            for (position, record) in prepared.enumerated() {
                let target = route(record, position, partition, count, &scratch)
                #if STRATA_INTERNAL_CHECKS
                precondition(target < count, "exchange \(name) routed to partition \(target)")
                #endif
                writers[Int(target)].append(record)
            }
        }
    }

    /// This vertex writing its blocks and seals to `sent` instead of its output, with the same
    /// definition and fingerprint (gathered exchanges, `ProgramOptions.gathersExchanges`).
    func sending(to sent: StreamDescriptor) -> any VertexRunner {
        ExchangeVertex(copying: self, output: sent)
    }

    private init(copying other: ExchangeVertex, output: StreamDescriptor) {
        let same = other.identity
        identity = VertexIdentity(name: same.name, inputs: same.inputs, outputs: [output],
                                  partitionCount: same.partitionCount, needsEveryInterval: same.needsEveryInterval,
                                  isStateful: same.isStateful, fingerprint: same.fingerprint)
        log = other.log
        produce = other.produce
        prepare = other.prepare
        route = other.route
    }

    func restore(through: Interval?) throws {}

    func process(_ interval: Interval) throws -> [PendingBlock] {
        let output = outputs[0]
        let name = self.name, produce = self.produce, prepare = self.prepare, route = self.route
        if needsEveryInterval {
            // Before the first interval with input records nothing is prepared (no `count()` of
            // 0 before the first record), as windows and keyed state skip those intervals; the
            // vertex then starts at the same interval whenever the program first ran.
            let first: Interval?
            do { first = try firstRecordInterval(log, inputs) } catch let error as StorageError {
                throw EngineError.storage(error, vertex: name, interval: interval)
            }
            guard let first, interval >= first else { return [] }
        }
        return try ExchangeBlocks.collect(inputPartitions: partitionCount, output: output, interval: interval) {
            partition, writers in
            var codec = BlockCodec()
            let prepared = try userClosure(name, interval, partition) {
                try prepare(try produce(interval, partition, &codec))
            }
            route(prepared, partition, &writers)
        }
    }
}

extension DStream {
    /// Shuffles this stream through a new durable stream `PROGRAM.vN.shuffle` with `partitions`
    /// partitions (`nil`: this stream's count) and returns the vertex's output stream, or `nil`
    /// after recording a definition error.
    func exchange<Out: RecordCodable>(
        _ kind: String, partitions: Int?, everyInterval: Bool = false,
        prepare: @escaping @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<Out>,
        route: @escaping ExchangeVertex<Record, Out>.Route
    ) -> StreamDescriptor? {
        let name = builder.nextVertexName
        let count = partitions.map { UInt32(exactly: $0) ?? 0 } ?? partitionCount
        guard count >= 1, count <= 4096 else {
            builder.fail(EngineError.misuse("\(kind): partitions must be 1 to 4096"))
            return nil
        }
        guard let shuffle = builder.outputStream(name + ".shuffle", of: Out.self, partitions: count, like: input) else {
            return nil
        }
        let definition = "exchange|\(kind)|\(chain)|\(shuffle.name)|\(shuffle.partitions)"
        builder.add(ExchangeVertex(name: name, definition: definition, log: builder.log, stream: self, output: shuffle,
                                   everyInterval: everyInterval, prepare: prepare,
                                   route: ExchangeVertex<Record, Out>.batchRoute(route, among: shuffle.partitions, vertex: name)))
        return shuffle
    }

    /// Shuffles key/value pairs by the stable hash of the encoded key, after `prepare` (for
    /// example a map-side combine) ran on each input partition's batch.
    func keyExchange<Key: RecordCodable, Value: RecordCodable, Out: RecordCodable>(
        _ kind: String, partitions: Int?, partitioner: KeyPartitioner<Key>? = nil, as type: KeyValue<Key, Out>.Type,
        prepare: @escaping @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<KeyValue<Key, Out>>
    ) -> StreamDescriptor? where Record == KeyValue<Key, Value> {
        guard let partitioner else {
            return exchange(kind, partitions: partitions, prepare: prepare) { pair, _, _, count, scratch in
                stablePartition(of: pair.key, among: count, scratch: &scratch)
            }
        }
        return exchange(kind + KeyPartitioner.suffix(partitioner), partitions: partitions, prepare: prepare) {
            pair, _, _, count, _ in partitioner.partition(of: pair.key, among: count)
        }
    }

    /// A stream that reads one partition of `stream` per partition, then applies `step`.
    func reading<Stored: RecordCodable, Out: RecordCodable>(
        _ stream: StreamDescriptor, chain: String,
        _ step: @escaping @Sendable (ContiguousArray<Stored>) throws -> ContiguousArray<Out>
    ) -> DStream<Out> {
        let log = builder.log
        builder.registerDecoder(stream, decoder: BlockDecoder<Stored>())
        return DStream<Out>(builder: builder, input: stream, chain: chain + "(\(stream.name))") {
            interval, partition, codec in
            try step(try PartitionReader.read(log, stream, interval, partition, codec: &codec))
        }
    }

    /// An empty stream standing in for an operator whose definition failed (the program's
    /// definition then throws).
    func invalid<Out: RecordCodable>(_ kind: String) -> DStream<Out> {
        DStream<Out>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                     chain: chain + ".invalid-" + kind) { _, _, _ in [] }
    }
}

/// An exchange vertex that can write its blocks to a stream other than the one its readers read,
/// for a transport (the cluster's) to gather them into the read stream: see
/// `ProgramOptions.gathersExchanges`.
protocol SendingExchange: VertexRunner {
    /// The partitions of its input: the tasks that each send blocks to every output partition.
    var partitionCount: UInt32 { get }
    /// This vertex writing to `sent` instead of its output.
    func sending(to sent: StreamDescriptor) -> any VertexRunner
}
