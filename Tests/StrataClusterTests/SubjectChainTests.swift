import Foundation
import Strata
import StrataClusterTestSupport
import StrataTestSupport
import StrataEngine
import Testing

@testable import StrataCluster

/// Speculation across nodes, the owner's side (`SubjectChain`), against real nats-server: an
/// owner carries on when only speculative copies of its own messages came in between its writes,
/// and stops at a fence or another node's write; the fencing audit exempts exactly the copies
/// chained where a copy may publish.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"))
struct SubjectChainTests {
    /// One subject of a program, written by hand the way tasks write it.
    struct Subject {
        let jetStream: JetStream
        let names: ExecutionNames
        let target: UInt32
        /// The program's stream: a named output by default, in the outputs' JetStream stream.
        var stream = "out"
        var subject: String { names.subject(stream: stream, source: 0, target: target) }

        func block(_ interval: UInt64) -> ExchangeMessage {
            ExchangeMessage(stream: stream, source: 0, target: target,
                            body: .block(interval: Interval(interval), chunk: 0, bytes: [UInt8](repeating: UInt8(interval), count: 64)))
        }

        func seal(_ through: UInt64) -> ExchangeMessage {
            ExchangeMessage(stream: stream, source: 0, target: target, body: .sealed(through: Interval(through)))
        }

        /// The messages of `message` (pieces of at most `pieceBytes` bytes), each chained to the
        /// one before, the first after `after`; their acknowledgements.
        @discardableResult
        func publishAll(_ message: ExchangeMessage, node: String, after: UInt64, speculative: Bool = false,
                        pieceBytes: Int = 1 << 20) throws(ClusterError) -> [PublishAck] {
            var acks: [PublishAck] = []
            var previous = after
            for outgoing in ExchangeWire.outgoing(message, names: names, node: node, pieceBytes: pieceBytes, speculative: speculative) {
                let ack = try jetStream.publish(ExchangeWire.chained(outgoing, after: previous))
                acks.append(ack)
                previous = ack.sequence
            }
            return acks
        }

        @discardableResult
        func publish(_ message: ExchangeMessage, node: String, after: UInt64, speculative: Bool = false) throws(ClusterError) -> PublishAck {
            let acks = try publishAll(message, node: node, after: after, speculative: speculative)
            return acks[0]
        }

        func fence(node: String, after: UInt64) throws(ClusterError) -> UInt64 {
            try jetStream.publish(ExchangeWire.fence(subject: subject, names: names, node: node, revision: 1,
                                                     expectedLastSubjectSequence: after)).sequence
        }

        /// An owner's publish as `ClusterTask` makes it: on a rejection, adopt the subject's chain
        /// and send again; on an acknowledgement, `SubjectChain.afterAcknowledgement`. Returns
        /// the owner's new last sequence and whether the message was a duplicate.
        func ownerPublish(_ message: ExchangeMessage, node: String, last: UInt64) throws(ClusterError) -> (UInt64, Bool) {
            let (own, duplicates) = try ownerPublishPieces(message, node: node, last: last, pieceBytes: 1 << 20)
            return (own, duplicates[0])
        }

        /// `ownerPublish` for each of `message`'s pieces of at most `pieceBytes` bytes, in order:
        /// the owner's last sequence after the last one and, per piece, whether it was a duplicate.
        func ownerPublishPieces(_ message: ExchangeMessage, node: String, last: UInt64,
                                pieceBytes: Int) throws(ClusterError) -> (UInt64, [Bool]) {
            var own = last
            var duplicates: [Bool] = []
            pieces: for piece in ExchangeWire.outgoing(message, names: names, node: node, pieceBytes: pieceBytes) {
                for _ in 0..<10 {
                    do {
                        let ack = try jetStream.publish(ExchangeWire.chained(piece, after: own))
                        own = try SubjectChain.afterAcknowledgement(ack, ownLast: own, jetStream: jetStream,
                                                                    stream: names.outputsJetStreamName, subject: subject, node: node).sequence
                        duplicates.append(ack.duplicate)
                        continue pieces
                    } catch .wrongLastSequence {
                        own = try SubjectChain.continuation(jetStream: jetStream, stream: names.outputsJetStreamName,
                                                            subject: subject, ownLast: own, node: node).sequence
                    }
                }
                throw .timedOut("owner publish did not settle")
            }
            return (own, duplicates)
        }
    }

    /// Why `step` was fenced (`wrongLastSequence`), or `nil` when it went through.
    static func fenced(_ step: () throws(ClusterError) -> Void) throws(ClusterError) -> String? {
        do {
            try step()
            return nil
        } catch .wrongLastSequence(_, _, let why) {
            return why
        }
    }

