import Glibc
import StrataStorage

/// The state of a stateful vertex as of a past interval, rebuilt without the program: the
/// vertex's newest usable snapshot at or before the interval, plus the state changes of the
/// intervals after it (see `StateDescriptor` and docs/state-as-of.md).
///
/// A one-key lookup reads only the partition the key hashes to (`XXH64(encoded key) mod P`,
/// the engine's routing): one snapshot row, scanned entry by entry by its bytes until the key is
/// found (a `runningReduce` snapshot is sorted by encoded key, so the scan also stops at the first
/// larger key), then that partition of the change intervals, whose records are matched by their
/// leading key bytes; only the key's value is decoded. The whole state is rebuilt partition by
/// partition in parallel.
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
        let changesFrontier = try log.frontier(of: changes)
        guard let changesSealed = changesFrontier.sealedThrough, t <= changesSealed else {
            throw StorageError.notSealed(StoreLocation(stream: changes.name, interval: t),
                                         newestSealed: changesFrontier.sealedThrough)
        }
        let partitions = changes.partitions
        // Changes are readable after `s` when no interval in (s, t] was dropped.
        let changesDroppedBefore = changesFrontier.retainedFrom
        let nothingDropped = changesFrontier.firstInterval.map { changesDroppedBefore <= $0 } ?? true
        let snapshots = try log.snapshotIntervals(of: descriptor.vertex)
        func usable(_ s: Interval, _ rows: [PartitionIndex]) -> Bool {
            rows.count == Int(partitions) && s.rawValue &+ 1 >= changesDroppedBefore.rawValue
        }
        // The first interval that can be answered: the retained start, or once retention cut the
        // changes, the oldest snapshot after which every change is kept.
        var answerable = frontier.retainedFrom
        if !nothingDropped {
            answerable = max(answerable, snapshots.first { usable($0.0, $0.1) }?.0 ?? changesSealed.next)
        }
        // A snapshot at `t` itself needs no change.
        let exact = snapshots.contains { $0.0 == t && $0.1.count == Int(partitions) }
        guard t >= answerable || (t >= frontier.retainedFrom && exact) else {
            throw StorageError.outsideRetention(location, retainedFrom: answerable)
        }
        guard let first = frontier.firstInterval, t >= first else {
            throw StorageError.beforeStreamStart(location, firstInterval: frontier.firstInterval)
        }
        var keyBytes: [UInt8]?
        var only: PartitionIndex?
        if let key {
            var writer = BinaryWriter(capacity: 32)
            key.encode(to: &writer)
            keyBytes = writer.bytes
            only = PartitionIndex(UInt32(writer.bytes.withUnsafeBytes { XXH64.hash($0) } % UInt64(partitions)))
        }
        var damage: (any Error)?
        for (s, rows) in snapshots.reversed() where s <= t && (usable(s, rows) || (s == t && exact)) {
            do {
                return try rebuild(from: s, through: t, key: key, keyBytes: keyBytes, partition: only)
            } catch let error as StorageError {
                guard case .corrupt = error else { throw error }
                if damage == nil { damage = error }
            }
        }
        guard nothingDropped else {
            throw damage ?? StorageError.outsideRetention(location, retainedFrom: answerable)
        }
        return try rebuild(from: nil, through: t, key: key, keyBytes: keyBytes, partition: only)
    }

    /// The state from the snapshot at `s` (`nil`: the empty state) plus the changes through `t`.
    private func rebuild(from s: Interval?, through t: Interval, key: Key?, keyBytes: [UInt8]?,
                         partition only: PartitionIndex?) throws -> Result {
        if let key, let keyBytes, let only {
            var value: Value? = nil
            if let s { value = try lookUpSnapshot(at: s, partition: only, keyBytes: keyBytes) }
            let replayed = try forEachChange(after: s, through: t, partition: only, keyBytes: keyBytes) { _, _, v in
                value = v
            }
            return Result(entries: value.map { [KeyValue(key, $0)] } ?? [], snapshot: s, replayedIntervals: replayed)
        }
        // Partitions are independent (a key lives in one): rebuilt in parallel, then merged.
        let parts = try forEachPartition(Int(changes.partitions)) { partition in
            try self.rebuild(from: s, through: t, partition: partition)
        }
        var entries = Entries<Value>()
        entries.reserve(parts.reduce(0) { $0 + $1.count }, keyBytes: parts.reduce(0) { $0 + $1.keyBytes.count })
        for part in parts { entries.append(contentsOf: part) }
        let start = s.map { $0.next } ?? Interval(0)
        let replayed = start <= t ? try log.sealRecords(of: changes, in: start...t).count : 0
        return Result(entries: entries.sortedByKeyBytes(), snapshot: s, replayedIntervals: replayed)
    }

    /// One partition of the state: its snapshot entries (none with `s` nil) with the changes
    /// through `t` applied, the last change of a key winning.
    private func rebuild(from s: Interval?, through t: Interval, partition: PartitionIndex) throws -> Entries<Value> {
        var entries = Entries<Value>()
        if let s { try loadSnapshot(at: s, partition: partition, into: &entries) }
        // The changes, with their keys' bytes for new keys.
        var changes = Entries<Value?>()
        // Keys are equal when their encodings are (`EncodedKeyTable`); change `i` is entry `i`.
        var changeKeys = EncodedKeyTable(routing: false)
        _ = try forEachChange(after: s, through: t, partition: partition, keyBytes: nil) { bytes, key, value in
            let (index, inserted) = changeKeys.index(ofEncoded: bytes)
            if inserted {
                changes.append(bytes, key, value)
            } else {
                changes.values[index] = value
            }
        }
        guard changes.count > 0 else { return entries }
        var consumed = [Bool](repeating: false, count: changes.count)
        var removed = [Bool](repeating: false, count: entries.count)
        var anyRemoved = false
        for index in 0..<entries.count {
            guard let change = entries.withKeyBytes(index, { changeKeys.find(bytes: $0) }) else { continue }
            consumed[change] = true
            if let value = changes.values[change] {
                entries.values[index] = value
            } else {
                removed[index] = true
                anyRemoved = true
            }
        }
        if anyRemoved { entries.remove(where: removed) }
        for index in 0..<changes.count where !consumed[index] {
            guard let value = changes.values[index] else { continue }
            changes.withKeyBytes(index) { entries.append($0, changes.keys[index], value) }
        }
        return entries
    }

    /// Appends every entry of one partition of the snapshot at `s`.
    private func loadSnapshot(at s: Interval, partition: PartitionIndex, into entries: inout Entries<Value>) throws {
        var codec = BlockCodec()
        let kind = descriptor.kind, vertex = descriptor.vertex
        do {
            let location = LogStore.snapshotLocation(vertex, s, partition)
            try log.withSnapshot(SnapshotKey(vertex: vertex, interval: s, partition: partition), codec: &codec) {
                payload in
                guard let payload else { throw StorageError.corrupt(location, .missingBlock(chunk: 0)) }
                do throws(RecordDecodingError) {
                    var reader = BinaryReader(payload)
                    let count = try readCount(from: &reader)
                    entries.reserve(count, keyBytes: payload.count)
                    for _ in 0..<count {
                        let start = reader.offset
                        let key: Key = try reader.read()
                        let keyBytes = UnsafeRawBufferPointer(rebasing: payload[start..<reader.offset])
                        entries.append(keyBytes, key, try reader.read(Value.self))
                        if kind == .keyedState { _ = try reader.readRaw(count: 8) }  // last active interval
                    }
                    guard reader.remaining == 0 else { throw .trailingBytes(offset: reader.offset) }
                } catch {
                    throw StorageError.corrupt(location, .undecodableRecord(index: 0, error))
                }
            }
        }
    }

    /// The value of the key encoded as `keyBytes` in one partition of the snapshot at `s`, or
    /// `nil`: scans the entries by their bytes, decoding only the value found.
    private func lookUpSnapshot(at s: Interval, partition: PartitionIndex, keyBytes: [UInt8]) throws -> Value? {
        var codec = BlockCodec()
        let kind = descriptor.kind, vertex = descriptor.vertex
        let location = LogStore.snapshotLocation(vertex, s, partition)
        let skipKey = FieldSkip.of(Key.self), skipValue = FieldSkip.of(Value.self)
        return try log.withSnapshot(SnapshotKey(vertex: vertex, interval: s, partition: partition), codec: &codec) {
            payload -> Value? in
            guard let payload else { throw StorageError.corrupt(location, .missingBlock(chunk: 0)) }
            do throws(RecordDecodingError) {
                var reader = BinaryReader(payload)
                let count = try readCount(from: &reader)
                for _ in 0..<count {
                    let start = reader.offset
                    try skipKey.skip(Key.self, &reader)
                    let found = UnsafeRawBufferPointer(rebasing: payload[start..<reader.offset])
                    if found.elementsEqual(keyBytes) { return try reader.read(Value.self) }
                    // Sorted by encoded key: past the key, it is not there.
                    if kind == .runningReduce, keyBytes.lexicographicallyPrecedes(found) { return nil }
                    try skipValue.skip(Value.self, &reader)
                    if kind == .keyedState { _ = try reader.readRaw(count: 8) }
                }
                return nil
            } catch {
                throw StorageError.corrupt(location, .undecodableRecord(index: 0, error))
            }
        }
    }

    /// Calls `body` with each change (key bytes, key, new value or `nil` for a removal) of the
    /// sealed intervals in (`s`, `t`] (from the first with `s` nil), in interval, partition and
    /// record order: of every partition, or of `partition` only and the key encoded as
    /// `keyBytes` (whose records are found by their leading bytes: a `KeyValue`'s key encoding
    /// ends where its decoder stops, so no other key's record starts with them).
    ///
    /// - Returns: How many intervals had changes to read.
    private func forEachChange(after s: Interval?, through t: Interval, partition only: PartitionIndex?,
                               keyBytes: [UInt8]?,
                               _ body: (UnsafeRawBufferPointer, Key, Value?) throws -> Void) throws -> Int {
        let start = s.map { $0.next } ?? Interval(0)
        guard start <= t else { return 0 }
        var codec = BlockCodec()
        var replayed = 0
        let kind = descriptor.kind, changes = self.changes
        for (interval, seal) in try log.sealRecords(of: changes, in: start...t) {
            if let only, seal.chunks[Int(only.rawValue)] == 0 { continue }
            replayed += 1
            let location = StoreLocation(stream: changes.name, interval: interval, partition: only)
            do {
                var counted: (partition: PartitionIndex, records: Int)?  // records of earlier chunks
                try log.withSealedBlocks(of: changes, interval: interval, partition: only) { p, _, block in
                    if counted?.partition != p { counted = (p, 0) }
                    let before = counted?.records ?? 0
                    try codec.withVerifiedPayload(block) { header, payload in
                        counted = (p, before + header.recordCount)
                        var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
                        while let frame = try frames.next() {
                            if let keyBytes, !frame.starts(with: keyBytes) { continue }
                            var reader = BinaryReader(frame)
                            let key: Key, value: Value?
                            do throws(RecordDecodingError) {
                                key = try reader.read()
                                let keyEnd = reader.offset
                                value = switch kind {
                                case .runningReduce: try reader.read(Value.self)
                                case .keyedState: try reader.read(Value?.self)
                                }
                                if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
                                reader.offset = keyEnd
                            } catch {
                                // The block's checksum verified: the bytes are as written.
                                throw StorageError.recordRejected(
                                    StoreLocation(stream: changes.name, interval: interval, partition: p),
                                    record: before + frames.index - 1, recordType: changes.recordType, error)
                            }
                            try body(UnsafeRawBufferPointer(rebasing: frame[0..<reader.offset]), key, value)
                        }
                    }
                }
            } catch let corruption as Corruption {
                throw StorageError.corrupt(location, corruption)
            }
        }
        return replayed
    }
}

