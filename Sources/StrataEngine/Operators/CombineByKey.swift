import StrataStorage

/// The one combine kernel of the engine: combines pairs with equal keys (equal encoded bytes,
/// see `EncodedKeyTable`) into one combiner per key, each key at its first position. The result
/// is in first-seen key order, the same in every process, whatever the partition count.
///
/// `combineByKey`, `reduceByKey` (`create` the identity), `groupByKey` and `countByValue` use it
/// on both sides of their shuffle.
///
/// - Complexity: O(pairs) table lookups (O(encoded key length) each), one `create` or `merge`
///   call per pair.
@inlinable
func combineInPlace<Key: RecordCodable, Value: RecordCodable, Combined: RecordCodable>(
    _ pairs: ContiguousArray<KeyValue<Key, Value>>, create: (Value) throws -> Combined,
    merge: (inout Combined, Value) throws -> Void
) rethrows -> ContiguousArray<KeyValue<Key, Combined>> {
    // Room for every key up front (bounded): growing re-places each key several times. (Room
    // for 4096 keys instead, 128 KiB of slots, tripled the window count's page faults: glibc then
    // kept the batches' megabyte arrays on mmap rather than its heap; docs/benchmarks.md.)
    var table = EncodedKeyTable(routing: false, capacity: min(pairs.count, 1 << 16))
    var scratch = BinaryWriter(capacity: 64)
    var output = ContiguousArray<KeyValue<Key, Combined>>()
    for pair in pairs {
        let (index, inserted) = table.index(of: pair.key, scratch: &scratch)
        if inserted {
            output.append(KeyValue(pair.key, try create(pair.value)))
        } else {
            try merge(&output[index].value, pair.value)
        }
    }
    return output
}

extension DStream {
    /// The keyed shuffle behind `combineByKey`, `groupByKey` and `countByValue`: combines each
    /// input partition's pairs map-side (`create`/`mergeValue`), shuffles the combiners by the
    /// stable key hash, and merges them (`mergeCombiners`) in input-partition order.
    func combinedByKey<Key: RecordCodable, Value: RecordCodable, Combined: RecordCodable>(
        _ kind: String, partitions: Int?, partitioner: KeyPartitioner<Key>? = nil,
        create: @escaping @Sendable (Value) throws -> Combined,
        mergeValue: @escaping @Sendable (inout Combined, Value) throws -> Void,
        mergeCombiners: @escaping @Sendable (inout Combined, Combined) throws -> Void
    ) -> DStream<KeyValue<Key, Combined>> where Record == KeyValue<Key, Value> {
        let shuffle = keyExchange(kind, partitions: partitions, partitioner: partitioner,
                                  as: KeyValue<Key, Combined>.self) { batch in
            try combineInPlace(batch, create: create, merge: mergeValue)
        }
        guard let shuffle else { return invalid(kind) }
        return reading(shuffle, chain: kind) { (combiners: ContiguousArray<KeyValue<Key, Combined>>) in
            try combineInPlace(combiners, create: { $0 }, merge: mergeCombiners)
        }
    }

    /// Combines, per interval, the values of each key into one combiner, as Spark's
    /// `combineByKey`: `createCombiner` makes a combiner from a key's first value in an input
    /// partition, `mergeValue` adds that partition's further values (the map-side combine), and
    /// `mergeCombiners` merges the partitions' combiners after the shuffle, in input-partition
    /// order.
    ///
    /// The combiners are shuffled through a durable stream `PROGRAM.vN.shuffle` with `partitions`
    /// partitions (default: this stream's), by XXH64 of the encoded key. Each output partition
    /// lists its keys in first-seen order (input partition, then record order); the result is
    /// independent of the partition counts when `mergeValue`/`mergeCombiners` are commutative and
    /// associative. `reduceByKey(f)` is `combineByKey(createCombiner: { $0 }, mergeValue: f,
    /// mergeCombiners: f)`.
    ///
    /// - Complexity: O(records) per interval, plus one shuffle write and read of the combiners.
    public func combineByKey<Key: RecordCodable & Hashable, Value: RecordCodable, Combined: RecordCodable>(
        partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        createCombiner: @escaping @Sendable (Value) throws -> Combined,
        mergeValue: @escaping @Sendable (Combined, Value) throws -> Combined,
        mergeCombiners: @escaping @Sendable (Combined, Combined) throws -> Combined
    ) -> DStream<KeyValue<Key, Combined>> where Record == KeyValue<Key, Value> {
        combinedByKey("combineByKey", partitions: partitions, partitioner: partitioner, create: createCombiner,
                      mergeValue: { combined, value in combined = try mergeValue(combined, value) },
                      mergeCombiners: { combined, other in combined = try mergeCombiners(combined, other) })
    }
}
