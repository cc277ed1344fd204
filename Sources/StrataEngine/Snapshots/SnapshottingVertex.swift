import Synchronization
import StrataStorage

/// A stateful vertex whose per-partition state can be written to a snapshot and read back.
///
/// Snapshot bytes must be a deterministic function of the state: never the iteration order of a
/// `Dictionary` or `Set` (sort by encoded key bytes, or keep an order that is itself a function of
/// the input). Restoring = load the newest readable snapshot at or before the progress, partitions
/// in parallel, then replay the input after it with output off (`restoreState(through:)`).
protocol SnapshottingVertex: VertexRunner {
    /// The store the vertex reads and writes.
    var log: LogStore { get }
    /// The number of state partitions.
    var partitionCount: UInt32 { get }
    /// Appends partition `partition`'s state to `writer` (`RecordCodable` encoding).
    func encodeState(_ partition: PartitionIndex, into writer: inout BinaryWriter)
    /// Replaces partition `partition`'s state with the one decoded from `reader`, which must be
    /// consumed exactly.
    func decodeState(_ partition: PartitionIndex, from reader: inout BinaryReader) throws(RecordDecodingError)
    /// Empties every partition's state.
    func resetState()
    /// Whether the in-memory state is built, and through which interval.
    var stateProgress: StateProgress { get }
    /// Applies one interval's input to the state, producing its output blocks when `emit`.
    func apply(_ interval: Interval, emit: Bool) throws -> [PendingBlock]
    /// How the state can be rebuilt as of a past interval without the program (`StateAsOf`), or
    /// `nil` when it cannot.
    var stateLayout: StateLayout? { get }
}

/// Whether a stateful vertex's in-memory state is built, and through which interval: a state
/// marked changing (an interval part-way applied, or a failure) is rebuilt before use.
/// `Sendable`: behind a lock.
final class StateProgress: Sendable {
    private let state = Mutex<(built: Bool, through: Interval?)>((false, nil))

    /// Whether the state reflects exactly the input through `through`.
    func isCurrent(through: Interval?) -> Bool { state.withLock { $0.built && $0.through == through } }

    /// The state is about to change: it counts as unknown until `markBuilt`.
    func markChanging() { state.withLock { $0.built = false } }

    /// The state reflects the input through `through`.
    func markBuilt(through: Interval?) { state.withLock { $0 = (true, through) } }

    /// The intervals after the last one applied, through `through`, had no input: a built state
    /// reflects them too.
    func advance(through: Interval) {
        state.withLock { if $0.built, ($0.through ?? through) <= through { $0.through = through } }
    }
}

extension SnapshottingVertex {
    /// Makes the state reflect the input through `through`: the newest snapshot at or before it,
    /// then a replay of the input after it, unless it already does.
    func restore(through: Interval?) throws {
        if stateProgress.isCurrent(through: through) { return }
        try restoreState(through: through)
        stateProgress.markBuilt(through: through)
    }

    /// Computes one interval, its state then reflecting the input through it.
    func process(_ interval: Interval) throws -> [PendingBlock] {
        let blocks = try apply(interval, emit: true)
        stateProgress.markBuilt(through: interval)
        return blocks
    }

    /// Applies one interval's input to the state without producing output (replay).
    func replay(_ interval: Interval) throws { _ = try apply(interval, emit: false) }

    /// Whether the in-memory state already reflects exactly the input through `through`.
    func isStateCurrent(through: Interval?) -> Bool { stateProgress.isCurrent(through: through) }

    /// Records that the in-memory state, if built, also reflects `through`: the intervals since
    /// the last one processed had no input records.
    func advanceState(through: Interval) { stateProgress.advance(through: through) }
}

/// What a stateful vertex registers so that its state as of a past interval can be rebuilt from
/// its snapshots and a stream of changes alone (`StateDescriptor` rows, `StateAsOf`).
struct StateLayout {
    /// The snapshot payload and changes layout.
    var kind: StateDescriptor.Kind
    /// The catalog names of the key and value (state) types.
    var keyType: String
    var valueType: String
    /// The vertex's output of updated keys (the stream users name; `save(as:)` copies it).
    var output: StreamDescriptor
    /// The stream of the state's changes.
    var changes: StreamDescriptor
}

