import StrataStorage

/// The records of one sealed interval, partition by partition, in log order.
///
/// `IntervalBatch` is `Sendable` when its records are.
public struct IntervalBatch<Record: RecordCodable>: Sendable {
    /// The interval.
    public var interval: Interval
    /// The records of each partition that was read, in (chunk, sequence) order; for a read of one
    /// partition, only that partition's array is non-empty.
    public var partitions: [[Record]]

    /// Creates a batch.
    public init(interval: Interval, partitions: [[Record]]) {
        self.interval = interval
        self.partitions = partitions
    }

    /// Every record, in (partition, chunk, sequence) order.
    public var records: [Record] { partitions.flatMap { $0 } }

    /// The number of records.
    public var count: Int { partitions.reduce(0) { $0 + $1.count } }
}
