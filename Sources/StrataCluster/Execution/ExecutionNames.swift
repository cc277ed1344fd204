import StrataEngine

/// The JetStream names of a program run on a cluster: one JetStream stream holding every message
/// its partition tasks exchange and their checkpoints, one holding its named outputs, and KV buckets
/// holding its members, leases and progress.
///
/// For program `P` in namespace `ns` (with `<p>` the name with `_` written `__` and `.` written `_d`,
/// a valid subject token that decodes back):
///
/// | what | name |
/// | --- | --- |
/// | JetStream stream of exchanges and checkpoints (trimmed behind checkpoints, message by message) | `NS__x_<p>` (the namespace upper-cased) |
/// | its subjects | `ns._x.<p>.<stream>.<source>.<target>`: an exchange's blocks and seal marks from task `source` to task `target` |
/// | checkpoint subjects | `ns._x.<p>._c.<partition>`: the checkpoints of a partition task (`TaskCheckpoint`) |
/// | JetStream stream of named outputs (never purged) | `NS__o_<p>` |
/// | its subjects | `ns._o.<p>.<stream>.<q>.<q>`: output `<stream>`'s blocks and seal marks from task `q` |
/// | KV buckets | `ns_x_<p>_leases` with keys `node.<node>`, `lease.<partition>`; `ns_x_<p>_progress` with keys `progress.<partition>` and `program` |
///
/// A stream is a named output unless its name begins with `P.` (the program's internal streams,
/// exchanges among them: `P.vN.shuffle`), the rule `ClusterTask` exports by. Outputs live apart
/// because nats-server before 2.9.18 may replay a filtered purge as a purge of the whole stream
/// when a replica recovers (nats-server issue #4196): a stream that was purged could lose every
/// message stored before the purge on a restarted server, whatever its subject. (Tasks now trim
/// the exchanges' stream by deleting messages one by one, which replays exactly.)
///
/// `_x`, `_o` are never encoded names (`_` is always escaped as `__` or `_d`), so a program's
/// subjects never collide with a replicated stream's (`ns.<stream>.…`). `ExecutionNames` is `Sendable`.
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

    /// The JetStream stream of the program's exchanges and checkpoints.
    public var jetStreamName: String { namespace.uppercased() + "__x_" + token }
    /// Every subject of it.
    public var allSubjects: String { "\(namespace)._x.\(token).>" }
    /// The JetStream stream of the program's named outputs, which is never purged.
    public var outputsJetStreamName: String { namespace.uppercased() + "__o_" + token }
    /// Every subject of it.
    public var allOutputSubjects: String { "\(namespace)._o.\(token).>" }

    /// Whether `stream` is a named output of the program: any stream not named `<program>.…`.
    public func isOutput(_ stream: String) -> Bool { !stream.hasPrefix(program + ".") }

    /// The JetStream stream holding `subject`: the outputs' for an output subject, else the exchanges'.
    public func jetStream(ofSubject subject: String) -> String {
        subject.hasPrefix("\(namespace)._o.\(token).") ? outputsJetStreamName : jetStreamName
    }
    /// The KV bucket of members, leases and progress.
    public var bucket: String { "\(namespace)_x_\(token)" }

    /// The subject of `stream`'s messages from task `source` to task `target`: in the outputs'
    /// stream for a named output (`isOutput`), in the exchanges' otherwise.
    public func subject(stream: String, source: UInt32, target: UInt32) -> String {
        "\(namespace).\(isOutput(stream) ? "_o" : "_x").\(token).\(Self.encode(stream)).\(source).\(target)"
    }

    /// The subject of partition `partition`'s checkpoints (`_c` is never an encoded stream name).
    public func checkpointSubject(_ partition: Int) -> String { "\(namespace)._x.\(token)._c.\(partition)" }

    /// Whether `subject` is a checkpoint subject of this program.
    public func isCheckpointSubject(_ subject: String) -> Bool { subject.hasPrefix("\(namespace)._x.\(token)._c.") }

    /// Every subject task `target` gathers from.
    public func subjects(toTarget target: UInt32) -> String { "\(namespace)._x.\(token).*.*.\(target)" }

    /// Every subject of one stream.
    public func subjects(ofStream stream: String) -> String {
        "\(namespace).\(isOutput(stream) ? "_o" : "_x").\(token).\(Self.encode(stream)).*.*"
    }

    /// The stream, source and target of a subject of this program (in either of its JetStream
    /// streams: outputs published by an earlier Strata are in the exchanges'), or `nil`.
    public func parse(subject: String) -> (stream: String, source: UInt32, target: UInt32)? {
        let exchanges = "\(namespace)._x.\(token).", outputs = "\(namespace)._o.\(token)."
        guard let prefix = [exchanges, outputs].first(where: { subject.hasPrefix($0) }) else { return nil }
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