extension SnapshottingVertex {
    /// Rebuilds the state through `through`: the newest snapshot at or before it that reads back
    /// intact, then the input intervals after it.
    ///
    /// A damaged snapshot (checksum, header, LZ4 or state decoding) is not used: the next older
    /// snapshot is tried, then a replay of the whole retained input. When none of these is
    /// possible (retention dropped the input they need), the damage is reported.
    ///
    /// - Throws: `EngineError.storage(.corrupt(snapshot of VERTEX …))` when the only way back
    ///   needs a damaged snapshot; `EngineError.storage(.outsideRetention)` when there is no
    ///   snapshot and the input is gone; whatever replay throws.
    func restoreState(through: Interval?) throws {
        resetState()
        guard let through else { return }
        let every = needsEveryInterval
        var damage: EngineError?
        let snapshots: [(Interval, [PartitionIndex])]
        do { snapshots = try log.snapshotIntervals(of: name) } catch {
            throw EngineError.storage(error, vertex: name, interval: nil)
        }
        for (interval, _) in snapshots.reversed() where interval <= through {
            do {
                try loadSnapshot(at: interval)
                let rest = try intervalsToProcess(log, inputs: inputs, from: interval.next, through: through,
                                                  every: every, vertex: name)
                for t in rest { try replay(t) }
                return
            } catch let error as EngineError {
                if damage == nil { damage = error }
                resetState()
            }
        }
        do {
            for t in try replayIntervals(log, inputs: inputs, through: through, vertex: name, every: every) {
                try replay(t)
            }
        } catch {
            resetState()
            throw damage ?? error
        }
    }

    /// Loads every partition of the snapshot at `interval`, in parallel.
    func loadSnapshot(at interval: Interval) throws {
        let name = self.name, log = self.log
        _ = try forEachPartition(Int(partitionCount)) { partition in
            let location = LogStore.snapshotLocation(name, interval, partition)
            var codec = BlockCodec()
            do {
                try log.withSnapshot(SnapshotKey(vertex: name, interval: interval, partition: partition),
                                     codec: &codec) { payload in
                    guard let payload else { throw StorageError.corrupt(location, .missingBlock(chunk: 0)) }
                    var reader = BinaryReader(payload)
                    do throws(RecordDecodingError) {
                        try self.decodeState(partition, from: &reader)
                        if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
                    } catch {
                        throw StorageError.corrupt(location, .undecodableRecord(index: 0, error))
                    }
                }
            } catch let error as StorageError {
                throw EngineError.storage(error, vertex: name, interval: interval)
            }
        }
    }

    /// The snapshot blocks of every partition's current state, tagged `interval`, encoded and
    /// compressed in parallel.
    ///
    /// - Throws: `EngineError.storage(.recordTooLarge)` when one partition's state exceeds a
    ///   block's 64 MiB limit.
    func snapshotRows(at interval: Interval) throws -> [(SnapshotKey, [UInt8])] {
        let name = self.name
        return try forEachPartition(Int(partitionCount)) { partition in
            var writer = BinaryWriter(capacity: 4096)
            self.encodeState(partition, into: &writer)
            guard writer.count <= BlockHeader.maxRawLength else {
                throw EngineError.storage(.recordTooLarge(stream: "snapshot of \(name)", bytes: writer.count),
                                          vertex: name, interval: interval)
            }
            var codec = BlockCodec()
            let block = writer.bytes.withUnsafeBytes { codec.encode(payload: $0, recordCount: 0) }
            return (SnapshotKey(vertex: name, interval: interval, partition: partition), block)
        }
    }
}

/// Writes a sequence of values as a LEB128 count followed by the values (snapshot payloads).
@inline(__always)
func writeCount(_ count: Int, to writer: inout BinaryWriter) { writer.write(varint: UInt64(count)) }

/// Reads a LEB128 count written by `writeCount`, bounded by the bytes left (each entry takes at
/// least one byte), so a damaged count cannot make a huge allocation.
func readCount(from reader: inout BinaryReader) throws(RecordDecodingError) -> Int {
    let start = reader.offset
    let count = try reader.readVarint()
    guard count <= UInt64(reader.remaining) else { throw .invalidValue(offset: start, what: "snapshot entry count") }
    return Int(count)
}

extension VertexRunner {
    /// The vertex whose state is snapshotted: this one when it keeps a snapshotting state, `nil`
    /// otherwise (a wrapper such as `MirroringVertex` answers for the vertex it wraps).
    var stateVertex: (any SnapshottingVertex)? { self as? any SnapshottingVertex }
}
