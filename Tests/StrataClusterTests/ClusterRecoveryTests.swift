import Foundation
import Strata
import StrataClusterTestSupport
import StrataStorage
import StrataTestSupport
import Testing

@testable import StrataCluster

/// Recovery from checkpoints in JetStream, with real processes: a node SIGKILLed after its
/// partitions checkpointed; the survivor restores each of them from its newest checkpoint and
/// replays only the intervals after it, and the outputs are the single-node run's.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"), .serialized)
struct ClusterRecoveryTests {
    typealias Run = ClusterExecutionTests.Run
    typealias NodeProcess = ClusterExecutionTests.NodeProcess

    /// Waits until every partition's progress key shows `urlCounts` sent through `interval`.
    static func waitForEveryPartition(_ run: Run, through interval: Int) throws {
        let connection = try NATSConnection(run.cluster.connectionOptions(name: "watch"))
        let jetStream = try connection.jetStream()
        let names = ExecutionNames(namespace: run.namespace, program: "demo")
        let reached = waitUntil(within: .seconds(240)) {
            guard let bucket = try? jetStream.keyValue(names.bucket + "_progress") else { return false }
            return (0..<ClusterExecutionTests.partitions).allSatisfy { p in
                guard let entry = try? bucket.get(ExecutionNames.progressKey(p)) else { return false }
                return String(decoding: entry.value, as: UTF8.self).split(separator: "\n").contains { line in
                    line.hasPrefix("urlCounts ") && (Int(line.split(separator: " ")[1]) ?? -1) >= interval
                }
            }
        }
        guard reached else { throw RunFailure("not every partition reached interval \(interval): \(run.logs)") }
    }

    /// Waits until every partition's newest complete checkpoint in JetStream (`TaskCheckpoint.latest`,
    /// what a new owner installs) resumes at or after `through`, and returns them by partition.
    /// The progress key does not tell: a task writes it in an export round and publishes the
    /// checkpoint that round makes due only after it.
    static func waitForEveryCheckpoint(_ run: Run, through interval: UInt64) throws -> [Int: TaskCheckpoint] {
        let connection = try NATSConnection(run.cluster.connectionOptions(name: "checkpoint-watch"))
        let jetStream = try connection.jetStream()
        let names = ExecutionNames(namespace: run.namespace, program: "demo")
        var found: [Int: TaskCheckpoint] = [:]
        let reached = waitUntil(within: .seconds(240)) {
            for p in 0..<ClusterExecutionTests.partitions where found[p] == nil {
                guard let checkpoint = (try? TaskCheckpoint.latest(jetStream: jetStream, names: names, partition: p))?.checkpoint,
                      checkpoint.through.rawValue >= interval else { return false }
                found[p] = checkpoint
            }
            return true
        }
        guard reached else {
            throw RunFailure("not every partition checkpointed through \(interval): \(found.mapValues(\.through))\n\(run.logs)")
        }
        return found
    }

    /// Waits until every partition has a checkpoint and the exchange subjects it gathers from hold
    /// only messages at or after the position of the oldest checkpoint kept (a subject's newest
    /// message stays whatever its sequence: its sender fences on it); returns, per partition, the
    /// position and how many exchange messages are left. (One checkpoint or two: a task that
    /// takes the whole input in one go checkpoints once.)
    static func waitForExchangesPurgedBehindCheckpoints(_ run: Run) throws -> [String] {
        let connection = try NATSConnection(run.cluster.connectionOptions(name: "purge-watch"))
        let jetStream = try connection.jetStream()
        let names = ExecutionNames(namespace: run.namespace, program: "demo")
        var state: [String] = []
        let purged = waitUntil(within: .seconds(240)) {
            state = []
            for p in 0..<ClusterExecutionTests.partitions {
                guard let checkpoints = try? jetStream.messages(stream: names.jetStreamName, subject: names.checkpointSubject(p)),
                      let exchanged = try? jetStream.messages(stream: names.jetStreamName, subject: names.subjects(toTarget: UInt32(p)))
                else { return false }
                let kept = checkpoints.filter { $0.header("Strata-Kind") == "checkpoint" }
                let digests = Set(kept.compactMap { $0.header("Strata-Checkpoint")?.split(separator: "/").dropFirst().first })
                guard !digests.isEmpty,
                      let oldest = kept.compactMap({ $0.header("Strata-Position").flatMap(UInt64.init) }).min() else {
                    state.append("partition \(p): \(digests.count) checkpoints")
                    return false
                }
                let shuffles = exchanged.filter { names.parse(subject: $0.subject)?.stream.hasSuffix(".shuffle") ?? false }
                let newest = Dictionary(shuffles.map { ($0.subject, $0.sequence) }, uniquingKeysWith: max)
                let behind = shuffles.filter { $0.sequence < oldest && newest[$0.subject] != $0.sequence }
                state.append("partition \(p): oldest checkpoint at \(oldest), \(shuffles.count) exchange messages, \(behind.count) behind it")
                if !behind.isEmpty {
                    // Which messages stayed, and whose: what a failure must name.
                    state.append("partition \(p) behind: " + behind.prefix(10).map { message in
                        "\(message.sequence) \(message.subject) \(message.header("Strata-Kind") ?? "-") "
                            + "from \(message.header("Strata-Node") ?? "-")"
                    }.joined(separator: ", "))
                }
                guard behind.isEmpty, !shuffles.isEmpty else { return false }
            }
            return true
        }
        guard purged else { throw RunFailure("the exchanges were not purged behind the checkpoints: \(state)\n\(run.logs)") }
        return state
    }

