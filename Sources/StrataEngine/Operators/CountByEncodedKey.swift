import StrataStorage

extension DStream {
    /// Counts, per interval, the records of each key, reading each record's key from its
    /// encoding as bytes: over a stream read as stored (`read(_:)` with nothing between), records
    /// are never decoded, and a key is decoded once per (interval, partition), when first seen.
    /// The engine's counterpart of the time-travel `countByEncodedKey`, for the hot path of a
    /// program that counts per key.
    ///
    /// `key` gets a reader at the start of a record's encoding and writes the encoded bytes of
    /// the record's key to the writer (empty for each record): for a binary record,
    /// `writer.write(raw: try reader.encodedBytes(of: String.self))` after skipping the fields
    /// before it; for a JSON record, the field's value as the key's encoding, e.g.
    /// `writer.write(lengthPrefixed:)` of an unescaped string. Keys are equal when these bytes
    /// are (the engine's one key rule), and the bytes must decode as a `Key`.
    ///
    /// The result equals `map { KeyValue(key, Int64(1)) }.reduceByKey(partitions: partitions, +)`
    /// pair for pair and in the same order, through the same shuffle (`PROGRAM.vN.shuffle`, by
    /// XXH64 of the encoded key): each input partition's counts in first-seen order are routed,
    /// then summed in input-partition order. It is declared partitioned by key, so a following
    /// `runningReduce`, `reduceByKey` or `reduceByKeyAndWindow` to as many partitions needs no
    /// shuffle of its own (as after `assumingPartitionedByKey()`): `countByEncodedKey(…)
    /// .runningReduce(+)` writes the same blocks as `map { KeyValue(key, Int64(1)) }
    /// .runningReduce(+)`, with two vertices, one shuffle stream and the same snapshots.
    ///
    /// ```swift
    /// // PageView encodes ts (Int64), url (String), user, ev: the running count per url.
    /// p.read(views).countByEncodedKey(as: String.self) { record, key in
    ///     try record.skip(Int64.self)
    ///     key.write(raw: try record.encodedBytes(of: String.self))
    /// }.runningReduce(+).save(as: "urlCounts")
    /// ```
    ///
    /// Over a derived stream (a `map` or `filter` before it), each record is encoded and its key
    /// read from that encoding: the same counts, without the saving.
    ///
    /// - Parameters:
    ///   - keyType: The key's type: the result's keys are decoded from the bytes `key` writes.
    ///   - partitions: Partitions of the result (default: this stream's).
    ///   - key: Writes the encoded key of the record at the reader; a `RecordDecodingError` it
    ///     throws (or bytes that do not decode as a `Key`, e.g. invalid UTF-8 for a `String`) fails
    ///     the vertex with `StorageError.recordRejected` naming the stream, interval, partition and
    ///     record; any other error as a failed closure (`EngineError.closureFailed`).
    /// - Complexity: O(records) key lookups by bytes per interval, plus one shuffle write and read
    ///   of the counts (one per distinct key and input partition).
    @inlinable
    public func countByEncodedKey<Key: RecordCodable>(
        as keyType: Key.Type, partitions: Int? = nil,
        _ key: @escaping @Sendable (_ record: inout BinaryReader, _ key: inout BinaryWriter) throws -> Void
    ) -> DStream<KeyValue<Key, Int64>> {
        countedByEncodedKey(partitions: partitions, key: key, kernels: EncodedKeyCountKernels<Key>())
    }

