import Synchronization
import StrataStorage

/// Keeps a state per key across intervals: per interval, each key's values (in exchange order)
/// and its previous state give its new state; `nil` drops the key, and keys without input for
/// `timeout` intervals are dropped.
///
/// Output 0 gets, per interval, the keys that received input in it and still have a state, with
/// that state, in the order of their first value in the interval. Output 1, when present, gets per
/// partition one `Int64`: the number of live keys after the interval, from the first interval with
/// input on.
final class KeyedStateVertex<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable>: VertexRunner {
    /// One live key.
    struct Entry {
        var key: Key
        var state: State
        /// The last interval in which the key received input.
        var lastActive: UInt64
    }

    /// The live keys of one partition: entries in a deterministic order (a function of the input
    /// only) and a lookup table that is never iterated.
    struct Table {
        var entries = ContiguousArray<Entry>()
        var slot: [Key: Int] = [:]

        mutating func remove(at index: Int) {
            slot[entries[index].key] = nil
            let last = entries.removeLast()
            if index < entries.count {
                entries[index] = last
                slot[last.key] = index
            }
        }
    }

    typealias Step = @Sendable (Key, [Value], State?) throws -> State?

    let name: String
    let inputs: [StreamDescriptor]
    let needsEveryInterval: Bool
    let partitionCount: UInt32
    let outputs: [StreamDescriptor]
    let fingerprint: UInt64
    let isStateful = true
    let log: LogStore
    private let produce:
        @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<KeyValue<Key, Value>>
    private let step: Step
    private let timeout: UInt64?
    private let states: PartitionStates<Table>
    /// Whether the state was built in this process, and through which interval.
    private let stateThrough = Mutex<(built: Bool, through: Interval?)>((false, nil))

    /// - Parameters:
    ///   - kind: The operator's name, for the fingerprint.
    ///   - exchanged: The input, partitioned by key.
    ///   - liveCounts: The stream of live-key counts per partition, if wanted.
    init(kind: String, name: String, log: LogStore, exchanged: DStream<KeyValue<Key, Value>>, output: StreamDescriptor,
         liveCounts: StreamDescriptor?, timeout: UInt64?, step: @escaping Step) {
        self.name = name
        self.log = log
        inputs = exchanged.inputs
        // Timeouts and live counts change in intervals without input.
        needsEveryInterval = timeout != nil || liveCounts != nil || exchanged.needsEveryInterval
        partitionCount = exchanged.partitionCount
        outputs = [output] + (liveCounts.map { [$0] } ?? [])
        produce = exchanged.produce
        self.step = step
        self.timeout = timeout
        states = PartitionStates(count: Int(exchanged.partitionCount), initial: Table())
        fingerprint = XXH64.hash(Array(
            "\(kind)|\(exchanged.chain)|\(outputs.map(\.name))|timeout \(timeout.map(String.init) ?? "none")".utf8))
    }

    func restore(through: Interval?) throws {
        let current = stateThrough.withLock { $0 }
        if current.built && current.through == through { return }
        // The newest snapshot at or before `through`, then a replay of the input after it
        // (Snapshots/SnapshottingVertex.swift).
        try restoreState(through: through)
        stateThrough.withLock { $0 = (true, through) }
    }

    func process(_ interval: Interval) throws -> [PendingBlock] {
        let blocks = try apply(interval, emit: true)
        stateThrough.withLock { $0 = (true, interval) }
        return blocks
    }

