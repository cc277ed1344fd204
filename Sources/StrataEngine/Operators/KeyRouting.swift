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
        key.removeAll()
        pair.key.encode(to: &key)
        let target = key.bytes.withUnsafeBytes { XXH64.hash($0) } % partitions
        writers[Int(target)].append(pair)
    }
}
