import Foundation
import Strata
import StrataClusterTestSupport
import StrataTestSupport
import Testing

@testable import StrataCluster

/// Checkpoints of partition tasks in JetStream: pieces under the maximum payload, deterministic
/// message ids, and the newest complete checkpoint chosen over torn ones.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"))
struct TaskCheckpointTests {
    static func image(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test func aTornCheckpointIsPassedOverForTheNewestCompleteOne() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread(within: .seconds(300), "the checkpoint exchange") {
            let connection = try NATSConnection(cluster.connectionOptions(name: "checkpoints"))
            let jetStream = try connection.jetStream()
            let names = ExecutionNames(namespace: uniqueName("ckpt").lowercased(), program: "demo")
            _ = try jetStream.addOrUpdateStream(JetStreamConfiguration(name: names.jetStreamName, subjects: [names.allSubjects],
                                                                       replicas: 3, duplicateWindow: .seconds(600)))
            let none = try TaskCheckpoint.latest(jetStream: jetStream, names: names, partition: 1)
            #expect(none.checkpoint == nil && none.oldestPosition == nil)

            let older = TaskCheckpoint(through: Interval(9), position: 17, image: Self.image(3000, seed: 1))
            let olderMessages = older.messages(names: names, partition: 1, node: "a", pieceBytes: 1000)
            #expect(olderMessages.count == 3)
            #expect(olderMessages.allSatisfy { $0.payload.count <= 1000 && $0.subject == names.checkpointSubject(1) })
            for message in olderMessages { #expect(try !jetStream.publish(message).duplicate) }
            // Published again (a retry): stored once.
            for message in olderMessages { #expect(try jetStream.publish(message).duplicate) }

            // Newer, torn: its owner died after pieces 0 and 2.
            let torn = TaskCheckpoint(through: Interval(19), position: 40, image: Self.image(2500, seed: 2))
            let tornMessages = torn.messages(names: names, partition: 1, node: "a", pieceBytes: 1000)
            #expect(tornMessages.count == 3)
            _ = try jetStream.publish(tornMessages[0])
            _ = try jetStream.publish(tornMessages[2])
            // Newer still, damaged: a piece whose bytes do not hash to the checkpoint's digest.
            let damaged = TaskCheckpoint(through: Interval(29), position: 60, image: Self.image(900, seed: 3))
            var bad = damaged.messages(names: names, partition: 1, node: "a", pieceBytes: 1000)[0]
            bad.payload[10] ^= 1
            _ = try jetStream.publish(bad)
            // Another partition's checkpoint is not this one's.
            for message in TaskCheckpoint(through: Interval(39), position: 1, image: Self.image(10, seed: 4))
                .messages(names: names, partition: 2, node: "b", pieceBytes: 1000) { _ = try jetStream.publish(message) }

            let found = try TaskCheckpoint.latest(jetStream: jetStream, names: names, partition: 1)
            let chosen = try #require(found.checkpoint)
            #expect(chosen.through == Interval(9) && chosen.position == 17 && chosen.image == older.image)
            #expect(found.torn.count == 2, "\(found.torn)")
            // No restore reads before the oldest position of the checkpoints kept, torn ones included.
            #expect(found.oldestPosition == 17)

            // The missing piece arrives (a new owner republished it): the newer one is complete.
            _ = try jetStream.publish(tornMessages[1])
            let later = try #require(try TaskCheckpoint.latest(jetStream: jetStream, names: names, partition: 1).checkpoint)
            #expect(later.through == Interval(19) && later.position == 40 && later.image == torn.image)
        }
    }

    @Test func positionsFollowTheLastSealMarkAtOrBeforeTheCheckpoint() {
        var log = SealMarkLog(start: 5)
        let (x, y) = ("s.a.0.1", "s.a.1.1")
        // Nothing received: the reader's start.
        #expect(log.position(subjects: [x, y], sealed: Interval(3)) == 5)
        log.received(subject: x, sequence: 10, sealedThrough: nil)          // a block of interval 0
        log.received(subject: x, sequence: 11, sealedThrough: Interval(0))
        log.received(subject: y, sequence: 12, sealedThrough: nil)
        log.received(subject: y, sequence: 13, sealedThrough: Interval(1))
        log.received(subject: x, sequence: 14, sealedThrough: nil)
        log.received(subject: x, sequence: 15, sealedThrough: Interval(2))
        // Sealed through 0: x after its mark through 0 (12), y from its first message (12).
        #expect(log.position(subjects: [x, y], sealed: Interval(0)) == 12)
        #expect(log.position(subjects: [x, y], sealed: Interval(1)) == 12)
        #expect(log.position(subjects: [x, y], sealed: Interval(2)) == 14)
        #expect(log.position(subjects: [x], sealed: Interval(2)) == 16)
        #expect(log.position(subjects: [x, y], sealed: nil) == 10)
        log.prune(subjects: [x, y], sealed: Interval(2))
        #expect(log.marks[x]?.count == 1 && log.marks[y]?.count == 1)
        #expect(log.position(subjects: [x, y], sealed: Interval(2)) == 14)
        // Purging behind a checkpoint at position 14: x before 14, y only up to its newest message (13).
        #expect(log.purgeBounds(subjects: [x, y, "s.a.2.1"], position: 14).map { "\($0.subject) \($0.before)" }
                == ["\(x) 14", "\(y) 13"])
    }

    /// An owner that died after sending blocks of intervals 3 and 4 without their seal mark, then a
    /// new owner whose first round marks only interval 2: the mark through 2 comes after blocks of
    /// later intervals, which a restore sealed through 2 must read again.
    @Test func aPositionDoesNotSkipBlocksOfLaterIntervalsBeforeAMark() {
        var log = SealMarkLog(start: 1)
        let x = "s.a.0.1"
        log.received(subject: x, sequence: 10, sealedThrough: nil, block: Interval(1))
        log.received(subject: x, sequence: 11, sealedThrough: Interval(1))
        log.received(subject: x, sequence: 12, sealedThrough: nil, block: Interval(2))
        log.received(subject: x, sequence: 13, sealedThrough: nil, block: Interval(3))   // the old owner's
        log.received(subject: x, sequence: 14, sealedThrough: nil, block: Interval(4))
        log.received(subject: x, sequence: 16, sealedThrough: Interval(2))              // the new owner's
        log.received(subject: x, sequence: 17, sealedThrough: Interval(4))
        #expect(log.position(subjects: [x], sealed: Interval(1)) == 12)
        #expect(log.position(subjects: [x], sealed: Interval(2)) == 13)
        #expect(log.position(subjects: [x], sealed: Interval(4)) == 18)
        log.prune(subjects: [x], sealed: Interval(2))
        #expect(log.blocks[x]?.map(\.sequence) == [13, 14])
        #expect(log.position(subjects: [x], sealed: Interval(2)) == 13)
        #expect(log.position(subjects: [x], sealed: Interval(3)) == 14)
    }

    /// A seal mark lower than an earlier one on its subject (a new owner resuming from its progress
    /// below what the former owner or a speculative copy sent) is not a position: taken as one, it
    /// would skip the blocks between the two marks.
    @Test func aLowerSealMarkAfterAHigherOneIsNotAPosition() {
        var log = SealMarkLog(start: 1)
        let x = "s.a.0.1"
        log.received(subject: x, sequence: 10, sealedThrough: Interval(2))
        log.received(subject: x, sequence: 11, sealedThrough: nil)           // blocks of 3 to 9
        log.received(subject: x, sequence: 12, sealedThrough: Interval(9))
        log.received(subject: x, sequence: 13, sealedThrough: Interval(5))   // a lower mark, stored later
        #expect(log.marks[x]?.map(\.through) == [Interval(2), Interval(9)])
        // Sealed through 6: from after the mark through 2, so that 7 to 9 are read again.
        #expect(log.position(subjects: [x], sealed: Interval(6)) == 11)
        #expect(log.position(subjects: [x], sealed: Interval(9)) == 13)
    }

    /// Speculative copies ahead of their owner stay until a message that is not a copy follows
    /// them: the owner walks back through them to its own last message (`SubjectChain`).
    @Test func thePurgeKeepsCopiesAfterTheLastMessageThatIsNotACopy() {
        var log = SealMarkLog(start: 1)
        let (x, y) = ("s.a.0.1", "s.a.1.1")
        log.received(subject: x, sequence: 10, sealedThrough: nil, block: Interval(1))
        log.received(subject: x, sequence: 11, sealedThrough: Interval(1))                             // the owner's
        log.received(subject: x, sequence: 12, sealedThrough: nil, block: Interval(2), speculative: true) // a copy's pieces
        log.received(subject: x, sequence: 13, sealedThrough: nil, block: Interval(2), speculative: true)
        log.received(subject: x, sequence: 14, sealedThrough: Interval(2), speculative: true)
        log.received(subject: y, sequence: 15, sealedThrough: Interval(2), speculative: true)          // only copies on y
        #expect(log.position(subjects: [x], sealed: Interval(2)) == 15)
        #expect(log.purgeBounds(subjects: [x, y], position: 15).map { "\($0.subject) \($0.before)" } == ["\(x) 11"])
        // The owner carried on after the copies and wrote interval 3: the copies may go.
        log.received(subject: x, sequence: 16, sealedThrough: nil, block: Interval(3))
        #expect(log.purgeBounds(subjects: [x, y], position: 15).map { "\($0.subject) \($0.before)" } == ["\(x) 15"])
    }
    /// Trimming deletes message by message (`JetStream.deleteMessage`, never a filtered purge:
    /// nats-server #4196): the sequences still stored before each subject's bound, those a former
    /// owner left before the reader's start (`found`) first, each deleted once.
    @Test func theMessagesToDeleteAreThoseStillStoredBeforeEachSubjectsBound() {
        var log = SealMarkLog(start: 8, tracksSequences: true)
        let (x, y) = ("s.a.0.1", "s.a.1.1")
        log.found(subject: x, sequence: 3)   // left by a former owner
        log.found(subject: y, sequence: 4)
        log.found(subject: x, sequence: 9)   // not before the start: read by the reader itself
        log.received(subject: x, sequence: 10, sealedThrough: nil, block: Interval(1))
        log.received(subject: x, sequence: 11, sealedThrough: Interval(1))
        log.received(subject: y, sequence: 12, sealedThrough: Interval(1))
        log.received(subject: x, sequence: 14, sealedThrough: Interval(2))
        func listed(_ position: UInt64) -> [String] {
            log.deletable(subjects: [x, y], position: position).map { "\($0.subject) \(Array($0.sequences))" }
        }
        // Position 14: x keeps 14 on, y its newest message (12).
        #expect(listed(14) == ["\(x) [3, 10, 11]", "\(y) [4]"])
        log.deleted(subject: x, count: 3)
        log.deleted(subject: y, count: 1)
        #expect(listed(14).isEmpty)
        log.received(subject: y, sequence: 15, sealedThrough: Interval(2))
        #expect(listed(14) == ["\(y) [12]"])
        // A log that does not trim (a speculative copy, checkpoints off) keeps no sequences.
        var quiet = SealMarkLog(start: 8)
        quiet.found(subject: x, sequence: 3)
        quiet.received(subject: x, sequence: 10, sealedThrough: Interval(1))
        #expect(quiet.sequences.isEmpty && quiet.deletable(subjects: [x], position: 20).isEmpty)
    }

    /// A new owner of the sending partition fences the subject and, the input having ended, sends
    /// nothing after it: the gathering task records the fence as seen (`ClusterTask`'s gatherer,
    /// neither a mark nor a block), so the purge goes up to it. Without it the sender's last mark
    /// before the fence stayed behind every checkpoint for good (`ClusterRecoveryTests` under load:
    /// "1 behind it" for 240 s after a lease moved).
    @Test func aFenceLastOnASubjectLetsThePurgeReachIt() {
        var log = SealMarkLog(start: 1)
        let x = "s.a.0.1"
        log.received(subject: x, sequence: 10, sealedThrough: nil, block: Interval(1))
        log.received(subject: x, sequence: 11, sealedThrough: Interval(1))
        #expect(log.purgeBounds(subjects: [x], position: 25).map { "\($0.subject) \($0.before)" } == ["\(x) 11"])
        log.received(subject: x, sequence: 20, sealedThrough: nil)  // the new owner's fence
        #expect(log.purgeBounds(subjects: [x], position: 25).map { "\($0.subject) \($0.before)" } == ["\(x) 20"])
        // The fence changes no resume position: still right after the mark through 1.
        #expect(log.position(subjects: [x], sealed: Interval(1)) == 12)
    }

    /// A new owner that restored a checkpoint taken once the input had ended: on the subject
    /// whose last seal mark is where the checkpoint resumes, every message lies before the
    /// reader's start and nothing more comes. The messages found there count as seen, so the
    /// purge reaches them (keeping the subject's newest); before, they stayed behind every
    /// checkpoint for good — one way to the "N behind it" for 240 s of `TrimReplayTests` under
    /// load, which needs a partition's task to start from a checkpoint once the input ended.
    @Test func messagesFoundBeforeTheStartOnASubjectThatGetsNoMoreAreTrimmed() {
        var log = SealMarkLog(start: 30, tracksSequences: true)
        let (x, y) = ("s.a.0.1", "s.a.1.1")
        log.found(subject: x, sequence: 12)
        log.found(subject: y, sequence: 13)
        log.found(subject: x, sequence: 20)
        log.found(subject: x, sequence: 29)   // x's last seal mark: the checkpoint's position is after it
        log.found(subject: y, sequence: 27, speculative: true)
        log.received(subject: y, sequence: 31, sealedThrough: Interval(21), speculative: true)
        func listed(_ position: UInt64) -> [String] {
            log.deletable(subjects: [x, y], position: position).map { "\($0.subject) \(Array($0.sequences))" }
        }
        // x: up to its newest message (29), which stays; y: up to its last message that is not a
        // copy (13), the copies after it stay until their owner writes after them.
        #expect(listed(30) == ["\(x) [12, 20]"])
        #expect(listed(15) == ["\(x) [12]"])
        log.deleted(subject: x, count: 2)
        #expect(listed(30).isEmpty)
        // Found messages change no resume position: the reader's start.
        #expect(log.position(subjects: [x], sealed: Interval(21)) == 30)
    }
}
