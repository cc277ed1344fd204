import Glibc
import Synchronization
import StrataStorage

/// The incremental form of `reduceByKeyAndWindow`: keeps, per partition, each key's value over the
/// current window and how many of the window's intervals contributed to it; per interval it
/// subtracts the leaving interval's per-key values (with `inverse`) and adds the entering one's.
///
/// The per-interval values are read back from the durable `reduceByKey` stream, so the vertex
/// holds nothing but the current window's values and, up to a bound, the per-key values of the
/// intervals still in the window as they entered it (`RecentBatches`), so that an interval
/// leaving the window is not read and combined a second time. A key whose contribution count
/// reaches 0 is removed, so no key lingers with a "zero" value, and a key that re-enters starts
/// afresh.
final class WindowedReduceVertex<Key: RecordCodable & Hashable, Value: RecordCodable>: VertexRunner {
    typealias Window = SlidingWindowTable<Key, Value>
    typealias Entry = Window.Entry

    let identity: VertexIdentity
    let log: LogStore
    private let shape: WindowShape
    private let produce:
        @Sendable (Interval, PartitionIndex, inout BlockCodec) throws -> ContiguousArray<KeyValue<Key, Value>>
    private let kernel: SlidingWindowKernel<Key, Value>
    private let states: PartitionStates<Window>
    /// Per partition, the batches of the intervals still in the window, as they entered it.
    private let recent: PartitionStates<RecentBatches<KeyValue<Key, Value>>>
    /// Whether the in-memory state is built, and through which interval.
    let stateProgress = StateProgress()

    init(name: String, log: LogStore, reduced: DStream<KeyValue<Key, Value>>, output: StreamDescriptor,
         shape: WindowShape, kernel: SlidingWindowKernel<Key, Value>) {
        let filtered = kernel.filtered ? "|filter" : ""
        identity = VertexIdentity(
            name: name, computing: reduced, outputs: [output], everyInterval: true, isStateful: true,
            definition: "reduceByKeyAndWindow|\(reduced.chain)|\(output.name)|\(shape.description)|inverse\(filtered)")
        self.log = log
        self.shape = shape
        produce = reduced.produce
        self.kernel = kernel
        states = PartitionStates(count: Int(reduced.partitionCount), initial: Window())
        recent = PartitionStates(count: Int(reduced.partitionCount), initial: RecentBatches())
    }

    func apply(_ interval: Interval, emit: Bool) throws -> [PendingBlock] {
        let output = outputs[0]
        let name = self.name, produce = self.produce, kernel = self.kernel, states = self.states, recent = self.recent
        stateProgress.markChanging()
        let first: Interval?
        do { first = try firstRecordInterval(log, inputs) } catch let error as StorageError {
            throw EngineError.storage(error, vertex: name, interval: interval)
        }
        guard let first else { return [] }
        let leaving = shape.leaving(at: interval).flatMap { $0 >= first ? $0 : nil }
        let entering = interval >= first ? interval : nil
        let emits = emit && shape.closes(at: interval)
        return try forEachPartition(Int(partitionCount)) { partition in
            var codec = BlockCodec()
            var writer = PartitionWriter(descriptor: output, interval: interval, partition: partition)
            try userClosure(name, interval, partition) {
                // The leaving interval's batch as it entered, when kept (the same pairs a read
                // returns: a function of the sealed input only); else read again.
                let old = try leaving.map { t in
                    try recent.withState(partition) { $0.take(t) } ?? produce(t, partition, &codec)
                } ?? []
                let new = try entering.map { try produce($0, partition, &codec) } ?? []
                if let entering { recent.withState(partition) { $0.keep(entering, new) } }
                try states.withState(partition) { window in
                    try kernel.apply(&window, old, new, emits, name, interval, &writer)
                }
            }
            return try writer.finish()
        }.flatMap { $0 }
    }
}

