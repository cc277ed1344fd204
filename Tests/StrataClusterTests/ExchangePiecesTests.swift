import Foundation
import Strata
import StrataClusterTestSupport
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import StrataCluster

/// Exchange blocks bigger than the maximum payload travel in pieces (`Strata-Piece: i/n`) and are
/// put back together by their receiver; a missing piece is not a block.
struct ExchangePiecesTests {
    static let names = ExecutionNames(namespace: "ns", program: "demo")

    static func block(_ count: Int, interval: UInt64 = 3, chunk: UInt32 = 0) -> ExchangeMessage {
        var state: UInt64 = 7
        let bytes = (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        return ExchangeMessage(stream: "demo.v1.shuffle", source: 1, target: 2,
                               body: .block(interval: Interval(interval), chunk: chunk, bytes: bytes))
    }

    /// The stored form of an outgoing message, as a reader returns it.
    static func stored(_ message: OutgoingMessage, sequence: UInt64) -> StoredMessage {
        var headers = message.headers
        if let id = message.messageID { headers.append(MessageHeader("Nats-Msg-Id", id)) }
        return StoredMessage(subject: message.subject, payload: message.payload, sequence: sequence, timestamp: 0,
                             messageID: message.messageID, headers: headers)
    }

    @Test func aBlockUnderThePieceSizeIsOneMessageAsBefore() throws {
        let message = Self.block(1000)
        let outgoing = ExchangeWire.outgoing(message, names: Self.names, node: "a", pieceBytes: 1000)
        #expect(outgoing.count == 1)
        #expect(outgoing[0].messageID == "demo/" + message.messageID)
        #expect(!outgoing[0].headers.contains { $0.name == ExchangeWire.piece })
        #expect(try ExchangeWire.decode(Self.stored(outgoing[0], sequence: 5), names: Self.names) == .message(message, node: "a"))
    }

    @Test func piecesMakeTheBlockOnceEveryOneIsInAndAMissingOneIsNoBlock() throws {
        let message = Self.block(2500)
        let outgoing = ExchangeWire.outgoing(message, names: Self.names, node: "a", pieceBytes: 1000)
        #expect(outgoing.map(\.payload.count) == [1000, 1000, 500])
        #expect(outgoing.map(\.messageID) == (0..<3).map { "demo/\(message.messageID)/\($0)/3" })
        #expect(outgoing.map { $0.headers.first { $0.name == ExchangeWire.piece }?.value } == ["0/3", "1/3", "2/3"])
        let subject = outgoing[0].subject
        var pieces = ExchangePieces()
        var whole: [ExchangeMessage] = []
        // Piece 1 arrives twice (a republish after the duplicate window): no harm.
        for (sequence, index) in [(10, 0), (11, 1), (12, 1), (13, 2)] {
            guard case .piece(let piece, let i, let n, "a") = try ExchangeWire.decode(
                Self.stored(outgoing[index], sequence: UInt64(sequence)), names: Self.names) else {
                Issue.record("piece \(index) did not decode as a piece")
                return
            }
            if let block = try pieces.add(piece, index: i, count: n, subject: subject, sequence: UInt64(sequence)) {
                whole.append(block)
            }
        }
        #expect(whole == [message])
        #expect(pieces.isEmpty)
        try pieces.sealed(subject: subject, through: Interval(3), gathered: nil)

        // A copy of a piece with other bytes is corrupt data.
        var other = ExchangePieces()
        guard case .piece(let first, _, _, _) = try ExchangeWire.decode(Self.stored(outgoing[0], sequence: 1), names: Self.names)
        else { return }
        _ = try other.add(first, index: 0, count: 3, subject: subject, sequence: 1)
        var damaged = first
        damaged.body = .block(interval: Interval(3), chunk: 0, bytes: Array(repeating: 0, count: 1000))
        #expect(throws: ClusterError.self) { try other.add(damaged, index: 0, count: 3, subject: subject, sequence: 2) }

        // A seal mark past a block missing a piece: lost, unless the receiver has the interval already.
        var torn = ExchangePieces()
        _ = try torn.add(first, index: 0, count: 3, subject: subject, sequence: 1)
        try torn.sealed(subject: subject + ".other", through: Interval(9), gathered: nil)
        try torn.sealed(subject: subject, through: Interval(2), gathered: nil)
        #expect(!torn.isEmpty)
        #expect(throws: ClusterError.self) { try torn.sealed(subject: subject, through: Interval(3), gathered: Interval(2)) }
        var started = ExchangePieces()
        _ = try started.add(first, index: 0, count: 3, subject: subject, sequence: 1)
        try started.sealed(subject: subject, through: Interval(5), gathered: Interval(3))
        #expect(started.isEmpty)
    }
}

/// With real processes on a NATS cluster whose `max_payload` is small: the exchange's blocks and
/// the program's outputs need several pieces each, and the outputs are block for block those of
/// a single-node run.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"), .serialized)
struct ExchangePiecesClusterTests {
    /// Small enough that blocks of the example program at `scale` need pieces (of 512 bytes: here
    /// about 300 pieces of exchange blocks and 1,400 of output blocks).
    static let maxPayload = 1024
    static let scale = 120

