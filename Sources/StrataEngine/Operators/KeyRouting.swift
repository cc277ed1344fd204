import StrataStorage

// How keys choose partitions: XXH64 of the encoded key, modulo the partition count — the store's
// own keyed partitioning, the same in every process. Keys are equal when their encodings are, so
// equal keys always meet in one partition (see `EncodedKeyTable`).

/// The partition of `count` that a key goes to: `XXH64(encoded key) mod count`, the same hash
/// `reduceByKey` and keyed appenders use. `scratch` is cleared and reused.
func stablePartition<Key: RecordCodable>(of key: Key, among count: UInt32, scratch: inout BinaryWriter) -> UInt32 {
    scratch.removeAll()
    key.encode(to: &scratch)
    return UInt32(scratch.bytes.withUnsafeBytes { XXH64.hash($0) } % UInt64(count))
}

/// Appends each pair in order to the writer of its output partition, `XXH64(encoded key) mod
/// writers.count`, the same in every process.
@inlinable
func routeByKey<Key: RecordCodable, Value: RecordCodable>(_ pairs: ContiguousArray<KeyValue<Key, Value>>,
                                                         into writers: inout [PartitionWriter]) {
    var key = BinaryWriter(capacity: 64)
    let partitions = UInt64(writers.count)
    for pair in pairs {
        // The key encoded once: hashed, then written as the start of the pair's frame. A
        // fixed-width integer key is its little-endian bytes, without a writer.
        let routed: Void? = EncodedKeyTable.withIntegerEncoding(of: pair.key) { bytes in
            writers[Int(XXH64.hash(bytes) % partitions)].append(encodedKey: bytes, value: pair.value)
        }
        if routed != nil { continue }
        key.removeAll()
        pair.key.encode(to: &key)
        key.bytes.withUnsafeBytes { bytes in
            writers[Int(XXH64.hash(bytes) % partitions)].append(encodedKey: bytes, value: pair.value)
        }
    }
}

/// A user partition function for keyed operators (Spark's `Partitioner`): key → partition, in
/// place of `XXH64(encoded key) mod partitions`.
///
/// The function must be deterministic (no `Hasher`/`hashValue`, clock or randomness): the same key
/// must go to the same partition in every run and process, or replay and recovery diverge. Its
/// result is taken modulo the partition count (a negative result counts from the end), so any
/// `Int` is valid. `name` identifies the function in the vertex fingerprint: give a changed
/// function a new name (or a new program name), as for any changed definition.
///
/// ```swift
/// let byRegion = KeyPartitioner<String>("regionPrefix") { key in key.hasPrefix("eu-") ? 0 : 1 }
/// views.map { KeyValue($0.region, Int64(1)) }.reduceByKey(partitions: 2, partitioner: byRegion, +)
/// ```
///
/// `KeyPartitioner` is `Sendable`.
public struct KeyPartitioner<Key: RecordCodable>: Sendable {
    /// The function's name, part of the fingerprint of the vertices that route with it.
    public let name: String
    @usableFromInline let function: @Sendable (Key) -> Int

    /// A partitioner named `name` routing each key to `partition(key) mod partitions`.
    public init(_ name: String, _ partition: @escaping @Sendable (Key) -> Int) {
        self.name = name
        function = partition
    }

    /// The partition of `count` that `key` goes to.
    @inlinable
    func partition(of key: Key, among count: UInt32) -> UInt32 {
        let n = Int(count)
        let p = function(key) % n
        return UInt32(p < 0 ? p + n : p)
    }

    /// The fingerprint suffix of a vertex routing with `partitioner` (empty for the stable hash,
    /// so that programs without one keep their fingerprints).
    @usableFromInline
    static func suffix(_ partitioner: KeyPartitioner?) -> String {
        partitioner.map { "|partitioner \($0.name)" } ?? ""
    }
}

/// Appends each pair in order to the writer of its output partition under `partitioner`.
@inlinable
func routeByKey<Key: RecordCodable, Value: RecordCodable>(_ pairs: ContiguousArray<KeyValue<Key, Value>>,
                                                         into writers: inout [PartitionWriter],
                                                         partitioner: KeyPartitioner<Key>) {
    let count = UInt32(writers.count)
    for pair in pairs { writers[Int(partitioner.partition(of: pair.key, among: count))].append(pair) }
}