/// The batches of one partition's last intervals as they entered a sliding window, in interval
/// order, kept for when each leaves it (`WindowedReduceVertex`): at most `limitBytes` of records
/// (the arrays' capacity × the record's stride; storage a record points to, such as a String
/// key of more than 15 bytes, is not counted), beyond which a batch is not kept and is read
/// again when it leaves.
///
/// A batch is a pure function of the sealed input of its interval, so one taken from here equals
/// the one a read would return; a batch missing (not kept, or dropped by a reset) is only read.
struct RecentBatches<Record> {
    /// The most record bytes kept per partition (about 12 500 url counts for a window of 5 over
    /// 10 000 urls and 4 partitions take 0.4 MiB).
    static var limitBytes: Int { 4 << 20 }

    private var batches: [(interval: Interval, records: ContiguousArray<Record>)] = []
    private var held = 0

    /// The batch of `interval`, removed, if it was kept; batches of earlier intervals are
    /// dropped (they left the window).
    mutating func take(_ interval: Interval) -> ContiguousArray<Record>? {
        var dropped = 0
        while dropped < batches.count, batches[dropped].interval < interval {
            held -= batches[dropped].records.capacity
            dropped += 1
        }
        batches.removeFirst(dropped)
        guard let first = batches.first, first.interval == interval else { return nil }
        held -= first.records.capacity
        batches.removeFirst()
        return first.records
    }

    /// Keeps the batch of `interval` when it follows the newest kept (else the batches kept start
    /// afresh from it) and the bound allows.
    mutating func keep(_ interval: Interval, _ records: ContiguousArray<Record>) {
        if let last = batches.last, last.interval >= interval {
            batches.removeAll()
            held = 0
        }
        guard (held + records.capacity) * MemoryLayout<Record>.stride <= Self.limitBytes else { return }
        batches.append((interval, records))
        held += records.capacity
    }
}

/// The current window of one partition of an incremental `reduceByKeyAndWindow`: entries in a
/// deterministic order (a function of the input only) and a lookup table of their encoded keys
/// (`EncodedKeyTable`: keys are equal when their encodings are), entry `i` being key `i`.
@usableFromInline
struct SlidingWindowTable<Key: RecordCodable, Value> {
    /// One key of the current window.
    @usableFromInline
    struct Entry {
        @usableFromInline var key: Key
        /// The key's encoding, the output order; computed once, when the key enters.
        @usableFromInline var keyBytes: [UInt8]
        @usableFromInline var value: Value
        /// Intervals of the current window in which the key had a value.
        @usableFromInline var count: Int
        /// The first 16 bytes of `keyBytes` as sorted (`sortingHead(of:)`), zero-padded: for a key
        /// of at most 16 bytes, its whole encoding. Computed once, when the key enters, so that a
        /// window end sorts and emits such keys without touching their `keyBytes` arrays (one
        /// heap object per key, visited in sorted order: a cache miss per key).
        @usableFromInline let head: (UInt64, UInt64)
        /// `keyBytes.count`.
        @usableFromInline let keyCount: Int

        @inlinable
        init(key: Key, keyBytes: [UInt8], value: Value, count: Int) {
            self.key = key
            self.keyBytes = keyBytes
            self.value = value
            self.count = count
            head = sortingHead(of: keyBytes)
            keyCount = keyBytes.count
        }

