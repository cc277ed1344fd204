import Synchronization
import StrataStorage

/// Keeps, per key, the running combination of every value seen so far, and emits for each
/// interval the keys that received input in it with their new values.
final class RunningReduceVertex<Key: RecordCodable & Hashable, Value: RecordCodable>: VertexRunner {
    let identity: VertexIdentity
    let log: LogStore
    private let produce: @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<KeyValue<Key, Value>>
    private let kernel: RunningReduceKernel<Key, Value>
    /// The state of each partition.
    private let states: PartitionStates<RunningTable<Key, Value>>
    /// Whether the in-memory state is built, and through which interval.
    let stateProgress = StateProgress()

    init(name: String, log: LogStore, stream: DStream<KeyValue<Key, Value>>, output: StreamDescriptor,
         kernel: RunningReduceKernel<Key, Value>) {
        identity = VertexIdentity(name: name, computing: stream, outputs: [output], isStateful: true,
                                  definition: "runningReduce|\(stream.chain)|\(output.name)")
        self.log = log
        produce = stream.produce
        self.kernel = kernel
        states = PartitionStates(count: Int(stream.partitionCount), initial: RunningTable())
    }

    func apply(_ interval: Interval, emit: Bool) throws -> [PendingBlock] {
        let output = outputs[0]
        let name = self.name, produce = self.produce, kernel = self.kernel, states = self.states
        // Mark the state unknown while it changes: a failure part-way forces a rebuild.
        stateProgress.markChanging()
        return try forEachPartition(Int(partitionCount)) { partition in
            var codec = BlockCodec()
            let pairs = try userClosure(name, interval, partition) { try produce(interval, partition, &codec) }
            var writer = PartitionWriter(descriptor: output, interval: interval, partition: partition)
            try states.withState(partition) { state in
                try kernel.apply(&state, pairs, name, interval, partition, emit, &writer)
            }
            return try writer.finish()
        }.flatMap { $0 }
    }
}

/// The running values of one partition of `runningReduce`: one entry per key, keys equal when
/// their encodings are (`EncodedKeyTable`). The entries' order is never an output order.
@usableFromInline
struct RunningTable<Key: RecordCodable, Value: RecordCodable> {
    @usableFromInline var keys = EncodedKeyTable(routing: false)
    @usableFromInline var entries = ContiguousArray<KeyValue<Key, Value>>()

    @inlinable
    init() {}
}

/// The per-batch kernel of `runningReduce`, built by the `@inlinable` entry point so that it is
/// specialized for the program's key and value types in the program's module.
@usableFromInline
struct RunningReduceKernel<Key: RecordCodable & Hashable, Value: RecordCodable>: Sendable {
    /// Folds a batch's pairs into the state in order, appending (when asked) each
    /// pair's key and new value to `output`; `combine`'s errors are reported as the user closure's.
    @usableFromInline let apply: @Sendable (inout RunningTable<Key, Value>, ContiguousArray<KeyValue<Key, Value>>, String, Interval,
                                            PartitionIndex, Bool, _ output: inout PartitionWriter) throws -> Void

    @inlinable
    init(combine: @escaping @Sendable (Value, Value) throws -> Value) {
        apply = { state, pairs, name, interval, partition, emit, output in
            var scratch = BinaryWriter(capacity: 64)
            for pair in pairs {
                let updated: Value
                let (index, inserted) = state.keys.index(of: pair.key, scratch: &scratch)
                if inserted {
                    updated = pair.value
                    state.entries.append(pair)
                } else {
                    updated = try userClosure(name, interval, partition) { try combine(state.entries[index].value, pair.value) }
                    state.entries[index].value = updated
                }
                if emit { output.append(KeyValue(pair.key, updated)) }
            }
        }
    }
}

