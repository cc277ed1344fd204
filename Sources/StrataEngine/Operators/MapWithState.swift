import StrataStorage

/// The state of one key inside a `mapWithState` function (Spark's `State`): read it, update it,
/// remove it, and learn whether this call is the key's timeout.
///
/// A `KeyState` lives for one call; what the function leaves in it is the key's state afterwards.
public struct KeyState<State> {
    /// What the call did to the state.
    @usableFromInline
    enum Change { case none, updated, removed }

    @usableFromInline var current: State?
    @usableFromInline var change = Change.none
    /// Whether this call is the key's timeout: no record (`value` is `nil`), and the state is
    /// removed after the call whatever the function does; `update` and `remove` then throw.
    public let isTimingOut: Bool

    @inlinable
    init(_ current: State?, isTimingOut: Bool) {
        self.current = current
        self.isTimingOut = isTimingOut
    }

    /// Whether the key has a state.
    @inlinable public var exists: Bool { current != nil }

    /// The key's state, `nil` when it has none.
    @inlinable public func get() -> State? { current }

    /// Sets the key's state (and keeps the key alive).
    ///
    /// - Throws: `EngineError.misuse` in a timeout call (the state is being removed).
    @inlinable
    public mutating func update(_ state: State) throws {
        guard !isTimingOut else { throw EngineError.misuse("mapWithState: the state of a timing-out key cannot be updated") }
        current = state
        change = .updated
    }

    /// Removes the key's state.
    ///
    /// - Throws: `EngineError.misuse` in a timeout call (the state is being removed anyway).
    @inlinable
    public mutating func remove() throws {
        guard !isTimingOut else { throw EngineError.misuse("mapWithState: a timing-out key is removed already") }
        current = nil
        change = .removed
    }
}

/// The streams of a `mapWithState`: the mapped records, and (when asked for) the whole state.
///
/// `MappedWithState` is `Sendable`, like the `DStream`s it holds.
public struct MappedWithState<Key: RecordCodable, State: RecordCodable, Mapped: RecordCodable>: Sendable {
    /// Per interval, what the function returned (non-`nil`) for each record, in the order the
    /// records arrive at their state partition, then what it returned for the keys that timed out.
    public let mapped: DStream<Mapped>
    /// The state stream, when `stateSnapshotsEvery` was given.
    let snapshots: DStream<KeyValue<Key, State>>?
    /// The stream to fail with when `stateSnapshots()` was not asked for.
    let builder: ProgramBuilder

    /// The whole state as a stream (Spark's `stateSnapshots()`): every `stateSnapshotsEvery`
    /// intervals (where `(t + 1) % stateSnapshotsEvery == 0`), every live key with its state after
    /// the interval, in each partition in state-table order; other intervals are empty.
    ///
    /// Without `stateSnapshotsEvery` the program's definition fails (`EngineError.misuse`): the
    /// state is only written when asked for, as it may be large.
    public func stateSnapshots() -> DStream<KeyValue<Key, State>> {
        if let snapshots { return snapshots }
        builder.fail(EngineError.misuse("mapWithState: stateSnapshots() needs stateSnapshotsEvery:"))
        return mapped.invalid("stateSnapshots")
    }
}

extension KeyedStateKernel {
    /// A kernel that calls `function` once per record with the key's state handle (`mapWithState`),
    /// then once per timed-out key, writing the mapped records to `output`.
    @inlinable
    init<Mapped: RecordCodable>(
        mapping function: @escaping @Sendable (Interval, Key, Value?, inout KeyState<State>) throws -> Mapped?
    ) {
        apply = { table, pairs, t, timeout, emit, output, changes in
            let interval = Interval(t)
            for pair in pairs {
                let index = table.index(of: pair.key)
                var handle = KeyState(index.map { table.entries[$0].state }, isTimingOut: false)
                let mapped = try function(interval, pair.key, pair.value, &handle)
                if emit, let mapped { output.append(mapped) }
                switch handle.change {
                case .none:
                    // A record keeps the key alive even when its state did not change.
                    if let index { table.entries[index].lastActive = t }
                case .updated:
                    table.set(pair.key, at: index, to: handle.current, interval: t)
                    if emit { changes.append(KeyValue(pair.key, handle.current)) }
                case .removed:
                    guard let index else { break }
                    table.set(pair.key, at: index, to: nil, interval: t)
                    if emit { changes.append(KeyValue(pair.key, State?.none)) }
                }
            }
            guard let timeout else { return }
            // Descending, so that a swap-removal moves an entry already checked.
            var index = table.entries.count - 1
            while index >= 0 {
                if t - table.entries[index].lastActive >= timeout {
                    let key = table.entries[index].key
                    var handle = KeyState(Optional(table.entries[index].state), isTimingOut: true)
                    let mapped = try function(interval, key, nil, &handle)
                    if emit, let mapped { output.append(mapped) }
                    table.remove(at: index)
                    if emit { changes.append(KeyValue(key, State?.none)) }
                }
                index -= 1
            }
        }
    }
}

