import StrataStorage

/// Which live node runs each partition of a program: sticky rendezvous (highest-random-weight)
/// hashing with XXH64, balanced so that every node gets ⌊P/N⌋ or ⌈P/N⌉ of the P partitions.
///
/// Every node computes the assignment itself from the same inputs — the program's name, its
/// partition count, the live node names (the cluster's membership bucket) and the partitions'
/// current owners (their leases) — so nodes agree without talking to each other. The result
/// depends on nothing else: not on the order the names come in, not on `Hasher` (seeded per
/// process), the clock or a `Dictionary`.
///
/// Each (partition, node) pair has a weight `XXH64("PROGRAM/pP\0NODE")`. Each node gets a
/// capacity, ⌊P/N⌋, and ⌈P/N⌉ for the `P mod N` nodes that own the most partitions now (ties: name
/// bytes). A live owner keeps up to its capacity of its partitions (those it weighs most); the
/// others go, pairs in order of falling weight (ties: node name bytes, then partition), to nodes
/// below capacity. So a node leaving moves exactly its own partitions, and a node joining takes
/// exactly its share from the others; with no current owners it is plain rendezvous hashing
/// under the capacities (`PartitionAssignmentTests`).
///
/// `PartitionAssignment` is a `Sendable` value.
package struct PartitionAssignment: Sendable, Equatable {
    /// The program whose partitions are assigned.
    package let program: String
    /// For each partition, the name of the node that runs it.
    package let owners: [String]

    /// Assigns `partitions` partitions of `program` to `nodes` (duplicates ignored), keeping what
    /// it can of `current` (per partition, its current owner; missing or `nil`: none).
    ///
    /// - Precondition: `nodes` is not empty.
    /// - Complexity: O(P·N·log(P·N)).
    package init(program: String, partitions: Int, nodes: some Sequence<String>, current: [String?] = []) {
        self.program = program
        let names = Array(Set(nodes)).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        precondition(!names.isEmpty, "an assignment needs at least one node")
        guard partitions > 0 else {
            owners = []
            return
        }
        var index: [String: Int] = [:]  // lookup only
        for (n, name) in names.enumerated() { index[name] = n }
        let weights = (0..<partitions).map { p in names.map { Self.weight(program: program, partition: p, node: $0) } }
        // Current owners that are alive.
        let held: [Int?] = (0..<partitions).map { p in p < current.count ? current[p].flatMap { index[$0] } : nil }
        var heldCount = [Int](repeating: 0, count: names.count)
        for case let n? in held { heldCount[n] += 1 }
        // Capacities: the extra partition goes to the nodes holding most (ties: name bytes).
        var capacity = [Int](repeating: partitions / names.count, count: names.count)
        let byHeld = names.indices.sorted { heldCount[$0] != heldCount[$1] ? heldCount[$0] > heldCount[$1] : $0 < $1 }
        for n in byHeld.prefix(partitions % names.count) { capacity[n] += 1 }
        var owner = [Int](repeating: -1, count: partitions)
        var load = [Int](repeating: 0, count: names.count)
        // Owners keep what they weigh most, up to capacity.
        for n in names.indices where heldCount[n] > 0 {
            let mine = (0..<partitions).filter { held[$0] == n }
                .sorted { weights[$0][n] != weights[$1][n] ? weights[$0][n] > weights[$1][n] : $0 < $1 }
            for p in mine.prefix(capacity[n]) {
                owner[p] = n
                load[n] += 1
            }
        }
        // The rest by rendezvous weight. Names are sorted by their bytes, so the node index breaks
        // ties in byte order: a total order.
        var pairs: [(weight: UInt64, node: Int, partition: Int)] = []
        pairs.reserveCapacity(partitions * names.count)
        for p in 0..<partitions where owner[p] < 0 {
            for n in names.indices { pairs.append((weights[p][n], n, p)) }
        }
        pairs.sort { a, b in
            if a.weight != b.weight { return a.weight > b.weight }
            if a.node != b.node { return a.node < b.node }
            return a.partition < b.partition
        }
        for pair in pairs where owner[pair.partition] < 0 && load[pair.node] < capacity[pair.node] {
            owner[pair.partition] = pair.node
            load[pair.node] += 1
        }
        owners = owner.map { names[$0] }
    }

    /// The rendezvous weight of `node` for partition `partition` of `program`: XXH64 of the bytes
    /// `PROGRAM/pPARTITION`, a zero byte and `NODE`. Part of the cluster protocol: every node
    /// must compute the same weights.
    package static func weight(program: String, partition: Int, node: String) -> UInt64 {
        var bytes = Array("\(program)/p\(partition)".utf8)
        bytes.append(0)
        bytes.append(contentsOf: node.utf8)
        return XXH64.hash(bytes)
    }

    /// The partitions `node` runs, in increasing order.
    package func partitions(of node: String) -> [Int] {
        owners.indices.filter { owners[$0] == node }
    }
}
