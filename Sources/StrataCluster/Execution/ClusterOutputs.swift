import Strata
import StrataEngine
import StrataStorage

/// A program's output streams as its tasks published them to JetStream, read back and checked:
/// every block once (a copy sent twice must be identical), each partition's seal marks, and the
/// fencing of every subject (after a node's fence, only that node writes on the subject, and
/// speculative copies chained right after the message before them, piece by piece for a block in
/// pieces: `SubjectChain`).
///
/// `ClusterOutputs` is a `Sendable` value.
public struct ClusterOutputs: Sendable {
    /// One partition of one interval of an output stream: its chunks in order.
    public struct Key: Hashable, Sendable, Comparable {
        public var stream: String
        public var partition: UInt32
        public var interval: Interval
        public static func < (a: Key, b: Key) -> Bool {
            (a.stream, a.partition, a.interval.rawValue) < (b.stream, b.partition, b.interval.rawValue)
        }
    }
    /// The blocks of each (stream, partition, interval) with any.
    public var blocks: [Key: [[UInt8]]] = [:]
    /// Per stream and partition, the interval it is sealed through.
    public var sealed: [String: [UInt32: Interval]] = [:]
    /// Writes that broke the fencing: a node writing on a subject another node had fenced.
    public var fenceViolations: [String] = []
    /// For each entry of `fenceViolations`, in the same order, its subject's messages around it as
    /// read (up to 16 before and 8 after; one line each: sequence, message id, kind, node,
    /// `Strata-Previous`, the expected last subject sequence stored with it, `Strata-Speculative`,
    /// `Strata-Piece`, a seal mark's interval), so that a violation can be explained.
    public var fenceViolationContext: [String] = []
    /// Per node, how many messages it wrote on the program's subjects (speculative copies included).
    public var messagesByNode: [String: Int] = [:]
    /// Per node, how many of its messages are speculative copies (stored before their owner's).
    public var speculativeMessagesByNode: [String: Int] = [:]

