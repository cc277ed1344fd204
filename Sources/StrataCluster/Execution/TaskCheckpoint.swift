import StrataEngine
import StrataStorage

/// A partition task's checkpoint in JetStream: an image of the task's store (`StoreImage`: the
/// stateful vertices' newest snapshots — the snapshot rows the store keeps, byte for byte — every
/// vertex's progress, and the sealed blocks the program still reads after them) and the JetStream
/// sequence from which the task's gathered messages must be read again to continue from it.
///
/// A new owner of the partition with a fresh store installs the newest complete checkpoint and
/// reads its messages from `position` on: it replays the intervals after the snapshots, not the
/// partition's whole input.
///
/// On the wire: subject `ns._x.<program>._c.<partition>` (`ExecutionNames.checkpointSubject`), the
/// encoded image cut into pieces under the server's maximum payload, each a message with headers
/// `Strata-Kind: checkpoint`, `Strata-Checkpoint: THROUGH/DIGEST/INDEX/COUNT/BYTES` (the interval
/// the checkpoint resumes from at the earliest, the XXH64 of the whole image in hex, the piece,
/// the number of pieces, the image's length) and `Strata-Position: SEQUENCE`, and message id
/// `PROGRAM/checkpoint/PARTITION/THROUGH/DIGEST/INDEX` — deterministic, so a piece published twice
/// is stored once. A checkpoint with a piece missing (its owner died while publishing: torn) or
/// whose pieces do not hash to its digest is not used; the newest complete one is.
///
/// `TaskCheckpoint` is a `Sendable` value.
struct TaskCheckpoint: Sendable {
    /// The interval the checkpoint resumes from at the earliest: the smallest snapshot or progress
    /// interval of the program's vertices in it.
    var through: Interval
    /// The JetStream sequence from which the task's gathered subjects are read again.
    var position: UInt64
    /// The encoded `StoreImage`.
    var image: [UInt8]

    static let header = "Strata-Checkpoint"
    static let positionHeader = "Strata-Position"

    /// The digest of the image: XXH64, 16 hex digits.
    var digest: String { Self.hex(image.withUnsafeBytes { XXH64.hash($0) }) }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The messages of the checkpoint, each at most `pieceBytes` of payload.
    func messages(names: ExecutionNames, partition: Int, node: String, pieceBytes: Int) -> [OutgoingMessage] {
        let size = max(1, pieceBytes)
        let count = max(1, (image.count + size - 1) / size)
        let subject = names.checkpointSubject(partition)
        let digest = self.digest
        return (0..<count).map { index in
            let piece = Array(image[min(image.count, index * size)..<min(image.count, (index + 1) * size)])
            return OutgoingMessage(
                subject: subject, payload: piece,
                messageID: "\(names.program)/checkpoint/\(partition)/\(through.rawValue)/\(digest)/\(index)",
                headers: [MessageHeader(ExchangeWire.node, node), MessageHeader(ExchangeWire.kind, "checkpoint"),
                          MessageHeader(Self.header, "\(through.rawValue)/\(digest)/\(index)/\(count)/\(image.count)"),
                          MessageHeader(Self.positionHeader, "\(position)")])
        }
    }

    /// What the newest complete checkpoint read back is, and what was passed over.
    struct Found: Sendable {
        /// The newest complete checkpoint, or `nil`.
        var checkpoint: TaskCheckpoint?
        /// The JetStream sequence of its first piece (0: none).
        var firstSequence: UInt64
        /// Checkpoints passed over because a piece was missing or they did not hash to their digest.
        var torn: [String]
        /// The sequence of every message read on the subject (checkpoint pieces and fences),
        /// ascending: what the task deletes once checkpoints after them are kept.
        var sequences: [UInt64] = []
        /// The smallest position of the checkpoints read (complete or torn; `nil`: none): no
        /// restore starts before it while they are all kept.
        var oldestPosition: UInt64?
    }

