import StrataStorage

/// The pairs of one (interval, partition) of two co-partitioned keyed streams, grouped by key
/// without copying: for each key, the positions of its left and right pairs as linked lists.
///
/// Key order: the left side's keys in first-seen order, then the keys found only on the right
/// in first-seen order. A key's values keep their order on each side. Keys are equal when their
/// encodings are (`EncodedKeyTable`), as they are routed.
struct KeyGroups<Key: RecordCodable & Hashable, Left: RecordCodable, Right: RecordCodable> {
    let left: ContiguousArray<KeyValue<Key, Left>>
    let right: ContiguousArray<KeyValue<Key, Right>>
    /// Every key, left first-seen keys first.
    private(set) var keys = ContiguousArray<Key>()
    /// How many of `keys` (a prefix) occur on the left.
    private(set) var leftKeyCount = 0
    private var leftFirst = ContiguousArray<Int>(), leftLast = ContiguousArray<Int>(), leftNext: ContiguousArray<Int>
    private var rightFirst = ContiguousArray<Int>(), rightLast = ContiguousArray<Int>(), rightNext: ContiguousArray<Int>

    /// Groups both sides. - Complexity: O(left + right) table lookups.
    init(_ left: ContiguousArray<KeyValue<Key, Left>>, _ right: ContiguousArray<KeyValue<Key, Right>>) {
        self.left = left
        self.right = right
        leftNext = ContiguousArray(repeating: -1, count: left.count)
        rightNext = ContiguousArray(repeating: -1, count: right.count)
        var table = EncodedKeyTable(routing: false)
        var scratch = BinaryWriter(capacity: 64)
        for index in left.indices {
            let (k, inserted) = table.index(of: left[index].key, scratch: &scratch)
            if !inserted {
                leftNext[leftLast[k]] = index
                leftLast[k] = index
            } else {
                keys.append(left[index].key)
                leftFirst.append(index)
                leftLast.append(index)
                rightFirst.append(-1)
                rightLast.append(-1)
            }
        }
        leftKeyCount = keys.count
        for index in right.indices {
            let (k, inserted) = table.index(of: right[index].key, scratch: &scratch)
            if !inserted {
                if rightLast[k] < 0 { rightFirst[k] = index } else { rightNext[rightLast[k]] = index }
                rightLast[k] = index
            } else {
                keys.append(right[index].key)
                leftFirst.append(-1)
                leftLast.append(-1)
                rightFirst.append(index)
                rightLast.append(index)
            }
        }
    }

    /// Whether key number `k` has left values.
    func hasLeft(_ k: Int) -> Bool { leftFirst[k] >= 0 }
    /// Whether key number `k` has right values.
    func hasRight(_ k: Int) -> Bool { rightFirst[k] >= 0 }

    /// Calls `body` with key number `k`'s left values, in order.
    func forEachLeft(_ k: Int, _ body: (Left) throws -> Void) rethrows {
        var index = leftFirst[k]
        while index >= 0 {
            try body(left[index].value)
            index = leftNext[index]
        }
    }

    /// Calls `body` with every (left value, right value) of key number `k`: left values in
    /// order, each with every right value in order.
    func forEachMatch(_ k: Int, _ body: (Left, Right) throws -> Void) rethrows {
        try forEachLeft(k) { v in try forEachRight(k) { w in try body(v, w) } }
    }

    /// Calls `body` with key number `k`'s right values, in order.
    func forEachRight(_ k: Int, _ body: (Right) throws -> Void) rethrows {
        var index = rightFirst[k]
        while index >= 0 {
            try body(right[index].value)
            index = rightNext[index]
        }
    }
}

extension DStream {
    /// Shuffles this stream and `other` by the stable key hash to the same partition count (two
    /// exchange vertices), then reads both shuffle streams for each (interval, partition) and
    /// applies `kernel` to their grouped pairs.
    ///
    /// The result's vertex processes an interval once both sides sealed it, if either side has
    /// records in it.
    func coPartitioned<Key: RecordCodable & Hashable, Value: RecordCodable, Other: RecordCodable, Out: RecordCodable>(
        _ kind: String, _ other: DStream<KeyValue<Key, Other>>, partitions: Int?,
        _ kernel: @escaping @Sendable (KeyGroups<Key, Value, Other>) throws -> ContiguousArray<Out>
    ) -> DStream<Out> where Record == KeyValue<Key, Value> {
        guard other.builder === builder, other.input.intervalLength == input.intervalLength else {
            builder.fail(EngineError.misuse(
                "\(kind): both streams must belong to the same program and share the interval length "
                + "(\(input.intervalLength) vs \(other.input.intervalLength))"))
            return invalid(kind)
        }
        let count = partitions ?? Int(max(partitionCount, other.partitionCount))
        guard let left = keyExchange(kind + ".left", partitions: count, as: KeyValue<Key, Value>.self, prepare: { $0 }),
              let right = other.keyExchange(kind + ".right", partitions: count, as: KeyValue<Key, Other>.self,
                                            prepare: { $0 })
        else { return invalid(kind) }
        let log = builder.log
        return DStream<Out>(builder: builder, inputs: [left, right], partitionCount: left.partitions,
                            chain: "\(kind)(\(left.name),\(right.name))") { interval, partition, codec in
            let leftPairs: ContiguousArray<KeyValue<Key, Value>> =
                try PartitionReader.read(log, left, interval, partition, codec: &codec)
            let rightPairs: ContiguousArray<KeyValue<Key, Other>> =
                try PartitionReader.read(log, right, interval, partition, codec: &codec)
            return try kernel(KeyGroups(leftPairs, rightPairs))
        }
    }
}
