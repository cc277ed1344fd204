import Dispatch
import StrataStorage

/// A partitioned collection of records for batch work: what a slice of a stream's intervals is.
///
/// A dataset is a description until an action runs it. Narrow operators (`map`, `filter`,
/// `flatMap`) compose into one function per partition and run fused, record by record, as the
/// partition is read; wide operators (`reduceByKey`, `groupByKey`, `join`) and actions (`count`,
/// `collect`, `topK`) run it: each partition on its own task, all cores busy. Every result is
/// deterministic: partitions are merged in partition order, never in completion order, and keys
/// go to partitions by XXH64 of their encoded bytes (as the engine's shuffles do).
///
/// ```swift
/// let counts = try store.stream(named: "urlCounts", of: KeyValue<String, Int64>.self)
/// let top = try counts.slice("21:00", "21:05").topK(10)          // value descending, ties by key
/// let perURL = try views.slice(from: Interval(100), through: Interval(160))
///     .map { KeyValue($0.url, Int64(1)) }.reduceByKey(+)
/// ```
///
/// Order: a partition's records come in log order — (interval, chunk, sequence) for a slice;
/// `collect()` concatenates the partitions in partition order.
///
/// `Dataset` is `Sendable`; closures given to its operators must be `@Sendable`, because
/// partitions run in parallel. Actions are synchronous: they run their tasks on Dispatch's worker
/// threads (`concurrentPerform`) and block the caller until done, so call them from a thread of
/// your own, not from a task of the cooperative pool. Running the same dataset twice reads the
/// store twice; `cache()` keeps the records in memory.
public struct Dataset<Element: Sendable>: Sendable {
    /// Feeds partition `partition`'s records, in order, to `sink`.
    public typealias Source = @Sendable (_ partition: Int, _ sink: (Element) throws -> Void) throws -> Void
    /// Feeds split `split` of partition `partition` (a run of its records, in order) to `sink`.
    @usableFromInline
    typealias SplitSource = @Sendable (_ partition: Int, _ split: Int, _ sink: (Element) throws -> Void) throws -> Void

    /// The number of partitions.
    public let partitionCount: Int
    /// The number of splits of each partition: its records are the records of split 0, then of
    /// split 1, …; each split runs as its own task (a slice splits each partition's intervals,
    /// so that a partition with more records than the others does not leave cores idle).
    @usableFromInline let splits: Int
    /// Produces one split of one partition.
    @usableFromInline let source: SplitSource

    /// A dataset of `partitionCount` partitions, each produced by `source`.
    ///
    /// - Throws: `.invalidPartitionCount` when `partitionCount` is below 1.
    @inlinable
    public init(partitionCount: Int, source: @escaping Source) throws(TimeTravelError) {
        guard partitionCount >= 1 else { throw .invalidPartitionCount(partitionCount) }
        self.init(partitionCount: partitionCount, splits: 1) { p, _, sink in try source(p, sink) }
    }

    /// A dataset of `partitionCount` partitions of `splits` splits each, produced by `source`.
    ///
    /// - Precondition: `partitionCount >= 1`, `splits >= 1` (internal callers derive both from a
    ///   stream's partitions or a non-empty list; the public initializers check or clamp).
    @inlinable
    init(partitionCount: Int, splits: Int, source: @escaping SplitSource) {
        precondition(partitionCount >= 1 && splits >= 1, "a dataset has at least one partition and one split")
        self.partitionCount = partitionCount
        self.splits = splits
        self.source = source
    }

    /// The number of tasks an action runs: one per split of each partition.
    @inlinable
    var taskCount: Int { partitionCount * splits }

    /// Feeds task `task`'s records (split `task mod splits` of partition `task / splits`) to `sink`.
    @inlinable
    static func run(_ source: @escaping SplitSource, task: Int, splits: Int, _ sink: (Element) throws -> Void) throws {
        try source(task / splits, task % splits, sink)
    }

    /// A dataset of records held in memory, one array per partition (an empty list is one empty partition).
    public init(partitions: [[Element]]) {
        let partitions = partitions.isEmpty ? [[]] : partitions
        self.init(partitionCount: partitions.count, splits: 1) { p, _, sink in
            for element in partitions[p] { try sink(element) }
        }
    }

    /// A dataset of `elements` in memory, split into `partitions` contiguous runs.
    public init(_ elements: [Element], partitions: Int = 1) {
        let count = max(1, partitions)
        let per = (elements.count + count - 1) / count
        var split: [[Element]] = []
        for p in 0..<count {
            let start = min(elements.count, p * per), end = min(elements.count, start + per)
            split.append(Array(elements[start..<end]))
        }
        self.init(partitions: split)
    }

    // MARK: Running

    /// Runs `body` for every partition index, on all cores, and returns the results in partition order.
    ///
    /// - Throws: the error of the lowest-numbered partition that failed.
    @inlinable
    static func runPartitions<R>(_ count: Int, _ body: @Sendable (Int) throws -> R) throws -> [R] {
        if count == 1 { return [try body(0)] }
        var results = [Result<R, any Error>?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { buffer in
            let slots = DisjointSlots(buffer)
            DispatchQueue.concurrentPerform(iterations: count) { p in
                slots[p] = Result { try body(p) }
            }
        }
        var output: [R] = []
        output.reserveCapacity(count)
        for result in results {
            guard let result else { continue }  // unreachable: every iteration stores its result
            output.append(try result.get())
        }
        return output
    }

    /// Runs the dataset and returns each partition's records, in partition order.
    ///
    /// - Throws: what reading the store or a closure throws.
    /// - Complexity: O(records); all of them are held in memory.
    @inlinable
    public func partitions() throws -> [[Element]] {
        let source = self.source, splits = self.splits
        let tasks = try Self.runPartitions(taskCount) { t in
            var records: [Element] = []
            try Self.run(source, task: t, splits: splits) { records.append($0) }
            return records
        }
        if splits == 1 { return tasks }
        return (0..<partitionCount).map { p in Array(tasks[p * splits..<(p + 1) * splits].joined()) }
    }

    /// Runs the dataset and returns every record: partition 0's, then partition 1's, …
    @inlinable
    public func collect() throws -> [Element] { try partitions().flatMap { $0 } }

    /// Runs the dataset and counts its records, holding none of them.
    @inlinable
    public func count() throws -> Int {
        let source = self.source, splits = self.splits
        return try Self.runPartitions(taskCount) { t in
            var n = 0
            try Self.run(source, task: t, splits: splits) { _ in n &+= 1 }
            return n
        }.reduce(0, +)
    }

    /// Runs the dataset once and returns a dataset of its records in memory, with the same partitions.
    @inlinable
    public func cache() throws -> Dataset<Element> { Dataset(partitions: try partitions()) }

    /// Calls `body` with every record, partition by partition in order, on the caller's thread.
    @inlinable
    public func forEach(_ body: (Element) throws -> Void) throws {
        for t in 0..<taskCount { try Self.run(source, task: t, splits: splits) { try body($0) } }
    }
}