        /// Calls `body` with the first `count` (at most 16) bytes of the key whose sorting head is
        /// `head`: the whole encoding of a key of at most 16 bytes. Static, over plain values, so
        /// that no entry is copied (with its key and key bytes retained) to call it.
        @inlinable @inline(__always)
        static func withShortKey<R>(head: (UInt64, UInt64), count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            var words = (head.0.bigEndian, head.1.bigEndian)
            return try withUnsafeBytes(of: &words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    @usableFromInline var entries = ContiguousArray<Entry>()
    @usableFromInline var keys = EncodedKeyTable(routing: false)

    @inlinable
    init() {}

    /// Removes entry `index`, moving the last entry into its place.
    @inlinable
    mutating func remove(at index: Int) {
        keys.remove(at: index)
        let last = entries.removeLast()
        if index < entries.count { entries[index] = last }
    }
}

/// The per-interval kernel of an incremental `reduceByKeyAndWindow`, built by the `@inlinable`
/// entry point so that it is specialized for the program's key and value types.
@usableFromInline
struct SlidingWindowKernel<Key: RecordCodable, Value: RecordCodable>: Sendable {
    /// Subtracts the leaving interval's pairs, adds the entering one's and, at a window end,
    /// appends the window's pairs that pass the filter, sorted by encoded key, to `output`.
    @usableFromInline let apply: @Sendable (inout SlidingWindowTable<Key, Value>, _ leaving: ContiguousArray<KeyValue<Key, Value>>,
                                            _ entering: ContiguousArray<KeyValue<Key, Value>>, _ emits: Bool,
                                            _ vertex: String, _ interval: Interval, _ output: inout PartitionWriter) throws -> Void
    /// Whether a filter hides some keys (for the fingerprint).
    @usableFromInline let filtered: Bool

    @inlinable
    init(combine: @escaping @Sendable (Value, Value) throws -> Value,
         inverse: @escaping @Sendable (Value, Value) throws -> Value,
         filter: (@Sendable (Key, Value) throws -> Bool)?) {
        filtered = filter != nil
        apply = { window, old, new, emits, name, interval, output in
            var scratch = BinaryWriter(capacity: 64)
            // Each entry's value is read into a local before the user closure runs and written
            // back after it: `entries[i].value = f(entries[i].value, …)` copied the whole entry
            // (retaining its key and key bytes) around every call.
            for pair in old {
                guard let index = window.keys.find(pair.key, scratch: &scratch) else {
                    throw EngineError.misuse("vertex \(name): a key leaving the window at interval \(interval) "
                                             + "was never in it")
                }
                let remaining = window.entries[index].count - 1
                if remaining == 0 {
                    window.remove(at: index)
                } else {
                    let current = window.entries[index].value
                    let updated = try inverse(current, pair.value)
                    window.entries[index].value = updated
                    window.entries[index].count = remaining
                }
            }
            for pair in new {
                let (index, inserted) = window.keys.index(of: pair.key, scratch: &scratch)
                if inserted {
                    scratch.removeAll()
                    pair.key.encode(to: &scratch)
                    window.entries.append(SlidingWindowTable<Key, Value>.Entry(
                        key: pair.key, keyBytes: scratch.bytes, value: pair.value, count: 1))
                } else {
                    let current = window.entries[index].value
                    let updated = try combine(current, pair.value)
                    window.entries[index].value = updated
                    window.entries[index].count += 1
                }
            }
            guard emits else { return }
            try window.entries.withUnsafeBufferPointer { entries in
                // By encoded key: first by the key's first 16 bytes as two big-endian words
                // (integer comparisons, no array retained), the whole bytes only when those are equal.
                var order = ContiguousArray<(head: (UInt64, UInt64), index: Int)>()
                order.reserveCapacity(entries.count)
                for index in entries.indices {
                    order.append((entries[index].head, index))
                }
                order.sort { a, b in
                    if a.head != b.head { return a.head < b.head }
                    return precedes(entries[a.index].keyBytes, entries[b.index].keyBytes)
                }
                // Each pair framed from the entry's encoded key and its value, in place: no entry
                // copied, no key encoded again (the same frame as `append(KeyValue(key, value))`).
                for (_, index) in order {
                    if let filter, try !filter(entries[index].key, entries[index].value) { continue }
                    let count = entries[index].keyCount
                    if count <= 16 {
                        SlidingWindowTable<Key, Value>.Entry.withShortKey(head: entries[index].head, count: count) { key in
                            output.append(encodedKey: key, value: entries[index].value)
                        }
                    } else {
                        entries[index].keyBytes.withUnsafeBytes { key in
                            output.append(encodedKey: key, value: entries[index].value)
                        }
                    }
                }
            }
        }
    }
}

/// The first 16 bytes of `bytes`, zero-padded, as two big-endian words: when two keys' words
/// differ, they order the keys as `precedes` does (a shorter key's padding sorts before any byte
/// but a zero, and equal words leave the order to the whole bytes).
@inlinable
func sortingHead(of bytes: [UInt8]) -> (UInt64, UInt64) {
    var words: (UInt64, UInt64) = (0, 0)
    bytes.withUnsafeBytes { source in
        withUnsafeMutableBytes(of: &words) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(16)))
        }
    }
    return (UInt64(bigEndian: words.0), UInt64(bigEndian: words.1))
}

