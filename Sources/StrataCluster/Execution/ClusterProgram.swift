import Strata
import StrataEngine

/// A program to run on a cluster: its name, how many partitions its tasks have, and how to
/// define it over a store.
///
/// Every node runs the same definition (Kafka Streams' model: each instance embeds the library
/// and runs the same topology). A node runs one task per partition it owns; each task defines
/// the program over a store of its own with the options it is given (they gather exchanges:
/// `ProgramOptions.gathersExchanges`), so the definition must pass them on.
///
/// ```swift
/// let counts = ClusterProgram(name: "counts", partitions: 4) { store, options in
///     let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 4)
///     return try Program(name: "counts", store: store, options: options) { p in
///         p.read(views).map { KeyValue($0.key, Int64(1)) }.runningReduce(+).save(as: "urlCounts")
///     }
/// }
/// ```
///
/// `ClusterProgram` is `Sendable`.
public struct ClusterProgram: Sendable {
    /// The program's name (the `name` its definition gives `Program`).
    public var name: String
    /// The partitions of its tasks: the largest partition count of its streams.
    public var partitions: Int
    /// The options each task's program runs with (`gathersExchanges` is set by the node).
    public var options: ProgramOptions
    /// Defines the program over a task's store with the given options.
    public var define: @Sendable (Store, ProgramOptions) throws -> Program

    /// A program named `name` of `partitions` partitions.
    public init(name: String, partitions: Int, options: ProgramOptions = ProgramOptions(),
                define: @escaping @Sendable (Store, ProgramOptions) throws -> Program) {
        self.name = name
        self.partitions = partitions
        self.options = options
        self.define = define
    }
}
