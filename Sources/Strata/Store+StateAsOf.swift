import StrataEngine
import StrataStorage

/// How the state behind a stateful output can be rebuilt: its vertex, layout, types and stream
/// of changes (see `Store.stateDescriptor(of:)`).
public typealias StateDescriptor = StrataStorage.StateDescriptor

/// The state of a stateful vertex as of one interval, as `Store.state(of:asOf:key:)` found it.
///
/// `StateAsOfResult` is `Sendable` when its key and value types are; it is a plain value.
public struct StateAsOfResult<Key: RecordCodable & Hashable, Value: RecordCodable> {
    /// The entries, sorted by the key's encoded bytes; one or none for a key lookup.
    public var entries: [KeyValue<Key, Value>]
    /// The interval of the snapshot the state was rebuilt from (`nil`: from the stream's beginning).
    public var snapshot: Interval?
    /// How many intervals of changes (with records) were applied after the snapshot.
    public var replayedIntervals: Int
}

extension StateAsOfResult: Sendable where Key: Sendable, Value: Sendable {}

extension Store {
    /// The state row registered for `stream` by the stateful vertex that writes it, or `nil` when
    /// no stateful vertex writes it.
    ///
    /// - Throws: `StorageError.corrupt` for a damaged row.
    public func stateDescriptor(of stream: String) throws(StorageError) -> StateDescriptor? {
        try log.stateDescriptor(of: stream)
    }

    /// The state of the stateful vertex that writes `stream` as of interval `t`: its newest
    /// snapshot at or before `t`, plus the state changes of the intervals after it. Needs no
    /// program: the snapshot layout and the changes are described in the store.
    ///
    /// `stream` is the output of `runningReduce` or the `updates` of `track` /
    /// `updateStateByKey`, under its internal name (`PROGRAM.vN.out`) or a `save(as:)` name.
    ///
    /// ```swift
    /// let counts = try store.state(of: "urlCounts", asOf: Interval(41), key: "/home",
    ///                              as: String.self, Int64.self)
    /// print(counts.entries.first?.value ?? 0)
    /// ```
    ///
    /// With a `key`, only the partition the key hashes to is read, and the snapshot only up to
    /// the key.
    ///
    /// - Parameters:
    ///   - stream: The stateful output's name.
    ///   - t: A sealed, retained interval of `stream`.
    ///   - key: One key (`nil`: the whole state).
    ///   - keyType: The state's key type.
    ///   - valueType: The state's value type.
    /// - Returns: The entries sorted by encoded key bytes.
    /// - Throws: `StorageError.unknownStream`; `EngineError.noState` (no stateful vertex writes
    ///   the stream, or other types); `StorageError.notSealed`, `.beforeStreamStart`,
    ///   `.outsideRetention` for `t`; `.corrupt`.
    /// - Complexity: A key: one partition's snapshot plus that partition's changes since it.
    public func state<Key: RecordCodable & Hashable, Value: RecordCodable>(
        of stream: String, asOf t: Interval, key: Key? = nil, as keyType: Key.Type, _ valueType: Value.Type
    ) throws -> StateAsOfResult<Key, Value> {
        let found = try StateAsOf<Key, Value>(log: log, stream: stream).state(asOf: t, key: key)
        return StateAsOfResult(entries: found.entries, snapshot: found.snapshot, replayedIntervals: found.replayedIntervals)
    }
}