/// Whether `a` sorts before `b`, byte by byte (a prefix first).
@inlinable
func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            let common = min(a.count, b.count)
            if common > 0, let pa = a.baseAddress, let pb = b.baseAddress {
                let order = memcmp(pa, pb, common)
                if order != 0 { return order < 0 }
            }
            return a.count < b.count
        }
    }
}

extension DStream {
    /// Combines, per key, the values of each sliding window with `combine`; with `inverse`, the
    /// windows are maintained incrementally.
    ///
    /// At each window end `t` (where `(t + 1) % slide == 0`, see `window(length:slide:)`) the
    /// stream holds one pair per key that has values in intervals `t − length + 1 … t` and passes
    /// `filter`; other intervals are empty. Each partition's pairs are sorted by the encoded key
    /// bytes. Values are first combined per interval (`reduceByKey`, through a durable shuffle
    /// stream with `partitions` partitions, routed by `partitioner` when given); then:
    ///
    /// - without `inverse`, each window end folds its intervals' per-key values in interval order
    ///   (`combine` must be associative);
    /// - with `inverse`, a stateful vertex keeps the current window and, per interval, applies
    ///   `inverse(current, leaving)` then `combine(current, entering)`. `inverse` must undo
    ///   `combine` (`inverse(combine(a, b), b) == a`), and the results then equal the
    ///   non-incremental form exactly (for floating point, only approximately). A key is dropped
    ///   as soon as none of the window's intervals has a value for it, whatever its value.
    ///
    /// ```swift
    /// ones.reduceByKeyAndWindow(+, inverse: -, length: 5, slide: 1)   // per-url count, last 5 intervals
    /// ```
    ///
    /// - Parameters:
    ///   - combine: Associative combination of two values.
    ///   - inverse: Undoes `combine`; makes the window incremental.
    ///   - length: Intervals per window, at least 1.
    ///   - slide: Intervals between window ends, at least 1.
    ///   - partitions: Partitions of the result (default: this stream's).
    ///   - partitioner: The partition of each key (default: the stable hash of its encoding).
    ///   - filter: Keeps only the pairs for which it returns true (it hides keys; it does not
    ///     change the window state).
    /// - Complexity: without `inverse`, O(pairs in the window) per window end; with it, O(pairs of
    ///   the entering and leaving intervals) per interval plus O(k log k) per window end for `k` keys.
    @inlinable
    public func reduceByKeyAndWindow<Key: RecordCodable & Hashable, Value: RecordCodable>(
        _ combine: @escaping @Sendable (Value, Value) throws -> Value,
        inverse: (@Sendable (Value, Value) throws -> Value)? = nil,
        length: Int, slide: Int = 1, partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        filter: (@Sendable (Key, Value) throws -> Bool)? = nil
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        guard isValidWindow(length: length, slide: slide) else { return invalidWindow(length: length, slide: slide) }
        // Here, in the program's module, so that the per-interval combine is specialized.
        let kernel = inverse.map { SlidingWindowKernel(combine: combine, inverse: $0, filter: filter) }
        // The shuffle is kept over a stream declared partitioned by key: the window reads each
        // interval's combined values from the small shuffle stream when they enter and, unless it
        // still holds them (`RecentBatches`), when they leave.
        return shuffled(partitions: partitions, kernels: ShuffleKernels(combine: combine, partitioner: partitioner),
                        keepsShuffle: true)
            .windowedReduce(combine, kernel: kernel, length: length, slide: slide, filter: filter)
    }

    /// Whether `length` and `slide` make a window (both at least 1).
    @usableFromInline
    func isValidWindow(length: Int, slide: Int) -> Bool { WindowShape(length: length, slide: slide) != nil }