extension DStream {
    /// Keeps a state per key and maps every record with it (Spark's `mapWithState`):
    /// `function(interval, key, value, &state)` is called once per record, in order, and may read,
    /// update or remove the key's state through the handle; what it returns (when not `nil`) is
    /// the `mapped` stream, separate from the state.
    ///
    /// **Timeouts.** With `timeout: n`, a key with a state times out when it received no record
    /// for `n` intervals: if its last record came in interval `a`, then at the end of interval
    /// `a + n` (after that interval's records) `function(a + n, key, nil, &state)` is called once
    /// with `state.isTimingOut == true` and the state still readable; its result goes to interval
    /// `a + n`'s `mapped` output, after the records'; then the state is removed. A record keeps its
    /// key alive whether or not the function changed the state. Timeout calls of one partition come
    /// in descending state-table order (a function of the input only). The stream is then processed
    /// at every interval.
    ///
    /// Records are routed by key through a durable exchange stream with `partitions` partitions
    /// (default: this stream's), keys being equal when their encodings are; a key's records come in
    /// input-partition order, then in each input partition's order. The state is snapshotted and
    /// rebuilt from the retained input after a restart, and its changes are written to
    /// `PROGRAM.vN.changes` for `Store.state(of:asOf:…)`.
    ///
    /// ```swift
    /// // Per user, the running total of purchases; a user idle for 30 intervals gets a final record.
    /// let totals = purchases.mapWithState(timeout: 30, stateSnapshotsEvery: 10) {
    ///     (_: Interval, user: String, amount: Int64?, total: inout KeyState<Int64>) -> KeyValue<String, Int64>? in
    ///     guard let amount else { return KeyValue(user, -(total.get() ?? 0)) }   // timing out
    ///     let next = (total.get() ?? 0) + amount
    ///     try total.update(next)
    ///     return KeyValue(user, next)
    /// }
    /// totals.mapped.save(as: "runningTotals")
    /// totals.stateSnapshots().save(as: "allTotals")
    /// ```
    ///
    /// - Parameters:
    ///   - timeout: Intervals without records after which a key times out (`nil`: never), at least 1.
    ///   - partitions: Partitions of the state and of the streams.
    ///   - partitioner: The partition of each key (default: the stable hash of its encoding).
    ///   - initialState: The state before the first interval with input (Spark's
    ///     `StateSpec.initialState`): its keys enter at that interval as if they had received a
    ///     record in it; a key given twice keeps its last state.
    ///   - stateSnapshotsEvery: Write the whole state every this many intervals, for
    ///     `stateSnapshots()` (`nil`: never), at least 1.
    ///   - function: The mapping of one record (or, with `value` `nil`, of a timeout).
    /// - Complexity: O(records) per interval, plus O(live keys) per interval with a timeout, and
    ///   per state snapshot.
    @inlinable
    public func mapWithState<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable,
                             Mapped: RecordCodable>(
        timeout: Int? = nil, partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        initialState: [KeyValue<Key, State>] = [], stateSnapshotsEvery: Int? = nil,
        _ function: @escaping @Sendable (Interval, Key, Value?, inout KeyState<State>) throws -> Mapped?
    ) -> MappedWithState<Key, State, Mapped> where Record == KeyValue<Key, Value> {
        mappedWithState(timeout: timeout, partitions: partitions, initialState: initialState,
                        stateSnapshotsEvery: stateSnapshotsEvery, kernel: KeyedStateKernel(mapping: function),
                        route: RouteKernel(partitioner: partitioner))
    }

    /// `mapWithState` with its kernel.
    @usableFromInline
    func mappedWithState<Key: RecordCodable & Hashable, Value: RecordCodable, State: RecordCodable,
                         Mapped: RecordCodable>(
        timeout: Int?, partitions: Int?, initialState: [KeyValue<Key, State>], stateSnapshotsEvery: Int?,
        kernel: KeyedStateKernel<Key, Value, State>, route: RouteKernel<Key, Value>
    ) -> MappedWithState<Key, State, Mapped> where Record == KeyValue<Key, Value> {
        var extra: KeyedStateExtra?
        if let every = stateSnapshotsEvery {
            guard every >= 1, let period = UInt64(exactly: every) else {
                builder.fail(EngineError.misuse("mapWithState: stateSnapshotsEvery must be at least 1, not \(every)"))
                let none: DStream<Mapped> = invalid("mapWithState")
                return MappedWithState(mapped: none, snapshots: nil, builder: builder)
            }
            extra = .stateSnapshots(every: period)
        }
        let streams = keyedState(kind: "mapWithState", as: Mapped.self, timeout: timeout, partitions: partitions,
                                 extra: extra, initialState: initialState, kernel: kernel, route: route)
        let snapshots = streams.extra.map {
            DStream<KeyValue<Key, State>>(builder: builder, reading: $0, chain: "stateSnapshots(\($0.name))")
        }
        return MappedWithState(mapped: streams.updates, snapshots: snapshots, builder: builder)
    }
}
