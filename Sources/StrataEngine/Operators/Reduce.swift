import StrataStorage

extension DStream {
    /// Combines all records of each interval into one with `combine`, which must be associative:
    /// one record per interval that has records, none for an empty interval.
    ///
    /// Order: each input partition is reduced left to right in record order, then the partial
    /// results are combined in input-partition order, so a non-commutative `combine` gives the
    /// same result in every run (but may depend on the input's partition count). The partials
    /// are shuffled to the single partition of a durable stream `PROGRAM.vN.shuffle`; the result
    /// is a stream of one partition.
    ///
    /// - Complexity: O(records) calls of `combine` per interval.
    public func reduce(_ combine: @escaping @Sendable (Record, Record) throws -> Record) -> DStream<Record> {
        guard let shuffle = exchange("reduce", partitions: 1, prepare: { batch in
            try Self.fold(batch, combine)
        }, route: { _, _, _, _, _ in 0 }) else { return invalid("reduce") }
        return reading(shuffle, chain: "reduce") { (partials: ContiguousArray<Record>) in
            try Self.fold(partials, combine)
        }
    }

    /// `records` combined left to right: empty or one record.
    static func fold(_ records: ContiguousArray<Record>, _ combine: (Record, Record) throws -> Record) rethrows
        -> ContiguousArray<Record>
    {
        guard var result = records.first else { return [] }
        for record in records.dropFirst() { result = try combine(result, record) }
        return [result]
    }
}
