import StrataStorage

/// The map side of a general shuffle: prepares each input partition's batch of an interval (a
/// map-side combine, a partial count, or nothing), then routes each prepared record to one
/// partition of a durable exchange stream.
///
/// Blocks come out in (output partition, input partition, chunk) order, so a reader of output
/// partition `q` sees input partition 0's records first, then 1's, each in its prepared order:
/// the same order in every run, whatever order the partition tasks finish in.
final class ExchangeVertex<Record: RecordCodable, Out: RecordCodable>: VertexRunner {
    /// Chooses the output partition of the prepared record at `position` of input partition
    /// `partition`'s batch; `scratch` is a reusable buffer for encoding keys.
    typealias Route = @Sendable (Out, Int, PartitionIndex, UInt32, inout BinaryWriter) -> UInt32

    let name: String
    let inputs: [StreamDescriptor]
    let needsEveryInterval: Bool
    let partitionCount: UInt32
    let outputs: [StreamDescriptor]
    let fingerprint: UInt64
    let isStateful = false
    private let log: LogStore
    private let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<Record>
    private let prepare: @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<Out>
    private let route: Route

    init(name: String, kind: String, log: LogStore, stream: DStream<Record>, output: StreamDescriptor,
         everyInterval: Bool = false,
         prepare: @escaping @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<Out>,
         route: @escaping Route) {
        self.name = name
        self.log = log
        inputs = stream.inputs
        needsEveryInterval = stream.needsEveryInterval || everyInterval
        partitionCount = stream.partitionCount
        outputs = [output]
        produce = stream.produce
        self.prepare = prepare
        self.route = route
        fingerprint = XXH64.hash(Array("exchange|\(kind)|\(stream.chain)|\(output.name)|\(output.partitions)".utf8))
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
            var scratch = BinaryWriter(capacity: 64)
            for (position, record) in prepared.enumerated() {
                let target = route(record, position, partition, output.partitions, &scratch)
                #if STRATA_INTERNAL_CHECKS
                precondition(target < output.partitions, "exchange \(name) routed to partition \(target)")
                #endif
                writers[Int(target)].append(record)
            }
        }
    }
}

/// The partition of `count` that a key goes to: `XXH64(encoded key) mod count`, the same hash
/// `reduceByKey` and keyed appenders use. `scratch` is cleared and reused.
func stablePartition<Key: RecordCodable>(of key: Key, among count: UInt32, scratch: inout BinaryWriter) -> UInt32 {
    scratch.removeAll()
    key.encode(to: &scratch)
    return UInt32(scratch.bytes.withUnsafeBytes { XXH64.hash($0) } % UInt64(count))
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
        builder.add(ExchangeVertex(name: name, kind: kind, log: builder.log, stream: self, output: shuffle, everyInterval: everyInterval,
                                   prepare: prepare, route: route))
        return shuffle
    }

    /// Shuffles key/value pairs by the stable hash of the encoded key, after `prepare` (for
    /// example a map-side combine) ran on each input partition's batch.
    func keyExchange<Key: RecordCodable, Value: RecordCodable, Out: RecordCodable>(
        _ kind: String, partitions: Int?, as type: KeyValue<Key, Out>.Type,
        prepare: @escaping @Sendable (ContiguousArray<Record>) throws -> ContiguousArray<KeyValue<Key, Out>>
    ) -> StreamDescriptor? where Record == KeyValue<Key, Value> {
        exchange(kind, partitions: partitions, prepare: prepare) { pair, _, _, count, scratch in
            stablePartition(of: pair.key, among: count, scratch: &scratch)
        }
    }

    /// A stream that reads one partition of `stream` per partition, then applies `step`.
    func reading<Stored: RecordCodable, Out: RecordCodable>(
        _ stream: StreamDescriptor, chain: String,
        _ step: @escaping @Sendable (ContiguousArray<Stored>) throws -> ContiguousArray<Out>
    ) -> DStream<Out> {
        let log = builder.log
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
