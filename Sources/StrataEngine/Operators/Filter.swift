import StrataStorage

extension DStream {
    /// Keeps the records for which `isIncluded` returns true, in order (a stream declared
    /// partitioned by key stays so: `assumingPartitionedByKey()`).
    public func filter(_ isIncluded: @escaping @Sendable (Record) throws -> Bool) -> DStream<Record> {
        narrow("filter", keepsKeys: true) { batch in
            var output = ContiguousArray<Record>()
            for record in batch where try isIncluded(record) { output.append(record) }
            return output
        }
    }
}
