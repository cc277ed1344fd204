/// How a store attaches to a cluster: which NATS servers, as which node, with what credentials,
/// and how its streams are replicated in JetStream.
///
/// `ClusterOptions` is `Sendable`.
///
/// ```swift
/// var options = ClusterOptions(urls: ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"], node: "node-a")
/// options.credentials = .credentialsFile(path: "/etc/strata/node-a.creds")
/// options.tls = NATSTLSOptions(certificateAuthorityFile: "/etc/strata/ca.pem")
/// let replicator = try ClusterReplicator(store: store, options: options)
/// ```
public struct ClusterOptions: Sendable, Equatable {
    /// The NATS servers (any of the cluster's; the client learns the others).
    public var urls: [String]
    /// This node's name: the NATS connection's name, shown by `strata cluster status`.
    public var node: String
    /// How many JetStream servers hold each replicated stream (1, 3 or 5; 3 by default).
    public var replicas: Int
    /// The credentials (user and password, token or creds file).
    public var credentials: NATSCredentials
    /// TLS (certificate authority, client certificate and key), or `nil` for plain TCP.
    public var tls: NATSTLSOptions?
    /// The prefix of every subject (`<namespace>.…`) and, upper-cased, of every JetStream stream
    /// (`<NAMESPACE>_…`) Strata uses, so that several clusters of stores can share NATS servers.
    /// Letters, digits, `-` and `_`.
    public var namespace: String
    /// How long JetStream remembers a message id to drop a republished copy. A replicator that
    /// was down longer than this may store a block twice; restore and follow drop such copies.
    public var duplicateWindow: Duration
    /// How long a JetStream request or publish waits for its answer.
    public var requestTimeout: Duration

    /// Options for node `node` with 3 replicas, namespace `strata`, a 1-hour duplicate window.
    public init(urls: [String], node: String, replicas: Int = 3, credentials: NATSCredentials = .none,
                tls: NATSTLSOptions? = nil, namespace: String = "strata") {
        self.urls = urls
        self.node = node
        self.replicas = replicas
        self.credentials = credentials
        self.tls = tls
        self.namespace = namespace
        duplicateWindow = .seconds(3600)
        requestTimeout = .seconds(20)
    }

    /// The connection options these cluster options give.
    public var connectionOptions: NATSConnectionOptions {
        var options = NATSConnectionOptions(urls: urls, name: node, credentials: credentials, tls: tls)
        options.requestTimeout = requestTimeout
        return options
    }

    /// Checks the options: URLs given, a node name, a valid namespace, 1…5 replicas.
    ///
    /// - Throws: `ClusterError.invalidArgument` naming the option.
    public func validate() throws(ClusterError) {
        if urls.isEmpty || urls.contains(where: \.isEmpty) { throw .invalidArgument("no NATS server URL given") }
        if node.isEmpty || node.contains(where: { $0 == " " || $0 == "\n" }) {
            throw .invalidArgument("node name \"\(node)\" (non-empty, no spaces)")
        }
        if namespace.isEmpty || !namespace.unicodeScalars.allSatisfy(ClusterNames.isPlain) {
            throw .invalidArgument("namespace \"\(namespace)\" (letters, digits, '-' and '_')")
        }
        if !(1...5).contains(replicas) { throw .invalidArgument("replicas \(replicas) (1 to 5)") }
    }
}