extension StateAsOf {
    /// State entries with their keys' encoded bytes kept in one buffer, to sort by them without
    /// an allocation per key.
    struct Entries<Stored: RecordCodable> {
        var keyBytes: [UInt8] = []
        /// Per entry, the start of its key's bytes in `keyBytes`; it ends where the next begins.
        var starts: [Int] = []
        var keys: [Key] = []
        var values: [Stored] = []

        var count: Int { keys.count }

        mutating func reserve(_ more: Int, keyBytes bytes: Int) {
            keyBytes.reserveCapacity(keyBytes.count + bytes)
            starts.reserveCapacity(starts.count + more)
            keys.reserveCapacity(keys.count + more)
            values.reserveCapacity(values.count + more)
        }

        mutating func append(contentsOf other: Entries) {
            let shift = keyBytes.count
            keyBytes.append(contentsOf: other.keyBytes)
            starts.append(contentsOf: other.starts.lazy.map { $0 + shift })
            keys.append(contentsOf: other.keys)
            values.append(contentsOf: other.values)
        }

        mutating func append(_ bytes: UnsafeRawBufferPointer, _ key: Key, _ value: Stored) {
            starts.append(keyBytes.count)
            keyBytes.append(contentsOf: bytes)
            keys.append(key)
            values.append(value)
        }