    /// The same steps on a clustered stream (R3: the expected sequence is checked before the
    /// message id) and on a single server (the id first).
    static func ownerRule(_ jetStream: JetStream, replicas: Int) throws {
        let names = ExecutionNames(namespace: uniqueName("chain").lowercased(), program: "demo")
        // "out" is a named output: its subjects are in the outputs' stream (`ExecutionNames`).
        _ = try jetStream.addOrUpdateStream(JetStreamConfiguration(name: names.jetStreamName, subjects: [names.allSubjects],
                                                                   replicas: replicas, duplicateWindow: .seconds(600)))
        _ = try jetStream.addOrUpdateStream(JetStreamConfiguration(name: names.outputsJetStreamName, subjects: [names.allOutputSubjects],
                                                                   replicas: replicas, duplicateWindow: .seconds(600)))
        let s = Subject(jetStream: jetStream, names: names, target: 0)
        // Owner a takes the subject over and sends interval 1.
        var last = try s.fence(node: "a", after: 0)
        (last, _) = try s.ownerPublish(s.block(1), node: "a", last: last)
        (last, _) = try s.ownerPublish(s.seal(1), node: "a", last: last)
        // A copy on node b sends interval 2 first, chained after a's seal mark.
        let copyBlock = try s.publish(s.block(2), node: "b", after: last, speculative: true)
        let copySeal = try s.publish(s.seal(2), node: "b", after: copyBlock.sequence, speculative: true)
        #expect(!copyBlock.duplicate && !copySeal.duplicate)
        // The owner sends interval 2 too: stored once, and it carries on after the copy.
        let (afterBlock, duplicate) = try s.ownerPublish(s.block(2), node: "a", last: last)
        #expect(duplicate, "the copy's block was stored first: the owner's is a duplicate")
        #expect(afterBlock == copySeal.sequence, "the owner adopts the subject's last sequence")
        last = afterBlock
        (last, _) = try s.ownerPublish(s.seal(2), node: "a", last: last)
        (last, _) = try s.ownerPublish(s.block(3), node: "a", last: last)
        #expect(try jetStream.lastMessage(stream: names.outputsJetStreamName, subject: s.subject)?.sequence == last)
        let onSubject = try jetStream.messages(stream: names.outputsJetStreamName, subject: s.subject)
        // The owner's block and seal mark of interval 2 were duplicates of the copy's.
        #expect(onSubject.map { $0.header(ExchangeWire.kind) ?? "" } == ["fence", "block", "sealed", "block", "sealed", "block"])
        #expect(onSubject.map { $0.header(ExchangeWire.node) ?? "" } == ["a", "a", "a", "b", "b", "a"])

        // A new owner c fences the subject: the former owner's next publish stops there.
        let fence = try s.fence(node: "c", after: last)
        let stopped = try Self.fenced { () throws(ClusterError) in _ = try s.ownerPublish(s.seal(3), node: "a", last: last) }
        #expect(stopped?.contains("fence by c") == true, "the owner published after a fence (R\(replicas)): \(stopped ?? "no error")")
        #expect(try jetStream.lastMessage(stream: names.outputsJetStreamName, subject: s.subject)?.sequence == fence)

        // Another node's write that is not a speculative copy stops the owner too.
        let other = Subject(jetStream: jetStream, names: names, target: 1)
        var otherLast = try other.fence(node: "a", after: 0)
        (otherLast, _) = try other.ownerPublish(other.block(1), node: "a", last: otherLast)
        try other.publish(other.block(2), node: "c", after: otherLast)
        let refused = try Self.fenced { () throws(ClusterError) in
            _ = try other.ownerPublish(other.block(2), node: "a", last: otherLast)
        }
        #expect(refused?.contains("block by c") == true, "the owner adopted another node's write (R\(replicas)): \(refused ?? "no error")")

        // A block in pieces: each piece is chained on its own. A copy stored the first two pieces
        // of interval 2 (its turn ended there); the owner's first two are duplicates, it adopts
        // the copy's run of pieces and stores the last two right after them.
        let pieced = Subject(jetStream: jetStream, names: names, target: 2)
        var piecedLast = try pieced.fence(node: "a", after: 0)
        var duplicates: [Bool]
        (piecedLast, duplicates) = try pieced.ownerPublishPieces(pieced.block(1), node: "a", last: piecedLast, pieceBytes: 16)
        #expect(duplicates == [false, false, false, false])
        (piecedLast, _) = try pieced.ownerPublish(pieced.seal(1), node: "a", last: piecedLast)
        var copyPrevious = piecedLast
        for piece in ExchangeWire.outgoing(pieced.block(2), names: names, node: "b", pieceBytes: 16, speculative: true).prefix(2) {
            let ack = try jetStream.publish(ExchangeWire.chained(piece, after: copyPrevious))
            #expect(!ack.duplicate)
            copyPrevious = ack.sequence
        }
        (piecedLast, duplicates) = try pieced.ownerPublishPieces(pieced.block(2), node: "a", last: piecedLast, pieceBytes: 16)
        #expect(duplicates == [true, true, false, false], "the copy's pieces were stored first (R\(replicas))")
        (piecedLast, _) = try pieced.ownerPublish(pieced.seal(2), node: "a", last: piecedLast)
        #expect(try jetStream.lastMessage(stream: names.outputsJetStreamName, subject: pieced.subject)?.sequence == piecedLast)
        let piecedStored = try jetStream.messages(stream: names.outputsJetStreamName, subject: pieced.subject)
        #expect(piecedStored.map { $0.header(ExchangeWire.piece) ?? "-" }
                == ["-", "0/4", "1/4", "2/4", "3/4", "-", "0/4", "1/4", "2/4", "3/4", "-"])
        #expect(piecedStored.map { $0.header(ExchangeWire.node) ?? "" } == ["a", "a", "a", "a", "a", "a", "b", "b", "a", "a", "a"])
        // Every piece's link is the sequence JetStream checked: the message stored right before it.
        #expect(zip(piecedStored.dropFirst(), piecedStored).allSatisfy { SubjectChain.previous(of: $0) == $1.sequence })

