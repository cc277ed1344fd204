import Foundation
import Strata
import StrataClusterTestSupport
import StrataEngine
import StrataTestSupport
import Testing
@testable import StrataCluster

/// How Strata trims the JetStream streams it trims (a program's exchanges and checkpoints, a
/// replicated stream's intervals dropped by retention) so that every server restarting afterwards
/// keeps every message that was kept: message by message (`JetStream.deleteMessage`), never with
/// a filtered purge, which nats-server before 2.9.18 replays on a restarted replica as a purge of
/// every message stored before it (nats-server #4196; docs/cluster.md, "Trimming JetStream").
/// Each test has a cluster of its own: it restarts every server.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"), .serialized)
struct TrimReplayTests {
    /// Restarts every server in turn (SIGKILL), each time waiting until `streams` have a leader
    /// and both other replicas current.
    static func restartEveryServer(_ cluster: NATSCluster, _ jetStream: JetStream, streams: [String]) throws {
        for node in 0..<3 {
            try cluster.restart(node: node)
            try poll(within: .seconds(240), what: "\(streams) current on every replica after restarting n\(node)") {
                for stream in streams {
                    guard let info = try jetStream.streamInfo(stream), info.leader != nil, info.replicas.count == 2,
                          info.replicas.allSatisfy({ $0.current && !$0.offline }) else {
                        throw RunFailure("\(stream) not current yet")
                    }
                }
            }
        }
    }

    /// Every message of `stream` as "SEQUENCE SUBJECT PAYLOAD", read from its leader once it answers.
    static func contents(_ jetStream: JetStream, _ stream: String, subject: String) throws -> [String] {
        var lines: [String] = []
        try poll(within: .seconds(120), what: "\(stream) read back") {
            lines = try jetStream.messages(stream: stream, subject: subject).map {
                "\($0.sequence) \($0.subject) \(String(decoding: $0.payload, as: UTF8.self))"
            }
        }
        return lines
    }

    /// The pattern of a partition task, on two R3 streams side by side: exchange messages on three
    /// subjects, checkpoint A, more, checkpoint B, more; then, as after B, the checkpoint subject
    /// trimmed before B and the exchange subjects before A's position; then more messages. One
    /// stream is trimmed with filtered purges (what Strata did), the other by deleting the same
    /// messages one by one. Every server is restarted in turn.
    ///
    /// The deleted stream keeps exactly what was kept. The purged one, on nats-server 2.9.10
    /// (measured 2026-12-05), loses every message stored before the last purge: checkpoint B and
    /// the exchange messages after A's position — a restore would find no checkpoint, or read from
    /// a position whose messages are gone (recorded as a known issue: a fixed server keeps them).
    @Test func filteredPurgesLoseKeptCheckpointsAndExchangesOnRestartWhereDeletionsKeepThem() async throws {
        try await onOwnThread(within: .seconds(900), "trims, then a rolling restart") {
            let cluster = try NATSCluster()
            defer { cluster.stop() }
            let connection = try NATSConnection(cluster.connectionOptions(name: "trim-replay"))
            let jetStream = try connection.jetStream()
            var expected: [String: [String]] = [:]
            for stream in ["PURGED", "DELETED"] {
                let prefix = stream.lowercased()
                _ = try jetStream.addStream(JetStreamConfiguration(name: stream, subjects: ["\(prefix).>"], replicas: 3))
                var stored: [(sequence: UInt64, subject: String, payload: String)] = []
                func publish(_ subject: String, _ payload: String) throws -> UInt64 {
                    let ack = try jetStream.publish(OutgoingMessage(subject: subject, payload: Array(payload.utf8)))
                    stored.append((ack.sequence, subject, payload))
                    return ack.sequence
                }
                let checkpoint = "\(prefix)._c.0"
                func exchange(_ n: Int) throws -> UInt64 { try publish("\(prefix).s.\(n % 3).0", "e\(n)") }
                for n in 0..<10 { _ = try exchange(n) }
                var positionA: UInt64 = 0
                for n in 10..<20 {
                    let sequence = try exchange(n)
                    if n == 12 { positionA = sequence }
                }
                _ = try publish(checkpoint, "A0")
                _ = try publish(checkpoint, "A1")
                for n in 20..<30 { _ = try exchange(n) }
                let firstOfB = try publish(checkpoint, "B0")
                _ = try publish(checkpoint, "B1")
                for n in 30..<34 { _ = try exchange(n) }
                // After B: the checkpoints before B go, and the exchanges before A's position.
                let exchangeSubjects = (0..<3).map { "\(prefix).s.\($0).0" }
                if stream == "PURGED" {
                    try jetStream.purge(stream: stream, subject: checkpoint, beforeSequence: firstOfB)
                    for subject in exchangeSubjects { try jetStream.purge(stream: stream, subject: subject, beforeSequence: positionA) }
                } else {
                    for message in stored where message.subject == checkpoint && message.sequence < firstOfB {
                        #expect(try jetStream.deleteMessage(stream: stream, sequence: message.sequence))
                    }
                    for message in stored where message.subject != checkpoint && message.sequence < positionA {
                        #expect(try jetStream.deleteMessage(stream: stream, sequence: message.sequence))
                    }
                    // Deleting again is no error: the message is gone.
                    #expect(try !jetStream.deleteMessage(stream: stream, sequence: positionA - 1))
                }
                for n in 34..<40 { _ = try exchange(n) }
                expected[stream] = stored.filter { message in
                    message.subject == checkpoint ? message.sequence >= firstOfB : message.sequence >= positionA
                }.map { "\($0.sequence) \($0.subject) \($0.payload)" }
                #expect(try Self.contents(jetStream, stream, subject: "\(prefix).>") == expected[stream], "\(stream) before the restarts")
            }
            try Self.restartEveryServer(cluster, jetStream, streams: ["PURGED", "DELETED"])
            let deleted = try Self.contents(jetStream, "DELETED", subject: "deleted.>")
            #expect(deleted == expected["DELETED"], "deleting message by message lost kept messages across restarts: \(deleted)")
            let purged = try Self.contents(jetStream, "PURGED", subject: "purged.>")
            let lost = (expected["PURGED"] ?? []).filter { !purged.contains($0) }
            print("TrimReplayTests: after filtered purges and a restart of every server, \(lost.count) of "
                  + "\(expected["PURGED"]?.count ?? 0) kept messages are gone: \(lost)")
            withKnownIssue("nats-server < 2.9.18 (#4196): a filtered purge replayed on restart removes kept messages",
                           isIntermittent: true) {
                #expect(lost.isEmpty, "the purged stream lost \(lost.count) kept messages: \(lost)")
            }
        }
    }

