import StrataEngine
import StrataStorage

/// How an `ExchangeMessage` travels as a JetStream message: the subject names its stream, source
/// and target; headers say what it is; the payload is the encoded block (empty for marks).
///
/// | header | value |
/// | --- | --- |
/// | `Strata-Kind` | `block`, `sealed`, `fence` or `checkpoint` (`TaskCheckpoint`) |
/// | `Strata-Interval`, `Strata-Chunk` | a block's interval and chunk |
/// | `Strata-Piece` | `i/n`: piece `i` (from 0) of `n` of a block bigger than the maximum payload (absent: the whole block) |
/// | `Strata-Through` | a seal mark's interval |
/// | `Strata-Node` | the node that sent it |
/// | `Strata-Previous` | the subject sequence it was published after (its expected last subject sequence; `SubjectChain`); each piece its own |
/// | `Strata-Speculative` | `1` on a speculative copy's block (every piece of it) or seal mark (`SubjectChain`) |
/// | `Strata-Sent-Through` | on a fence: the interval through which the subject's stream was sent before it (the progress the new owner resumes after; absent: none), so a gatherer can tell the subject's earlier messages are gone |
/// | `Nats-Msg-Id` | `PROGRAM/` + `ExchangeMessage.messageID` (a piece's: + `/i/n`); a fence's is `PROGRAM/fence/NODE/REVISION/SUBJECT` |
///
/// A block no bigger than the piece size travels as one message without `Strata-Piece` (the
/// common case, nothing added); a bigger one as `n` consecutive messages on its subject, each at
/// most the piece size, which the receiver puts back together (`ExchangePieces`) before the block
/// is verified and gathered. Each piece is a message of the subject's chain like any other: the
/// publisher sets its expected last subject sequence and its `Strata-Previous` together
/// (`chained(_:after:)`), and a speculative copy sends the same pieces with the same ids.
enum ExchangeWire {
    static let kind = "Strata-Kind"
    static let interval = "Strata-Interval"
    static let chunk = "Strata-Chunk"
    static let piece = "Strata-Piece"
    static let through = "Strata-Through"
    static let node = "Strata-Node"
    static let sentThrough = "Strata-Sent-Through"

    /// The room left for an exchange message's headers under the maximum payload (as for
    /// replicated blocks): pieces carry `NATSConnection.pieceBytes(headroom:)` bytes of a block.
    static let headroom = 4096

    /// A message read back: an exchange message, or a fence written by a node taking a subject over.
    enum Received: Sendable, Equatable {
        case message(ExchangeMessage, node: String)
        /// Piece `index` of `count` of a block (the message's block bytes are the piece's).
        case piece(ExchangeMessage, index: Int, count: Int, node: String)
        case fence(node: String)
        /// A piece of a partition task's checkpoint (`TaskCheckpoint`).
        case checkpoint(node: String)
    }

    /// The JetStream messages of `message`: one, or the pieces of a block bigger than
    /// `pieceBytes`, in order; marked `Strata-Speculative` when `speculative`. Not chained yet:
    /// the publisher chains each one (`chained(_:after:)`) as it sends it.
    static func outgoing(_ message: ExchangeMessage, names: ExecutionNames, node: String,
                         pieceBytes: Int, speculative: Bool = false) -> [OutgoingMessage] {
        let subject = names.subject(stream: message.stream, source: message.source, target: message.target)
        let id = "\(names.program)/\(message.messageID)"
        let marks = speculative ? [MessageHeader(SubjectChain.speculative, "1")] : []
        switch message.body {
        case .block(let interval, let chunk, let bytes):
            let headers = [MessageHeader(Self.node, node), MessageHeader(kind, "block"),
                           MessageHeader(Self.interval, "\(interval.rawValue)"), MessageHeader(Self.chunk, "\(chunk)")] + marks
            let size = max(1, pieceBytes)
            if bytes.count <= size {
                return [OutgoingMessage(subject: subject, payload: bytes, messageID: id, headers: headers)]
            }
            let count = (bytes.count + size - 1) / size
            return (0..<count).map { index in
                OutgoingMessage(subject: subject, payload: Array(bytes[(index * size)..<min(bytes.count, (index + 1) * size)]),
                                messageID: "\(id)/\(index)/\(count)",
                                headers: headers + [MessageHeader(piece, "\(index)/\(count)")])
            }
        case .sealed(let through):
            return [OutgoingMessage(subject: subject, payload: [], messageID: id,
                                    headers: [MessageHeader(Self.node, node), MessageHeader(kind, "sealed"),
                                              MessageHeader(Self.through, "\(through.rawValue)")] + marks)]
        }
    }

    /// `message` chained after subject sequence `previous`: its expected last subject sequence
    /// and its `Strata-Previous` header, set together (replacing an earlier link, for a message
    /// sent again after the owner adopted a chain), so that the link a message carries is always
    /// the one JetStream checked when it stored it.
    static func chained(_ message: OutgoingMessage, after previous: UInt64) -> OutgoingMessage {
        var linked = message
        linked.expectedLastSubjectSequence = previous
        linked.headers.removeAll { $0.name == SubjectChain.previous }
        linked.headers.append(MessageHeader(SubjectChain.previous, "\(previous)"))
        return linked
    }

