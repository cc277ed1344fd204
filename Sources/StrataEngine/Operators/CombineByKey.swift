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
    // Room for up to 2048 keys up front: 4096 slots, 64 KiB, under glibc's mmap threshold, so
    // the same heap memory serves batch after batch; more keys grow the table (re-placing only
    // the keys so far). A batch usually has far fewer distinct keys than pairs (about 1 250 urls
    // in a partition's 25 000 page views). Room for every pair (up to 65 536 keys, 1 MiB of slots
    // per batch), with each partition's records decoded into one array (`PartitionReader`),
    // raised the window count's page faults from 10–34 K to 45–103 K per run (+0.2 s of system
    // CPU); docs/benchmarks.md, "the reader decodes into one array".
    var table = EncodedKeyTable(routing: false, capacity: min(pairs.count, 2048))
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
