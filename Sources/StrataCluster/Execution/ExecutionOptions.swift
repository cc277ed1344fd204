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
    /// Speculation across nodes: when set, a node runs a speculative copy of a partition another
    /// node owns and is late on (docs/cluster.md, "Speculation across nodes"). `nil` (the
    /// default): no copies.
    public var speculation: Speculation?
    /// Test only: the owner of one partition waits this long per interval before it sends, so that
    /// it is late and another node's speculative copy publishes first. `nil` in real use.
    public var testingExportDelay: TestingExportDelay?
    /// Test only: each partition task this node owns fails its first N trim deletions (as a
    /// deletion timing out, without reaching JetStream), so that tests can show a failed trim
    /// does not end the task and is retried. 0 in real use.
    public var testingFailedTrimDeletions = 0

    /// When a node runs a speculative copy of a partition it does not own.
    public struct Speculation: Sendable, Equatable {
        /// How many intervals the owner's progress must be behind the most advanced sibling
        /// partition's (both read from the progress bucket) for a copy to start; the copy stops
        /// once the owner has caught up with its siblings (or loses its lease).
        public var margin: Int
        /// How many copies one node runs at once.
        public var maximumCopies: Int

        /// Copies of partitions `margin` intervals late, at most `maximumCopies` per node.
        public init(margin: Int = 5, maximumCopies: Int = 1) {
            self.margin = margin
            self.maximumCopies = maximumCopies
        }
    }

    /// Test only: a per-interval delay of the owner of one partition before it sends.
    public struct TestingExportDelay: Sendable, Equatable {
        /// The partition whose owner is slowed.
        public var partition: Int
        /// The delay per interval it sends.
        public var perInterval: Duration

        /// Slows the owner of `partition` by `perInterval` per interval.
        public init(partition: Int, perInterval: Duration) {
            self.partition = partition
            self.perInterval = perInterval
        }
    }

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
        if let speculation, speculation.margin < 1 || speculation.maximumCopies < 1 {
            throw .invalidArgument("speculation margin \(speculation.margin) and copies \(speculation.maximumCopies) (at least 1 each)")
        }
    }
}