    /// Records the misuse of an invalid window and returns an empty stream.
    @usableFromInline
    func invalidWindow<Key: RecordCodable & Hashable, Value: RecordCodable>(length: Int, slide: Int)
        -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value>
    {
        builder.fail(EngineError.misuse("reduceByKeyAndWindow: length and slide must be at least 1, "
                                        + "not \(length) and \(slide)"))
        return DStream(builder: builder, inputs: inputs, partitionCount: partitionCount,
                       chain: chain + ".invalid") { _, _, _ in [] }
    }

    /// `reduceByKeyAndWindow` over the stream already reduced per interval (`self`).
    @usableFromInline
    func windowedReduce<Key: RecordCodable & Hashable, Value: RecordCodable>(
        _ combine: @escaping @Sendable (Value, Value) throws -> Value,
        kernel: SlidingWindowKernel<Key, Value>?,
        length: Int, slide: Int, filter: (@Sendable (Key, Value) throws -> Bool)?
    ) -> DStream<KeyValue<Key, Value>> where Record == KeyValue<Key, Value> {
        guard let shape = WindowShape(length: length, slide: slide) else { return invalidWindow(length: length, slide: slide) }
        // The incremental form reads the interval leaving the window back from its input.
        builder.noteLookback(shape.length)
        let reduced = self
        guard let kernel else {
            return reduced.window(shape).narrow("reduceWindow") { batch in
                var pairs = try StrataEngine.combineByKey(batch, combine)
                if let filter {
                    pairs = try ContiguousArray(pairs.filter { try filter($0.key, $0.value) })
                }
                return sortedByEncodedKey(pairs)
            }
        }
        let name = builder.nextVertexName
        guard let output = builder.outputStream(name + ".out", of: KeyValue<Key, Value>.self,
                                                partitions: reduced.partitionCount, like: reduced.input) else {
            return reduced
        }
        builder.add(WindowedReduceVertex(name: name, log: builder.log, reduced: reduced, output: output, shape: shape,
                                         kernel: kernel))
        return DStream<KeyValue<Key, Value>>(builder: builder, reading: output,
                                             chain: "reduceByKeyAndWindow(\(output.name))")
    }
}

extension WindowedReduceVertex: SnapshottingVertex {
    /// Payload: a LEB128 entry count, then per key of the window `key · value · count (Int)`, in
    /// the window's order, which is a function of the input only.
    func encodeState(_ partition: PartitionIndex, into writer: inout BinaryWriter) {
        states.withState(partition) { window in
            writeCount(window.entries.count, to: &writer)
            for entry in window.entries {
                entry.keyBytes.withUnsafeBytes { writer.write(raw: $0) }
                entry.value.encode(to: &writer)
                writer.write(entry.count)
            }
        }
    }

    func decodeState(_ partition: PartitionIndex, from reader: inout BinaryReader) throws(RecordDecodingError) {
        let count = try readCount(from: &reader)
        var window = Window()
        window.entries.reserveCapacity(count)
        var scratch = BinaryWriter(capacity: 64)
        for _ in 0..<count {
            let start = reader.offset
            let key: Key = try reader.read()
            let keyBytes = Array(UnsafeRawBufferPointer(rebasing: reader.buffer[start..<reader.offset]))
            let value: Value = try reader.read()
            let at = reader.offset
            let contributions: Int = try reader.read()
            guard contributions >= 1 else { throw .invalidValue(offset: at, what: "window contribution count") }
            guard window.keys.index(of: key, scratch: &scratch).inserted else {
                throw .invalidValue(offset: start, what: "window key repeated")
            }
            window.entries.append(Entry(key: key, keyBytes: keyBytes, value: value, count: contributions))
        }
        states.withState(partition) { $0 = window }
    }

    /// Not registered: a window's state is its contents, and its output at slide 1 already is
    /// that (docs/state-as-of.md).
    var stateLayout: StateLayout? { nil }

    func resetState() {
        states.reset(to: Window())
        recent.reset(to: RecentBatches())
    }

}
