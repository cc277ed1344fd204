import Strata
import StrataStorage

/// One section of `strata cluster status`: a titled table. Each source of cluster state (the
/// replicated streams here; leases, partitions and vertices in the execution layer) gives its
/// own sections, which the command line prints in order, as text or as JSON lines.
///
/// `ClusterStatusSection` is `Sendable`; it is a plain value.
public struct ClusterStatusSection: Sendable, Equatable {
    /// The section's title (`Nodes`, `Replicated streams`, …); its JSON key, lower-cased with `_`.
    public var title: String
    /// The column names; each row has one value per column.
    public var columns: [String]
    /// The rows, in a stable order.
    public var rows: [[String]]
    /// Lines printed under the table (a warning, an explanation).
    public var notes: [String]

    /// A section.
    public init(title: String, columns: [String], rows: [[String]] = [], notes: [String] = []) {
        self.title = title
        self.columns = columns
        self.rows = rows
        self.notes = notes
    }
}

/// What the replication layer reports about a cluster: the NATS servers seen and, per replicated
/// stream, its JetStream replicas and how far it is replicated, against a local store when one
/// is given.
///
/// `ReplicationStatus` is `Sendable`; it is a plain value.
public struct ReplicationStatus: Sendable, Equatable {
    /// A JetStream server seen as the leader or a replica of a replicated stream.
    public struct Node: Sendable, Equatable {
        /// The server's name.
        public var name: String
        /// Streams it leads.
        public var leads: Int
        /// Streams it holds a replica of (leader included).
        public var replicas: Int
        /// Streams whose leader reports it offline.
        public var offline: Int
    }

    /// One replicated Strata stream.
    public struct Stream: Sendable, Equatable {
        /// The Strata stream's name.
        public var name: String
        /// Its JetStream stream.
        public var jetStream: String
        /// Configured replicas.
        public var replicas: Int
        /// The JetStream leader's server name.
        public var leader: String?
        /// Replicas (other than the leader) that are current.
        public var currentReplicas: Int
        /// Messages and bytes held.
        public var messages: UInt64
        /// Bytes held.
        public var bytes: UInt64
        /// The newest interval sealed in JetStream.
        public var replicatedThrough: Interval?
        /// The newest interval sealed in the local store, when a store was given and has the stream.
        public var localSealedThrough: Interval?

        /// Intervals sealed locally and not yet in JetStream (`nil` without a local stream).
        public var lag: UInt64? {
            guard let local = localSealedThrough else { return nil }
            guard let replicated = replicatedThrough else { return local.rawValue &+ 1 }
            return local > replicated ? local.rawValue - replicated.rawValue : 0
        }
    }

    /// The server the client is connected to.
    public var connectedURL: String?
    /// The servers seen, by name.
    public var nodes: [Node]
    /// The replicated streams, by name.
    public var streams: [Stream]

    /// Reads the status of namespace `namespace` through `jetStream`, comparing with `store`.
    public static func read(jetStream: JetStream, namespace: String, store: Store?) throws(ClusterError) -> ReplicationStatus {
        var streams: [Stream] = []
        var nodes: [String: Node] = [:]  // lookup only; sorted below
        let connectedURL = jetStream.connection.connectedURL
        for jetStreamName in try jetStream.streamNames() {
            guard let name = ClusterNames.stream(ofJetStream: jetStreamName, namespace: namespace),
                  let info = try jetStream.streamInfo(jetStreamName) else { continue }
            let names = ClusterNames(namespace: namespace, stream: name)
            var replicated: Interval?
            if let last = try jetStream.lastMessage(stream: jetStreamName, subject: names.sealSubject) {
                replicated = try SealMessage(decoding: last.payload, what: "\(names.sealSubject) #\(last.sequence)").interval
            }
            var localSealed: Interval?
            if let store, let local = try? store.info(of: name) { localSealed = local.frontier.sealedThrough }
            streams.append(Stream(name: name, jetStream: jetStreamName, replicas: info.configuration.replicas,
                                  leader: info.leader, currentReplicas: info.replicas.count(where: { $0.current }),
                                  messages: info.messages, bytes: info.bytes, replicatedThrough: replicated,
                                  localSealedThrough: localSealed))
            if let leader = info.leader {
                nodes[leader, default: Node(name: leader, leads: 0, replicas: 0, offline: 0)].leads += 1
                nodes[leader]?.replicas += 1
            }
            for replica in info.replicas {
                nodes[replica.name, default: Node(name: replica.name, leads: 0, replicas: 0, offline: 0)]
                    .replicas += 1
                if replica.offline { nodes[replica.name]?.offline += 1 }
            }
        }
        streams.sort { $0.name < $1.name }
        return ReplicationStatus(connectedURL: connectedURL, nodes: nodes.values.sorted { $0.name < $1.name },
                                 streams: streams)
    }

