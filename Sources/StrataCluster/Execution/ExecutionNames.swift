import StrataEngine

/// The JetStream names of a program run on a cluster: one JetStream stream holding every message
/// its partition tasks exchange, and one KV bucket holding its members, leases and progress.
///
/// For program `P` in namespace `ns` (with `<p>` the name with `_` written `__` and `.` written `_d`,
/// a valid subject token that decodes back):
///
/// | what | name |
/// | --- | --- |
/// | JetStream stream | `NS__x_<p>` (the namespace upper-cased) |
/// | subjects | `ns._x.<p>.<stream>.<source>.<target>`: stream `<stream>`'s blocks and seal marks from task `source` to task `target` |
/// | checkpoint subjects | `ns._x.<p>._c.<partition>`: the checkpoints of a partition task (`TaskCheckpoint`) |
/// | KV buckets | `ns_x_<p>_leases` with keys `node.<node>`, `lease.<partition>`; `ns_x_<p>_progress` with keys `progress.<partition>` and `program` |
///
/// `_x` is never an encoded name (`_` is always escaped as `__` or `_d`), so a program's subjects
/// never collide with a replicated stream's (`ns.<stream>.…`). `ExecutionNames` is `Sendable`.
public struct ExecutionNames: Sendable, Equatable {
    /// The namespace.
    public let namespace: String
    /// The program's name.
    public let program: String
    /// The program's token in subjects and names.
    public let token: String

    /// The names of `program` in `namespace`.
    public init(namespace: String, program: String) {
        self.namespace = namespace
        self.program = program
        token = Self.encode(program)
    }

    /// The JetStream stream of the program's exchanges.
    public var jetStreamName: String { namespace.uppercased() + "__x_" + token }
    /// Every subject of it.
    public var allSubjects: String { "\(namespace)._x.\(token).>" }
    /// The KV bucket of members, leases and progress.
    public var bucket: String { "\(namespace)_x_\(token)" }

    /// The subject of `stream`'s messages from task `source` to task `target`.
    public func subject(stream: String, source: UInt32, target: UInt32) -> String {
        "\(namespace)._x.\(token).\(Self.encode(stream)).\(source).\(target)"
    }

    /// The subject of partition `partition`'s checkpoints (`_c` is never an encoded stream name).
    public func checkpointSubject(_ partition: Int) -> String { "\(namespace)._x.\(token)._c.\(partition)" }

    /// Whether `subject` is a checkpoint subject of this program.
    public func isCheckpointSubject(_ subject: String) -> Bool { subject.hasPrefix("\(namespace)._x.\(token)._c.") }

    /// Every subject task `target` gathers from.
    public func subjects(toTarget target: UInt32) -> String { "\(namespace)._x.\(token).*.*.\(target)" }

    /// Every subject of one stream.
    public func subjects(ofStream stream: String) -> String { "\(namespace)._x.\(token).\(Self.encode(stream)).*.*" }

    /// The stream, source and target of a subject of this program, or `nil`.
    public func parse(subject: String) -> (stream: String, source: UInt32, target: UInt32)? {
        let prefix = "\(namespace)._x.\(token)."
        guard subject.hasPrefix(prefix) else { return nil }
        let parts = subject.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let stream = Self.decode(String(parts[0])),
              let source = UInt32(parts[1]), let target = UInt32(parts[2]) else { return nil }
        return (stream, source, target)
    }

    /// The membership key of a node.
    public static func memberKey(_ node: String) -> String { "node." + Self.encode(node) }
    /// The lease key of a partition.
    public static func leaseKey(_ partition: Int) -> String { "lease.\(partition)" }
    /// The progress key of a partition.
    public static func progressKey(_ partition: Int) -> String { "progress.\(partition)" }
    /// The key of the program's description (partitions, inputs) in the progress bucket.
    public static let programKey = "program"

    /// Characters a name keeps in a subject token (the replication layer's rule, `ClusterNames`).
    static func isPlain(_ scalar: Unicode.Scalar) -> Bool { ClusterNames.isPlain(scalar) }

    /// A name as a subject token: `_` → `__`, `.` → `_d`, other characters unchanged (`ClusterNames`).
    static func encode(_ name: String) -> String { ClusterNames.encode(name) }

    /// The inverse of `encode`, or `nil` for a token it never gives.
    static func decode(_ token: String) -> String? { ClusterNames.decode(token) }
}
