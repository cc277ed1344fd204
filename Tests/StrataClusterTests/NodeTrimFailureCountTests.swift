import Dispatch
import Foundation
import Strata
import StrataClusterTestSupport
import StrataTestSupport
import Testing

@testable import StrataCluster

/// `ClusterNode.trimDeletionFailures` counts the trim failures of every task the node started,
/// those that have ended included. Before, it summed the tasks running now: a partition released
/// to a node that joined took its task's failures out of the count.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"), .serialized)
struct NodeTrimFailureCountTests {
    static let partitions = 2
    /// Each of node a's tasks fails its first this many deletions (`testingFailedTrimDeletions`).
    static let failingPerTask = 2

    @Test func theFailuresOfATaskThatEndedStayCounted() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread(within: .seconds(900), "the nodes") {
            let namespace = uniqueName("trimcount")
            let directory = try TemporaryDirectory(prefix: "strata-trim-count")
            // The input, replicated: a running count's shuffle gives each task exchanges to trim, and
            // a snapshot every 2 intervals checkpoints to trim behind.
            let input = try Store(at: directory.appending("input"))
            try fillCounts(input, "views", intervals: 0..<16, partitions: Self.partitions)
            try ClusterReplicator(store: input, options: clusterOptions(cluster, node: "feed", namespace: namespace))
                .replicate(stream: "views")
            let program = ClusterProgram(name: "tc", partitions: Self.partitions, options: ProgramOptions(snapshotEvery: 2)) { store, options in
                let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1),
                                             partitions: Self.partitions)
                return try Program(name: "tc", store: store, options: options) { p in
                    p.read(views).runningReduce(+).save(as: "counts")
                }
            }
            var running: [(node: ClusterNode, ended: DispatchSemaphore)] = []
            defer {
                // The nodes' tasks close their stores before the directory goes.
                for (node, _) in running { node.stop() }
                for (_, ended) in running { _ = ended.wait(timeout: .now() + .seconds(120)) }
            }
            func start(_ node: String, failing: Int) throws -> ClusterNode {
                var options = ExecutionOptions(connection: cluster.connectionOptions(name: node), node: node,
                                               namespace: namespace, leaseTTL: .seconds(4))
                options.testingFailedTrimDeletions = failing
                let started = try ClusterNode(program: program, options: options, directory: directory.appending(node))
                let ended = DispatchSemaphore(value: 0)
                Thread {
                    started.run()
                    ended.signal()
                }.start()
                running.append((started, ended))
                return started
            }
            let a = try start("a", failing: Self.failingPerTask)
            // Every deletion of a's tasks fails until each has failed its share; the trimmer retries
            // until it deletes, so both tasks get there.
            let all = Self.partitions * Self.failingPerTask
            let counted = waitUntil(within: .seconds(600)) { a.partitions.count == Self.partitions && a.trimDeletionFailures >= all }
            try #require(counted, "a counted \(a.trimDeletionFailures) trim failures, expected \(all) (partitions \(a.partitions))")
            let before = a.trimDeletionFailures
            // b joins: a releases one partition, whose task ends.
            _ = try start("b", failing: 0)
            let moved = waitUntil(within: .seconds(600)) { a.partitions.count == Self.partitions - 1 }
            try #require(moved, "a still runs \(a.partitions)")
            #expect(a.trimDeletionFailures >= before, "a counted \(before) trim failures, and \(a.trimDeletionFailures) once a task ended")
        }
    }
}
