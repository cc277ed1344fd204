/// A consistent partial image of a store: for each stream its frontier and the sealed blocks from
/// a floor interval on, the progress marks of some vertices and some snapshot rows, all read in
/// one read transaction. Installed into an empty store (`LogStore.installImage`), it lets the
/// engine continue from where the source store stood without the intervals below the floors: the
/// streams count them as dropped by retention (`retainedFrom` is the floor), each keeping the
/// `firstInterval` it had, so operators that anchor on the first interval with records behave as
/// in the source.
///
/// The cluster publishes a partition task's image to JetStream so that a new owner restores from
/// it instead of replaying the partition's input from the beginning (docs/cluster.md).
///
/// Encoded form (`encoded()`; little-endian, LEB128 counts): magic `STIM`, version 1, the streams
/// (name, frontier row, floor, blocks as interval · partition · chunk · length-prefixed bytes, seal
/// rows as interval · length-prefixed row), the progress marks (name, row), the snapshot rows
/// (vertex, interval, partition, length-prefixed block), then the XXH64 of everything before it.
///
/// `StoreImage` is a `Sendable` value.
package struct StoreImage: Sendable, Equatable {
    /// One stream's part of the image.
    package struct StreamTail: Sendable, Equatable {
        /// The stream's name.
        package var name: String
        /// The stream's frontier in the source store.
        package var frontier: StreamFrontier
        /// The first interval whose blocks the image holds (the installed stream's `retainedFrom`).
        package var floor: Interval
        /// The sealed blocks of the intervals from `floor` through `frontier.sealedThrough`, in key order.
        package var blocks: [(interval: Interval, partition: PartitionIndex, chunk: ChunkIndex, bytes: [UInt8])]
        /// The seal rows of those intervals that hold records, as stored.
        package var seals: [(interval: Interval, row: [UInt8])]

        package static func == (a: Self, b: Self) -> Bool {
            a.name == b.name && a.frontier == b.frontier && a.floor == b.floor
                && a.blocks.elementsEqual(b.blocks) {
                    $0.interval == $1.interval && $0.partition == $1.partition && $0.chunk == $1.chunk && $0.bytes == $1.bytes
                }
                && a.seals.elementsEqual(b.seals) { $0.interval == $1.interval && $0.row == $1.row }
        }
    }

    /// The streams, in the order asked for.
    package var streams: [StreamTail] = []
    /// Progress marks, in the order asked for.
    package var progress: [(name: String, mark: ProgressMark)] = []
    /// Snapshot rows (each partition's snapshot block as stored).
    package var snapshots: [(key: SnapshotKey, block: [UInt8])] = []

    package init() {}

    package static func == (a: Self, b: Self) -> Bool {
        a.streams == b.streams
            && a.progress.elementsEqual(b.progress) { $0.name == $1.name && $0.mark == $1.mark }
            && a.snapshots.elementsEqual(b.snapshots) { $0.key == $1.key && $0.block == $1.block }
    }

    static let magic: [UInt8] = Array("STIM".utf8)
    static let version: UInt8 = 1

    /// The image's bytes (deterministic: a function of the image's content only).
    package func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 4096)
        w.write(byte: Self.magic[0]); w.write(byte: Self.magic[1]); w.write(byte: Self.magic[2]); w.write(byte: Self.magic[3])
        w.write(byte: Self.version)
        w.write(varint: UInt64(streams.count))
        for stream in streams {
            w.write(string: stream.name)
            let frontier = stream.frontier.encodedRow()
            frontier.withUnsafeBytes { w.write(lengthPrefixed: $0) }
            w.write(varint: stream.floor.rawValue)
            w.write(varint: UInt64(stream.blocks.count))
            for block in stream.blocks {
                w.write(varint: block.interval.rawValue)
                w.write(varint: UInt64(block.partition.rawValue))
                w.write(varint: UInt64(block.chunk.rawValue))
                block.bytes.withUnsafeBytes { w.write(lengthPrefixed: $0) }
            }
            w.write(varint: UInt64(stream.seals.count))
            for seal in stream.seals {
                w.write(varint: seal.interval.rawValue)
                seal.row.withUnsafeBytes { w.write(lengthPrefixed: $0) }
            }
        }
        w.write(varint: UInt64(progress.count))
        for (name, mark) in progress {
            w.write(string: name)
            mark.encodedRow().withUnsafeBytes { w.write(lengthPrefixed: $0) }
        }
        w.write(varint: UInt64(snapshots.count))
        for (key, block) in snapshots {
            w.write(string: key.vertex)
            w.write(varint: key.interval.rawValue)
            w.write(varint: UInt64(key.partition.rawValue))
            block.withUnsafeBytes { w.write(lengthPrefixed: $0) }
        }
        let checksum = w.bytes.withUnsafeBytes { XXH64.hash($0) }
        w.write(littleEndian: checksum)
        return w.bytes
    }

    /// Decodes an image, verifying its checksum, every row and every block's header and checksum.
    ///
    /// - Throws: `Corruption` naming what is wrong.
    package init(decoding bytes: [UInt8]) throws(Corruption) {
        guard bytes.count >= 13 else { throw .truncated(expected: 13, actual: bytes.count) }
        let decoded: Result<StoreImage, Corruption> = bytes.withUnsafeBytes { all in
            Result { () throws(Corruption) -> StoreImage in try Self.decode(all) }
        }
        self = try decoded.get()
    }

    private static func decode(_ all: UnsafeRawBufferPointer) throws(Corruption) -> StoreImage {
        do {
            let body = UnsafeRawBufferPointer(rebasing: all[..<(all.count - 8)])
            let stored = all.loadUnaligned(fromByteOffset: all.count - 8, as: UInt64.self).littleEndian
            let computed = XXH64.hash(body)
            guard stored == computed else { throw Corruption.checksumMismatch(stored: stored, computed: computed) }
            guard body.starts(with: Self.magic) else { throw Corruption.badMagic }
            var r = BinaryReader(UnsafeRawBufferPointer(rebasing: body[4...]))
                let version = try r.readByte()
                guard version == Self.version else { throw Corruption.unsupportedVersion(version) }
                var image = StoreImage()
                for _ in 0..<(try r.readLength()) {
                    let name = try r.readString()
                    let frontier = try StreamFrontier(row: try r.readLengthPrefixed())
                    let floor = Interval(try r.readVarint())
                    var tail = StreamTail(name: name, frontier: frontier, floor: floor, blocks: [], seals: [])
                    for _ in 0..<(try r.readLength()) {
                        let interval = Interval(try r.readVarint())
                        guard let partition = UInt32(exactly: try r.readVarint()),
                              let chunk = UInt32(exactly: try r.readVarint()) else { throw Corruption.badRow("image block key") }
                        let block = try r.readLengthPrefixed()
                        let header = try BlockHeader(parsing: block)
                        guard BlockHeader.computeChecksum(block) == header.checksum else {
                            throw Corruption.badRow("image block of \(name), interval \(interval.rawValue) (checksum)")
                        }
                        tail.blocks.append((interval, PartitionIndex(partition), ChunkIndex(rawValue: chunk), Array(block)))
                    }
                    for _ in 0..<(try r.readLength()) {
                        let interval = Interval(try r.readVarint())
                        tail.seals.append((interval, Array(try r.readLengthPrefixed())))
                    }
                    image.streams.append(tail)
                }
                for _ in 0..<(try r.readLength()) {
                    let name = try r.readString()
                    image.progress.append((name, try ProgressMark(row: try r.readLengthPrefixed())))
                }
                for _ in 0..<(try r.readLength()) {
                    let vertex = try r.readString()
                    let interval = Interval(try r.readVarint())
                    guard let partition = UInt32(exactly: try r.readVarint()) else { throw Corruption.badRow("image snapshot key") }
                    image.snapshots.append((SnapshotKey(vertex: vertex, interval: interval, partition: PartitionIndex(partition)),
                                            Array(try r.readLengthPrefixed())))
                }
                guard r.remaining == 0 else { throw Corruption.badRow("store image (trailing bytes)") }
                return image
        } catch let error as Corruption {
            throw error
        } catch {
            throw .badRow("store image (\(error))")
        }
    }
}

