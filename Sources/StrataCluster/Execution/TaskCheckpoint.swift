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
        let subject = names.checkpointSubject(partition)
        let reader = try jetStream.reader(stream: names.jetStreamName, subject: subject)
        try reader.readToEnd(timeout: .seconds(60)) { stored throws(ClusterError) in
            guard stored.header(ExchangeWire.kind) == "checkpoint" else { return }  // fences
            let fields = (stored.header(header) ?? "").split(separator: "/").map(String.init)
            guard fields.count == 5, let through = UInt64(fields[0]), let index = Int(fields[2]),
                  let count = Int(fields[3]), let bytes = Int(fields[4]), count >= 1, index >= 0, index < count,
                  let position = stored.header(positionHeader).flatMap(UInt64.init) else {
                throw .corrupt("checkpoint message \(stored.sequence) on \(subject) of \(names.jetStreamName): bad \(header) header")
            }
            var entry = byDigest[fields[1]] ?? Pieces(through: Interval(through), position: position, count: count, bytes: bytes,
                                                     firstSequence: stored.sequence, lastSequence: stored.sequence)
            entry.pieces[index] = stored.payload
            entry.lastSequence = stored.sequence
            byDigest[fields[1]] = entry
        }
        let newestFirst = byDigest.sorted { a, b in
            a.value.through != b.value.through ? a.value.through > b.value.through : a.value.lastSequence > b.value.lastSequence
        }
        var found = Found(checkpoint: nil, firstSequence: 0, torn: [])
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

/// Per subject a task gathers from, the seal marks it received (interval and JetStream sequence):
/// from them, the sequence from which the messages of every interval after a checkpoint's can be
/// read again. Not `Sendable` by itself: `ClusterTask` keeps it behind a lock.
struct SealMarkLog {
    /// The sequence the task's reader started from.
    var start: UInt64
    /// Per subject, seal marks in the order received (lookup only by subject).
    var marks: [String: [(through: Interval, sequence: UInt64)]] = [:]
    /// Per subject, the sequence of the first message received on it.
    var firstSeen: [String: UInt64] = [:]

    init(start: UInt64) { self.start = start }

    mutating func received(subject: String, sequence: UInt64, sealedThrough: Interval?) {
        if firstSeen[subject] == nil { firstSeen[subject] = sequence }
        // Only a mark above the subject's earlier ones counts: a lower one stored after a higher
        // one (a new owner resuming from its progress below what the former owner sent) says
        // nothing new, and taken as a position it would skip the blocks between the two.
        if let sealedThrough, marks[subject]?.last.map({ $0.through < sealedThrough }) ?? true {
            marks[subject, default: []].append((sealedThrough, sequence))
        }
    }

    /// The sequence from which reading `subjects` again gives every message for the intervals
    /// after `sealed` (the gathered stream's sealed frontier in the checkpoint): after the last
    /// seal mark at or before it on each subject (a subject's messages come in interval order).
    func position(subjects: [String], sealed: Interval?) -> UInt64 {
        var result = UInt64.max
        for subject in subjects {
            let candidate: UInt64
            if let sealed, let mark = marks[subject]?.last(where: { $0.through <= sealed }) {
                candidate = mark.sequence + 1
            } else {
                candidate = firstSeen[subject] ?? start
            }
            result = min(result, candidate)
        }
        return result == .max ? start : min(result, UInt64.max)
    }

    /// Forgets the seal marks before the last one at or before `sealed` on each of `subjects`.
    mutating func prune(subjects: [String], sealed: Interval?) {
        guard let sealed else { return }
        for subject in subjects {
            guard let list = marks[subject], let keep = list.lastIndex(where: { $0.through <= sealed }), keep > 0 else { continue }
            marks[subject] = Array(list[keep...])
        }
    }
}
