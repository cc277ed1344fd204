import Synchronization
import StrataStorage

/// Keeps a state per key across intervals: per interval, each key's values (in exchange order)
/// and its previous state give its new state; `nil` drops the key, and keys without input for
/// `timeout` intervals are dropped.
///
/// Output 0 gets, per interval, the keys that received input in it and still have a state, with
/// that state, in the order of their first value in the interval. Output 1, when present, gets per
/// partition one `Int64`: the number of live keys after the interval, from the first interval with
/// input on. The last output, `PROGRAM.vN.changes`, gets per interval every change of the state as
/// `KeyValue<Key, Optional<State>>`: the keys that received input, with their new state or `nil`
/// when `update` dropped them (in order of their first value), then the keys that timed out, with
/// `nil` (in the table's descending order); so that the state as of any interval is a snapshot
/// plus these changes, without the program's closures (`StateAsOf`).
final class KeyedStateVertex<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable>: VertexRunner {
    typealias Table = KeyedStateTable<Key, State>
    typealias Entry = Table.Entry

    typealias Step = @Sendable (Key, [Value], State?) throws -> State?

    let identity: VertexIdentity
    let log: LogStore
    private let produce:
        @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<KeyValue<Key, Value>>
    private let kernel: KeyedStateKernel<Key, Value, State>
    private let timeout: UInt64?
    /// The stream of the state's changes, `PROGRAM.vN.changes`.
    let changes: StreamDescriptor
    private let states: PartitionStates<Table>
    /// The initial state of each partition, put into the table at the first interval with input.
    private let initial: [ContiguousArray<KeyValue<Key, State>>]
    /// Whether the vertex runs every interval because the kernel calls `update` for every key.
    private let everyKey: Bool
    /// The period of the state written to the second output, when it gets the state.
    private let snapshotsEvery: UInt64?
    /// Whether the in-memory state is built, and through which interval.
    let stateProgress = StateProgress()

    /// - Parameters:
    ///   - kind: The operator's name, for the fingerprint.
    ///   - exchanged: The input, partitioned by key.
    ///   - liveCounts: The stream of live-key counts per partition (`track`), or of the whole state
    ///     every `snapshotsEvery` intervals (`mapWithState`'s `stateSnapshots()`), if wanted.
    ///   - snapshotsEvery: When set, the second output gets the state, not the live count.
    ///   - changes: The stream of the state's changes (`KeyValue<Key, Optional<State>>`).
    ///   - initial: Per partition, the initial state (keys routed like the input's).
    ///   - everyKey: Whether the kernel calls `update` for every live key each interval.
    init(kind: String, name: String, log: LogStore, exchanged: DStream<KeyValue<Key, Value>>, output: StreamDescriptor,
         liveCounts: StreamDescriptor?, snapshotsEvery: UInt64? = nil, changes: StreamDescriptor, timeout: UInt64?,
         initial: [ContiguousArray<KeyValue<Key, State>>] = [], everyKey: Bool = false,
         kernel: KeyedStateKernel<Key, Value, State>) {
        self.log = log
        self.initial = initial
        self.everyKey = everyKey
        self.snapshotsEvery = snapshotsEvery
        let outputs = [output] + (liveCounts.map { [$0] } ?? []) + [changes]
        self.changes = changes
        produce = exchanged.produce
        self.kernel = kernel
        self.timeout = timeout
        states = PartitionStates(count: Int(exchanged.partitionCount), initial: Table())
        var initialBytes = BinaryWriter(capacity: 64)
        for part in initial { for pair in part { pair.encode(to: &initialBytes) } }
        var extras = initial.allSatisfy(\.isEmpty) && !everyKey
            ? "" : "|initial \(XXH64.hash(initialBytes.bytes))|everyKey \(everyKey)"
        if let snapshotsEvery { extras += "|snapshots \(snapshotsEvery)" }
        // Timeouts and live counts change in intervals without input.
        identity = VertexIdentity(
            name: name, computing: exchanged, outputs: outputs,
            everyInterval: timeout != nil || liveCounts != nil || everyKey, isStateful: true,
            definition: "\(kind)|\(exchanged.chain)|\(outputs.map(\.name))|timeout \(timeout.map(String.init) ?? "none")\(extras)")
    }