    /// Reads every message of the program `names` — its outputs' JetStream stream, then its
    /// exchanges' (which holds the outputs an earlier Strata published) — and keeps those of
    /// `streams`.
    ///
    /// Meant for the named outputs, which stay in JetStream: the subjects of gathered exchanges
    /// are purged behind each partition's checkpoints, so their early intervals are gone, and a
    /// block the purge cut in two would read as one missing a piece.
    ///
    /// - Throws: `ClusterError.corrupt` for a message Strata did not write, for two different
    ///   copies of a block, a chunk missing below a seal mark, or a subject of `streams` whose
    ///   first stored message follows one that is gone (its oldest intervals are missing: outputs
    ///   are never purged, so something else removed them).
    public static func read(jetStream: JetStream, names: ExecutionNames, streams: Set<String>) throws(ClusterError) -> ClusterOutputs {
        var outputs = ClusterOutputs()
        var fencer: [String: String] = [:]  // lookup only
        var chunks: [Key: [UInt32: [UInt8]]] = [:]  // lookup only; sorted below
        var pieces = ExchangePieces()
        var previousOnSubject: [String: UInt64] = [:]  // lookup only
        var unlinked: [(stored: StoredMessage, node: String, context: [String])] = []  // copies whose link was not read: checked below
        var recent: [String: [String]] = [:]  // lookup only: per subject, its last messages read (`describe`)
        var following: [(subject: String, violation: Int, remaining: Int)] = []  // violations still taking later lines
        func note(_ stored: StoredMessage) {
            let line = Self.describe(stored)
            for index in following.indices where following[index].subject == stored.subject && following[index].remaining > 0 {
                outputs.fenceViolationContext[following[index].violation] += "\n  " + line
                following[index].remaining -= 1
            }
            var lines = recent[stored.subject] ?? []
            if lines.count == 16 { lines.removeFirst() }
            lines.append(line)
            recent[stored.subject] = lines
        }
        func violation(_ text: String, subject: String, context: [String]? = nil) {
            outputs.fenceViolations.append(text)
            outputs.fenceViolationContext.append("\(subject):\n  " + (context ?? recent[subject] ?? []).joined(separator: "\n  "))
            following.append((subject, outputs.fenceViolationContext.count - 1, 8))
        }
        func audit(_ stored: StoredMessage, _ node: String, _ what: String) {
            note(stored)
            let previous = previousOnSubject[stored.subject]
            previousOnSubject[stored.subject] = stored.sequence
            outputs.messagesByNode[node, default: 0] += 1
            if SubjectChain.isSpeculative(stored) {
                // Exempt from the fence only when chained right after the message before it on the
                // subject (its expected last subject sequence): never out of place. A block's pieces
                // are chained one by one, so a run of copied pieces is too.
                outputs.speculativeMessagesByNode[node, default: 0] += 1
                let link = SubjectChain.previous(of: stored)
                // Nothing read before it on the subject, or a link between the message read before it
                // and itself: what lay in between may have been purged behind a checkpoint while this
                // reader ran (tasks purge the exchanges they gather). Checked once the reading is done.
                guard let previous, !(link.map { $0 > previous && $0 < stored.sequence } ?? false) else {
                    unlinked.append((stored, node, recent[stored.subject] ?? []))
                    return
                }
                if link != previous {
                    violation("\(node) wrote speculative \(what) \(stored.sequence) on \(stored.subject) not chained to the message before it (\(previous))",
                              subject: stored.subject)
                }
            } else if let owner = fencer[stored.subject], owner != node {
                // On a gathered exchange's subject (the only ones tasks trim), a write published
                // with JetStream's check that the subject's last message was `expected`, which is
                // gone although it follows the last message read: the messages between were deleted
                // behind a checkpoint, and the writer's own fence may be among them (a fence is
                // trimmed like any message but the subject's newest, while an older one deleted
                // before can be stored again by a restarted server: cluster.md, "Failures"). The
                // server's check proves the write came after everything through `expected`, the fence
                // read included, so the writer holds the subject from here. Anywhere else — outputs
                // are never trimmed — and for a write chained to a message that was read, the fence
                // read rules.
                if let expected = stored.header(Self.expectedLastSubjectSequence).flatMap(UInt64.init),
                   let previous, expected > previous,
                   let parsed = names.parse(subject: stored.subject), !names.isOutput(parsed.stream) {
                    fencer[stored.subject] = node
                } else {
                    violation("\(node) wrote \(what) \(stored.sequence) on \(stored.subject) after \(owner)'s fence", subject: stored.subject)
                }
            }
        }
        func take(_ message: ExchangeMessage, subject: String) throws(ClusterError) {
            switch message.body {
            case .block(let interval, let chunk, let bytes):
                let key = Key(stream: message.stream, partition: message.target, interval: interval)
                if let earlier = chunks[key]?[chunk], earlier != bytes {
                    throw .corrupt("two different copies of \(message.stream) interval \(interval.rawValue) partition \(message.target) chunk \(chunk)")
                }
                chunks[key, default: [:]][chunk] = bytes
            case .sealed(let through):
                try pieces.sealed(subject: subject, through: through, gathered: nil)
                let current = outputs.sealed[message.stream]?[message.target]
                if current.map({ $0 < through }) ?? true { outputs.sealed[message.stream, default: [:]][message.target] = through }
            }
        }
        // Per subject of `streams`, its first message read: the sequence it was published after
        // must be 0 (the subject's first message ever), or messages before it are gone.
        var firstOnOutputSubject: [String: (sequence: UInt64, previous: UInt64?, stream: String, partition: UInt32)] = [:]  // lookup only
        func noteFirst(_ stored: StoredMessage) {
            guard firstOnOutputSubject[stored.subject] == nil, let (stream, _, target) = names.parse(subject: stored.subject),
                  streams.contains(stream) else { return }
            firstOnOutputSubject[stored.subject] = (stored.sequence, SubjectChain.previous(of: stored), stream, target)
        }
        for (jetStreamName, subjects) in [(names.outputsJetStreamName, names.allOutputSubjects), (names.jetStreamName, names.allSubjects)] {
            guard try jetStream.streamInfo(jetStreamName) != nil else { continue }
            let reader = try jetStream.reader(stream: jetStreamName, subject: subjects)
            try reader.readToEnd(timeout: .seconds(60)) { stored throws(ClusterError) in
                noteFirst(stored)
                switch try ExchangeWire.decode(stored, names: names) {
                case .fence(let node):
                    note(stored)
                    fencer[stored.subject] = node
                    previousOnSubject[stored.subject] = stored.sequence
                    outputs.messagesByNode[node, default: 0] += 1
                case .checkpoint(let node):
                    audit(stored, node, "checkpoint message")
                case .message(let message, let node):
                    audit(stored, node, "message")
                    if streams.contains(message.stream) { try take(message, subject: stored.subject) }
                case .piece(let piece, let index, let count, let node):
                    audit(stored, node, "message")
                    // A block sent in pieces is one once every piece is in.
                    if streams.contains(piece.stream),
                       let whole = try pieces.add(piece, index: index, count: count, subject: stored.subject, sequence: stored.sequence) {
                        try take(whole, subject: stored.subject)
                    }
                }
            }
        }
        // (A first message without a link, from a Strata before `Strata-Previous`, says nothing.)
        for (subject, first) in firstOnOutputSubject.sorted(by: { $0.key < $1.key }) {
            guard let previous = first.previous, previous != 0 else { continue }
            let present = chunks.keys.filter { $0.stream == first.stream && $0.partition == first.partition }.map(\.interval).min()
            throw .corrupt("\(first.stream) partition \(first.partition): the first message stored on \(subject) "
                + "(sequence \(first.sequence) of \(names.jetStream(ofSubject: subject))) follows sequence "
                + "\(previous), which is gone: the intervals before "
                + "\(present.map { String($0.rawValue) } ?? "the ones read") are missing")
        }
        // A copy whose link was not read follows what it says when that is nothing (sequence 0) or a
        // message purged since (behind a checkpoint: the purge keeps every subject's newest message,
        // and JetStream stored the copy only right after the message it names).
        following.removeAll()
        for (stored, node, context) in unlinked {
            let link = SubjectChain.previous(of: stored)
            if link == 0 { continue }
            if let link, link < stored.sequence,
               try jetStream.message(stream: names.jetStream(ofSubject: stored.subject), sequence: link) == nil { continue }
            violation("\(node) wrote speculative message \(stored.sequence) on \(stored.subject) linked to \(link.map { "message \($0), which is stored but was not read before it" } ?? "nothing")",
                      subject: stored.subject, context: context)
        }
        for (key, byChunk) in chunks {
            var list: [[UInt8]] = []
            for chunk in 0..<UInt32(byChunk.count) {
                guard let bytes = byChunk[chunk] else {
                    throw .corrupt("\(key.stream) interval \(key.interval.rawValue) partition \(key.partition): chunk \(chunk) missing")
                }
                list.append(bytes)
            }
            outputs.blocks[key] = list
        }
        return outputs
    }

