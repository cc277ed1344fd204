import Foundation
import Strata
import StrataCluster
import StrataClusterTestSupport
import StrataStorage
import StrataTestSupport
import Synchronization
import Testing

/// Replicated streams against a real 3-node JetStream cluster: publish, restore, follow, retention.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"))
struct ReplicationTests {
    @Test func restoredStoreHoldsTheSameBlocksAndSeals() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread {
            let options = clusterOptions(cluster, node: "a", namespace: uniqueName("rs"))
            let source = try TemporaryDirectory()
            let store = try Store(at: source.appending("store"))
            try fillCounts(store, "views", intervals: 0..<25)
            try fillBigBlock(store, "blobs", interval: 7)
            let replicator = try ClusterReplicator(store: store, options: options)
            let reports = try replicator.replicateAll()
            #expect(reports.map(\.stream) == ["blobs", "blobs.late", "views", "views.late"])
            let views = try #require(reports.first { $0.stream == "views" })
            #expect(views.replicatedBefore == nil && views.replicatedThrough == Interval(24))
            #expect(views.intervals == 20 && views.duplicates == 0)
            let blobs = try #require(reports.first { $0.stream == "blobs" })
            // One block of about 3 MiB: several pieces under the 1 MiB maximum payload.
            #expect(blobs.intervals == 1 && blobs.blockMessages >= 3)
            #expect(try replicator.replicatedThrough(stream: "views") == Interval(24))
            // Nothing new: nothing published.
            let again = try replicator.replicate(stream: "views")
            #expect(!again.changed && again.intervals == 0 && again.blockMessages == 0)

            // A store whose disk is gone: rebuilt from JetStream, byte for byte.
            let target = try TemporaryDirectory()
            let restored = try Store(at: target.appending("store"))
            let follower = try ClusterFollower(store: restored, options: options)
            #expect(try follower.replicatedStreams() == ["blobs", "blobs.late", "views", "views.late"])
            let restoredReports = try follower.restoreAll()
            #expect(restoredReports.first { $0.stream == "views" }?.sealedAfter == Interval(24))
            #expect(try image(of: restored, "views") == image(of: store, "views"))
            #expect(try image(of: restored, "blobs") == image(of: store, "blobs"))
            #expect(try restored.info(of: "views").descriptor.partitions == 3)
            let verified = try restored.verify()
            #expect(verified.problems.isEmpty, "\(verified.problems)")
            #expect(try !follower.restore(stream: "views").changed)

            // More intervals: published and restored incrementally.
            try fillCounts(store, "views", intervals: 25..<31)
            #expect(try replicator.replicate(stream: "views").replicatedThrough == Interval(30))
            let incremental = try follower.restore(stream: "views")
            #expect(incremental.sealedBefore == Interval(24) && incremental.sealedAfter == Interval(30))
            #expect(try image(of: restored, "views") == image(of: store, "views"))
        }
    }

    @Test func followerWritesEachIntervalSealedInTheCluster() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread {
            let options = clusterOptions(cluster, node: "a", namespace: uniqueName("fw"))
            let source = try TemporaryDirectory()
            let store = try Store(at: source.appending("store"))
            try fillCounts(store, "views", intervals: 0..<6)
            let replicator = try ClusterReplicator(store: store, options: options)
            try replicator.replicate(stream: "views")

            let target = try TemporaryDirectory()
            let copy = try Store(at: target.appending("store"))
            let follower = try ClusterFollower(store: copy, options: clusterOptions(cluster, node: "b", namespace: options.namespace))
            let state = FollowState()
            let following = DispatchGroup()
            following.enter()
            Thread {
                do {
                    try follower.follow(stream: "views", pollInterval: .milliseconds(100),
                                        shouldStop: { state.stop.load(ordering: .relaxed) }) { _ in
                        state.rounds.add(1, ordering: .relaxed)
                    }
                } catch let error as ClusterError {
                    state.failure.withLock { $0 = error }
                } catch {
                    state.failure.withLock { $0 = .replication("\(error)") }
                }
                following.leave()
            }.start()
            // The follower's first round wrote intervals 0–5 before anything more is sealed, so
            // what follows reaches it in later rounds however the threads are scheduled.
            let firstRound = waitUntil(within: .seconds(120)) {
                (try? copy.info(of: "views").frontier.sealedThrough) == Interval(5) || state.failure.withLock { $0 } != nil
            }
            if !firstRound { state.stop.store(true, ordering: .relaxed) }
            try #require(firstRound && state.failure.withLock { $0 } == nil,
                         "follower at \(String(describing: try? copy.info(of: "views").frontier)): \(String(describing: state.failure.withLock { $0 }))")
            // Background replication: each local seal is published without a call.
            replicator.start()
            for start in stride(from: 6, to: 21, by: 5) {
                try fillCounts(store, "views", intervals: UInt64(start)..<UInt64(start + 5))
            }
            let caughtUp = waitUntil(within: .seconds(120)) {
                (try? copy.info(of: "views").frontier.sealedThrough) == Interval(20)
            }
            state.stop.store(true, ordering: .relaxed)
            replicator.stop()
            _ = following.wait(timeout: .now() + 120)
            #expect(caughtUp, "follower at \(String(describing: try? copy.info(of: "views").frontier))")
            #expect(state.failure.withLock { $0 } == nil)
            #expect(replicator.lastError == nil)
            #expect(state.rounds.load(ordering: .relaxed) >= 2)
            #expect(try image(of: copy, "views") == image(of: store, "views"))
        }
    }

    @Test func retentionDropsOldIntervalsOnBothSides() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread {
            let options = clusterOptions(cluster, node: "a", namespace: uniqueName("rt"))
            let source = try TemporaryDirectory()
            let store = try Store(at: source.appending("store"))
            try fillCounts(store, "views", intervals: 0..<12)
            let replicator = try ClusterReplicator(store: store, options: options)
            try replicator.replicate(stream: "views")
            let names = replicator.names(of: "views")
            let before = try #require(try replicator.jetStream.streamInfo(names.jetStreamName))

            // Keep the last 5 intervals from now on: the store drops older ones at its next seal,
            // and the replicator purges them from JetStream.
            try store.setRetention(.intervals(5), of: "views")
            try fillCounts(store, "views", intervals: 12..<20, retention: .intervals(5))
            #expect(try store.info(of: "views").frontier.retainedFrom == Interval(15))
            let report = try replicator.replicate(stream: "views")
            #expect(report.purgedBefore == Interval(15))
            let after = try #require(try replicator.jetStream.streamInfo(names.jetStreamName))
            #expect(after.messages < before.messages)
            let blocks = try replicator.jetStream.messages(stream: names.jetStreamName, subject: names.partitionsSubject)
            #expect(!blocks.isEmpty && blocks.allSatisfy { Int($0.header("Strata-Interval") ?? "") ?? 0 >= 15 })
            let firstSeal = try replicator.jetStream.messages(stream: names.jetStreamName, subject: names.sealSubject).first
            #expect(firstSeal?.header("Strata-Interval") == "15")

            let target = try TemporaryDirectory()
            let restored = try Store(at: target.appending("store"))
            try ClusterFollower(store: restored, options: options).restore(stream: "views")
            let info = try restored.info(of: "views")
            #expect(info.descriptor.retention == .intervals(5))
            #expect(info.frontier.firstReadable == Interval(15) && info.frontier.sealedThrough == Interval(19))
            #expect(try image(of: restored, "views") == image(of: store, "views"))
        }
    }

    @Test func nodeWithoutCredentialsIsRefusedAndPublishesNothing() async throws {
        try await onOwnThread {
            let cluster = try NATSCluster(nodeCount: 1, authentication: .userPassword(user: "strata", password: "pw"))
            let source = try TemporaryDirectory()
            let store = try Store(at: source.appending("store"))
            try fillCounts(store, "views", intervals: 0..<3)
            var anonymous = clusterOptions(cluster, node: "intruder", namespace: "strata", replicas: 1)
            anonymous.credentials = .none
            do {
                _ = try ClusterReplicator(store: store, options: anonymous)
                Issue.record("a node without credentials connected")
            } catch let error as ClusterError {
                #expect(error.isAuthorizationFailure, "\(error)")
            }
            let allowed = try NATSConnection(cluster.connectionOptions(name: "checker"))
            #expect(try allowed.jetStream().streamNames().isEmpty)
            // With the credentials the same store replicates.
            let replicator = try ClusterReplicator(store: store, options: clusterOptions(cluster, node: "a", namespace: "strata", replicas: 1))
            #expect(try replicator.replicate(stream: "views").replicatedThrough == Interval(2))
            cluster.stop()
        }
    }

    @Test func namesRoundTripThroughSubjectTokens() {
        for name in ["views", "a.b.c", "PROGRAM.v1.out", "x_y", "_._", "a__b.late", "UP-down_9"] {
            let names = ClusterNames(namespace: "strata", stream: name)
            #expect(!names.token.contains("."))
            #expect(ClusterNames.stream(ofJetStream: names.jetStreamName, namespace: "strata") == name)
        }
        #expect(ClusterNames.stream(ofJetStream: "OTHER_views", namespace: "strata") == nil)
        #expect(ClusterNames.stream(ofJetStream: "STRATA_bad_x", namespace: "strata") == nil)
        #expect(throws: ClusterError.self) { try ClusterOptions(urls: ["nats://x"], node: "a", namespace: "a.b").validate() }
        #expect(throws: ClusterError.self) { try ClusterOptions(urls: [], node: "a").validate() }
        #expect(throws: ClusterError.self) { try ClusterOptions(urls: ["nats://x"], node: "a", replicas: 7).validate() }
    }
}

/// What a follower thread and the test share.
private final class FollowState: Sendable {
    let stop = Atomic<Bool>(false)
    let rounds = Atomic<Int>(0)
    let failure = Mutex<ClusterError?>(nil)
}