        // A new owner whose fence was deleted while the former owner's older fence is still
        // stored: its writes are chained to a message that is gone, past the last one read. On a
        // gathered exchange's subject (trimmed behind checkpoints; an older fence deleted before
        // can be stored again by a restarted server) the new owner takes the subject over; on an
        // output's subject (never trimmed) its writes stay violations.
        for stream in ["\(names.program).v1.shuffle", "out"] {
            let trimmed = Subject(jetStream: jetStream, names: names, target: 3, stream: stream)
            var trimmedLast = try trimmed.fence(node: "a", after: 0)
            (trimmedLast, _) = try trimmed.ownerPublish(trimmed.block(1), node: "a", last: trimmedLast)
            let newOwnersFence = try trimmed.fence(node: "c", after: trimmedLast)
            (trimmedLast, _) = try trimmed.ownerPublish(trimmed.block(2), node: "c", last: newOwnersFence)
            _ = try trimmed.ownerPublish(trimmed.seal(2), node: "c", last: trimmedLast)
            #expect(try jetStream.deleteMessage(stream: names.jetStream(ofSubject: trimmed.subject), sequence: newOwnersFence))
        }

        // The audit: copies chained to the message before them (pieces included) are exempt from
        // a's fence; a copy not chained (no expected sequence) is not, nor is c's ordinary block
        // after a's fence; c's writes chained to its deleted fence are violations on the output's
        // subject only.
        try jetStream.publish(ExchangeWire.outgoing(s.seal(3), names: names, node: "b", pieceBytes: 1 << 20, speculative: true)[0])
        let outputs = try ClusterOutputs.read(jetStream: jetStream, names: names, streams: ["out"])
        #expect(outputs.speculativeMessagesByNode == ["b": 5])
        #expect(outputs.fenceViolations.count == 4, "\(outputs.fenceViolations)")
        #expect(outputs.fenceViolations.contains { $0.hasPrefix("b wrote speculative message") && $0.contains("\(fence)") })
        #expect(outputs.fenceViolations.contains { $0.hasPrefix("c wrote message") && $0.contains(other.subject) })
        let trimmedOutput = Subject(jetStream: jetStream, names: names, target: 3).subject
        let shuffle = Subject(jetStream: jetStream, names: names, target: 3, stream: "\(names.program).v1.shuffle").subject
        #expect(outputs.fenceViolations.filter { $0.contains(trimmedOutput) }.count == 2, "\(outputs.fenceViolations)")
        #expect(!outputs.fenceViolations.contains { $0.contains(shuffle) }, "\(outputs.fenceViolations)")
        // Intervals 1, 2, 3 on target 0, 1, 2 on target 1, 1, 2 (put back together) on target 2
        // and 1, 2 on target 3 (the shuffle's are not an output).
        #expect(outputs.blocks.count == 9)
        #expect(outputs.blocks[ClusterOutputs.Key(stream: "out", partition: 2, interval: Interval(2))] == [[UInt8](repeating: 2, count: 64)])
    }

    @Test func anOwnerCarriesOnAfterCopiesAndStopsAtAFenceOnAClusteredStream() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread(within: .seconds(300), "the owner's rule on R3") {
            let connection = try NATSConnection(cluster.connectionOptions(name: "chain"))
            try Self.ownerRule(try connection.jetStream(), replicas: 3)
        }
    }

    @Test func anOwnerCarriesOnAfterCopiesAndStopsAtAFenceOnASingleServer() async throws {
        try await onOwnThread(within: .seconds(300), "the owner's rule on one server") {
            let single = try NATSCluster(nodeCount: 1)
            defer { single.stop() }
            let connection = try NATSConnection(single.connectionOptions(name: "chain"))
            try Self.ownerRule(try connection.jetStream(), replicas: 1)
        }
    }
}
