import StrataStorage

/// The state of a stateful vertex as of a past interval, rebuilt without the program: the
/// vertex's newest usable snapshot at or before the interval, plus the state changes of the
/// intervals after it (see `StateDescriptor` and docs/state-as-of.md).
///
/// A one-key lookup reads only the partition the key hashes to (`XXH64(encoded key) mod P`,
/// the engine's routing): one snapshot row, decoded entry by entry until the key is found (a
/// `runningReduce` snapshot is sorted by encoded key, so the scan also stops at the first
/// larger key), then that partition of the change intervals.
///
/// `StateAsOf` is `Sendable`: every call reads the store in its own short read transactions.
package struct StateAsOf<Key: RecordCodable & Hashable, Value: RecordCodable>: Sendable {
    /// What a query found.
    package struct Result: Sendable {
        /// The entries, sorted by the key's encoded bytes (one or none for a key lookup).
        package var entries: [KeyValue<Key, Value>]
        /// The snapshot the state started from (`nil`: from nothing, at the stream's beginning).
        package var snapshot: Interval?
        /// The change intervals (with records) replayed after the snapshot.
        package var replayedIntervals: Int
    }

    let log: LogStore
    /// The state row of the stream asked for.
    package let descriptor: StateDescriptor
    /// The stream asked for.
    let named: StreamDescriptor
    /// The stream of changes.
    let changes: StreamDescriptor

    /// Finds the state behind stream `name`.
    ///
    /// - Throws: `StorageError.unknownStream` when there is no such stream;
    ///   `EngineError.noState` when no stateful vertex registered it, or its key and value types
    ///   are not `Key` and `Value`; `StorageError.corrupt` for a damaged row.
    package init(log: LogStore, stream name: String) throws {
        self.log = log
        guard let named = try log.descriptor(named: name) else { throw StorageError.unknownStream(name) }
        guard let descriptor = try log.stateDescriptor(of: name) else {
            throw EngineError.noState(stream: name, reason: "not written by a stateful vertex (runningReduce, "
                                      + "updateStateByKey or track): it has no state to show")
        }
        guard descriptor.keyType == Key.recordTypeName, descriptor.valueType == Value.recordTypeName else {
            throw EngineError.noState(stream: name, reason: "its state maps \(descriptor.keyType) to "
                                      + "\(descriptor.valueType), not \(Key.recordTypeName) to \(Value.recordTypeName)")
        }
        guard let changes = try log.descriptor(named: descriptor.changes) else {
            throw StorageError.unknownStream(descriptor.changes)
        }
        self.descriptor = descriptor
        self.named = named
        self.changes = changes
    }

    /// The whole state as of interval `t`, or only `key`'s entry.
    ///
    /// - Parameters:
    ///   - t: A sealed, retained interval of the stream, at or after its first.
    ///   - key: One key (`nil`: every key).
    /// - Returns: The entries sorted by encoded key bytes, and how they were found.
    /// - Throws: `StorageError.notSealed` (t after the vertex's progress), `.beforeStreamStart`,
    ///   `.outsideRetention` (t, or the changes it needs, dropped by retention; the error names
    ///   the first interval that can be answered), `.corrupt` (a damaged snapshot when no older
    ///   one or full replay can stand in, or a damaged change block).
    /// - Complexity: A key: O(one partition's snapshot + that partition's changes since it).
    ///   Everything: O(state + changes since the snapshot + state · log state) (the sort).
    package func state(asOf t: Interval, key: Key? = nil) throws -> Result {
        let frontier = try log.frontier(of: named)
        let location = StoreLocation(stream: named.name, interval: t)
        guard let sealed = frontier.sealedThrough, t <= sealed else {
            throw StorageError.notSealed(location, newestSealed: frontier.sealedThrough)
        }
        guard t >= frontier.retainedFrom else {
            throw StorageError.outsideRetention(location, retainedFrom: frontier.retainedFrom)
        }
        guard let first = frontier.firstInterval, t >= first else {
            throw StorageError.beforeStreamStart(location, firstInterval: frontier.firstInterval)
        }
        let changesFrontier = try log.frontier(of: changes)
        guard let changesSealed = changesFrontier.sealedThrough, t <= changesSealed else {
            throw StorageError.notSealed(StoreLocation(stream: changes.name, interval: t),
                                         newestSealed: changesFrontier.sealedThrough)
        }
        let partitions = changes.partitions
        var keyBytes: [UInt8]?
        var only: PartitionIndex?
        if let key {
            var writer = BinaryWriter(capacity: 32)
            key.encode(to: &writer)
            keyBytes = writer.bytes
            only = PartitionIndex(UInt32(writer.bytes.withUnsafeBytes { XXH64.hash($0) } % UInt64(partitions)))
        }
        // Changes are readable after `s` when no interval in (s, t] was dropped.
        let changesDroppedBefore = changesFrontier.retainedFrom
        let nothingDropped = changesFrontier.firstInterval.map { changesDroppedBefore <= $0 } ?? true
        var damage: (any Error)?
        let snapshots = try log.snapshotIntervals(of: descriptor.vertex)
        for (s, rowPartitions) in snapshots.reversed() where s <= t {
            guard rowPartitions.count == Int(partitions), s.rawValue &+ 1 >= changesDroppedBefore.rawValue || s == t
            else { continue }
            do {
                var state = try loadSnapshot(at: s, partition: only, keyBytes: keyBytes)
                let replayed = try applyChanges(to: &state, after: s, through: t, partition: only, key: key)
                return Result(entries: sorted(state), snapshot: s, replayedIntervals: replayed)
            } catch let error as StorageError {
                guard case .corrupt = error else { throw error }
                if damage == nil { damage = error }
            }
        }
        guard nothingDropped else {
            if let damage { throw damage }
            // The first interval that can be answered: the oldest usable snapshot.
            let answerable = snapshots.first { s, rows in
                rows.count == Int(partitions) && s.rawValue &+ 1 >= changesDroppedBefore.rawValue
            }?.0
            throw StorageError.outsideRetention(location, retainedFrom: answerable ?? changesSealed.next)
        }
        var state: [Key: Value] = [:]
        let replayed = try applyChanges(to: &state, after: nil, through: t, partition: only, key: key)
        return Result(entries: sorted(state), snapshot: nil, replayedIntervals: replayed)
    }

    /// The entries sorted by their keys' encoded bytes (unique, so a total order).
    private func sorted(_ state: [Key: Value]) -> [KeyValue<Key, Value>] {
        var keyed: [(bytes: [UInt8], entry: KeyValue<Key, Value>)] = []
        keyed.reserveCapacity(state.count)
        var writer = BinaryWriter(capacity: 64)
        for (key, value) in state {  // order fixed by the sort below
            writer.removeAll()
            key.encode(to: &writer)
            keyed.append((writer.bytes, KeyValue(key, value)))
        }
        keyed.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        return keyed.map(\.entry)
    }

    /// The snapshot's state at `s`: every partition, or only `partition` and in it only the
    /// entry whose key encodes as `keyBytes`.
    private func loadSnapshot(at s: Interval, partition only: PartitionIndex?, keyBytes: [UInt8]?) throws
        -> [Key: Value]
    {
        var state: [Key: Value] = [:]
        var codec = BlockCodec()
        let partitions = only.map { [$0] } ?? (0..<changes.partitions).map { PartitionIndex($0) }
        let kind = descriptor.kind, vertex = descriptor.vertex
        for partition in partitions {
            let location = LogStore.snapshotLocation(vertex, s, partition)
            try log.withSnapshot(SnapshotKey(vertex: vertex, interval: s, partition: partition), codec: &codec) {
                payload in
                guard let payload else { throw StorageError.corrupt(location, .missingBlock(chunk: 0)) }
                do throws(RecordDecodingError) {
                    try Self.decode(payload, kind: kind, keyBytes: keyBytes, into: &state)
                } catch {
                    throw StorageError.corrupt(location, .undecodableRecord(index: 0, error))
                }
            }
        }
        return state
    }

    /// Decodes a snapshot payload (layouts: `StateDescriptor.Kind`, docs/format.md) into `state`;
    /// with `keyBytes`, only that key's entry, stopping once it is found (or, for a sorted
    /// `runningReduce` payload, passed).
    static func decode(_ payload: UnsafeRawBufferPointer, kind: StateDescriptor.Kind, keyBytes: [UInt8]?,
                       into state: inout [Key: Value]) throws(RecordDecodingError) {
        var reader = BinaryReader(payload)
        let count = try readCount(from: &reader)
        if keyBytes == nil { state.reserveCapacity(state.count + count) }
        for _ in 0..<count {
            let start = reader.offset
            let key: Key = try reader.read()
            if let keyBytes {
                let found = UnsafeRawBufferPointer(rebasing: payload[start..<reader.offset])
                if found.elementsEqual(keyBytes) {
                    state[key] = try reader.read(Value.self)
                    return
                }
                if kind == .runningReduce, keyBytes.lexicographicallyPrecedes(found) { return }
                _ = try reader.read(Value.self)
            } else {
                state[key] = try reader.read(Value.self)
            }
            if kind == .keyedState { _ = try reader.read(UInt64.self) }  // last active interval
        }
        guard reader.remaining == 0 else { throw .trailingBytes(offset: reader.offset) }
    }

    /// Applies the changes of the sealed intervals in (`s`, `t`] (from the first with `s` nil),
    /// of every partition or only `partition` and `key`; returns how many intervals had any.
    private func applyChanges(to state: inout [Key: Value], after s: Interval?, through t: Interval,
                              partition only: PartitionIndex?, key: Key?) throws -> Int {
        let start = s.map { $0.next } ?? Interval(0)
        guard start <= t else { return 0 }
        var codec = BlockCodec()
        var replayed = 0
        for (interval, seal) in try log.sealRecords(of: changes, in: start...t) {
            if let only, seal.chunks[Int(only.rawValue)] == 0 { continue }
            replayed += 1
            let partitions = only.map { [$0] } ?? (0..<changes.partitions).map { PartitionIndex($0) }
            for partition in partitions {
                switch descriptor.kind {
                case .runningReduce:
                    let records: ContiguousArray<KeyValue<Key, Value>> =
                        try PartitionReader.read(log, changes, interval, partition, codec: &codec)
                    for record in records where key == nil || record.key == key { state[record.key] = record.value }
                case .keyedState:
                    let records: ContiguousArray<KeyValue<Key, Value?>> =
                        try PartitionReader.read(log, changes, interval, partition, codec: &codec)
                    for record in records where key == nil || record.key == key { state[record.key] = record.value }
                }
            }
        }
        return replayed
    }
}
