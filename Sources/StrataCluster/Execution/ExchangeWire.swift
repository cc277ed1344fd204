import StrataEngine
import StrataStorage

/// How an `ExchangeMessage` travels as a JetStream message: the subject names its stream, source
/// and target; headers say what it is; the payload is the encoded block (empty for marks).
///
/// | header | value |
/// | --- | --- |
/// | `Strata-Kind` | `block`, `sealed`, `fence` or `checkpoint` (`TaskCheckpoint`) |
/// | `Strata-Interval`, `Strata-Chunk` | a block's interval and chunk |
/// | `Strata-Through` | a seal mark's interval |
/// | `Strata-Node` | the node that sent it |
/// | `Strata-Previous` | the subject sequence it was published after (its expected last subject sequence; `SubjectChain`) |
/// | `Strata-Speculative` | `1` on a speculative copy's block or seal mark (`SubjectChain`) |
/// | `Nats-Msg-Id` | `PROGRAM/` + `ExchangeMessage.messageID`; a fence's is `PROGRAM/fence/NODE/REVISION` |
enum ExchangeWire {
    static let kind = "Strata-Kind"
    static let interval = "Strata-Interval"
    static let chunk = "Strata-Chunk"
    static let through = "Strata-Through"
    static let node = "Strata-Node"

    /// A message read back: an exchange message, or a fence written by a node taking a subject over.
    enum Received: Sendable, Equatable {
        case message(ExchangeMessage, node: String)
        case fence(node: String)
        /// A piece of a partition task's checkpoint (`TaskCheckpoint`).
        case checkpoint(node: String)
    }

    static func outgoing(_ message: ExchangeMessage, names: ExecutionNames, node: String,
                         expectedLastSubjectSequence: UInt64?, speculative: Bool = false) -> OutgoingMessage {
        let subject = names.subject(stream: message.stream, source: message.source, target: message.target)
        var headers = [MessageHeader(Self.node, node)]
        if let expectedLastSubjectSequence { headers.append(MessageHeader(SubjectChain.previous, "\(expectedLastSubjectSequence)")) }
        if speculative { headers.append(MessageHeader(SubjectChain.speculative, "1")) }
        let payload: [UInt8]
        switch message.body {
        case .block(let interval, let chunk, let bytes):
            headers += [MessageHeader(kind, "block"), MessageHeader(Self.interval, "\(interval.rawValue)"),
                        MessageHeader(Self.chunk, "\(chunk)")]
            payload = bytes
        case .sealed(let through):
            headers += [MessageHeader(kind, "sealed"), MessageHeader(Self.through, "\(through.rawValue)")]
            payload = []
        }
        return OutgoingMessage(subject: subject, payload: payload, messageID: "\(names.program)/\(message.messageID)",
                               expectedLastSubjectSequence: expectedLastSubjectSequence, headers: headers)
    }

    static func fence(subject: String, names: ExecutionNames, node: String, revision: UInt64,
                      expectedLastSubjectSequence: UInt64) -> OutgoingMessage {
        OutgoingMessage(subject: subject, payload: [], messageID: "\(names.program)/fence/\(node)/\(revision)/\(subject)",
                        expectedLastSubjectSequence: expectedLastSubjectSequence,
                        headers: [MessageHeader(Self.node, node), MessageHeader(kind, "fence"),
                                  MessageHeader(SubjectChain.previous, "\(expectedLastSubjectSequence)")])
    }

    /// Decodes a stored message of the program.
    ///
    /// - Throws: `ClusterError.corrupt` naming the subject and sequence when it is not one Strata wrote.
    static func decode(_ stored: StoredMessage, names: ExecutionNames) throws(ClusterError) -> Received {
        func bad(_ what: String) -> ClusterError {
            .corrupt("message \(stored.sequence) on \(stored.subject) of \(names.jetStreamName): \(what)")
        }
        let node = stored.header(Self.node) ?? ""
        if names.isCheckpointSubject(stored.subject) {
            switch stored.header(kind) {
            case "checkpoint": return .checkpoint(node: node)
            case "fence": return .fence(node: node)
            default: throw bad("unknown \(kind) \(stored.header(kind) ?? "(none)") on a checkpoint subject")
            }
        }
        guard let (stream, source, target) = names.parse(subject: stored.subject) else { throw bad("not a subject of program \(names.program)") }
        switch stored.header(kind) {
        case "block":
            guard let interval = stored.header(Self.interval).flatMap(UInt64.init),
                  let chunk = stored.header(Self.chunk).flatMap(UInt32.init) else { throw bad("block without interval or chunk") }
            return .message(ExchangeMessage(stream: stream, source: source, target: target,
                                            body: .block(interval: Interval(interval), chunk: chunk, bytes: stored.payload)),
                            node: node)
        case "sealed":
            guard let through = stored.header(Self.through).flatMap(UInt64.init) else { throw bad("seal mark without interval") }
            return .message(ExchangeMessage(stream: stream, source: source, target: target,
                                            body: .sealed(through: Interval(through))), node: node)
        case "fence":
            return .fence(node: node)
        default:
            throw bad("unknown \(kind) \(stored.header(kind) ?? "(none)")")
        }
    }
}
