import Foundation
import Strata
import StrataCluster
import StrataClusterTestSupport
import StrataStorage
import StrataTestSupport
import Testing

/// Faults of the NATS servers while a store replicates: real processes, SIGKILL.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"))
struct NATSFaultTests {
    @Test func killingTheStreamLeaderMidIngestLosesNothingAcknowledged() async throws {
        try await onOwnThread(within: .seconds(900)) {
            let cluster = try NATSCluster()
            var options = clusterOptions(cluster, node: "a", namespace: "kill")
            // Short requests: a publish caught by the leader's death fails fast and is retried.
            options.requestTimeout = .seconds(5)
            let source = try TemporaryDirectory()
            let store = try Store(at: source.appending("store"))
            let stream = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 3)
            let appender = try stream.explicitAppender()
            let replicator = try ClusterReplicator(store: store, options: options)
            let names = replicator.names(of: "views")
            var acknowledged: Interval?
            var killed: Int?
            var failedRounds = 0
            for t in UInt64(0)..<30 {
                for index in 0..<50 {
                    try appender.append(KeyValue("k\(index % 17)", Int64(t * 100) + Int64(index)), interval: Interval(t))
                }
                try appender.seal(through: Interval(t))
                if t == 12 {
                    // SIGKILL the node leading the stream's Raft group, with interval 12 sealed locally only.
                    let leader = try replicator.jetStream.streamInfo(names.jetStreamName)?.leader
                    let index = cluster.nodes.firstIndex { $0.name == leader } ?? 0
                    cluster.kill(node: index)
                    killed = index
                }
                // An ingest is acknowledged once replicated: retry until JetStream has elected a new leader.
                try poll(within: .seconds(180), what: "replication through interval \(t)") {
                    do {
                        let report = try replicator.replicate(stream: "views")
                        guard report.replicatedThrough == Interval(t) else {
                            throw ClusterError.replication("replicated through \(String(describing: report.replicatedThrough))")
                        }
                    } catch {
                        failedRounds += 1
                        throw error
                    }
                }
                acknowledged = Interval(t)
            }
            #expect(acknowledged == Interval(29))
            #expect(killed != nil)
            let expected = try image(of: store, "views")

            // The disk is gone: rebuild from the two surviving servers.
            let target = try TemporaryDirectory()
            let restored = try Store(at: target.appending("store"))
            let survivors = cluster.nodes.indices.filter { $0 != killed }
            var survivorOptions = options
            survivorOptions.urls = survivors.map { cluster.nodes[$0].url }
            do {
                try ClusterFollower(store: restored, options: survivorOptions).restoreAll()
            } catch {
                Issue.record("restore from the survivors: \(error)\n\(cluster.logTails(lines: 30))")
                throw error
            }
            #expect(try image(of: restored, "views") == expected)
            #expect(try restored.verify().isClean)

            // The killed server comes back and catches up; its data serves a restore too.
            if let killed {
                try cluster.restart(node: killed)
                let back = try TemporaryDirectory()
                let again = try Store(at: back.appending("store"))
                var onlyRestarted = options
                onlyRestarted.urls = [cluster.nodes[killed].url]
                // A restore is incremental: repeat it until the restarted server has caught up
                // (one observed run restored less than everything while it was catching up).
                try poll(within: .seconds(180), what: "a whole restore through the restarted server") {
                    let report = try ClusterFollower(store: again, options: onlyRestarted).restore(stream: "views")
                    let restored = try image(of: again, "views")
                    guard restored == expected else {
                        throw ClusterError.replication("restored through \(String(describing: report.sealedAfter)) "
                                                       + "(\(restored.blocks.count) blocks), expected through "
                                                       + "\(String(describing: expected.sealedThrough)) (\(expected.blocks.count) blocks)")
                    }
                }
                #expect(try image(of: again, "views") == expected)
            }
            cluster.stop()
        }
    }
}