    /// Reads the checkpoints of `partition` and returns the newest complete one (highest
    /// `through`, then latest in the stream).
    ///
    /// - Throws: `ClusterError` when JetStream fails, `.corrupt` for a checkpoint message that
    ///   does not parse.
    static func latest(jetStream: JetStream, names: ExecutionNames, partition: Int) throws(ClusterError) -> Found {
        struct Pieces {
            var through: Interval
            var position: UInt64
            var count: Int
            var bytes: Int
            var firstSequence: UInt64
            var lastSequence: UInt64
            var pieces: [Int: [UInt8]] = [:]
        }
        var byDigest: [String: Pieces] = [:]  // lookup only; ordered below
        var sequences: [UInt64] = []
        var oldestPosition: UInt64?
        let subject = names.checkpointSubject(partition)
        let reader = try jetStream.reader(stream: names.jetStreamName, subject: subject)
        try reader.readToEnd(timeout: .seconds(60)) { stored throws(ClusterError) in
            sequences.append(stored.sequence)
            guard stored.header(ExchangeWire.kind) == "checkpoint" else { return }  // fences
            let fields = (stored.header(header) ?? "").split(separator: "/").map(String.init)
            guard fields.count == 5, let through = UInt64(fields[0]), let index = Int(fields[2]),
                  let count = Int(fields[3]), let bytes = Int(fields[4]), count >= 1, index >= 0, index < count,
                  let position = stored.header(positionHeader).flatMap(UInt64.init) else {
                throw .corrupt("checkpoint message \(stored.sequence) on \(subject) of \(names.jetStreamName): bad \(header) header")
            }
            oldestPosition = min(oldestPosition ?? position, position)
            var entry = byDigest[fields[1]] ?? Pieces(through: Interval(through), position: position, count: count, bytes: bytes,
                                                     firstSequence: stored.sequence, lastSequence: stored.sequence)
            entry.pieces[index] = stored.payload
            entry.lastSequence = stored.sequence
            byDigest[fields[1]] = entry
        }
        let newestFirst = byDigest.sorted { a, b in
            a.value.through != b.value.through ? a.value.through > b.value.through : a.value.lastSequence > b.value.lastSequence
        }
        var found = Found(checkpoint: nil, firstSequence: 0, torn: [], sequences: sequences, oldestPosition: oldestPosition)
        for (digest, entry) in newestFirst {
            var image: [UInt8] = []
            image.reserveCapacity(entry.bytes)
            var missing: Int?
            for index in 0..<entry.count {
                guard let piece = entry.pieces[index] else { missing = index; break }
                image += piece
            }
            let checkpoint = TaskCheckpoint(through: entry.through, position: entry.position, image: image)
            if let missing {
                found.torn.append("through \(entry.through.rawValue) (\(digest)): piece \(missing) of \(entry.count) missing")
            } else if image.count != entry.bytes || checkpoint.digest != digest {
                found.torn.append("through \(entry.through.rawValue) (\(digest)): pieces do not hash to the digest")
            } else {
                found.checkpoint = checkpoint
                found.firstSequence = entry.firstSequence
                return found
            }
        }
        return found
    }
}

/// Per subject a task gathers from, the seal marks it received (interval and JetStream sequence)
/// and the blocks (interval and sequence of each message): from them, the sequence from which the
/// messages of every interval after a checkpoint's can be read again, and the sequence before
/// which a subject's messages are no longer needed. Not `Sendable` by itself: `ClusterTask` keeps
/// it behind a lock.
///
/// A subject's messages come in interval order from each sender, but not always across senders:
/// an owner that died after publishing blocks of intervals 14 and 15 without their seal mark, and
/// a new owner whose first round marks only interval 13, leave blocks after 13 before the mark
/// through 13. So "after the last seal mark at or before the checkpoint" is bounded further by
/// the first block of a later interval.
struct SealMarkLog {
    /// The sequence the task's reader started from.
    var start: UInt64
    /// Per subject, seal marks in the order received (lookup only by subject).
    var marks: [String: [(through: Interval, sequence: UInt64)]] = [:]
    /// Per subject, the block messages (pieces included) received, in order, less those of
    /// intervals a checkpoint covered (`prune`).
    var blocks: [String: [(interval: Interval, sequence: UInt64)]] = [:]
    /// Per subject, the sequence of the first message received on it.
    var firstSeen: [String: UInt64] = [:]
    /// Per subject, the sequence of the last message received (or `found`) on it.
    var lastSeen: [String: UInt64] = [:]
    /// Per subject, the sequence of the last message received (or `found`) on it that is not a
    /// speculative copy: an owner's chain back (`SubjectChain.continuation`) never reaches before it.
    var lastWritten: [String: UInt64] = [:]
    /// Whether the sequences of every message are kept (`sequences`): for a task that trims the
    /// subjects it gathers (one that publishes checkpoints); a log that never trims keeps none.
    let tracksSequences: Bool
    /// Per subject, ascending, the sequences of the messages on it that are still stored: those
    /// received, after those found before the reader's start (`found`), less those deleted
    /// (`deleted`). What trimming deletes message by message (`deletable`).
    var sequences: [String: [UInt64]] = [:]

    init(start: UInt64, tracksSequences: Bool = false) {
        self.start = start
        self.tracksSequences = tracksSequences
    }

    /// Records a message of `subject` stored before the reader's start (left by an earlier owner
    /// of the partition, which had not trimmed so far; `speculative` for a speculative copy's):
    /// deleted like the others once the oldest kept checkpoint's position passes it. Call before
    /// anything is `received`, in stream order. It counts as seen for the purge's bound
    /// (`purgeBounds`): a subject whose newest message lies before the start — the sender's last
    /// seal mark is where the checkpoint resumed, and the input ended — receives nothing more,
    /// and its older messages would otherwise stay behind every checkpoint for good.
    mutating func found(subject: String, sequence: UInt64, speculative: Bool = false) {
        guard tracksSequences, sequence < start else { return }
        sequences[subject, default: []].append(sequence)
        lastSeen[subject] = sequence
        if !speculative { lastWritten[subject] = sequence }
    }