extension LogStore {
    /// What `readImage` knows while it decides the floors: read in its transaction.
    package struct ImageView: Sendable {
        /// Each stream's frontier, by name (lookup only).
        package var frontiers: [String: StreamFrontier]
        /// The progress marks of the vertices asked for, by name (lookup only; absent: none).
        package var progress: [String: ProgressMark]
        /// For each vertex asked for, the intervals at which it has snapshot rows, ascending.
        package var snapshotIntervals: [String: [Interval]]
    }

    /// Reads an image of `streams`, the progress of `vertices` and snapshot rows, in one read
    /// transaction, so that frontiers, blocks, progress and snapshots are from one moment.
    ///
    /// - Parameters:
    ///   - streams: The streams to include.
    ///   - vertices: The vertices whose progress marks (and snapshot intervals) to read.
    ///   - plan: Given what the transaction sees, the floor of each stream (by name; a stream
    ///     without one gets no blocks: its floor is past its sealed frontier; for a stream sealed
    ///     through the last interval index nothing is past it, so its floor is that index, whose
    ///     blocks it gets) and, per vertex, the interval of the snapshot rows to include.
    /// - Throws: `StorageError` (`.corrupt` naming the stream or snapshot for damage), what `plan` throws.
    package func readImage(streams: [StreamDescriptor], vertices: [String],
                           plan: (ImageView) throws -> (floors: [String: Interval], snapshots: [String: Interval]))
        throws(StorageError) -> StoreImage
    {
        try wrap {
            try environment.read { txn in
                var view = ImageView(frontiers: [:], progress: [:], snapshotIntervals: [:])
                for stream in streams { view.frontiers[stream.name] = try frontier(of: stream, in: txn) }
                for vertex in vertices {
                    view.progress[vertex] = try progress(named: vertex, in: txn)
                    view.snapshotIntervals[vertex] = try txn.withCursor(snapshots) { cursor in
                        var result: [Interval] = []
                        var entry = try SnapshotKey.prefix(of: vertex).withUnsafeBytes { try cursor.seek(atLeast: $0) }
                        while let (keyBytes, _) = entry, let key = SnapshotKey(decoding: keyBytes, vertex: vertex) {
                            if result.last != key.interval { result.append(key.interval) }
                            entry = try cursor.next()
                        }
                        return result
                    }
                }
                let (floors, snapshotsAt) = try plan(view)
                var image = StoreImage()
                for stream in streams {
                    guard let frontier = view.frontiers[stream.name] else { continue }
                    // The interval after the sealed ones; a stream sealed through the last index
                    // has none, and its floor is at most that index (its blocks are the last ones).
                    let past = frontier.sealedThrough.map { $0.rawValue == .max ? $0 : $0.next } ?? Interval(0)
                    let floor = max(min(floors[stream.name] ?? past, past), frontier.retainedFrom)
                    var tail = StoreImage.StreamTail(name: stream.name, frontier: frontier, floor: floor, blocks: [], seals: [])
                    if let sealed = frontier.sealedThrough, floor <= sealed {
                        try txn.withCursor(seals) { cursor in
                            var entry = try SealKey(stream: stream.id, interval: floor).withEncodedBytes { try cursor.seek(atLeast: $0) }
                            while let (keyBytes, row) = entry, let key = SealKey(decoding: keyBytes), key.stream == stream.id,
                                  key.interval <= sealed {
                                tail.seals.append((key.interval, Array(row)))
                                entry = try cursor.next()
                            }
                        }
                        try txn.withCursor(blocks) { cursor in
                            var entry = try BlockKey(stream: stream.id, interval: floor, partition: PartitionIndex(0),
                                                     chunk: ChunkIndex(rawValue: 0)).withEncodedBytes { try cursor.seek(atLeast: $0) }
                            while let (keyBytes, value) = entry, let key = BlockKey(decoding: keyBytes), key.stream == stream.id,
                                  key.interval <= sealed {
                                tail.blocks.append((key.interval, key.partition, key.chunk, Array(value)))
                                entry = try cursor.next()
                            }
                        }
                    }
                    image.streams.append(tail)
                }
                for vertex in vertices {
                    if let mark = view.progress[vertex] { image.progress.append((vertex, mark)) }
                }
                for vertex in vertices {
                    guard let interval = snapshotsAt[vertex] else { continue }
                    try txn.withCursor(snapshots) { cursor in
                        let first = SnapshotKey(vertex: vertex, interval: interval, partition: PartitionIndex(0))
                        var entry = try first.encoded.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                        while let (keyBytes, value) = entry, let key = SnapshotKey(decoding: keyBytes, vertex: vertex),
                              key.interval == interval {
                            image.snapshots.append((key, Array(value)))
                            entry = try cursor.next()
                        }
                    }
                }
                return image
            }
        }
    }