    /// The report as status sections: `Nodes` and `Replicated streams`.
    public var sections: [ClusterStatusSection] {
        let nodeRows = nodes.map { node in
            [node.name, String(node.leads), String(node.replicas), String(node.offline)]
        }
        let streamRows = streams.map { stream in
            // Current replicas (leader included) of configured; "-" from a server outside a cluster.
            [stream.name, stream.leader == nil ? "-/\(stream.replicas)" : "\(stream.currentReplicas + 1)/\(stream.replicas)",
             stream.leader ?? "-", String(stream.messages), String(stream.bytes),
             stream.replicatedThrough.map { String($0.rawValue) } ?? "-",
             stream.localSealedThrough.map { String($0.rawValue) } ?? "-",
             stream.lag.map(String.init) ?? "-"]
        }
        var nodeNotes: [String] = []
        if let connectedURL { nodeNotes.append("connected to \(connectedURL)") }
        if nodes.isEmpty { nodeNotes.append("no replicated stream yet: servers are listed once they hold one") }
        return [
            ClusterStatusSection(title: "Nodes", columns: ["node", "leads", "replicas", "offline"], rows: nodeRows,
                                 notes: nodeNotes),
            ClusterStatusSection(title: "Replicated streams",
                                 columns: ["stream", "replicas", "leader", "messages", "bytes", "replicated_through",
                                           "local_sealed_through", "lag"],
                                 rows: streamRows),
        ]
    }
}

/// Everything `strata cluster status` shows about a namespace: the replicated streams (and the
/// JetStream servers holding them), and for every program run in the namespace its nodes, leases,
/// partitions per node and the lag of each vertex's sent stream.
///
/// `ClusterStatus` is `Sendable`; it is a plain value.
///
/// ```swift
/// let status = try ClusterStatus.read(jetStream: jetStream, namespace: "strata", store: nil)
/// print(ClusterStatus.text(status.sections), terminator: "")
/// ```
public struct ClusterStatus: Sendable, Equatable {
    /// The replicated streams and the servers holding them.
    public var replication: ReplicationStatus
    /// Every program run in the namespace, by name.
    public var programs: [ExecutionStatus]

    /// Reads the status of namespace `namespace` through `jetStream`, comparing the replicated
    /// streams with `store` when one is given.
    ///
    /// - Parameter programs: Only these programs (default: every program with a JetStream stream
    ///   in the namespace).
    /// - Throws: `ClusterError` when JetStream still fails after about 30 attempts a second apart
    ///   (no stream leader, request timeouts), or at once for any other error.
    public static func read(jetStream: JetStream, namespace: String, store: Store?, programs: [String]? = nil)
        throws(ClusterError) -> ClusterStatus
    {
        // A read only: asked again while JetStream has no leader for a stream or a request timed
        // out (a loaded or recovering cluster), as the nodes do.
        try ClusterNode.retrying { () throws(ClusterError) -> ClusterStatus in
            try readOnce(jetStream: jetStream, namespace: namespace, store: store, programs: programs)
        }
    }

    private static func readOnce(jetStream: JetStream, namespace: String, store: Store?, programs: [String]?)
        throws(ClusterError) -> ClusterStatus
    {
        let replication = try ReplicationStatus.read(jetStream: jetStream, namespace: namespace, store: store)
        var names = programs ?? []
        if programs == nil {
            let prefix = ExecutionNames(namespace: namespace, program: "x").jetStreamName.dropLast(1)
            for name in try jetStream.streamNames() where name.hasPrefix(prefix) {
                if let program = ClusterNames.decode(String(name.dropFirst(prefix.count))) { names.append(program) }
            }
        }
        var statuses: [ExecutionStatus] = []
        for name in names.sorted() {
            statuses.append(try ExecutionStatus.read(jetStream: jetStream, names: ExecutionNames(namespace: namespace, program: name)))
        }
        return ClusterStatus(replication: replication, programs: statuses)
    }

    /// The sections: `Nodes` and `Replicated streams`, then `Program nodes`, `Leases`,
    /// `Partitions per node` and `Vertex lag` with the rows of every program.
    public var sections: [ClusterStatusSection] {
        var sections = replication.sections
        var programSections: [ClusterStatusSection] = []
        for program in programs {
            for (index, section) in program.sections.enumerated() {
                if index < programSections.count {
                    programSections[index].rows += section.rows
                } else {
                    programSections.append(section)
                }
            }
        }
        if programSections.isEmpty {
            programSections = ExecutionStatus(program: "", inputs: [], members: [], partitions: []).sections
            programSections[0].notes.append("no program runs in this namespace")
        }
        sections += programSections
        return sections
    }

    /// Titled tables (left-aligned columns separated by two spaces, indented by two), separated by
    /// blank lines; `(none)` for a section without rows.
    public static func text(_ sections: [ClusterStatusSection]) -> String {
        var output = ""
        for (index, section) in sections.enumerated() {
            if index > 0 { output += "\n" }
            output += section.title + "\n"
            if section.rows.isEmpty {
                output += "  (none)\n"
            } else {
                let table = [section.columns] + section.rows
                var widths = [Int](repeating: 0, count: section.columns.count)
                for row in table { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
                for row in table {
                    var line = "  "
                    for (i, cell) in row.enumerated() {
                        line += cell
                        if i < row.count - 1 { line += String(repeating: " ", count: max(0, widths[min(i, widths.count - 1)] - cell.count) + 2) }
                    }
                    while line.last == " " { line.removeLast() }
                    output += line + "\n"
                }
            }
            for note in section.notes { output += "  " + note + "\n" }
        }
        return output
    }
}
