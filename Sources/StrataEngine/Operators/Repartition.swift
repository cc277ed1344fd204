import StrataStorage

extension DStream {
    /// The same records of each interval spread over `partitions` partitions, round-robin: the
    /// record at position `i` of input partition `p` goes to partition `(p + i) mod partitions`.
    ///
    /// Deterministic: partition `q` holds its records in input-partition order, then in record
    /// order. The records go through a durable stream `PROGRAM.vN.shuffle`; `partitions` must be
    /// 1 to 4096.
    ///
    /// - Complexity: O(records) per interval.
    public func repartition(_ partitions: Int) -> DStream<Record> {
        guard let shuffle = exchange("repartition", partitions: partitions, prepare: { $0 }, route: {
            _, position, partition, count, _ in
            UInt32((UInt64(partition.rawValue) + UInt64(position)) % UInt64(count))
        }) else { return invalid("repartition") }
        return reading(shuffle, chain: "repartition") { (records: ContiguousArray<Record>) in records }
    }
}