    private func apply(_ interval: Interval, emit: Bool) throws -> [PendingBlock] {
        let output = outputs[0], liveCounts = outputs.count > 1 ? outputs[1] : nil
        let name = self.name, produce = self.produce, step = self.step, timeout = self.timeout, states = self.states
        stateThrough.withLock { $0.built = false }
        let first: Interval?
        do { first = try firstRecordInterval(log, inputs) } catch let error as StorageError {
            throw EngineError.storage(error, vertex: name, interval: interval)
        }
        // Before the first interval with input there is no state and nothing to emit.
        guard let first, interval >= first else { return [] }
        let t = interval.rawValue
        let perPartition = try forEachPartition(Int(partitionCount)) { partition in
            var codec = BlockCodec()
            var writer = PartitionWriter(descriptor: output, interval: interval, partition: partition)
            var countWriter = liveCounts.map {
                PartitionWriter(descriptor: $0, interval: interval, partition: partition)
            }
            try userClosure(name, interval, partition) {
                let pairs = try produce(interval, partition, &codec)
                // Group the interval's values by key, keys in order of first appearance.
                var groupSlot: [Key: Int] = [:]  // lookup only
                var groups = ContiguousArray<(key: Key, values: [Value])>()
                for pair in pairs {
                    if let index = groupSlot[pair.key] {
                        groups[index].values.append(pair.value)
                    } else {
                        groupSlot[pair.key] = groups.count
                        groups.append((pair.key, [pair.value]))
                    }
                }
                try states.withState(partition) { table in
                    for group in groups {
                        let index = table.slot[group.key]
                        let updated = try step(group.key, group.values, index.map { table.entries[$0].state })
                        switch (index, updated) {
                        case (let index?, let state?):
                            table.entries[index].state = state
                            table.entries[index].lastActive = t
                        case (nil, let state?):
                            table.slot[group.key] = table.entries.count
                            table.entries.append(Entry(key: group.key, state: state, lastActive: t))
                        case (let index?, nil):
                            table.remove(at: index)
                        case (nil, nil):
                            break
                        }
                        if emit, let state = updated { writer.append(KeyValue(group.key, state)) }
                    }
                    if let timeout {
                        // Descending, so that a swap-removal moves an already checked entry.
                        var index = table.entries.count - 1
                        while index >= 0 {
                            if t - table.entries[index].lastActive >= timeout { table.remove(at: index) }
                            index -= 1
                        }
                    }
                    if emit { countWriter?.append(Int64(table.entries.count)) }
                }
            }
            return (writer.finish(), countWriter?.finish() ?? [])
        }
        // Order: output, then partition.
        return perPartition.flatMap(\.0) + perPartition.flatMap(\.1)
    }
}

extension DStream {
    /// Keeps a state per key across intervals, updated from each interval's values for the key,
    /// and yields per interval the keys that received values in it with their new state.
    ///
    /// Per interval and key with values, `update(key, values, previous)` gives the new state
    /// (`previous` is `nil` for a key without state); returning `nil` drops the key, and nothing is
    /// emitted for it. Keys without values are not updated (unlike Spark, `update` is not called
    /// for them); with a `timeout`, a key whose last values came at interval `a` is dropped at the
    /// end of interval `a + timeout`, silently, and the stream is processed at every interval.
    ///
    /// Pairs are routed by key through a durable exchange stream with `partitions` partitions
    /// (default: this stream's). A key's values come in input-partition order, then in each input
    /// partition's order; the emitted keys in order of their first value in the interval. The
    /// state lives in memory and is rebuilt from the retained input after a restart.
    ///
    /// ```swift
    /// p.read(purchases).updateStateByKey { (user: String, amounts: [Int64], total: Int64?) in
    ///     (total ?? 0) + amounts.reduce(0, +)
    /// }.save(as: "totals")
    /// ```
    ///
    /// - Parameters:
    ///   - timeout: Intervals without values after which a key is dropped (`nil`: never), at least 1.
    ///   - partitions: Partitions of the state and of the result.
    ///   - update: The new state of a key from its values in the interval and its previous state.
    /// - Complexity: O(records) per interval, plus O(live keys) per interval with a timeout.
    public func updateStateByKey<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable>(
        timeout: Int? = nil, partitions: Int? = nil,
        _ update: @escaping @Sendable (Key, [Value], State?) throws -> State?
    ) -> DStream<KeyValue<Key, State>> where Record == KeyValue<Key, Value> {
        keyedState(kind: "updateStateByKey", timeout: timeout, partitions: partitions, liveCounts: false, update)
            .updates
    }