    func apply(_ interval: Interval, emit: Bool) throws -> [PendingBlock] {
        let output = outputs[0], liveCounts = outputs.count > 2 ? outputs[1] : nil, changes = self.changes
        let name = self.name, produce = self.produce, kernel = self.kernel, timeout = self.timeout, states = self.states
        let initial = self.initial, snapshotsEvery = self.snapshotsEvery
        stateProgress.markChanging()
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
            var changeWriter = PartitionWriter(descriptor: changes, interval: interval, partition: partition)
            try userClosure(name, interval, partition) {
                let pairs = try produce(interval, partition, &codec)
                try states.withState(partition) { table in
                    // The initial state enters at the first interval with input, as if its keys
                    // had received values then (once per state built: a snapshot after it has them).
                    if interval == first, Int(partition.rawValue) < initial.count {
                        for pair in initial[Int(partition.rawValue)] {
                            table.set(pair.key, at: table.index(of: pair.key), to: pair.value, interval: t)
                            if emit { changeWriter.append(KeyValue(pair.key, Optional(pair.value))) }
                        }
                    }
                    try kernel.apply(&table, pairs, t, timeout, emit, &writer, &changeWriter)
                    guard emit else { return }
                    if let every = snapshotsEvery {
                        // The whole state, in the table's order (a function of the input only).
                        if (t &+ 1) % every == 0 {
                            for entry in table.entries { countWriter?.append(KeyValue(entry.key, entry.state)) }
                        }
                    } else {
                        countWriter?.append(Int64(table.entries.count))
                    }
                }
            }
            return (try writer.finish(), try countWriter?.finish() ?? [], try changeWriter.finish())
        }
        // Order: output, then partition.
        return perPartition.flatMap(\.0) + perPartition.flatMap(\.1) + perPartition.flatMap(\.2)
    }
}

/// The live keys of one partition of a keyed state: entries in a deterministic order (a function
/// of the input only) and a lookup table of their encoded keys (keys are equal when their
/// encodings are, `EncodedKeyTable`), entry `i` being key `i` of the table.
@usableFromInline
struct KeyedStateTable<Key: RecordCodable, State> {
    /// One live key.
    @usableFromInline
    struct Entry {
        @usableFromInline var key: Key
        @usableFromInline var state: State
        /// The last interval in which the key received input.
        @usableFromInline var lastActive: UInt64

        @inlinable
        init(key: Key, state: State, lastActive: UInt64) {
            self.key = key
            self.state = state
            self.lastActive = lastActive
        }
    }

    @usableFromInline var entries = ContiguousArray<Entry>()
    @usableFromInline var keys = EncodedKeyTable(routing: false)
    @usableFromInline var scratch = BinaryWriter(capacity: 64)

    @inlinable
    init() {}

    /// The index of `key`'s entry, `nil` when it has no state.
    @inlinable
    mutating func index(of key: Key) -> Int? { keys.find(key, scratch: &scratch) }

    /// Appends an entry for `key`, which has none.
    @inlinable
    mutating func append(_ entry: Entry) {
        let (_, inserted) = keys.index(of: entry.key, scratch: &scratch)
        #if STRATA_INTERNAL_CHECKS
        precondition(inserted, "keyed state: a key appended twice")
        #endif
        _ = inserted
        entries.append(entry)
    }

    /// Sets the state of `key` (at entry `index`, `nil` when absent) after interval `interval`:
    /// `nil` removes the key.
    @inlinable
    mutating func set(_ key: Key, at index: Int?, to state: State?, interval: UInt64) {
        switch (index, state) {
        case (let index?, let state?):
            entries[index].state = state
            entries[index].lastActive = interval
        case (nil, let state?):
            append(Entry(key: key, state: state, lastActive: interval))
        case (let index?, nil):
            remove(at: index)
        case (nil, nil):
            break
        }
    }