    /// `countByEncodedKey` with its kernels, specialized for `Key` where the program is defined.
    @usableFromInline
    func countedByEncodedKey<Key: RecordCodable>(
        partitions: Int?, key: @escaping @Sendable (inout BinaryReader, inout BinaryWriter) throws -> Void,
        kernels: EncodedKeyCountKernels<Key>
    ) -> DStream<KeyValue<Key, Int64>> {
        typealias Pair = KeyValue<Key, Int64>
        if isPlacedByKeyField, let stored = plainRead, partitions.map({ $0 == Int(partitionCount) }) ?? true {
            return countedWhereTheyAre(stored, key: key, kernels: kernels)
        }
        let log = builder.log, parent = produce
        let chain = self.chain + ".countByEncodedKey(\(Key.recordTypeName))"
        let counted: DStream<Pair>
        if let stored = plainRead {
            // The stored records' frames, never decoded.
            counted = DStream<Pair>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                                    needsEveryInterval: needsEveryInterval, chain: chain) { interval, partition, codec in
                var counts = EncodedKeyCounts(recordType: stored.recordType)
                var keys = ContiguousArray<Key>()
                try counts.countFrames(log, stored, interval, partition, codec: &codec, key: key) { bytes, location, record in
                    try kernels.newKey(bytes, location, record, stored.recordType, &keys)
                }
                return kernels.pairs(keys, counts.counts)
            }
        } else {
            let streams = inputs.map(\.name).joined(separator: ", ")
            counted = DStream<Pair>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                                    needsEveryInterval: needsEveryInterval, chain: chain) { interval, partition, codec in
                var counts = EncodedKeyCounts(recordType: Record.recordTypeName)
                var keys = ContiguousArray<Key>()
                var encoded = BinaryWriter(capacity: 256)
                let location = StoreLocation(stream: streams, interval: interval, partition: partition)
                for (index, record) in try parent(interval, partition, &codec).enumerated() {
                    encoded.removeAll()
                    record.encode(to: &encoded)
                    let new = try encoded.bytes.withUnsafeBytes { frame in
                        try counts.count(frame, key: key, location: location, record: index)
                    }
                    if new {
                        try counts.scratch.bytes.withUnsafeBytes { bytes in
                            try kernels.newKey(bytes, location, index, Record.recordTypeName, &keys)
                        }
                    }
                }
                return kernels.pairs(keys, counts.counts)
            }
        }
        let name = builder.nextVertexName
        let count = partitions.map { UInt32(exactly: $0) ?? 0 } ?? partitionCount
        guard count >= 1, count <= 4096,
              let shuffle = builder.outputStream(name + ".shuffle", of: Pair.self, partitions: count, like: input)
        else {
            builder.fail(EngineError.misuse("countByEncodedKey: partitions must be 1 to 4096"))
            return invalid("countByEncodedKey")
        }
        // The map side: each input partition's counts routed to `XXH64(encoded key) mod Q`.
        let route = kernels.route
        builder.add(ExchangeVertex(name: name, definition: "exchange|countByEncodedKey|\(chain)|\(shuffle.name)|\(shuffle.partitions)",
                                   log: log, stream: counted, output: shuffle, prepare: { $0 },
                                   route: { pairs, _, writers in route(pairs, &writers) }))
        // The exchange reads its input's frames itself: nothing to decode ahead for it.
        if plainRead != nil { builder.noteReadsUndecoded(vertex: name) }
        let decoder = kernels.decoder
        builder.registerDecoder(shuffle, decoder: decoder)
        let sum = kernels.sum
        return DStream<Pair>(builder: builder, inputs: [shuffle], partitionCount: shuffle.partitions,
                             chain: "countByEncodedKey(\(shuffle.name))", isKeyPartitioned: true) {
            interval, partition, codec in
            sum(try PartitionReader.read(log, shuffle, interval, partition, codec: &codec, decoder: decoder))
        }
    }
}

extension DStream {
    /// `countByEncodedKey` over a stream placed by its key field (`assumingPartitionedByKeyField()`):
    /// each partition's frames counted where they are, fused into the consuming vertex, every
    /// distinct key checked to route to its partition (`XXH64(encoded key) mod partitionCount`).
    func countedWhereTheyAre<Key: RecordCodable>(
        _ stored: StreamDescriptor, key: @escaping @Sendable (inout BinaryReader, inout BinaryWriter) throws -> Void,
        kernels: EncodedKeyCountKernels<Key>
    ) -> DStream<KeyValue<Key, Int64>> {
        let log = builder.log, count = partitionCount
        // The consuming vertex is the next one defined (the chain's runningReduce, reduceByKey or
        // save): it reads the frames itself, so nothing is decoded ahead for it. Were another vertex
        // defined first, only which vertex decodes ahead would differ, never a result.
        builder.noteReadsUndecoded(vertex: builder.nextVertexName)
        return DStream<KeyValue<Key, Int64>>(
            builder: builder, inputs: inputs, partitionCount: count, needsEveryInterval: needsEveryInterval,
            chain: chain + ".countByEncodedKey(\(Key.recordTypeName),partitioned)", isKeyPartitioned: true
        ) { interval, partition, codec in
            var counts = EncodedKeyCounts(recordType: stored.recordType)
            var keys = ContiguousArray<Key>()
            var misplaced: (index: Int, routesTo: UInt64)?
            try counts.countFrames(log, stored, interval, partition, codec: &codec, key: key) { bytes, location, record in
                try kernels.newKey(bytes, location, record, stored.recordType, &keys)
                let routesTo = XXH64.hash(bytes) % UInt64(count)
                if misplaced == nil, routesTo != UInt64(partition.rawValue) { misplaced = (keys.count - 1, routesTo) }
            }
            if let misplaced {
                throw EngineError.misuse(
                    "a stream declared partitioned by its key field (assumingPartitionedByKeyField) is not: reading "
                        + "\(stored.name), interval \(interval) partition \(partition) holds key \(keys[misplaced.index]), "
                        + "which routes to partition \(misplaced.routesTo) of \(count)")
            }
            return kernels.pairs(keys, counts.counts)
        }
    }
}

