import Foundation
import Strata
@testable import StrataCluster
import StrataClusterTestSupport
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

/// A task reads its partition of a program's input straight from the stream's replica in
/// JetStream (`ReplicatedInput`): the same blocks as the source store, in order, each interval
/// only after its seal, from wherever the task's store stands, and blocks of any size.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"))
struct ReplicatedInputTests {
    /// The blocks of partition `partition` of `stream` in `store` after `after`, as the messages a
    /// task's gatherer should get, in interval and chunk order.
    static func expected(_ store: Store, _ stream: String, partition: UInt32, after: Interval?) throws -> [ExchangeMessage] {
        let log = store.logStore
        let descriptor = try #require(try log.descriptor(named: stream))
        guard let sealed = try log.frontier(of: descriptor).sealedThrough else { return [] }
        var messages: [ExchangeMessage] = []
        for (interval, _) in try log.sealRecords(of: descriptor, in: (after?.next ?? Interval(0))...sealed) {
            try log.withSealedBlocks(of: descriptor, interval: interval) { p, chunk, block in
                guard p.rawValue == partition else { return }
                messages.append(ExchangeMessage(stream: stream, source: 0, target: partition,
                                                body: .block(interval: interval, chunk: chunk.rawValue, bytes: Array(block))))
            }
        }
        return messages
    }

    /// Polls `input` until it has handed on everything through `through`; the messages, seal marks apart.
    static func read(_ input: ReplicatedInput, through: Interval) throws -> (blocks: [ExchangeMessage], sealed: [Interval]) {
        var blocks: [ExchangeMessage] = [], sealed: [Interval] = []
        let done = try waitUntil(within: .seconds(60)) {
            for message in try input.poll(wait: .milliseconds(50)) {
                if case .sealed(let t) = message.body { sealed.append(t) } else { blocks.append(message) }
            }
            return input.through == through
        }
        guard done else { throw NATSClusterError.timedOut("input through \(through)", lastError: "\(String(describing: input.through))") }
        return (blocks, sealed)
    }

    @Test func eachPartitionGetsItsBlocksFromTheReplicaFromWhereItsStoreStands() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread {
            let options = clusterOptions(cluster, node: "a", namespace: uniqueName("input"))
            let directory = try TemporaryDirectory()
            let store = try Store(at: directory.appending("store"))
            // Three partitions, some intervals empty; one stream of one block of about 3 MiB (pieces).
            try fillCounts(store, "views", intervals: 0..<12, partitions: 3)
            try fillBigBlock(store, "blobs", interval: 3)
            let replicator = try ClusterReplicator(store: store, options: options)
            try replicator.replicateAll()
            let jetStream = try NATSConnection(options.connectionOptions).jetStream()
            let views = try #require(try store.logStore.descriptor(named: "views"))

            for partition in UInt32(0)..<3 {
                for committed in [nil, Interval(5)] {
                    let input = ReplicatedInput(jetStream: jetStream, namespace: options.namespace, local: views,
                                                partition: partition, committed: committed)
                    let (blocks, sealed) = try Self.read(input, through: Interval(11))
                    let expected = try Self.expected(store, "views", partition: partition, after: committed)
                    #expect(!expected.isEmpty)
                    #expect(blocks == expected, "partition \(partition) after \(String(describing: committed))")
                    #expect(sealed.last == Interval(11))
                }
            }

            // A reader caught up gets what is sealed and replicated later.
            let input = ReplicatedInput(jetStream: jetStream, namespace: options.namespace, local: views, partition: 1,
                                        committed: nil)
            _ = try Self.read(input, through: Interval(11))
            try fillCounts(store, "views", intervals: 12..<16, partitions: 3)
            try replicator.replicate(stream: "views")
            let (later, sealed) = try Self.read(input, through: Interval(15))
            #expect(later == (try Self.expected(store, "views", partition: 1, after: Interval(11))))
            #expect(sealed == [Interval(15)] || sealed.last == Interval(15))

            // A block larger than the maximum payload arrives in pieces and is put back together.
            let blobs = try #require(try store.logStore.descriptor(named: "blobs"))
            let big = ReplicatedInput(jetStream: jetStream, namespace: options.namespace, local: blobs, partition: 0,
                                      committed: nil)
            let (bigBlocks, _) = try Self.read(big, through: Interval(3))
            #expect(bigBlocks == (try Self.expected(store, "blobs", partition: 0, after: nil)))
            if case .block(_, _, let bytes) = bigBlocks.first?.body { #expect(bytes.count > 1 << 20) }

            // The program's stream must have the replica's shape.
            let other = try Store(at: directory.appending("other"))
            _ = try other.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 4)
            let mismatched = try #require(try other.logStore.descriptor(named: "views"))
            let wrong = ReplicatedInput(jetStream: jetStream, namespace: options.namespace, local: mismatched,
                                        partition: 0, committed: nil)
            #expect {
                _ = try wrong.poll(wait: .milliseconds(10))
            } throws: { error in
                guard case ClusterError.replication(let text) = error else { return false }
                return text.contains("3 partitions") && text.contains("reads 4 partitions")
            }
        }
    }
}