    /// A program's exchanges and checkpoints, trimmed behind its checkpoints by its tasks, then
    /// every server restarted with the nodes stopped: the exchanges' stream still holds every
    /// message it held before (deleted ones may come back: a known issue of the server); a
    /// node with a fresh store then restores every partition from the checkpoints, finishes the
    /// input, and the outputs are the single-node run's. Then what a task does when the exchanges
    /// are gone after all (as a server replaying a filtered purge lost them; here emptied by
    /// hand): a node without a store refuses to gather past the gap — a typed error naming the
    /// subject, not outputs computed without the lost intervals.
    @Test func aProgramsTrimmedExchangesAndCheckpointsSurviveARestartOfEveryServer() async throws {
        let (expected, actual, restorer, refusal, logs): ([String], [String], String, String, String) = try await onOwnThread(within: .seconds(1200), "the cluster run") {
            let cluster = try NATSCluster()
            defer { cluster.stop() }
            let single = try ClusterExecutionTests.startSingleDigest()
            let run = try ClusterExecutionTests.Run(cluster: cluster, namespace: uniqueName("trim"))
            defer { run.stopAll() }
            try run.start(node: "a", leaseTTLMs: 3000)
            try run.start(node: "b", leaseTTLMs: 3000)
            func feed(first: Int, intervals: Int) throws {
                let feed = try ClusterExecutionTests.NodeProcess(
                    ["feed"] + run.common + ["--store", run.directory.appending("input"), "--first", "\(first)",
                                             "--intervals", "\(intervals)"],
                    name: "feed", log: run.directory.appending("feed\(first).log"))
                guard feed.waitForExit(within: .seconds(300)) == 0 else { throw RunFailure("the feed failed: \(feed.output)") }
            }
            try feed(first: 0, intervals: 22)
            try ClusterRecoveryTests.waitForEveryPartition(run, through: 21)
            let trimmed = try ClusterRecoveryTests.waitForExchangesPurgedBehindCheckpoints(run)
            run.stopAll()
            let connection = try NATSConnection(cluster.connectionOptions(name: "trim-restart"))
            let jetStream = try connection.jetStream()
            let names = ExecutionNames(namespace: run.namespace, program: "demo")
            let before = try Self.contents(jetStream, names.jetStreamName, subject: names.allSubjects)
            let info = try #require(try jetStream.streamInfo(names.jetStreamName))
            // Trimmed: fewer messages kept than were ever stored (and none behind the checkpoints: `trimmed`).
            print("TrimReplayTests: \(before.count) of \(info.lastSequence) messages of \(names.jetStreamName) kept; \(trimmed)")
            #expect(UInt64(before.count) < info.lastSequence, "\(before.count) of \(info.lastSequence) messages kept: \(trimmed)")
            try Self.restartEveryServer(cluster, jetStream, streams: [names.jetStreamName, names.outputsJetStreamName])
            let after = try Self.contents(jetStream, names.jetStreamName, subject: names.allSubjects)
            // Nothing kept is lost.
            let gone = Array(Set(before).subtracting(after).sorted().prefix(20))
            #expect(gone.isEmpty, "kept messages of the exchanges' stream are gone after the restarts: \(gone)")
            // Deleted messages may come back once a server is killed (nats-server 2.9.10, cause in
            // the server not isolated): a full test run found 51 back at their old sequences (of 1662
            // stored, 844 kept), all among the last the tasks deleted; a CI run on 2026-12-06 found
            // 200 copies of the stream's first messages stored again at new sequences after the last
            // one (1393 on, the stream's last being 1392). Either way they are copies of messages the
            // tasks stored, on this program's subjects; a new owner reading past them gathers the
            // same outputs (checked below against the single-node run): space, not data.
            let keptSequences = Set(before.compactMap { UInt64($0.prefix { $0 != " " }) })
            let back = after.filter { !keptSequences.contains(UInt64($0.prefix { $0 != " " }) ?? 0) }
            let foreign = back.filter { line in
                let subject = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).dropFirst().first
                return subject.map { names.parse(subject: String($0)) == nil && !names.isCheckpointSubject(String($0)) } ?? true
            }
            #expect(foreign.isEmpty, "messages on no subject of the program are in the exchanges' stream: \(foreign.prefix(10))")
            if !back.isEmpty {
                print("TrimReplayTests: \(back.count) deleted messages are back after the restarts: "
                      + "\(back.map { $0.prefix(60) }.prefix(10))")
            }
            withKnownIssue("nats-server 2.9: a deletion without erase can be undone when a server is killed",
                           isIntermittent: true) {
                #expect(back.isEmpty, "\(back.count) deleted messages are back after the restarts")
            }
            for p in 0..<ClusterExecutionTests.partitions {
                let found = try TaskCheckpoint.latest(jetStream: jetStream, names: names, partition: p)
                #expect(found.checkpoint != nil, "partition \(p) has no complete checkpoint after the restarts: \(found.torn)")
            }
            // A node without a store takes every partition over from its checkpoint.
            try run.start(node: "c", leaseTTLMs: 3000)
            try feed(first: 22, intervals: ClusterExecutionTests.intervals)
            let actual = try run.clusterDigest()
            let restorer = run.nodes["c"]?.output ?? ""
            run.nodes["c"]?.signal(SIGTERM)
            _ = run.nodes["c"]?.waitForExit(within: .seconds(60))
            try jetStream.purge(stream: names.jetStreamName)
            try run.start(node: "d", leaseTTLMs: 3000)
            var refusal = ""
            _ = waitUntil(within: .seconds(240)) {
                let log = run.nodes["d"]?.output ?? ""
                refusal = log.split(separator: "\n").first { $0.contains("lost messages it still needs") }.map(String.init) ?? ""
                return !refusal.isEmpty
            }
            return (try single(), actual, restorer, refusal, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(ClusterExecutionTests.difference(actual, expected))\n\(logs)")
        #expect(restorer.contains("partition restored from its checkpoint"), "\(logs)")
        print("TrimReplayTests: with the exchanges' stream emptied: \(refusal)")
        #expect(!refusal.isEmpty, "no task refused emptied exchange subjects:\n\(logs)")
    }

    /// A replicated stream whose source dropped old intervals (retention): the replicator deletes
    /// their block and seal messages; every server restarted in turn, the stream's descriptor and
    /// every kept interval are still there, and a restore gives the source's store.
    @Test func aReplicatedStreamTrimmedByRetentionKeepsItsDescriptorAndKeptIntervalsWhenEveryServerRestarts() async throws {
        try await onOwnThread(within: .seconds(900), "retention, then a rolling restart") {
            let cluster = try NATSCluster()
            defer { cluster.stop() }
            let options = clusterOptions(cluster, node: "a", namespace: uniqueName("rr"))
            let source = try TemporaryDirectory()
            let store = try Store(at: source.appending("store"))
            try fillCounts(store, "views", intervals: 0..<12)
            let replicator = try ClusterReplicator(store: store, options: options)
            try replicator.replicate(stream: "views")
            let names = replicator.names(of: "views")
            try store.setRetention(.intervals(5), of: "views")
            try fillCounts(store, "views", intervals: 12..<20, retention: .intervals(5))
            #expect(try replicator.replicate(stream: "views").purgedBefore == Interval(15))
            let jetStream = replicator.jetStream
            let before = try Self.contents(jetStream, names.jetStreamName, subject: names.allSubjects)
            #expect(before.contains { $0.contains(names.metaSubject) })
            let blocks = try jetStream.messages(stream: names.jetStreamName, subject: names.partitionsSubject)
            #expect(!blocks.isEmpty && blocks.allSatisfy { Int($0.header("Strata-Interval") ?? "") ?? 0 >= 15 })
            try Self.restartEveryServer(cluster, jetStream, streams: [names.jetStreamName])
            let after = try Self.contents(jetStream, names.jetStreamName, subject: names.allSubjects)
            #expect(after == before, "the replicated stream changed across the restarts: \(after.count) of \(before.count) messages")
            let target = try TemporaryDirectory()
            let restored = try Store(at: target.appending("store"))
            try ClusterFollower(store: restored, options: options).restore(stream: "views")
            #expect(try image(of: restored, "views") == image(of: store, "views"))
        }
    }
}