    /// The interval of a seal mark among `outgoing`'s messages, or `nil` for a block or piece.
    static func sealedThrough(_ message: OutgoingMessage) -> Interval? {
        guard message.headers.contains(where: { $0.name == kind && $0.value == "sealed" }),
              let text = message.headers.first(where: { $0.name == through })?.value, let value = UInt64(text) else { return nil }
        return Interval(value)
    }

    /// The fence a new owner writes on `subject`, chained to the subject's last message, saying
    /// through which interval the subject's stream was sent before it (`sentThrough`, its
    /// progress; `nil`: nothing yet).
    static func fence(subject: String, names: ExecutionNames, node: String, revision: UInt64,
                      expectedLastSubjectSequence: UInt64, sentThrough: Interval? = nil) -> OutgoingMessage {
        var headers = [MessageHeader(Self.node, node), MessageHeader(kind, "fence")]
        if let sentThrough { headers.append(MessageHeader(Self.sentThrough, "\(sentThrough.rawValue)")) }
        return chained(OutgoingMessage(subject: subject, payload: [], messageID: "\(names.program)/fence/\(node)/\(revision)/\(subject)",
                                       headers: headers),
                       after: expectedLastSubjectSequence)
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
            let message = ExchangeMessage(stream: stream, source: source, target: target,
                                          body: .block(interval: Interval(interval), chunk: chunk, bytes: stored.payload))
            guard let pieceText = stored.header(piece) else { return .message(message, node: node) }
            let parts = pieceText.split(separator: "/")
            guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, index >= 0, index < count else {
                throw bad("block with \(piece) \"\(pieceText)\"")
            }
            return .piece(message, index: index, count: count, node: node)
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

/// Puts exchange blocks sent in pieces (`ExchangeWire`, `Strata-Piece: i/n`) back together, per
/// subject, block (interval, chunk) and piece count: a block is handed on once every one of its
/// pieces arrived; a piece missing is not a block. Copies of a piece (a republished block) must be
/// identical. Not `Sendable`: one reader uses it.
struct ExchangePieces {
    private struct Key: Hashable {
        var subject: String
        var interval: Interval
        var chunk: UInt32
        var count: Int
    }

    /// Pieces received of blocks not complete yet (lookup only; empty between big blocks).
    private var pending: [Key: [[UInt8]?]] = [:]

    /// Whether no block is waiting for pieces.
    var isEmpty: Bool { pending.isEmpty }

    /// Takes piece `index` of `count` of `message`'s block, read at `sequence` of `subject`, and
    /// returns the whole block once it is complete.
    ///
    /// - Throws: `ClusterError.corrupt` for a piece that differs from an earlier copy of it.
    mutating func add(_ message: ExchangeMessage, index: Int, count: Int, subject: String,
                      sequence: UInt64) throws(ClusterError) -> ExchangeMessage? {
        guard case .block(let interval, let chunk, let bytes) = message.body else { return message }
        let key = Key(subject: subject, interval: interval, chunk: chunk, count: count)
        var pieces = pending[key] ?? [[UInt8]?](repeating: nil, count: count)
        if let earlier = pieces[index] {
            guard earlier == bytes else {
                throw .corrupt("message \(sequence) on \(subject): piece \(index) of \(count) of interval "
                               + "\(interval.rawValue) chunk \(chunk) differs from an earlier copy")
            }
            return nil
        }
        pieces[index] = bytes
        guard pieces.allSatisfy({ $0 != nil }) else {
            pending[key] = pieces
            return nil
        }
        pending[key] = nil
        // Partial copies in another number of pieces (a sender with another maximum payload) are
        // of the same block: done with them too.
        pending = pending.filter { !($0.key.subject == subject && $0.key.interval == interval && $0.key.chunk == chunk) }
        var block: [UInt8] = []
        block.reserveCapacity(pieces.reduce(0) { $0 + ($1?.count ?? 0) })
        for piece in pieces { block += piece ?? [] }
        var whole = message
        whole.body = .block(interval: interval, chunk: chunk, bytes: block)
        return whole
    }

    /// A seal mark through `through` was read on `subject`: every block at or before it on the
    /// subject came before it, so one still missing pieces is lost — unless its interval is at
    /// or before `gathered` (the receiver has it already: a reader started inside the block's
    /// pieces). Forgets those blocks.
    ///
    /// - Throws: `ClusterError.corrupt` naming the first block still missing a piece.
    mutating func sealed(subject: String, through: Interval, gathered: Interval?) throws(ClusterError) {
        if pending.isEmpty { return }
        let below = pending.keys.filter { $0.subject == subject && $0.interval <= through }
            .sorted { ($0.interval, $0.chunk, $0.count) < ($1.interval, $1.chunk, $1.count) }
        for key in below {
            let pieces = pending.removeValue(forKey: key) ?? []
            if let gathered, key.interval <= gathered { continue }
            let missing = pieces.firstIndex { $0 == nil } ?? 0
            throw .corrupt("\(subject): sealed through \(through.rawValue) with piece \(missing) of \(key.count) of interval "
                           + "\(key.interval.rawValue) chunk \(key.chunk) missing")
        }
    }
}