    /// Drops the keys whose last input is `timeout` or more intervals before `interval`, calling
    /// `removed` with each, in descending table order.
    @inlinable
    mutating func expire(at interval: UInt64, timeout: UInt64, removed: (Key) -> Void = { _ in }) {
        // Descending, so that a swap-removal moves an already checked entry.
        var index = entries.count - 1
        while index >= 0 {
            if interval - entries[index].lastActive >= timeout {
                removed(entries[index].key)
                remove(at: index)
            }
            index -= 1
        }
    }

    /// Removes entry `index`, moving the last entry into its place.
    @inlinable
    mutating func remove(at index: Int) {
        keys.remove(at: index)
        let last = entries.removeLast()
        if index < entries.count { entries[index] = last }
    }
}

/// The per-batch kernel of a keyed state (`updateStateByKey`, `track`), built by the `@inlinable`
/// entry points so that it is specialized for the program's key, value and state types.
@usableFromInline
struct KeyedStateKernel<Key: RecordCodable, Value: RecordCodable, State: RecordCodable>: Sendable {
    /// Applies one interval's pairs to a partition's table: per key (in order of first appearance)
    /// its values in order and its previous state give the new state (`nil` drops the key), `emit`
    /// gets (when asked) each key that still has a state; then keys idle for `timeout`
    /// intervals are dropped. `changes` gets (when asked) every change as
    /// `KeyValue<Key, Optional<State>>`: the keys updated or dropped by `update`, then those
    /// dropped by the timeout.
    @usableFromInline let apply: @Sendable (inout KeyedStateTable<Key, State>, ContiguousArray<KeyValue<Key, Value>>,
                                            _ interval: UInt64, _ timeout: UInt64?, _ emit: Bool,
                                            _ output: inout PartitionWriter, _ changes: inout PartitionWriter)
        throws -> Void

    @inlinable
    init(everyKey: Bool = false, step: @escaping @Sendable (Interval, Key, [Value], State?) throws -> State?) {
        apply = { table, pairs, t, timeout, emit, output, changes in
            // Group the interval's values by key, keys in order of first appearance.
            var groupKeys = EncodedKeyTable(routing: false, capacity: min(pairs.count, 1 << 16))
            var scratch = BinaryWriter(capacity: 64)
            var groups = ContiguousArray<(key: Key, values: [Value])>()
            for pair in pairs {
                let (index, inserted) = groupKeys.index(of: pair.key, scratch: &scratch)
                if inserted {
                    groups.append((pair.key, [pair.value]))
                } else {
                    groups[index].values.append(pair.value)
                }
            }
            for group in groups {
                let index = table.index(of: group.key)
                let updated = try step(Interval(t), group.key, group.values, index.map { table.entries[$0].state })
                table.set(group.key, at: index, to: updated, interval: t)
                if emit {
                    if let state = updated { output.append(KeyValue(group.key, state)) }
                    if updated != nil || index != nil { changes.append(KeyValue(group.key, updated)) }
                }
            }
            if let timeout {
                table.expire(at: t, timeout: timeout) { key in
                    if emit { changes.append(KeyValue(key, State?.none)) }
                }
            }
            guard everyKey else { return }
            // Every other live key, with no values, in descending table order (a swap-removal
            // then moves an entry already called); its last-input interval stays.
            var index = table.entries.count - 1
            while index >= 0 {
                let key = table.entries[index].key
                if groupKeys.find(key, scratch: &scratch) == nil {
                    let updated = try step(Interval(t), key, [], table.entries[index].state)
                    table.set(key, at: index, to: updated, interval: table.entries[index].lastActive)
                    if emit {
                        if let state = updated { output.append(KeyValue(key, state)) }
                        changes.append(KeyValue(key, updated))
                    }
                }
                index -= 1
            }
        }
    }

