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
            // A lease outlives a loaded machine's stalled renewals (3 s did not, about once in 12
            // runs: b's partitions then moved to a and back, and a kept the stores it had run past
            // the checkpoint — `aSurvivorThatRanAPartitionPastItsCheckpointKeepsItsStore` — leaving
            // nothing to restore here); b's partitions move 10 s after its kill.
            try run.start(node: "a", leaseTTLMs: 10_000)
            try run.start(node: "b", leaseTTLMs: 10_000)
            // b holds its share before any input: otherwise a, started first, may run b's partitions
            // through the whole feed before b takes them (a join waits for a round of each node),
            // and keep those stores when b dies (seen with the 10 s lease).
            try run.waitForOwners(["a", "b"])
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
            _ = try Self.waitForEveryCheckpoint(run, through: 19)
            // Behind the checkpoints kept (at the snapshots 9 and 19), the exchange messages are
            // gone; what follows restores from them all the same.
            _ = try Self.waitForExchangesPurgedBehindCheckpoints(run)
            let taken = try Self.partitions(of: "b", in: run)
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
            // What a's tasks did when they took b's partitions over (docs/cluster.md, "Recovery").
            let restored = try Self.takenOverStores(run, node: "a", partitions: taken)
            #expect(restored.count == taken.count, "a tells of no takeover of some of b's partitions \(taken): \(restored.map(\.summary))")
            return (try single(), actual, restored, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(ClusterExecutionTests.difference(actual, expected))\n\(logs)")
        #expect(restored.contains { $0.takeOver == .installed(through: $0.takeOver.through) },
                "no partition was restored from a checkpoint: \(restored.map(\.summary))\n\(logs)")
        #expect(logs.contains("partition restored from its checkpoint"), "\(logs)")
        for store in restored {
            // b's checkpoints were through 19 at the kill: what a took over resumes there at the earliest.
            #expect(store.takeOver.through >= 19, "\(store.summary)\n\(logs)")
            Self.expectWhatATakeOverComputed(store, logs: logs)
        }
    }

    /// Regression (ClusterRecoveryTests under load, once in about 12 runs: a's store of partition 2,
    /// input kept from 19, recorded computed intervals 11–29 against a checkpoint through 19): a
    /// partition's lease moves to a survivor and back before its owner dies, as when an owner's
    /// renewals stall for a TTL. Here b is SIGSTOPped past its TTL at interval 11: a takes its
    /// partitions over from their checkpoints (through 9) and computes through 21 and the
    /// checkpoints through 19; b resumes and takes its share back (installing those); then b is
    /// SIGKILLed. a's stores of b's last partitions are at or past the newest checkpoint: a keeps
    /// them (`ClusterTask.openRestoring`) and says so, and their timing rows are what they
    /// computed since the first takeover — intervals at or before the checkpoint's `through` among
    /// them, which the old check of `aSurvivorRestoresTheDeadNodesPartitionsFromCheckpoints` took
    /// for a restored store claiming intervals it did not compute. The outputs are the single-node run's.
    @Test func aSurvivorThatRanAPartitionPastItsCheckpointKeepsItsStore() async throws {
        let cluster = try await SharedNATSCluster.get()
        let (expected, actual, stores, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try ClusterExecutionTests.startSingleDigest()
            let run = try Run(cluster: cluster, namespace: uniqueName("keep"))
            defer { run.stopAll() }
            try run.start(node: "a", leaseTTLMs: 3000)
            try run.start(node: "b", leaseTTLMs: 3000)
            try run.waitForOwners(["a", "b"])
            func feed(first: Int, intervals: Int) throws {
                let feed = try NodeProcess(["feed"] + run.common + ["--store", run.directory.appending("input"), "--first", "\(first)",
                                                                    "--intervals", "\(intervals)"],
                                           name: "feed", log: run.directory.appending("feed\(first).log"))
                guard feed.waitForExit(within: .seconds(300)) == 0 else { throw RunFailure("the feed failed: \(feed.output)") }
            }
            try feed(first: 0, intervals: 12)
            try Self.waitForEveryPartition(run, through: 11)
            _ = try Self.waitForEveryCheckpoint(run, through: 9)
            // b stops renewing: past its TTL a takes its partitions over and fences them.
            run.nodes["b"]?.signal(SIGSTOP)
            let pid = run.nodes["b"]?.process.processIdentifier ?? 0
            guard waitUntil(within: .seconds(30), { ClusterExecutionTests.processState(pid) == "T" }) else {
                throw RunFailure("b did not stop")
            }
            try run.waitForOwners(["a"])
            try feed(first: 12, intervals: 22)
            try Self.waitForEveryPartition(run, through: 21)
            _ = try Self.waitForEveryCheckpoint(run, through: 19)
            // b resumes and takes its share back from a.
            run.nodes["b"]?.signal(SIGCONT)
            guard waitUntil(within: .seconds(30), { ClusterExecutionTests.processState(pid) != "T" }) else {
                throw RunFailure("b did not resume")
            }
            try run.waitForOwners(["a", "b"])
            let taken = try Self.partitions(of: "b", in: run)
            run.nodes["b"]?.signal(SIGKILL)
            _ = run.nodes["b"]?.waitForExit()
            try run.waitForOwners(["a"])
            try feed(first: 22, intervals: ClusterExecutionTests.intervals)
            let actual = try run.clusterDigest()
            run.stopAll()
            let stores = try Self.takenOverStores(run, node: "a", partitions: taken)
            #expect(stores.count == taken.count, "a tells of no takeover of some of b's partitions \(taken): \(stores.map(\.summary))")
            return (try single(), actual, stores, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(ClusterExecutionTests.difference(actual, expected))\n\(logs)")
        #expect(!stores.isEmpty, "\(logs)")
        for store in stores {
            #expect(store.takeOver == .kept(through: store.takeOver.through) && store.takeOver.through >= 19,
                    "a's store of b's partition was not kept at its last takeover: \(store.summary)\n\(logs)")
            // What it computed in its first ownership, from the checkpoint through 9: before the
            // checkpoint it keeps reading after.
            #expect(store.computed.contains { $0 <= store.takeOver.through }, "\(store.summary)")
            Self.expectWhatATakeOverComputed(store, logs: logs)
        }
    }

    /// The partitions whose owner (the progress key's, written as a task takes one over) is `node`.
    static func partitions(of node: String, in run: Run) throws -> [Int] {
        let connection = try NATSConnection(run.cluster.connectionOptions(name: "owners"))
        let status = try ExecutionStatus.read(jetStream: try connection.jetStream(),
                                              names: ExecutionNames(namespace: run.namespace, program: "demo"))
        return status.partitions.filter { $0.owner == node }.map(\.partition).sorted()
    }

    /// How a node's task of a partition began, from the node's log line about it
    /// (`ClusterNode.round`): the newest complete checkpoint installed into a fresh store, or the
    /// store the node had kept from an earlier ownership of the partition — at or past that
    /// checkpoint — read on from the checkpoint's position (`ClusterTask.openRestoring`).
    enum TakeOver: Equatable {
        case installed(through: UInt64)
        case kept(through: UInt64)

        /// The `through` of the newest complete checkpoint at the takeover.
        var through: UInt64 {
            switch self {
            case .installed(let through), .kept(let through): through
            }
        }

        /// The last takeover of `partition` that `log` (a node's) tells of, with a checkpoint in
        /// JetStream; `nil`: none.
        static func last(of partition: Int, in log: String) -> TakeOver? {
            for line in log.split(separator: "\n").reversed() where line.contains("partition=\(partition) ") {
                let installed = line.contains("partition restored from its checkpoint")
                guard installed || line.contains("partition store kept; reading from its checkpoint's position"),
                      let field = line.split(separator: " ").first(where: { $0.hasPrefix("through=") }),
                      let through = UInt64(field.dropFirst("through=".count)) else { continue }
                return installed ? .installed(through: through) : .kept(through: through)
            }
            return nil
        }
    }

    /// A store of a survivor for a partition it took over once another node died.
    struct TakenOverStore {
        var partition: Int
        var takeOver: TakeOver
        /// The input's first kept interval in the store (`views`).
        var retainedFrom: UInt64
        /// The intervals the store's vertices have timing rows for: those it computed itself.
        var computed: [UInt64]
        /// How many times the node acquired the partition's lease in the run.
        var acquisitions: Int

        var summary: String {
            "partition \(partition): \(takeOver), input kept from \(retainedFrom), computed \(computed), "
                + "acquired \(acquisitions) times"
        }
    }

    /// Reads, once the nodes have stopped, `node`'s stores of `partitions` and how its last
    /// takeover of each began (`TakeOver`); partitions it never took over from a checkpoint are left out.
    static func takenOverStores(_ run: Run, node: String, partitions: [Int]) throws -> [TakenOverStore] {
        let log = run.nodes[node]?.output ?? ""
        var result: [TakenOverStore] = []
        for p in partitions {
            guard let takeOver = TakeOver.last(of: p, in: log) else { continue }
            let path = run.directory.appending(node) + "/demo.p\(p)"
            // The node has stopped; its stores close once the last reference is gone.
            var store: Store?
            _ = waitUntil(within: .seconds(60)) {
                store = try? Store(at: path)
                return store != nil
            }
            let opened = try #require(store, "\(node)'s store of partition \(p) does not open")
            let views = try #require(try opened.logStore.descriptor(named: "views"))
            let frontier = try opened.logStore.frontier(of: views)
            var computed: [UInt64] = []
            for (vertex, _) in try opened.logStore.progressMarks(prefix: "demo.") {
                computed += try opened.logStore.vertexTimings(of: vertex).map(\.interval.rawValue)
            }
            let acquisitions = log.split(separator: "\n").filter {
                $0.contains("partition acquired") && $0.contains("partition=\(p) ")
            }.count
            result.append(TakenOverStore(partition: p, takeOver: takeOver, retainedFrom: frontier.retainedFrom.rawValue,
                                         computed: Array(Set(computed)).sorted(), acquisitions: acquisitions))
        }
        return result
    }

    /// What a store a survivor took over holds and computed, by how the takeover began.
    ///
    /// Installed: each stateful vertex loads its snapshot (19) and replays the intervals after it,
    /// every other vertex continues after its own progress (at or past 19: the map over `views`
    /// may have gone on to 21 before the checkpoint was taken). So every vertex computes only
    /// intervals after the checkpoint's `through`, the smallest of those; and the input `views` is
    /// kept from the first interval its earliest reader resumes at, less the program's longest
    /// window (`Program.lookback`: the 3-interval window reads back that far) — at or after
    /// `through` + 1 − 3, and possibly later than where a stateful vertex downstream of the
    /// exchange resumes (it reads the gathered stream, not `views`), so the two are not compared.
    ///
    /// Kept: the node ran the partition before (its lease had moved to it and back: a node whose
    /// renewals stalled under load for a TTL), and its store was at or past the checkpoint, so it
    /// goes on with it. Its timing rows are what it computed in that earlier ownership too —
    /// intervals at or before `through` among them, from the checkpoint it restored then: true
    /// timings of this store, not a claim about the checkpoint it keeps reading after.
    static func expectWhatATakeOverComputed(_ store: TakenOverStore, logs: String) {
        let lookback: UInt64 = 3
        switch store.takeOver {
        case .installed(let through):
            #expect(store.retainedFrom + lookback >= through + 1, "\(store.summary)")
            #expect(store.computed.allSatisfy { $0 > through },
                    "a store installed from the checkpoint through \(through) computed intervals at or before it: \(store.summary)\n\(logs)")
            #expect(store.computed.count < ClusterExecutionTests.intervals - 5,
                    "partition \(store.partition) computed \(store.computed.count) intervals: replayed from the start?")
        case .kept:
            #expect(store.acquisitions >= 2, "a store kept without an earlier ownership: \(store.summary)\n\(logs)")
        }
        print("ClusterRecoveryTests: \(store.summary)")
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