    @Test func blocksBiggerThanTheMaximumPayloadTravelInPiecesAndGiveTheSingleNodeOutputs() async throws {
        let (expected, actual, counts, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try ClusterExecutionTests.startSingleDigest(scale: Self.scale)
            let cluster = try NATSCluster(maxPayload: Self.maxPayload)
            let run = try ClusterExecutionTests.Run(cluster: cluster, namespace: "pieces", scale: Self.scale)
            defer { run.stopAll() }
            for node in ["a", "b"] { try run.start(node: node, leaseTTLMs: 4000) }
            try run.startFeed(pauseMs: 0)
            let digest = try run.clusterDigest()
            // What travelled: every message under the maximum payload, blocks in pieces.
            let connection = try NATSConnection(cluster.connectionOptions(name: "count"))
            #expect(connection.maxPayload == Self.maxPayload)
            let jetStream = try connection.jetStream()
            let names = ExecutionNames(namespace: "pieces", program: "demo")
            var counts = (shufflePieces: 0, outputPieces: 0, largest: 0, largestShuffleBlock: 0, largestOutputBlock: 0)
            for (stream, subjects) in [(names.jetStreamName, names.allSubjects), (names.outputsJetStreamName, names.allOutputSubjects)] {
                try jetStream.reader(stream: stream, subject: subjects).readToEnd(timeout: .seconds(60)) { stored in
                    counts.largest = max(counts.largest, stored.payload.count)
                    guard let (stream, _, _) = names.parse(subject: stored.subject) else { return }
                    let shuffle = stream.hasSuffix(".shuffle")
                    if stored.header(ExchangeWire.piece) != nil {
                        if shuffle { counts.shufflePieces += 1 } else { counts.outputPieces += 1 }
                    } else if shuffle {
                        counts.largestShuffleBlock = max(counts.largestShuffleBlock, stored.payload.count)
                    } else {
                        counts.largestOutputBlock = max(counts.largestOutputBlock, stored.payload.count)
                    }
                }
            }
            return (try single(), digest, counts, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(ClusterExecutionTests.difference(actual, expected))\n\(logs)")
        #expect(counts.shufflePieces > 0, "no exchange block needed pieces: \(counts)")
        #expect(counts.outputPieces > 0, "no output block needed pieces: \(counts)")
        #expect(counts.largest <= Self.maxPayload)
    }

    /// Speculation with blocks in pieces: a late owner's partition is computed first by another
    /// node's copy, which publishes the owner's pieces with the owner's ids, each piece chained to
    /// the one before; the owner adopts runs of copied pieces; no fence is broken and the outputs
    /// are the single-node run's.
    @Test func aSpeculativeCopySendsTheOwnersPiecesAndTheOutputsAreTheSingleNodeOnes() async throws {
        let (expected, actual, audit, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try ClusterExecutionTests.startSingleDigest(scale: Self.scale)
            let cluster = try NATSCluster(maxPayload: Self.maxPayload)
            let run = try ClusterExecutionTests.Run(cluster: cluster, namespace: "specpieces", scale: Self.scale)
            defer { run.stopAll() }
            let knobs = ["--speculate-after", "3", "--testing-slow-partition", "1", "--testing-slow-ms", "2000"]
            for node in ["a", "b"] { try run.start(node: node, extra: knobs) }
            try run.waitForOwners(["a", "b"])
            try run.startFeed(pauseMs: 120)
            let digest = try run.clusterDigest()
            // Read once nothing writes any more (a running task purges behind its checkpoints).
            run.stopAll()
            let connection = try NATSConnection(cluster.connectionOptions(name: "outputs"))
            let jetStream = try connection.jetStream()
            let names = ExecutionNames(namespace: "specpieces", program: "demo")
            let outputs = try ClusterOutputs.read(jetStream: jetStream, names: names, streams: ["urlCounts"])
            var copiedPieces = 0
            for (stream, subjects) in [(names.jetStreamName, names.allSubjects), (names.outputsJetStreamName, names.allOutputSubjects)] {
                try jetStream.reader(stream: stream, subject: subjects).readToEnd(timeout: .seconds(60)) { stored in
                    if SubjectChain.isSpeculative(stored) && stored.header(ExchangeWire.piece) != nil { copiedPieces += 1 }
                }
            }
            let violations = zip(outputs.fenceViolations, outputs.fenceViolationContext).map { "\($0)\n\($1)" }
            return (try single(), digest, (violations, outputs.speculativeMessagesByNode, copiedPieces), run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(audit.0.isEmpty, "\(audit.0)")
        #expect(audit.1.values.reduce(0, +) > 0, "no speculative copy stored a message first: \(audit.1)\n\(logs)")
        #expect(audit.2 > 0, "no speculative copy stored a piece first: \(audit.1)")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(ClusterExecutionTests.difference(actual, expected))\n\(logs)")
    }
}
