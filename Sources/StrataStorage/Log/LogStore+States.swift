/// How a stateful vertex's state can be rebuilt as of a past interval without the program: which
/// vertex's snapshots hold it, how their payload is laid out, and which stream holds the changes.
///
/// Kept in the `states` database under the name of every stream the vertex writes its state's
/// updates to (its internal `PROGRAM.vN.out` and each `save(as:)` copy of it), so that
/// `strata state NAME` finds everything from NAME. Row layout: `docs/format.md`.
///
/// `StateDescriptor` is `Sendable`; it is a plain value.
public struct StateDescriptor: Sendable, Equatable {
    /// The layout of the vertex's snapshot payload and changes stream.
    public enum Kind: UInt8, Sendable, Equatable {
        /// `runningReduce`: snapshot entries `key · value` sorted by the key's encoded bytes;
        /// changes `KeyValue<Key, Value>` (the vertex's output: updated keys, never removals).
        case runningReduce = 1
        /// `updateStateByKey`, `track`: snapshot entries `key · state · lastActive u64` in the
        /// table's order; changes `KeyValue<Key, Optional<State>>` (`nil`: the key was removed).
        case keyedState = 2
    }

    /// The stream this row is stored under (the vertex's output or a copy of it).
    public var stream: String
    /// The vertex whose snapshots hold the state, `PROGRAM.vN`.
    public var vertex: String
    /// The snapshot and changes layout.
    public var kind: Kind
    /// The catalog name of the key type (`RecordCodable.recordTypeName`).
    public var keyType: String
    /// The catalog name of the value (state) type.
    public var valueType: String
    /// The internal stream holding, per interval and partition, the state's changes.
    public var changes: String

    /// Creates a state descriptor.
    public init(stream: String, vertex: String, kind: Kind, keyType: String, valueType: String, changes: String) {
        self.stream = stream
        self.vertex = vertex
        self.kind = kind
        self.keyType = keyType
        self.valueType = valueType
        self.changes = changes
    }
}

extension LogStore {
    /// Stores the state rows that differ from those already stored (one commit, none when every
    /// row is already there).
    ///
    /// - Throws: `StorageError` from the commit.
    package func registerStates(_ descriptors: [StateDescriptor]) throws(StorageError) {
        var changed: [StateDescriptor] = []
        for descriptor in descriptors where try stateDescriptor(of: descriptor.stream) != descriptor {
            changed.append(descriptor)
        }
        guard !changed.isEmpty else { return }
        let database = stateRows
        let rows = changed.map { (Array($0.stream.utf8), $0.encodedRow()) }
        try committer.write { txn in
            for (key, row) in rows {
                try key.withUnsafeBytes { k in try row.withUnsafeBytes { try txn.put(database, key: k, value: $0) } }
            }
        }
    }

    /// The state row stored under `stream`, or `nil` when no stateful vertex registered it.
    ///
    /// - Throws: `.corrupt(state of STREAM, …)` for a damaged row.
    package func stateDescriptor(of stream: String) throws(StorageError) -> StateDescriptor? {
        guard !stream.isEmpty else { return nil }  // lmdb.h: an empty key is MDB_BAD_VALSIZE
        return try wrap {
            try environment.read { txn in
                try Array(stream.utf8).withUnsafeBytes { key in
                    try txn.withValue(stateRows, key: key) { row -> StateDescriptor? in
                        guard let row else { return nil }
                        do throws(Corruption) {
                            return try StateDescriptor(stream: stream, row: row)
                        } catch {
                            throw StorageError.corrupt(StoreLocation(stream: "state of \(stream)"), error)
                        }
                    }
                }
            }
        }
    }
}

extension StateDescriptor: RowCodec {
    package static let rowName = "state row"
    package static let rowVersion: UInt8 = 1
    package var rowCapacity: Int { 96 }

    /// The state row's fields: vertex, kind u8, key type, value type, changes stream (strings
    /// LEB128-prefixed UTF-8).
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(string: vertex)
        w.write(byte: kind.rawValue)
        w.write(string: keyType)
        w.write(string: valueType)
        w.write(string: changes)
    }

    /// Decodes the state row stored under `stream`, verifying its checksum.
    package init(stream: String, row: UnsafeRawBufferPointer) throws(Corruption) {
        self = try Self.decodeRow(row) { _, r in
            let vertex = try r.readString()
            guard let kind = Kind(rawValue: try r.readByte()) else { throw Corruption.badRow("state row kind") }
            return StateDescriptor(stream: stream, vertex: vertex, kind: kind, keyType: try r.readString(),
                                   valueType: try r.readString(), changes: try r.readString())
        }
    }
}
