import StrataStorage

extension DStream {
    /// Declares that every pair already sits in the partition a keyed shuffle would send it to:
    /// partition `XXH64(encoded key) mod partitionCount`, the store's keyed partitioning — what a
    /// keyed appender writes when its partition key encodes as this stream's key does.
    ///
    /// A `reduceByKey` or `runningReduce` to as many partitions, routed by that hash (no
    /// `partitioner:`), then does no shuffle, as Spark's `reduceByKey` over an RDD that already
    /// has its partitioner: each partition's pairs are combined where they are, inside the vertex
    /// that consumes the result, with no exchange vertex, no `PROGRAM.vN.shuffle` stream and no
    /// commit between them. The result equals the shuffled plan's record for record, in the same
    /// order (each key at its first position in the partition), so its blocks are byte-identical:
    /// with every key in its own partition, shuffle partition `q` would hold exactly input
    /// partition `q`'s pairs combined per key in first-seen order, which is what the elided plan
    /// computes.
    ///
    /// The declaration is checked, not trusted: the combine hashes each distinct key of a batch
    /// once, and a key found outside its partition fails the vertex with `EngineError.misuse`
    /// naming the streams, interval and partition; nothing of that interval is committed.
    /// `mapValues`, `flatMapValues` and `filter` keep the declaration; every other operator
    /// (`map` included) drops it. `reduceByKeyAndWindow` keeps its shuffle: its vertex needs each
    /// interval's combined values twice (entering and leaving the window) and reads them back from
    /// the small shuffle stream more cheaply than it would combine the input again.
    ///
    /// Adding the declaration in front of a shuffle it elides changes the program's vertices (the
    /// exchange vertex goes, later vertices are numbered one lower), so a program that already
    /// ran without it is refused as changed (`ProgramOptions.changedDefinition`), like any changed
    /// definition: give it a new program name. A program that declares nothing is unchanged.
    ///
    /// ```swift
    /// let appender = try views.explicitAppender { $0.url }      // partitioned by url
    /// // …
    /// p.read(views).map { KeyValue($0.url, Int64(1)) }.assumingPartitionedByKey()
    ///     .runningReduce(+).save(as: "urlCounts")             // no shuffle
    /// ```
    ///
    /// - Returns: This stream, marked as partitioned by the stable hash of its keys.
    public func assumingPartitionedByKey<Key: RecordCodable, Value: RecordCodable>() -> DStream<KeyValue<Key, Value>>
    where Record == KeyValue<Key, Value> {
        DStream(builder: builder, inputs: inputs, partitionCount: partitionCount, needsEveryInterval: needsEveryInterval,
                chain: chain, plainRead: plainRead, isKeyPartitioned: true, produce: produce)
    }

    /// Declares that this stream, a JSON stream with a key field read as stored, holds each line in
    /// the partition a keyed shuffle would send the field's text to as a `String` key:
    /// `countByEncodedKey(as: String.self)` to as many partitions, keyed by that field, then counts
    /// each partition where it is, with no exchange vertex and no `PROGRAM.vN.shuffle` stream, and
    /// is itself declared partitioned by key (a following `runningReduce(+)` needs no shuffle either).
    ///
    /// The declaration is checked twice. When the program is defined, against the stream's catalog:
    /// it must be read as stored (`read(_:)`, nothing between) and have a key field whose
    /// `KeyPlacement` is `.stringKey` (every JSON stream created with a key field since placement
    /// was recorded; an older stream keeps `.fieldBytes` and is refused); otherwise the program
    /// fails to build with `EngineError.misuse` naming the stream and its placement. When it runs,
    /// against the keys the `countByEncodedKey` closure writes: each distinct key of a partition is
    /// hashed once, and a key found outside its partition (the closure reads another field, or the
    /// key's text differs from the field's, such as a number reformatted) fails the vertex with
    /// `EngineError.misuse` naming the stream, interval, partition and key; nothing of that
    /// interval is committed.
    ///
    /// The counts equal the shuffled plan's (`countByEncodedKey` without the declaration) pair for
    /// pair, in the same order, so `countByEncodedKey(…).runningReduce(+)` writes byte-identical
    /// output blocks: with every key in its own partition, shuffle partition `q` would hold input
    /// partition `q`'s counts in first-seen order and nothing else. Other operators (`map`
    /// included) drop the declaration; `countByEncodedKey` to another partition count shuffles.
    ///
    /// ```swift
    /// let views = try store.jsonStream("views", interval: .seconds(1), partitions: 4, keyField: "url")
    /// p.read(views).assumingPartitionedByKeyField().countByEncodedKey(as: String.self) { record, key in
    ///     …  // the url's unescaped text, as key.write(lengthPrefixed:)
    /// }.runningReduce(+).save(as: "urlCounts")              // one vertex, no shuffle
    /// ```
    ///
    /// - Returns: This stream, marked as placed by its key field.
    public func assumingPartitionedByKeyField() -> DStream<Record> {
        guard let stored = plainRead, inputs.count == 1 else {
            builder.fail(EngineError.misuse(
                "assumingPartitionedByKeyField needs a stream read as stored (read(_:) with nothing between), "
                    + "reading \(inputs.map(\.name).joined(separator: ", "))"))
            return self
        }
        guard let field = stored.keyField, stored.keyPlacement == .stringKey else {
            let why = stored.keyField == nil
                ? "it has no key field (its lines are spread round-robin)"
                : "its key field \(stored.keyField ?? "") places lines by \(stored.keyPlacement ?? .fieldBytes) "
                    + "(created before placement by string key), not as the engine routes a String key"
            builder.fail(EngineError.misuse("stream \(stored.name) is not partitioned by its key field: \(why)"))
            return self
        }
        return DStream(builder: builder, inputs: inputs, partitionCount: partitionCount, needsEveryInterval: needsEveryInterval,
                       chain: chain + ".partitionedByKeyField(\(field))", plainRead: stored, isPlacedByKeyField: true,
                       produce: produce)
    }

