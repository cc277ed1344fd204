import StrataStorage

/// The shape of a sliding window, in intervals: `length` intervals long, closing every `slide`
/// intervals.
///
/// Alignment is absolute: a window closes at interval `t` when `(t + 1) % slide == 0`, and it
/// covers intervals `t − length + 1 … t` (clipped at interval 0). With `slide == 1` a window closes
/// at every interval.
struct WindowShape: Sendable, Equatable {
    /// Intervals per window, at least 1.
    let length: UInt64
    /// Intervals between two window ends, at least 1.
    let slide: UInt64

    /// The shape, or `nil` when `length` or `slide` is below 1.
    init?(length: Int, slide: Int) {
        guard length >= 1, slide >= 1, let length = UInt64(exactly: length), let slide = UInt64(exactly: slide) else {
            return nil
        }
        self.length = length
        self.slide = slide
    }

    /// Whether a window closes at `t`: `(t + 1) % slide == 0`.
    func closes(at t: Interval) -> Bool { t.rawValue % slide == slide - 1 }

    /// The first interval of the window closing at `t` (clipped at 0).
    func start(endingAt t: Interval) -> UInt64 { t.rawValue >= length - 1 ? t.rawValue - (length - 1) : 0 }

    /// The interval that leaves the window when `t` enters it, if any: `t − length`.
    func leaving(at t: Interval) -> Interval? { t.rawValue >= length ? Interval(t.rawValue - length) : nil }

    /// `length,slide`, for chain descriptions and fingerprints.
    var description: String { "\(length),\(slide)" }
}

/// The first interval in which any of `inputs` has records (`nil`: none yet).
///
/// Intervals before it are sealed and empty in every input, so windows and stateful vertices
/// skip them instead of reading them (reading one is `beforeStreamStart`). It never changes once
/// set: only intervals after the sealed frontier can still receive records.
func firstRecordInterval(_ log: LogStore, _ inputs: [StreamDescriptor]) throws -> Interval? {
    var first: Interval?
    for input in inputs {
        if let interval = try log.frontier(of: input).firstInterval { first = min(first ?? interval, interval) }
    }
    return first
}

/// Sorts key/value pairs by the encoded bytes of their keys: the canonical output order of
/// windowed reductions, the same in every process and for incremental and non-incremental forms.
///
/// - Complexity: O(n log n) comparisons of encoded keys.
func sortedByEncodedKey<Key: RecordCodable, Value>(_ pairs: ContiguousArray<KeyValue<Key, Value>>)
    -> ContiguousArray<KeyValue<Key, Value>>
{
    guard pairs.count > 1 else { return pairs }
    var writer = BinaryWriter(capacity: 64)
    var keyed = pairs.map { pair -> ([UInt8], KeyValue<Key, Value>) in
        writer.removeAll()
        pair.key.encode(to: &writer)
        return (writer.bytes, pair)
    }
    keyed.sort { $0.0.lexicographicallyPrecedes($1.0) }
    return ContiguousArray(keyed.map(\.1))
}

extension DStream {
    /// A stream whose batch at each window end is the union of the last `length` intervals of this
    /// stream; every other interval is empty.
    ///
    /// Windows are measured in intervals and aligned to interval 0: a window closes at interval `t`
    /// when `(t + 1) % slide == 0` and holds intervals `t − length + 1 … t` (the first windows, near
    /// interval 0 or the first interval with records, are shorter). Partition `p` of a window holds
    /// partition `p` of each of its intervals, in interval order, then in each interval's own order.
    ///
    /// Earlier intervals are recomputed from the durable, sealed input (the fused chain is
    /// deterministic, so they come out as they did before); no window is held in memory. The stream
    /// is processed at every interval, since an interval without input can still close a window.
    ///
    /// ```swift
    /// p.read(words).window(length: 5).save(as: "lastFiveSeconds")   // [0,5), [1,6), [2,7), …
    /// ```
    ///
    /// - Parameters:
    ///   - length: Intervals per window, at least 1.
    ///   - slide: Intervals between window ends, at least 1 (default 1).
    /// - Complexity: O(records in the window) per window end and partition; the fused chain runs
    ///   about `length / slide` times per input interval.
    public func window(length: Int, slide: Int = 1) -> DStream<Record> {
        guard let shape = WindowShape(length: length, slide: slide) else {
            builder.fail(EngineError.misuse("window: length and slide must be at least 1, not \(length) and \(slide)"))
            return DStream(builder: builder, inputs: inputs, partitionCount: partitionCount,
                           chain: chain + ".invalid") { _, _, _ in [] }
        }
        return window(shape)
    }

    /// The window stream of `shape` (see `window(length:slide:)`).
    func window(_ shape: WindowShape) -> DStream<Record> {
        builder.noteLookback(shape.length)
        let parent = produce, log = builder.log, inputs = self.inputs
        return DStream(builder: builder, inputs: inputs, partitionCount: partitionCount, needsEveryInterval: true,
                       chain: chain + ".window(\(shape.description))") { interval, partition, codec in
            guard shape.closes(at: interval), let first = try firstRecordInterval(log, inputs) else { return [] }
            let start = max(shape.start(endingAt: interval), first.rawValue)
            guard start <= interval.rawValue else { return [] }
            var records = ContiguousArray<Record>()
            for t in start...interval.rawValue {
                records.append(contentsOf: try parent(Interval(t), partition, &codec))
            }
            return records
        }
    }
}