/// The per-key kernels of `countByEncodedKey`, built by its `@inlinable` entry point so that they
/// are specialized for the key type in the program's module (the per-record loop is not generic).
@usableFromInline
struct EncodedKeyCountKernels<Key: RecordCodable>: Sendable {
    /// Decodes a new key's encoded bytes (exactly one `Key`) and appends it; throws
    /// `StorageError.recordRejected` at (location, record, record type) when they do not decode.
    @usableFromInline let newKey: @Sendable (UnsafeRawBufferPointer, StoreLocation, Int, String,
                                              inout ContiguousArray<Key>) throws -> Void
    /// The (key, count) pairs of the keys in first-seen order and their counts.
    @usableFromInline let pairs: @Sendable (ContiguousArray<Key>, [Int64]) -> ContiguousArray<KeyValue<Key, Int64>>
    /// Sums the counts of equal keys, each key at its first position.
    @usableFromInline let sum: @Sendable (ContiguousArray<KeyValue<Key, Int64>>) -> ContiguousArray<KeyValue<Key, Int64>>
    /// Appends each pair to `writers[XXH64(encoded key) mod writers.count]`, in order.
    @usableFromInline let route: @Sendable (ContiguousArray<KeyValue<Key, Int64>>, inout [PartitionWriter]) -> Void
    /// Decodes the shuffle stream's blocks for the sum.
    @usableFromInline let decoder: BlockDecoder<KeyValue<Key, Int64>>

    @inlinable
    init() {
        decoder = BlockDecoder()
        newKey = { bytes, location, record, recordType, keys in
            var reader = BinaryReader(bytes)
            do throws(RecordDecodingError) {
                let key = try Key(from: &reader)
                if reader.remaining != 0 { throw .trailingBytes(offset: reader.offset) }
                keys.append(key)
            } catch {
                throw StorageError.recordRejected(location, record: record, recordType: recordType, error)
            }
        }
        pairs = { keys, counts in
            var pairs = ContiguousArray<KeyValue<Key, Int64>>()
            pairs.reserveCapacity(keys.count)
            for index in keys.indices { pairs.append(KeyValue(keys[index], counts[index])) }
            return pairs
        }
        sum = { pairs in combineInPlace(pairs, create: { $0 }, merge: { total, more in total &+= more }) }
        route = { pairs, writers in routeByKey(pairs, into: &writers) }
    }
}

/// Counts records per encoded key in first-seen order. Not generic, so that nothing per record
/// looks up generic metadata; the caller decodes each new key (`keys`).
struct EncodedKeyCounts {
    /// The counted records' type, for errors.
    let recordType: String
    private var table = EncodedKeyTable(routing: false)
    /// The current record's encoded key.
    private(set) var scratch = BinaryWriter(capacity: 64)
    /// Per distinct key (table index), its count.
    private(set) var counts: [Int64] = []

    init(recordType: String) { self.recordType = recordType }

    /// Counts every record of (interval, partition) of `stream` as stored (`PartitionReader.forEachFrame`),
    /// calling `newKey` with each new key's encoded bytes, the location and the record's index.
    mutating func countFrames(_ log: LogStore, _ stream: StreamDescriptor, _ interval: Interval, _ partition: PartitionIndex,
                              codec: inout BlockCodec, key: (inout BinaryReader, inout BinaryWriter) throws -> Void,
                              newKey: (UnsafeRawBufferPointer, StoreLocation, Int) throws -> Void) throws {
        try PartitionReader.forEachFrame(log, stream, interval, partition, codec: &codec) { frame, location, record in
            if try count(frame, key: key, location: location, record: record) {
                try scratch.bytes.withUnsafeBytes { try newKey($0, location, record) }
            }
        }
    }

    /// Counts the record encoded in `frame` under the key `key` writes; `true` when the key is
    /// new (its bytes are then in `scratch`).
    ///
    /// - Throws: `StorageError.recordRejected` at `location`, record `record`, when `key` throws a
    ///   `RecordDecodingError`; other errors of `key` as they are.
    @inline(__always)
    mutating func count(_ frame: UnsafeRawBufferPointer, key: (inout BinaryReader, inout BinaryWriter) throws -> Void,
                        location: StoreLocation, record: Int) throws -> Bool {
        var reader = BinaryReader(frame)
        scratch.removeAll()
        do {
            try key(&reader, &scratch)
        } catch let error as RecordDecodingError {
            throw StorageError.recordRejected(location, record: record, recordType: recordType, error)
        }
        let (index, inserted) = scratch._bytes.withUnsafeBytes { table.index(ofEncoded: $0) }
        if inserted { counts.append(1) } else { counts[index] &+= 1 }
        return inserted
    }
}
