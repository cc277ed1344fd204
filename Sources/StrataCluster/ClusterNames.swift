/// The JetStream names of a replicated Strata stream: its JetStream stream and subjects.
///
/// A Strata stream `NAME` of namespace `ns` lives in the JetStream stream `NS_<token>` with
/// subjects `ns.<token>.meta` (the stream's descriptor), `ns.<token>.p.<partition>` (the blocks
/// of a partition, interval after interval) and `ns.<token>.seal` (one seal message per
/// interval). `<token>` is the name with `_` written `__` and `.` written `_d`, so that it is a
/// valid subject token and stream name, and decodes back. `ClusterNames` is `Sendable`.
public struct ClusterNames: Sendable, Equatable {
    /// The namespace (subject prefix).
    public let namespace: String
    /// The Strata stream's name.
    public let stream: String
    /// Its token in subjects and JetStream names.
    public let token: String

    /// The names of stream `stream` in `namespace`.
    public init(namespace: String, stream: String) {
        self.namespace = namespace
        self.stream = stream
        token = Self.encode(stream)
    }

    /// The JetStream stream holding the Strata stream.
    public var jetStreamName: String { Self.jetStreamPrefix(namespace) + token }
    /// Every subject of the JetStream stream.
    public var allSubjects: String { "\(namespace).\(token).>" }
    /// The descriptor's subject.
    public var metaSubject: String { "\(namespace).\(token).meta" }
    /// The seal messages' subject.
    public var sealSubject: String { "\(namespace).\(token).seal" }
    /// The blocks of one partition.
    public func partitionSubject(_ partition: UInt32) -> String { "\(namespace).\(token).p.\(partition)" }
    /// The blocks of every partition.
    public var partitionsSubject: String { "\(namespace).\(token).p.>" }

    /// The message id of one piece of one block: stream, interval, partition, chunk, piece.
    public func blockMessageID(interval: UInt64, partition: UInt32, chunk: UInt32, piece: Int) -> String {
        "\(token).\(interval).\(partition).\(chunk).\(piece)"
    }

    /// The message id of an interval's seal.
    public func sealMessageID(interval: UInt64) -> String { "\(token).\(interval).seal" }

    /// The prefix of the JetStream streams of a namespace: `NS_`.
    public static func jetStreamPrefix(_ namespace: String) -> String { namespace.uppercased() + "_" }

    /// The Strata stream whose JetStream stream this is, or `nil` when it is not one of the namespace's.
    public static func stream(ofJetStream name: String, namespace: String) -> String? {
        let prefix = jetStreamPrefix(namespace)
        guard name.hasPrefix(prefix) else { return nil }
        return decode(String(name.dropFirst(prefix.count)))
    }

    static func isPlain(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_": return true
        default: return false
        }
    }

    /// `_` → `__`, `.` → `_d`; other characters of a valid stream name stay.
    static func encode(_ name: String) -> String {
        var token = ""
        token.reserveCapacity(name.utf8.count + 4)
        for scalar in name.unicodeScalars {
            switch scalar {
            case "_": token += "__"
            case ".": token += "_d"
            default: token.unicodeScalars.append(scalar)
            }
        }
        return token
    }

    /// The inverse of `encode`, or `nil` for a token `encode` never gives.
    static func decode(_ token: String) -> String? {
        var name = ""
        var escaped = false
        for scalar in token.unicodeScalars {
            if escaped {
                switch scalar {
                case "_": name += "_"
                case "d": name += "."
                default: return nil
                }
                escaped = false
            } else if scalar == "_" {
                escaped = true
            } else {
                guard isPlain(scalar) else { return nil }
                name.unicodeScalars.append(scalar)
            }
        }
        return escaped || name.isEmpty ? nil : name
    }
}
