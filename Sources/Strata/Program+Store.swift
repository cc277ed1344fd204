import StrataEngine
import StrataStorage

/// A program of deterministic vertices over a store's logs (see `StrataEngine.Program`).
public typealias Program = StrataEngine.Program
/// A discretized stream inside a program.
public typealias DStream = StrataEngine.DStream
/// What a program's definition closure builds with.
public typealias ProgramBuilder = StrataEngine.ProgramBuilder
/// Every error the engine throws.
public typealias EngineError = StrataEngine.EngineError
/// How a program runs its tasks.
public typealias ProgramOptions = StrataEngine.ProgramOptions
/// Retries and speculation of a program's partition tasks.
public typealias TaskPolicy = StrataEngine.TaskPolicy
/// Faults injected into a program's tasks (tests, benchmarks).
public typealias TaskFaults = StrataEngine.TaskFaults
/// A hook noting when each vertex reaches each step of an interval, for latency breakdowns.
public typealias IntervalTrace = StrataEngine.IntervalTrace
/// The state of one key inside a `mapWithState` function.
public typealias KeyState = StrataEngine.KeyState
/// The streams of a `mapWithState`: the mapped records and the state snapshots.
public typealias MappedWithState = StrataEngine.MappedWithState

extension Program {
    /// Defines a program named `name` over `store`.
    ///
    /// ```swift
    /// let program = try Program(name: "counts", store: store) { p in
    ///     p.read(views).map { KeyValue($0.url, Int64(1)) }.runningReduce(+).save(as: "urlCounts")
    /// }
    /// try program.runUntilCaughtUp()
    /// ```
    ///
    /// Stateful vertices (`runningReduce`, `updateStateByKey`, `track`, `reduceByKeyAndWindow`
    /// with `inverse`) write a snapshot of their state every `options.snapshotEvery` intervals
    /// (default `Program.defaultSnapshotEvery`, 30; `nil`: never), in a commit of its own right after
    /// the commit of that interval's outputs and progress (a crash between the two loses only that
    /// snapshot, which the vertex's next pass writes again); a restart loads the newest one and
    /// replays only the input after it (see docs/durability.md).
    ///
    /// - Throws: the first definition error: a stream of another type, an invalid name, an output
    ///   stream that exists with other settings, a `snapshotEvery` below 1.
    public convenience init(name: String, store: Store, options: ProgramOptions = ProgramOptions(),
                            define: (ProgramBuilder) throws -> Void) throws {
        try self.init(name: name, log: store.log, options: options, define: define)
    }

    /// Defines a program named `name` over `store` with the default options but the snapshot
    /// period: every `snapshotEvery` intervals (`nil`: never).
    public convenience init(name: String, store: Store, snapshotEvery: Int?,
                            define: (ProgramBuilder) throws -> Void) throws {
        try self.init(name: name, log: store.log, options: ProgramOptions(snapshotEvery: snapshotEvery), define: define)
    }
}

extension ProgramBuilder {
    /// A stream of the records of a stored stream, interval by interval.
    ///
    /// Inlinable so that the records are decoded by a loop specialized for `Record`.
    @inlinable
    public func read<Record: RecordCodable>(_ stream: StoredStream<Record>) -> DStream<Record> {
        read(stream.descriptor, as: Record.self, decoder: BlockDecoder())
    }
}
/// The result of `track`: per-interval updates and the count of live keys.
public typealias TrackedStream = StrataEngine.TrackedStream
/// Two values joined by key; a missing side of an outer join is `nil`.
public typealias Pair = StrataEngine.Pair
/// A named function that routes each key to a partition, for the `partitioner:` of keyed operators.
public typealias KeyPartitioner = StrataEngine.KeyPartitioner
/// The error a task fails with when `TaskFaults` injects a failure.
public typealias InjectedFault = StrataEngine.InjectedFault