    @Test func aSurvivorRestoresTheDeadNodesPartitionsFromCheckpoints() async throws {
        let cluster = try await SharedNATSCluster.get()
        let (expected, actual, restored, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try ClusterExecutionTests.startSingleDigest()
            let run = try Run(cluster: cluster, namespace: uniqueName("recover"))
            defer { run.stopAll() }
            try run.start(node: "a", leaseTTLMs: 3000)
            try run.start(node: "b", leaseTTLMs: 3000)
            // The first 22 intervals: past the snapshots at 9 and 19 (snapshotEvery 10) on every partition.
            let common = run.common
            func feed(first: Int, intervals: Int) throws {
                let feed = try NodeProcess(["feed"] + common + ["--store", run.directory.appending("input"), "--first", "\(first)",
                                                                "--intervals", "\(intervals)"],
                                           name: "feed", log: run.directory.appending("feed\(first).log"))
                guard feed.waitForExit(within: .seconds(300)) == 0 else { throw RunFailure("the feed failed: \(feed.output)") }
            }
            try feed(first: 0, intervals: 22)
            try Self.waitForEveryPartition(run, through: 21)
            // What b's partitions restore from: each partition's newest complete checkpoint at the
            // kill, which must be the one taken once every stateful vertex wrote its snapshot of
            // interval 19 (`through` 19: the smallest snapshot or progress interval in it). The
            // progress key above comes first (a task writes it, then publishes the checkpoint its
            // round made due), so the kill waits for the checkpoints themselves. b publishes none
            // after these before the kill: the next is due with the snapshots of 29, past the input.
            let checkpoints = try Self.waitForEveryCheckpoint(run, through: 19)
            // Behind the checkpoints kept (at the snapshots 9 and 19), the exchange messages are
            // gone; what follows restores from them all the same.
            _ = try Self.waitForExchangesPurgedBehindCheckpoints(run)
            run.nodes["b"]?.signal(SIGKILL)
            _ = run.nodes["b"]?.waitForExit()
            // b's partitions move once the input has ended: their new owner restores b's newest
            // checkpoint, and on a subject whose last seal mark is where that checkpoint resumes
            // nothing more arrives; it trims behind the checkpoints all the same.
            try run.waitForOwners(["a"])
            _ = try Self.waitForExchangesPurgedBehindCheckpoints(run)
            // The rest: b's partitions go on only once a has taken them over.
            try feed(first: 22, intervals: ClusterExecutionTests.intervals)
            let actual = try run.clusterDigest()
            run.stopAll()
            // What a's tasks did when they took b's partitions over: each restored from a checkpoint
            // into a store of its own, whose input begins after the checkpoint, and computed only
            // the intervals after it.
            var restored: [(partition: Int, through: UInt64, retainedFrom: UInt64, computed: [UInt64])] = []
            for p in 0..<ClusterExecutionTests.partitions {
                let path = run.directory.appending("a") + "/demo.p\(p)"
                guard FileManager.default.fileExists(atPath: path) else { continue }
                // The node has stopped; its stores close once the last reference is gone.
                var store: Store?
                _ = waitUntil(within: .seconds(60)) {
                    store = try? Store(at: path)
                    return store != nil
                }
                let opened = try #require(store, "a's store of partition \(p) does not open")
                let views = try #require(try opened.logStore.descriptor(named: "views"))
                let frontier = try opened.logStore.frontier(of: views)
                guard frontier.retainedFrom > Interval(0) else { continue }
                var computed: [UInt64] = []
                for (vertex, _) in try opened.logStore.progressMarks(prefix: "demo.") {
                    computed += try opened.logStore.vertexTimings(of: vertex).map(\.interval.rawValue)
                }
                computed = Array(Set(computed)).sorted()
                let through = try #require(checkpoints[p], "partition \(p) had no checkpoint").through.rawValue
                restored.append((p, through, frontier.retainedFrom.rawValue, computed))
            }
            return (try single(), actual, restored, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(ClusterExecutionTests.difference(actual, expected))\n\(logs)")
        #expect(!restored.isEmpty, "no partition was restored from a checkpoint:\n\(logs)")
        #expect(logs.contains("partition restored from its checkpoint"), "\(logs)")
        // What a restored store holds and computes, from how a restored task resumes: each stateful
        // vertex loads its snapshot (19) and replays the intervals after it, every other vertex
        // continues after its own progress (at or past 19: the map over `views` may have gone on to
        // 21 before the checkpoint was taken). So every vertex computes only intervals after the
        // checkpoint's `through`, the smallest of those; and the input `views` is kept from the
        // first interval its earliest reader resumes at, less the program's longest window
        // (`Program.lookback`: the 3-interval window reads back that far) — at or after
        // `through` + 1 − 3, and possibly later than where a stateful vertex downstream of the
        // exchange resumes (it reads the gathered stream, not `views`), so the two are not compared.
        let lookback: UInt64 = 3
        for (partition, through, retainedFrom, computed) in restored {
            #expect(through >= 19, "partition \(partition): restored from a checkpoint through \(through)")
            #expect(retainedFrom + lookback >= through + 1,
                    "partition \(partition): the checkpoint through \(through) kept input from \(retainedFrom)")
            #expect(computed.allSatisfy { $0 > through },
                    "partition \(partition) computed intervals at or before its checkpoint through \(through): \(computed)\n\(logs)")
            print("ClusterRecoveryTests: partition \(partition) restored from the checkpoint through \(through): input kept from \(retainedFrom), computed \(computed)")
            #expect(computed.count < ClusterExecutionTests.intervals - 5,
                    "partition \(partition) computed \(computed.count) intervals: replayed from the start?")
        }
    }

    /// A failed trim deletion does not end a task (trimming frees space, it never decides what a
    /// task computes): node `a`'s tasks fail their first three deletions (the test fault of
    /// `ExecutionOptions.testingFailedTrimDeletions`, as deletions timing out). Each task logs the
    /// failure with its partition and subject, goes on computing and publishing, and trims behind
    /// its checkpoints once deletions answer again; the outputs are the single-node run's. No
    /// timing: every task must delete to trim, so its failures come before the trim the test waits
    /// for. (Before: the first failure ended the task, `trimming partition P: …`, and each task
    /// its node started again failed the same way — the exchanges were never trimmed.)
    @Test func aFailedTrimDeletionDoesNotEndTheTaskAndIsRetried() async throws {
        let cluster = try await SharedNATSCluster.get()
        let (expected, actual, log, trimmed, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try ClusterExecutionTests.startSingleDigest()
            let run = try Run(cluster: cluster, namespace: uniqueName("trimfail"))
            defer { run.stopAll() }
            try run.start(node: "a", leaseTTLMs: 10_000, extra: ["--testing-failed-trim-deletions", "3"])
            func feed(first: Int, intervals: Int) throws {
                let feed = try NodeProcess(["feed"] + run.common + ["--store", run.directory.appending("input"), "--first", "\(first)",
                                                                    "--intervals", "\(intervals)"],
                                           name: "feed", log: run.directory.appending("feed\(first).log"))
                guard feed.waitForExit(within: .seconds(300)) == 0 else { throw RunFailure("the feed failed: \(feed.output)") }
            }
            try feed(first: 0, intervals: 22)
            try Self.waitForEveryPartition(run, through: 21)
            let trimmed = try Self.waitForExchangesPurgedBehindCheckpoints(run)
            // The same tasks go on with the rest of the input.
            try feed(first: 22, intervals: ClusterExecutionTests.intervals)
            let actual = try run.clusterDigest()
            let log = run.nodes["a"]?.output ?? ""
            run.stopAll()
            return (try single(), actual, log, trimmed, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(ClusterExecutionTests.difference(actual, expected))\n\(logs)")
        let lines = log.split(separator: "\n")
        let failures = lines.filter { $0.contains("trim deletion failed") }
        for p in 0..<ClusterExecutionTests.partitions {
            #expect(failures.contains { $0.contains("partition=\(p)") && $0.contains("subject=") && $0.contains("test fault") },
                    "partition \(p) logged no failed trim deletion:\n\(failures.joined(separator: "\n"))\n\(logs)")
        }
        // No task ended over a trim; any other ending would show here too (none expected).
        let ended = lines.filter { $0.contains("partition task ended") || $0.contains("trimming partition") }
        #expect(ended.isEmpty, "tasks ended: \(ended.joined(separator: "\n"))\n\(logs)")
        print("ClusterRecoveryTests: after failed trim deletions, \(trimmed)")
    }
}