        func withKeyBytes<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            let end = index + 1 < starts.count ? starts[index + 1] : keyBytes.count
            return try keyBytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[starts[index]..<end])) }
        }

        /// Drops the entries flagged in `removed`.
        mutating func remove(where removed: [Bool]) {
            var kept = Entries()
            kept.reserve(count, keyBytes: keyBytes.count)
            for index in 0..<count where !removed[index] {
                withKeyBytes(index) { kept.append($0, keys[index], values[index]) }
            }
            self = kept
        }

        /// The entries sorted by their keys' encoded bytes (unique keys: a total order).
        func sortedByKeyBytes() -> [KeyValue<Key, Stored>] {
            var order = Array(0..<count)
            keyBytes.withUnsafeBytes { bytes in
                let starts = self.starts, total = bytes.count
                order.sort { a, b in
                    let aStart = starts[a], aEnd = a + 1 < starts.count ? starts[a + 1] : total
                    let bStart = starts[b], bEnd = b + 1 < starts.count ? starts[b + 1] : total
                    let aCount = aEnd - aStart, bCount = bEnd - bStart
                    let common = min(aCount, bCount)
                    if common > 0, let base = bytes.baseAddress {
                        let c = memcmp(base + aStart, base + bStart, common)
                        if c != 0 { return c < 0 }
                    }
                    return aCount < bCount
                }
            }
            return order.map { KeyValue(keys[$0], values[$0]) }
        }
    }
}

/// How to step over one field of a snapshot entry without decoding it: the standard types'
/// encodings have their length in front or a fixed width (`docs/format.md`); other types are decoded.
enum FieldSkip {
    case lengthPrefixed
    case fixed(Int)
    case decode

    static func of<T: RecordCodable>(_ type: T.Type) -> FieldSkip {
        if type == String.self || type == Bytes.self { return .lengthPrefixed }
        if type == Int64.self || type == UInt64.self || type == Int.self || type == UInt.self || type == Double.self {
            return .fixed(8)
        }
        if type == Int32.self || type == UInt32.self || type == Float.self { return .fixed(4) }
        if type == Int16.self || type == UInt16.self { return .fixed(2) }
        if type == Int8.self || type == UInt8.self { return .fixed(1) }
        return .decode
    }

    func skip<T: RecordCodable>(_ type: T.Type, _ reader: inout BinaryReader) throws(RecordDecodingError) {
        switch self {
        case .lengthPrefixed: _ = try reader.readLengthPrefixed()
        case .fixed(let width): _ = try reader.readRaw(count: width)
        case .decode: _ = try reader.read(T.self)
        }
    }
}