    /// Installs an image into streams that have nothing sealed and vertices without progress:
    /// its blocks, seal rows, frontiers (with `retainedFrom` raised to each floor), progress marks
    /// and snapshot rows, in one transaction.
    ///
    /// - Throws: `.misuse` when a stream of the image is missing from this store, has other
    ///   partitions, or already holds something, or a vertex already has progress; `.corrupt` for a
    ///   block of the image whose key does not match its seal rows.
    package func installImage(_ image: StoreImage) throws(StorageError) {
        var descriptors: [StreamDescriptor] = []
        for tail in image.streams {
            guard let descriptor = try descriptor(named: tail.name) else {
                throw .misuse("installing a store image: stream \(tail.name) is not in \(path)")
            }
            descriptors.append(descriptor)
        }
        let resolved = descriptors
        try committer.write { [self] txn in
            for (tail, descriptor) in zip(image.streams, resolved) {
                let current = try frontier(of: descriptor, in: txn)
                guard current.sealedThrough == nil, current.firstInterval == nil else {
                    throw StorageError.misuse("installing a store image: stream \(tail.name) already holds sealed intervals")
                }
                for block in tail.blocks {
                    guard block.partition.rawValue < descriptor.partitions else {
                        throw StorageError.partitionOutOfRange(
                            StoreLocation(stream: tail.name, interval: block.interval, partition: block.partition),
                            partitions: descriptor.partitions)
                    }
                    let key = BlockKey(stream: descriptor.id, interval: block.interval, partition: block.partition, chunk: block.chunk)
                    try key.withEncodedBytes { k in try block.bytes.withUnsafeBytes { try txn.put(blocks, key: k, value: $0) } }
                }
                for seal in tail.seals {
                    // Verified here: a row that does not decode for this stream's partitions is damage.
                    let check: Result<SealRecord, Corruption> = seal.row.withUnsafeBytes { row in
                        Result { () throws(Corruption) -> SealRecord in try SealRecord(row: row, partitions: descriptor.partitions) }
                    }
                    if case .failure(let error) = check {
                        throw StorageError.corrupt(StoreLocation(stream: tail.name, interval: seal.interval), error)
                    }
                    try SealKey(stream: descriptor.id, interval: seal.interval).withEncodedBytes { k in
                        try seal.row.withUnsafeBytes { try txn.put(seals, key: k, value: $0) }
                    }
                }
                var frontier = tail.frontier
                frontier.retainedFrom = max(frontier.retainedFrom, tail.floor)
                try putFrontier(frontier, of: descriptor.id, txn)
            }
            for (name, mark) in image.progress {
                var key = name
                let existing = try key.withUTF8 { utf8 in
                    try txn.withValue(progressMarks, key: UnsafeRawBufferPointer(utf8)) { $0 != nil }
                }
                if existing { throw StorageError.misuse("installing a store image: vertex \(name) already has progress") }
                try putProgress(mark, named: name, txn)
            }
            var writes = SnapshotWrites()
            writes.rows = image.snapshots.map { ($0.key, $0.block) }
            try applySnapshots(writes, vertexStats: [], in: txn)
        }
        sealSignal.bump()
    }
}