    /// A kernel that folds each event into its key's state in order (`track`): the same result as
    /// `init(step:)` with a step that folds the key's values, without gathering them per key.
    @inlinable
    init(initialize: @escaping @Sendable (Key, Value) throws -> State,
         update: @escaping @Sendable (Key, State, Value) throws -> State?) {
        apply = { table, pairs, t, timeout, emit, output, changes in
            // The interval's keys in order of first event (groups), and each event's group.
            var groupKeys = EncodedKeyTable(routing: false, capacity: min(pairs.count, 1 << 16))
            var scratch = BinaryWriter(capacity: 64)
            var groupOfPair = ContiguousArray<Int>()
            groupOfPair.reserveCapacity(pairs.count)
            var firstPair = ContiguousArray<Int>()
            for position in pairs.indices {
                let (group, inserted) = groupKeys.index(of: pairs[position].key, scratch: &scratch)
                if inserted { firstPair.append(position) }
                groupOfPair.append(group)
            }
            // Each group's table index (-1: no state), then its state: loops of independent
            // lookups, so that the processor overlaps their cache misses into a large table
            // (one lookup per key and interval). The table does not change until every event
            // is folded.
            var indexes = ContiguousArray<Int>(repeating: -1, count: firstPair.count)
            for group in firstPair.indices {
                indexes[group] = table.index(of: pairs[firstPair[group]].key) ?? -1
            }
            var states = ContiguousArray<State?>()
            states.reserveCapacity(firstPair.count)
            for index in indexes { states.append(index >= 0 ? table.entries[index].state : nil) }
            // The events in order: each folded into its key's running state (a key whose state
            // ended starts afresh).
            for position in pairs.indices {
                let group = groupOfPair[position], pair = pairs[position]
                if let current = states[group] {
                    states[group] = try update(pair.key, current, pair.value)
                } else {
                    states[group] = try initialize(pair.key, pair.value)
                }
            }
            // The table changes, key by key in order of first event. Updates in place and
            // appends leave every index valid; a removal moves the last entry into the freed
            // index, and `groupOfEntry` (each entry's group, -1 for none) follows it there.
            var groupOfEntry = ContiguousArray<Int>(repeating: -1, count: table.entries.count)
            for group in indexes.indices where indexes[group] >= 0 { groupOfEntry[indexes[group]] = group }
            for group in firstPair.indices {
                let key = pairs[firstPair[group]].key, state = states[group]
                let index = indexes[group] >= 0 ? indexes[group] : nil
                if let index, state == nil {
                    let last = table.entries.count - 1
                    table.remove(at: index)
                    let moved = groupOfEntry.removeLast()
                    if index < last {
                        groupOfEntry[index] = moved
                        if moved >= 0 { indexes[moved] = index }
                    }
                } else {
                    table.set(key, at: index, to: state, interval: t)
                    if index == nil, state != nil { groupOfEntry.append(group) }
                }
                if emit {
                    if let state { output.append(KeyValue(key, state)) }
                    if state != nil || index != nil { changes.append(KeyValue(key, state)) }
                }
            }
            if let timeout {
                table.expire(at: t, timeout: timeout) { key in
                    if emit { changes.append(KeyValue(key, State?.none)) }
                }
            }
        }
    }
}

extension DStream {
    /// Keeps a state per key across intervals, updated from each interval's values for the key,
    /// and yields per interval the keys that received values in it with their new state.
    ///
    /// Per interval and key with values, `update(key, values, previous)` gives the new state
    /// (`previous` is `nil` for a key without state); returning `nil` drops the key, and nothing is
    /// emitted for it. Keys without values are not updated (unlike Spark; see the form taking the
    /// interval, with `everyKey`); with a `timeout`, a key whose last values came at interval `a`
    /// is dropped at the end of interval `a + timeout`, silently, and the stream is processed at
    /// every interval.
    ///
    /// Pairs are routed by key through a durable exchange stream with `partitions` partitions
    /// (default: this stream's). A key's values come in input-partition order, then in each input
    /// partition's order; the emitted keys in order of their first value in the interval. Keys are
    /// equal when their encodings are. The state lives in memory, is snapshotted, and is rebuilt
    /// from the retained input after a restart.
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
    ///   - partitioner: The partition of each key (default: the stable hash of its encoding).
    ///   - initialState: The state before the first interval with input (Spark's `initialRDD`):
    ///     its keys enter the state at that interval as if they had received values in it (for the
    ///     timeout), without being emitted; a key given twice keeps its last state.
    ///   - update: The new state of a key from its values in the interval and its previous state.
    /// - Complexity: O(records) per interval, plus O(live keys) per interval with a timeout.
    @inlinable
    public func updateStateByKey<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable>(
        timeout: Int? = nil, partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        initialState: [KeyValue<Key, State>] = [],
        _ update: @escaping @Sendable (Key, [Value], State?) throws -> State?
    ) -> DStream<KeyValue<Key, State>> where Record == KeyValue<Key, Value> {
        keyedState(kind: "updateStateByKey", as: KeyValue<Key, State>.self, timeout: timeout, partitions: partitions,
                   initialState: initialState,
                   kernel: KeyedStateKernel(step: { _, key, values, state in try update(key, values, state) }),
                   route: RouteKernel(partitioner: partitioner)).updates
    }