    /// `reduceByKey` over pairs declared partitioned by key (`assumingPartitionedByKey()`): each
    /// partition's pairs combined where they are, fused into the consuming vertex, every distinct
    /// key checked to route to its partition.
    func combinedWhereTheyAre<Key: RecordCodable & Hashable, Value: RecordCodable>(
        _ kernels: ShuffleKernels<Key, Value>
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        let parent = produce, combine = kernels.combineInPartition, count = partitionCount
        let streams = inputs.map(\.name).joined(separator: ", ")
        return DStream<KeyValue<Key, Value>>(builder: builder, inputs: inputs, partitionCount: count,
                                             needsEveryInterval: needsEveryInterval,
                                             chain: chain + ".reduceByKey(partitioned)", isKeyPartitioned: true) {
            interval, partition, codec in
            let (combined, misplaced) = try combine(try parent(interval, partition, &codec), partition.rawValue, count)
            if let misplaced {
                throw EngineError.misuse(
                    "a stream declared partitioned by key (assumingPartitionedByKey) is not: reading \(streams), "
                        + "interval \(interval) partition \(partition) holds key \(combined[misplaced.index].key), "
                        + "which routes to partition \(misplaced.routesTo) of \(count)")
            }
            return combined
        }
    }
}

/// Combines one partition's pairs by key (equal encoded bytes, each key at its first position, as
/// `combineByKey`), and finds the first distinct key whose stable hash, `XXH64(encoded key) mod
/// count`, routes it elsewhere than `partition`: its index in the result and the partition it
/// routes to.
///
/// - Complexity: O(pairs) expected, plus one XXH64 per distinct key.
@inlinable
func combineByKey<Key: RecordCodable, Value: RecordCodable>(
    _ pairs: ContiguousArray<KeyValue<Key, Value>>, inPartition partition: UInt32, of count: UInt32,
    _ combine: (Value, Value) throws -> Value
) rethrows -> (combined: ContiguousArray<KeyValue<Key, Value>>, misplaced: (index: Int, routesTo: UInt32)?) {
    // Room for every key up front (bounded), as combineInPlace; routing keeps each new key's XXH64.
    var table = EncodedKeyTable(routing: true, capacity: min(pairs.count, 1 << 16))
    var scratch = BinaryWriter(capacity: 64)
    var output = ContiguousArray<KeyValue<Key, Value>>()
    for pair in pairs {
        let (index, inserted) = table.index(of: pair.key, scratch: &scratch)
        if inserted {
            output.append(pair)
        } else {
            output[index].value = try combine(output[index].value, pair.value)
        }
    }
    for index in 0..<table.count {
        let routesTo = UInt32(table.hash(of: index) % UInt64(count))
        if routesTo != partition { return (output, (index, routesTo)) }
    }
    return (output, nil)
}
