import StrataStorage

/// The two streams of a `track`: the keys updated per interval, and the number of live keys.
///
/// `TrackedStream` is `Sendable`, like the `DStream`s it holds.
public struct TrackedStream<Key: RecordCodable & Hashable, State: RecordCodable>: Sendable {
    /// Per interval, the keys that received events in it and still have a state, with that state,
    /// in each partition in order of the key's first event in the interval.
    public let updates: DStream<KeyValue<Key, State>>
    /// Per interval, one record in one partition: the number of live keys (sessions) after the
    /// interval's events and timeouts, from the first interval with events on — also `0` once
    /// every key is gone.
    public let activeCount: DStream<Int64>
}

extension DStream {
    /// Tracks a state per key from a stream of `(key, event)` pairs, as the D-Streams paper's
    /// `track`: `initialize` makes the state from a key's first event, `update` folds each later
    /// event into it, and returning `nil` ends the key (a later event starts it afresh).
    ///
    /// Events are applied one by one, per key in input-partition order and then in each input
    /// partition's order (pairs are routed by key through a durable exchange stream with
    /// `partitions` partitions). A key whose last event came at interval `a` times out at the end of
    /// interval `a + timeout` when no event came in `a + 1 … a + timeout`: it is dropped silently —
    /// nothing is emitted for a timed-out key, nor for one whose `update` returned `nil`; it just
    /// stops being counted in `activeCount`. The stream is processed at every interval, and the
    /// state is rebuilt from the retained input after a restart.
    ///
    /// The seeds' active sessions:
    /// ```swift
    /// let sessions = p.read(events).track(initialize: { _, _ in Int64(1) },
    ///                                     update: { _, _, ev in ev == .exit ? nil : 1 },
    ///                                     timeout: 30)
    /// sessions.activeCount.save(as: "activeSessions")
    /// ```
    ///
    /// - Parameters:
    ///   - initialize: The state of a key without one, from its event.
    ///   - update: The next state from the current one and an event; `nil` ends the key.
    ///   - timeout: Intervals without events after which a key is dropped (`nil`: never), at least 1.
    ///   - partitions: Partitions of the state and of `updates`.
    ///   - partitioner: The partition of each key (default: the stable hash of its encoding).
    ///   - initialState: The state before the first interval with events: its keys enter at that
    ///     interval as if they had received an event in it (for the timeout), without being
    ///     emitted; a key given twice keeps its last state.
    /// - Complexity: O(events + live keys) per interval.
    @inlinable
    public func track<Key: RecordCodable & Hashable, Event: RecordCodable, State: RecordCodable>(
        initialize: @escaping @Sendable (Key, Event) throws -> State,
        update: @escaping @Sendable (Key, State, Event) throws -> State?,
        timeout: Int?, partitions: Int? = nil, partitioner: KeyPartitioner<Key>? = nil,
        initialState: [KeyValue<Key, State>] = []
    ) -> TrackedStream<Key, State> where Record == KeyValue<Key, Event> {
        let kernel = KeyedStateKernel<Key, Event, State>(initialize: initialize, update: update)
        return tracked(timeout: timeout, partitions: partitions, initialState: initialState, kernel: kernel,
                       route: RouteKernel(partitioner: partitioner))
    }

    /// `track` with its kernels: the exchange, the keyed state and the sum of live counts.
    @usableFromInline
    func tracked<Key: RecordCodable & Hashable, Event: RecordCodable, State: RecordCodable>(
        timeout: Int?, partitions: Int?, initialState: [KeyValue<Key, State>] = [],
        kernel: KeyedStateKernel<Key, Event, State>, route: RouteKernel<Key, Event>
    ) -> TrackedStream<Key, State> where Record == KeyValue<Key, Event> {
        let streams = keyedState(kind: "track", as: KeyValue<Key, State>.self, timeout: timeout,
                                 partitions: partitions, extra: .liveCounts, initialState: initialState,
                                 kernel: kernel, route: route)
        guard let counts = streams.extra else {
            let none = DStream<Int64>(builder: builder, inputs: inputs, partitionCount: 1, chain: chain + ".invalid") {
                _, _, _ in []
            }
            return TrackedStream(updates: streams.updates, activeCount: none)
        }
        // Sum the per-partition counts in partition order: one record per interval.
        let log = builder.log
        let total = DStream<Int64>(builder: builder, inputs: [counts], partitionCount: 1,
                                   chain: "activeCount(\(counts.name))") { interval, _, codec in
            // Before the first counts (no event yet) there is nothing to read, and nothing to emit.
            guard let first = try log.frontier(of: counts).firstInterval, interval >= first else { return [] }
            var sum: Int64 = 0
            var any = false
            for q in 0..<counts.partitions {
                let records: ContiguousArray<Int64> = try PartitionReader.read(log, counts, interval, PartitionIndex(q),
                                                                               codec: &codec)
                for count in records {
                    sum += count
                    any = true
                }
            }
            return any ? [sum] : []
        }
        return TrackedStream(updates: streams.updates, activeCount: total)
    }
}
