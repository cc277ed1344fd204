import PropertyBased
import StrataStorage
import Testing

@testable import StrataEngine

/// The rendezvous assignment of a program's partitions to live nodes: deterministic, balanced,
/// and moving few partitions when a node joins or leaves.
@Suite struct PartitionAssignmentTests {
    /// 1–6 distinct node names, 1–64 partitions.
    static let nodeCounts = Gen.int(in: 1...6)
    static let partitionCounts = Gen.int(in: 1...64)
    static let seeds = Gen.int(in: 0...1_000_000)

    static func names(_ count: Int, seed: Int) -> [String] { (0..<count).map { "node-\(seed)-\($0)" } }

    @Test func everyNodeGetsItsFloorOrCeilingShare() async {
        await propertyCheck(count: 60, input: Self.nodeCounts, Self.partitionCounts, Self.seeds) { n, p, seed in
            let nodes = Self.names(n, seed: seed)
            let assignment = PartitionAssignment(program: "prog\(seed)", partitions: p, nodes: nodes)
            #expect(assignment.owners.count == p)
            for node in nodes {
                let load = assignment.partitions(of: node).count
                #expect(load == p / n || load == p / n + 1, "node \(node) has \(load) of \(p) partitions over \(n) nodes")
            }
        }
    }

    @Test func theOrderOfTheNodeNamesChangesNothing() async {
        await propertyCheck(count: 40, input: Self.nodeCounts, Self.partitionCounts, Self.seeds) { n, p, seed in
            let nodes = Self.names(n, seed: seed)
            let a = PartitionAssignment(program: "prog", partitions: p, nodes: nodes)
            let b = PartitionAssignment(program: "prog", partitions: p, nodes: nodes.reversed() + nodes.prefix(1))
            #expect(a == b)
        }
    }

    /// A join moves exactly the new node's share, all of it to the new node.
    @Test func aJoinMovesOnlyTheNewNodesShare() async {
        await propertyCheck(count: 80, input: Self.nodeCounts, Self.partitionCounts, Self.seeds) { n, p, seed in
            let nodes = Self.names(n, seed: seed)
            let before = PartitionAssignment(program: "prog\(seed)", partitions: p, nodes: nodes)
            let joiner = "joiner-\(seed)"
            let after = PartitionAssignment(program: "prog\(seed)", partitions: p, nodes: nodes + [joiner],
                                            current: before.owners)
            let moved = zip(before.owners, after.owners).filter { $0 != $1 }
            #expect(moved.allSatisfy { $0.1 == joiner }, "a partition moved between old nodes when \(joiner) joined")
            #expect(moved.count == p / (n + 1) || moved.count == p / (n + 1) + 1)
        }
    }

    /// A leave moves exactly the leaver's partitions.
    @Test func aLeaveMovesOnlyTheLeaversPartitions() async {
        await propertyCheck(count: 80, input: Gen.int(in: 2...6), Self.partitionCounts, Self.seeds) { n, p, seed in
            let nodes = Self.names(n, seed: seed)
            let before = PartitionAssignment(program: "prog\(seed)", partitions: p, nodes: nodes)
            let leaver = nodes[seed % n]
            let after = PartitionAssignment(program: "prog\(seed)", partitions: p, nodes: nodes.filter { $0 != leaver },
                                            current: before.owners)
            for (old, new) in zip(before.owners, after.owners) {
                #expect(old == leaver ? new != leaver : new == old, "a partition of a surviving node moved")
            }
        }
    }

    /// Balance holds whatever the current owners are (even owners that are gone, or all on one node).
    @Test func currentOwnersNeverUnbalanceTheAssignment() async {
        await propertyCheck(count: 60, input: Self.nodeCounts, Self.partitionCounts, Self.seeds) { n, p, seed in
            let nodes = Self.names(n, seed: seed)
            let current: [String?] = (0..<p).map { i in i % 3 == 0 ? nil : i % 3 == 1 ? nodes[0] : "gone-\(i)" }
            let assignment = PartitionAssignment(program: "prog", partitions: p, nodes: nodes, current: current)
            for node in nodes {
                let load = assignment.partitions(of: node).count
                #expect(load == p / n || load == p / n + 1)
            }
        }
    }

    /// Pinned weights: part of the cluster protocol, the same in every process and version.
    @Test func weightsAreXXH64OfProgramPartitionAndNode() {
        #expect(PartitionAssignment.weight(program: "p", partition: 0, node: "a")
                == StrataStorage.XXH64.hash(Array("p/p0\u{0}a".utf8)))
        let a = PartitionAssignment(program: "counts", partitions: 4, nodes: ["n1", "n2", "n3"])
        let b = PartitionAssignment(program: "counts", partitions: 4, nodes: ["n3", "n1", "n2"])
        #expect(a == b)
        #expect(Set(a.owners).count == 3)
    }
}