    /// Builds a `KeyedStateVertex`; returns the stream of updates and, if asked, of live-key counts
    /// per partition.
    func keyedState<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable>(
        kind: String, timeout: Int?, partitions: Int?, liveCounts: Bool,
        _ update: @escaping @Sendable (Key, [Value], State?) throws -> State?
    ) -> (updates: DStream<KeyValue<Key, State>>, liveCounts: DStream<Int64>?) where Record == KeyValue<Key, Value> {
        let invalid = DStream<KeyValue<Key, State>>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                                                    chain: chain + ".invalid") { _, _, _ in [] }
        var limit: UInt64?
        if let timeout {
            guard timeout >= 1, let value = UInt64(exactly: timeout) else {
                builder.fail(EngineError.misuse("\(kind): timeout must be at least 1 interval, not \(timeout)"))
                return (invalid, nil)
            }
            limit = value
        }
        guard let exchanged = exchangeByKey(partitions: partitions) else { return (invalid, nil) }
        let name = builder.nextVertexName
        guard let output = builder.outputStream(name + ".out", of: KeyValue<Key, State>.self,
                                                partitions: exchanged.partitionCount, like: exchanged.input) else {
            return (invalid, nil)
        }
        var counts: StreamDescriptor?
        if liveCounts {
            guard let stream = builder.outputStream(name + ".live", of: Int64.self,
                                                    partitions: exchanged.partitionCount, like: exchanged.input)
            else { return (invalid, nil) }
            counts = stream
        }
        builder.add(KeyedStateVertex(kind: kind, name: name, log: builder.log, exchanged: exchanged, output: output,
                                     liveCounts: counts, timeout: limit, step: update))
        let log = builder.log
        let updates = DStream<KeyValue<Key, State>>(builder: builder, input: output, chain: "\(kind)(\(output.name))") {
            interval, partition, codec in
            try PartitionReader.read(log, output, interval, partition, codec: &codec)
        }
        return (updates, counts.map { DStream<Int64>(builder: builder, input: $0, chain: "liveCounts(\($0.name))") {
            [log, stream = $0] interval, partition, codec in
            try PartitionReader.read(log, stream, interval, partition, codec: &codec)
        } })
    }
}

extension KeyedStateVertex: SnapshottingVertex {
    /// Payload: a LEB128 entry count, then per live key `key · state · lastActive (u64)`, in the
    /// table's order, which is a function of the input only (so restoring gives the same table).
    func encodeState(_ partition: PartitionIndex, into writer: inout BinaryWriter) {
        states.withState(partition) { table in
            writeCount(table.entries.count, to: &writer)
            for entry in table.entries {
                entry.key.encode(to: &writer)
                entry.state.encode(to: &writer)
                writer.write(entry.lastActive)
            }
        }
    }

    func decodeState(_ partition: PartitionIndex, from reader: inout BinaryReader) throws(RecordDecodingError) {
        let count = try readCount(from: &reader)
        var table = Table()
        table.entries.reserveCapacity(count)
        for _ in 0..<count {
            let key: Key = try reader.read()
            let state: State = try reader.read()
            let lastActive: UInt64 = try reader.read()
            table.slot[key] = table.entries.count
            table.entries.append(Entry(key: key, state: state, lastActive: lastActive))
        }
        states.withState(partition) { $0 = table }
    }

    func resetState() { states.reset(to: Table()) }

    func replay(_ interval: Interval) throws { _ = try apply(interval, emit: false) }

    func isStateCurrent(through: Interval?) -> Bool { stateThrough.withLock { $0.built && $0.through == through } }

    func advanceState(through: Interval) {
        stateThrough.withLock { if $0.built, ($0.through ?? through) <= through { $0.through = through } }
    }
}
