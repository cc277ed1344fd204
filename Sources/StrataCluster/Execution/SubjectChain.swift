import StrataStorage

/// The rule by which a partition's owner carries on when speculative copies of its own messages
/// came in between its writes on a subject, and stops at a real fence (docs/cluster.md,
/// "Speculation across nodes").
///
/// Every exchange message and fence carries `Strata-Previous`: the subject sequence its publisher
/// expected to follow (`Nats-Expected-Last-Subject-Sequence`), so the messages of a subject form a
/// chain that can be walked back. A speculative copy (`Strata-Speculative: 1`) is published only
/// right after a seal mark or the owner's fence, chained to it, and carries a block or seal mark
/// the owner computes too (the same deterministic message ids and bytes).
///
/// nats-server 2.9.10 orders the two checks differently by deployment (measured, docs/cluster.md):
/// a single server drops a repeated `Nats-Msg-Id` as a duplicate before it checks the expected
/// last subject sequence; a clustered (R3) stream rejects a wrong expected sequence first and
/// checks the id only for a publish that passes it. The owner handles both: after a rejection, or
/// a duplicate acknowledged at a sequence past its own last one, it walks the subject's chain back
/// from the subject's last message to its own last sequence. When every message on the way is a
/// speculative copy (or its own message whose acknowledgement it lost), it adopts the subject's
/// last sequence and goes on; anything else — a fence, a message of another node that is not a
/// speculative copy, a checkpoint piece, a message without a link — is a fence: it stops.
enum SubjectChain {
    /// The header naming the subject sequence a message was published after.
    static let previous = "Strata-Previous"
    /// The header marking a speculative copy.
    static let speculative = "Strata-Speculative"
    /// How many messages a walk follows at most (copies ahead of their owner on one subject).
    static let longestWalk = 100_000

    /// The subject sequence `stored` was published after, or `nil` when it carries none.
    static func previous(of stored: StoredMessage) -> UInt64? { stored.header(previous).flatMap(UInt64.init) }

    /// Whether `stored` is a speculative copy.
    static func isSpeculative(_ stored: StoredMessage) -> Bool { stored.header(speculative) == "1" }

    /// Whether `stored` is a message an owner may find between its own writes: a block or seal
    /// mark that is a speculative copy, or one of `node`'s own.
    static func isOwnOrCopy(_ stored: StoredMessage, node: String) -> Bool {
        let kind = stored.header(ExchangeWire.kind)
        guard kind == "block" || kind == "sealed" else { return false }
        return isSpeculative(stored) || stored.header(ExchangeWire.node) == node
    }

    /// Where an owner continues on a subject: the sequence to expect next, and the highest seal
    /// mark among the copies it adopted (`nil`: none), so that it never sends a seal mark lower
    /// than one already on the subject.
    struct Continuation: Sendable, Equatable {
        var sequence: UInt64
        var sealedThrough: Interval?
    }

    /// Where an owner that last wrote `ownLast` on `subject` continues, once `ack`
    /// acknowledged its next message: the acknowledged sequence; for a duplicate stored after
    /// `ownLast` (a copy's, on a single server), the subject's chain (`continuation`); for an
    /// older duplicate (a republish after a takeover), `ownLast`.
    ///
    /// - Throws: what `continuation` throws.
    static func afterAcknowledgement(_ ack: PublishAck, ownLast: UInt64, jetStream: JetStream, stream: String,
                                     subject: String, node: String) throws(ClusterError) -> Continuation {
        if !ack.duplicate { return Continuation(sequence: ack.sequence) }
        guard ack.sequence > ownLast else { return Continuation(sequence: ownLast) }
        return try continuation(jetStream: jetStream, stream: stream, subject: subject, ownLast: ownLast, node: node)
    }

    /// Where an owner that last wrote `ownLast` on `subject` may continue.
    ///
    /// Reads the subject's last message and walks its chain back to `ownLast`: every message after
    /// `ownLast` must be a speculative copy or `node`'s own block or seal mark, each linked to the
    /// one before. Returns the last message's sequence (`ownLast` when nothing came in between)
    /// and the highest seal mark walked.
    ///
    /// - Throws: `ClusterError.wrongLastSequence` naming what stands in the way when the subject
    ///   was fenced or written by another node; `ClusterError` of the reads.
    static func continuation(jetStream: JetStream, stream: String, subject: String, ownLast: UInt64,
                             node: String) throws(ClusterError) -> Continuation {
        func fenced(_ why: String) -> ClusterError {
            .wrongLastSequence(subject: subject, expected: ownLast, text: why)
        }
        guard let last = try jetStream.lastMessage(stream: stream, subject: subject) else {
            throw fenced("the subject holds no message (purged?)")
        }
        if last.sequence == ownLast { return Continuation(sequence: ownLast) }
        guard last.sequence > ownLast else { throw fenced("the subject's last message \(last.sequence) is before \(ownLast)") }
        var cursor = last
        var sealed: Interval?
        for _ in 0..<longestWalk {
            guard isOwnOrCopy(cursor, node: node) else {
                let kind = cursor.header(ExchangeWire.kind) ?? "?"
                let writer = cursor.header(ExchangeWire.node) ?? "?"
                throw fenced("message \(cursor.sequence) (\(kind) by \(writer)) came in after \(ownLast)")
            }
            guard let link = previous(of: cursor), link >= ownLast, link < cursor.sequence else {
                throw fenced("message \(cursor.sequence) does not follow \(ownLast) (\(previous(of: cursor).map(String.init) ?? "no link"))")
            }
            if cursor.header(ExchangeWire.kind) == "sealed", let through = cursor.header(ExchangeWire.through).flatMap(UInt64.init) {
                sealed = max(sealed ?? Interval(through), Interval(through))
            }
            if link == ownLast { return Continuation(sequence: last.sequence, sealedThrough: sealed) }
            guard let before = try jetStream.message(stream: stream, sequence: link), before.subject == subject else {
                throw fenced("message \(cursor.sequence) follows \(link), which is not on the subject")
            }
            cursor = before
        }
        throw fenced("more than \(longestWalk) messages came in after \(ownLast)")
    }
}