    /// The header with which JetStream refuses a publish unless the subject's last message has
    /// this sequence.
    static let expectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence"

    /// One line describing a stored message of a program for `fenceViolationContext`.
    static func describe(_ stored: StoredMessage) -> String {
        func field(_ label: String, _ header: String) -> String { stored.header(header).map { " \(label) \($0)" } ?? "" }
        return "\(stored.sequence) id \(stored.messageID ?? "-")" + field("kind", ExchangeWire.kind) + field("node", ExchangeWire.node)
            + field("previous", SubjectChain.previous) + field("expected", expectedLastSubjectSequence)
            + field("speculative", SubjectChain.speculative) + field("piece", ExchangeWire.piece)
            + field("interval", ExchangeWire.interval) + field("through", ExchangeWire.through)
    }

    /// One line per (stream, partition, interval) with blocks through `through`, in order:
    /// `STREAM PARTITION INTERVAL CHUNKS XXH64` (the hash over each chunk's length and bytes).
    public func digestLines(through: Interval) -> [String] {
        Self.digestLines(blocks.filter { $0.key.interval <= through })
    }

    /// The blocks of a stream of a local store, keyed as `blocks` keys them, through `through`.
    ///
    /// - Throws: `StorageError` (an unknown stream is `.unknownStream`; a damaged block `.corrupt`).
    public static func localBlocks(_ store: Store, stream: String, through: Interval) throws -> [Key: [[UInt8]]] {
        let log = store.logStore
        guard let descriptor = try log.descriptor(named: stream) else { throw StorageError.unknownStream(stream) }
        guard let sealed = try log.frontier(of: descriptor).sealedThrough else { return [:] }
        var result: [Key: [[UInt8]]] = [:]
        for (interval, _) in try log.sealRecords(of: descriptor, in: Interval(0)...min(sealed, through)) {
            try log.withSealedBlocks(of: descriptor, interval: interval) { partition, _, block in
                result[Key(stream: stream, partition: partition.rawValue, interval: interval), default: []].append(Array(block))
            }
        }
        return result
    }

    /// The digest lines of a map of blocks (also for a single-node store's outputs).
    public static func digestLines(_ blocks: [Key: [[UInt8]]]) -> [String] {
        blocks.keys.sorted().compactMap { key in
            guard let list = blocks[key], !list.isEmpty else { return nil }
            var bytes: [UInt8] = []
            for block in list {
                withUnsafeBytes(of: UInt32(block.count).bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: block)
            }
            let hash = String(XXH64.hash(bytes), radix: 16)
            return "\(key.stream) \(key.partition) \(key.interval.rawValue) \(list.count) \(hash)"
        }
    }
}