    /// `updateStateByKey` whose `update` also gets the interval, and that can call it for every
    /// live key each interval, as Spark does (for state that decays without input).
    ///
    /// With `everyKey`, after the keys with values (in order of their first value) and the
    /// timeouts, `update(interval, key, [], state)` is called for every other live key, in a fixed
    /// order (descending position in the partition's state table, a function of the input only);
    /// `nil` drops the key. Every key that still has a state is then emitted each interval, and
    /// the stream is processed at every interval from the first with input. A call without values
    /// does not count as input for the timeout.
    ///
    /// ```swift
    /// // A score that halves every interval without clicks and is dropped below 1.
    /// clicks.updateStateByKey(everyKey: true) { (_: Interval, _: String, clicks: [Int64], score: Int64?) in
    ///     let next = clicks.isEmpty ? (score ?? 0) / 2 : (score ?? 0) + clicks.reduce(0, +)
    ///     return next >= 1 ? next : nil
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - timeout: Intervals without values after which a key is dropped (`nil`: never), at least 1.
    ///   - partitions: Partitions of the state and of the result.
    ///   - partitioner: The partition of each key (default: the stable hash of its encoding).
    ///   - initialState: The state before the first interval with input (see the other form).
    ///   - everyKey: Call `update` for every live key each interval, not only for keys with values.
    ///   - update: The new state from the interval, the key, its values in the interval (empty
    ///     for a key called without values) and its previous state.
    /// - Complexity: O(records) per interval, plus O(live keys) with `everyKey` or a timeout.
    @inlinable
    public func updateStateByKey<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable>(
        timeout: Int? = nil, partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        initialState: [KeyValue<Key, State>] = [], everyKey: Bool = false,
        _ update: @escaping @Sendable (Interval, Key, [Value], State?) throws -> State?
    ) -> DStream<KeyValue<Key, State>> where Record == KeyValue<Key, Value> {
        keyedState(kind: "updateStateByKey", as: KeyValue<Key, State>.self, timeout: timeout,
                   partitions: partitions, initialState: initialState, everyKey: everyKey,
                   kernel: KeyedStateKernel(everyKey: everyKey, step: update),
                   route: RouteKernel(partitioner: partitioner)).updates
    }