    /// Records a message of `subject`: a seal mark through `sealedThrough`, a block (or a piece of
    /// one) of interval `block`, or neither; `speculative` for a speculative copy's (`SubjectChain`).
    mutating func received(subject: String, sequence: UInt64, sealedThrough: Interval?, block: Interval? = nil,
                           speculative: Bool = false) {
        if firstSeen[subject] == nil { firstSeen[subject] = sequence }
        lastSeen[subject] = sequence
        if !speculative { lastWritten[subject] = sequence }
        // Only a mark above the subject's earlier ones counts: a lower one stored after a higher
        // one (a new owner resuming from its progress below what the former owner sent) says
        // nothing new, and taken as a position it would skip the blocks between the two.
        if let sealedThrough, marks[subject]?.last.map({ $0.through < sealedThrough }) ?? true {
            marks[subject, default: []].append((sealedThrough, sequence))
        }
        if let block { blocks[subject, default: []].append((block, sequence)) }
        if tracksSequences { sequences[subject, default: []].append(sequence) }
    }

    /// On `subject`, the sequence after the last seal mark at or before `sealed`, or of the first
    /// block of an interval after `sealed` received before that mark, whichever comes first:
    /// every message before it is of an interval at or before `sealed`, and every message of a
    /// later interval is at or after it. `nil` when there is no such seal mark.
    func resumption(subject: String, sealed: Interval) -> UInt64? {
        guard let mark = marks[subject]?.last(where: { $0.through <= sealed }) else { return nil }
        let late = blocks[subject]?.first { $0.interval > sealed && $0.sequence < mark.sequence }
        return min(mark.sequence + 1, late?.sequence ?? .max)
    }

    /// The sequence from which reading `subjects` again gives every message for the intervals
    /// after `sealed` (the gathered stream's sealed frontier in the checkpoint): the smallest
    /// over the subjects of `resumption`, or of the first message received on a subject without
    /// a seal mark at or before `sealed`.
    func position(subjects: [String], sealed: Interval?) -> UInt64 {
        var result = UInt64.max
        for subject in subjects {
            let candidate = sealed.flatMap { resumption(subject: subject, sealed: $0) } ?? firstSeen[subject] ?? start
            result = min(result, candidate)
        }
        return result == .max ? start : result
    }

    /// Per subject of `subjects` on which a message was received or found, the sequence before
    /// which its messages can be purged once no checkpoint older than one at `position` is kept: a
    /// restore reads from `position` on. Never past the last message seen on the subject, so that the
    /// subject keeps its newest message (its sender's fencing expects it, and a speculative copy
    /// chains to it), nor past the last one that is not a speculative copy: the copies after it may
    /// be ahead of their owner, which walks back through them to its own last message
    /// (`SubjectChain.continuation`). A subject on which only copies were received is not purged.
    func purgeBounds(subjects: [String], position: UInt64) -> [(subject: String, before: UInt64)] {
        subjects.compactMap { subject in
            guard let seen = lastSeen[subject], let written = lastWritten[subject] else { return nil }
            return (subject, min(position, seen, written))
        }
    }

    /// Whether a message on `subject` chained (`Strata-Previous`) to `link` follows a message the
    /// reader never received: `link` at or after the reader's start, but before the first message
    /// received on the subject. The reader gets every message stored from its start on, in order,
    /// and trimming deletes only messages already received (or `found` before the start), so such
    /// a message was removed by something else — a server that lost messages, an operator's purge
    /// — and what follows it cannot be gathered correctly.
    func isMissingLink(subject: String, link: UInt64) -> Bool {
        link >= start && link < (firstSeen[subject] ?? .max)
    }

    /// Per subject of `subjects`, the sequences of the messages still stored before its bound
    /// (`purgeBounds`), ascending; subjects with none are left out.
    func deletable(subjects: [String], position: UInt64) -> [(subject: String, sequences: ArraySlice<UInt64>)] {
        purgeBounds(subjects: subjects, position: position).compactMap { bound in
            guard let list = sequences[bound.subject] else { return nil }
            let before = list.prefix { $0 < bound.before }
            return before.isEmpty ? nil : (bound.subject, before)
        }
    }

    /// Forgets the `count` oldest sequences of `subject` (`deletable`), once they are deleted.
    mutating func deleted(subject: String, count: Int) {
        guard var list = sequences[subject] else { return }
        list.removeFirst(min(count, list.count))
        sequences[subject] = list.isEmpty ? nil : list
    }

    /// Forgets the seal marks before the last one at or before `sealed` on each of `subjects`, and
    /// the blocks of intervals at or before it.
    mutating func prune(subjects: [String], sealed: Interval?) {
        guard let sealed else { return }
        for subject in subjects {
            if let list = blocks[subject] { blocks[subject] = list.filter { $0.interval > sealed } }
            guard let list = marks[subject], let keep = list.lastIndex(where: { $0.through <= sealed }), keep > 0 else { continue }
            marks[subject] = Array(list[keep...])
        }
    }
}
