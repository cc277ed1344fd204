/// How a node joins the cluster that runs a program: its connection, its name, and the settings
/// of the program's JetStream stream and buckets.
///
/// `ExecutionOptions` is `Sendable`.
///
/// ```swift
/// let options = ExecutionOptions(connection: NATSConnectionOptions(urls: ["nats://10.0.0.1:4222"], name: "a"),
///                                node: "a")
/// ```
public struct ExecutionOptions: Sendable, Equatable {
    /// How to reach NATS (URLs, credentials, TLS, timeouts).
    public var connection: NATSConnectionOptions
    /// This node's name: letters, digits, `-`, `_` and `.`, unique in the cluster.
    public var node: String
    /// The prefix of the program's subjects, JetStream stream and buckets (letters, digits, `-`, `_`).
    public var namespace: String
    /// How many JetStream servers hold the program's stream and buckets (1, 3 or 5).
    public var replicas: Int
    /// How long a lease (and a membership) lives without renewal; renewals come every quarter of it.
    public var leaseTTL: Duration
    /// How long JetStream remembers a message id to drop a republished copy.
    public var duplicateWindow: Duration
    /// Whether partition tasks publish checkpoints to JetStream and a new owner restores from
    /// the newest one (docs/cluster.md, "Snapshots and recovery"); `false` (for comparisons):
    /// a new owner replays the partition's messages from the beginning. Default `true`.
    public var checkpoints = true

    /// Options for node `node`: namespace `strata`, 3 replicas, a 10 s lease, a 1-hour duplicate window.
    public init(connection: NATSConnectionOptions, node: String, namespace: String = "strata", replicas: Int = 3,
                leaseTTL: Duration = .seconds(10), duplicateWindow: Duration = .seconds(3600)) {
        self.connection = connection
        self.node = node
        self.namespace = namespace
        self.replicas = replicas
        self.leaseTTL = leaseTTL
        self.duplicateWindow = duplicateWindow
    }

    /// The options of a store attached to a cluster (`ClusterOptions`: its servers, credentials,
    /// TLS, node name, namespace, replicas and duplicate window), with a lease TTL.
    public init(cluster: ClusterOptions, leaseTTL: Duration = .seconds(10)) {
        self.init(connection: cluster.connectionOptions, node: cluster.node, namespace: cluster.namespace,
                  replicas: cluster.replicas, leaseTTL: leaseTTL, duplicateWindow: cluster.duplicateWindow)
    }

    /// Checks the options.
    ///
    /// - Throws: `ClusterError.invalidArgument` naming the option.
    public func validate() throws(ClusterError) {
        if node.isEmpty || !node.unicodeScalars.allSatisfy({ ExecutionNames.isPlain($0) || $0 == "." }) {
            throw .invalidArgument("node name \"\(node)\" (letters, digits, '-', '_' and '.')")
        }
        if namespace.isEmpty || !namespace.unicodeScalars.allSatisfy(ExecutionNames.isPlain) {
            throw .invalidArgument("namespace \"\(namespace)\" (letters, digits, '-' and '_')")
        }
        if !(1...5).contains(replicas) { throw .invalidArgument("replicas \(replicas) (1 to 5)") }
        if leaseTTL < .milliseconds(500) { throw .invalidArgument("lease TTL \(leaseTTL) (at least 500 ms)") }
    }
}