    /// Builds a `KeyedStateVertex`; returns the stream of updates and, if asked, of live-key counts
    /// per partition.
    @usableFromInline
    func keyedState<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable, Out: RecordCodable>(
        kind: String, as outputType: Out.Type, timeout: Int?, partitions: Int?, extra: KeyedStateExtra? = nil,
        initialState: [KeyValue<Key, State>] = [], everyKey: Bool = false,
        kernel: KeyedStateKernel<Key, Value, State>, route: RouteKernel<Key, Value>
    ) -> (updates: DStream<Out>, extra: StreamDescriptor?) where Record == KeyValue<Key, Value> {
        let invalid = DStream<Out>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                                   chain: chain + ".invalid") { _, _, _ in [] }
        var limit: UInt64?
        if let timeout {
            guard timeout >= 1, let value = UInt64(exactly: timeout) else {
                builder.fail(EngineError.misuse("\(kind): timeout must be at least 1 interval, not \(timeout)"))
                return (invalid, nil)
            }
            limit = value
        }
        guard let exchanged = exchangeByKey(partitions: partitions, route: route) else { return (invalid, nil) }
        let name = builder.nextVertexName
        guard let output = builder.outputStream(name + ".out", of: Out.self,
                                                partitions: exchanged.partitionCount, like: exchanged.input) else {
            return (invalid, nil)
        }
        var counts: StreamDescriptor?
        var snapshotsEvery: UInt64?
        switch extra {
        case nil: break
        case .liveCounts:
            guard let stream = builder.outputStream(name + ".live", of: Int64.self,
                                                    partitions: exchanged.partitionCount, like: exchanged.input)
            else { return (invalid, nil) }
            counts = stream
        case .stateSnapshots(let every):
            guard let stream = builder.outputStream(name + ".snapshots", of: KeyValue<Key, State>.self,
                                                    partitions: exchanged.partitionCount, like: exchanged.input)
            else { return (invalid, nil) }
            counts = stream
            snapshotsEvery = every
        }
        // After `.live`, so that the streams created before keep their IDs.
        guard let changes = builder.outputStream(name + ".changes", of: KeyValue<Key, State?>.self,
                                                 partitions: exchanged.partitionCount, like: exchanged.input,
                                                 keepsChanges: true) else {
            return (invalid, nil)
        }
        builder.add(KeyedStateVertex(kind: kind, name: name, log: builder.log, exchanged: exchanged, output: output,
                                     liveCounts: counts, snapshotsEvery: snapshotsEvery, changes: changes,
                                     timeout: limit,
                                     initial: Self.routed(initialState, among: exchanged.partitionCount,
                                                          partitioner: route.partitioner),
                                     everyKey: everyKey, kernel: kernel))
        return (DStream<Out>(builder: builder, reading: output, chain: "\(kind)(\(output.name))"), counts)
    }
}

/// The second output of a keyed state vertex.
@usableFromInline
enum KeyedStateExtra: Sendable {
    /// Per partition and interval, the number of live keys (`track`'s `activeCount`).
    case liveCounts
    /// Every `every` intervals (where `(t + 1) % every == 0`), the whole state (`mapWithState`).
    case stateSnapshots(every: UInt64)
}

extension DStream {
    /// Splits key/state pairs among `count` partitions as the exchange routes keys (XXH64 of the
    /// encoded key), a key given twice keeping its last state at its first position.
    static func routed<Key: RecordCodable, State: RecordCodable>(_ pairs: [KeyValue<Key, State>], among count: UInt32,
                                                                partitioner: KeyPartitioner<Key>?)
        -> [ContiguousArray<KeyValue<Key, State>>]
    {
        guard !pairs.isEmpty else { return [] }
        var parts = [ContiguousArray<KeyValue<Key, State>>](repeating: [], count: Int(count))
        let unique = combineInPlace(ContiguousArray(pairs), create: { $0 }, merge: { state, later in state = later })
        var scratch = BinaryWriter(capacity: 64)
        for pair in unique {
            let target = partitioner?.partition(of: pair.key, among: count)
                ?? stablePartition(of: pair.key, among: count, scratch: &scratch)
            parts[Int(target)].append(pair)
        }
        return parts
    }
}

extension KeyedStateVertex: SnapshottingVertex {
    /// Payload: a LEB128 entry count, then per live key `key · state · lastActive (u64)`, in the
    /// table's order, which is a function of the input only (so restoring gives the same table).
    func encodeState(_ partition: PartitionIndex, into writer: inout BinaryWriter) {
        states.withState(partition) { table in
            writeCount(table.entries.count, to: &writer)
            for entry in table.entries {
                // Integer keys and states: the entry's bytes with one append (`FieldGroup`).
                var group = FieldGroup()
                if group.append(encodingOf: entry.key), group.append(encodingOf: entry.state),
                   group.append(littleEndian: entry.lastActive) {
                    writer.write(group)
                    continue
                }
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
            let at = reader.offset
            let lastActive: UInt64 = try reader.read()
            guard table.index(of: key) == nil else { throw .invalidValue(offset: at, what: "keyed state key repeated") }
            table.append(Entry(key: key, state: state, lastActive: lastActive))
        }
        states.withState(partition) { $0 = table }
    }

    func resetState() { states.reset(to: Table()) }

    var stateLayout: StateLayout? {
        StateLayout(kind: .keyedState, keyType: Key.recordTypeName, valueType: State.recordTypeName,
                    output: outputs[0], changes: changes)
    }

}