extension DStream {
    /// Keeps a running combination per key across intervals (for example a running count with
    /// `+`), and yields for each interval the keys that received input in it with their new
    /// values, in a deterministic order.
    ///
    /// The pairs are first combined per interval (`reduceByKey`, through a durable shuffle stream
    /// with `partitions` partitions — default: this stream's — routed by the stable hash of the
    /// encoded key, or by `partitioner` when given; over a stream declared partitioned by key,
    /// `assumingPartitionedByKey()`, the pairs are combined where they are, without a shuffle);
    /// the running state lives in memory and is rebuilt from the retained input after a restart.
    ///
    /// - Parameters:
    ///   - partitions: Partitions of the result (default: this stream's).
    ///   - partitioner: The partition of each key (default: the stable hash of its encoding).
    ///   - combine: Associative combination of two values.
    @inlinable
    public func runningReduce<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        _ combine: @escaping @Sendable (Value, Value) throws -> Value
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        reduceByKey(partitions: partitions, partitioner: partitioner, combine)
            .running(kernel: RunningReduceKernel(combine: combine))
    }

    /// `runningReduce` with its kernel, over the stream already reduced per interval.
    @usableFromInline
    func running<Key: RecordCodable & Hashable, Value: RecordCodable>(
        kernel: RunningReduceKernel<Key, Value>
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        let reduced = self
        let name = builder.nextVertexName
        // The output is also the state's change stream (state as of): it keeps a snapshot period more.
        guard let output = builder.outputStream(name + ".out", of: KeyValue<Key, Value>.self,
                                                partitions: reduced.partitionCount, like: reduced.input,
                                                keepsChanges: true) else {
            return reduced
        }
        builder.add(RunningReduceVertex(name: name, log: builder.log, stream: reduced, output: output, kernel: kernel))
        return DStream<KeyValue<Key, Value>>(builder: builder, reading: output, chain: "runningReduce(\(output.name))")
    }
}

extension RunningReduceVertex: SnapshottingVertex {
    /// Payload: a LEB128 entry count, then per key `key · value`, sorted by the key's encoded
    /// bytes (so that the same state always has the same snapshot, whatever order built it).
    func encodeState(_ partition: PartitionIndex, into writer: inout BinaryWriter) {
        states.withState(partition) { state in
            var keyed: [(bytes: [UInt8], index: Int)] = []
            keyed.reserveCapacity(state.entries.count)
            var scratch = BinaryWriter(capacity: 64)
            for index in state.entries.indices {
                scratch.removeAll()
                state.entries[index].key.encode(to: &scratch)
                keyed.append((scratch.bytes, index))
            }
            // Keys are unique, so their encodings are too: a total order.
            keyed.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
            writeCount(keyed.count, to: &writer)
            for entry in keyed {
                entry.bytes.withUnsafeBytes { writer.write(raw: $0) }
                state.entries[entry.index].value.encode(to: &writer)
            }
        }
    }

    func decodeState(_ partition: PartitionIndex, from reader: inout BinaryReader) throws(RecordDecodingError) {
        let count = try readCount(from: &reader)
        var state = RunningTable<Key, Value>()
        state.entries.reserveCapacity(count)
        var scratch = BinaryWriter(capacity: 64)
        for _ in 0..<count {
            let start = reader.offset
            let key: Key = try reader.read()
            let (_, inserted) = state.keys.index(of: key, scratch: &scratch)
            guard inserted else { throw .invalidValue(offset: start, what: "running reduce key repeated") }
            state.entries.append(KeyValue(key, try reader.read(Value.self)))
        }
        states.withState(partition) { $0 = state }
    }

    func resetState() { states.reset(to: RunningTable()) }

    /// The output is the changes: each interval's updated keys with their new values (a running
    /// reduce never removes a key).
    var stateLayout: StateLayout? {
        StateLayout(kind: .runningReduce, keyType: Key.recordTypeName, valueType: Value.recordTypeName,
                    output: outputs[0], changes: outputs[0])
    }

}
