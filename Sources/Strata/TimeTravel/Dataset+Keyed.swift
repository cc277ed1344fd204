import StrataEngine
import StrataStorage

extension Dataset {
    /// Combines the values of each key with `combine`, into a dataset of one `KeyValue` per key.
    ///
    /// Runs now. Each task (a split of an input partition) combines its own pairs first; then
    /// every key goes to output partition `XXH64(encoded key) mod partitions` (default: this
    /// dataset's partition count), where the tasks' combinations are combined in (partition,
    /// split) order. Within an output partition, keys are in first-seen order (input partition,
    /// then record order), so the result is the same in every run; for an associative `combine`
    /// a key's values are combined in dataset order, and for a commutative one too the result
    /// does not depend on the partitioning.
    ///
    /// Keys are equal when their encoded bytes are (the record codec's encoding, as the engine's
    /// shuffles route them): for the standard types that is `==`, except Strings equal only under
    /// Unicode canonical equivalence, and `-0.0`/`0.0` and NaNs of `Double`. Comparing bytes spares
    /// a `Hasher` per record.
    ///
    /// ```swift
    /// let perURL = try views.slice("21:00", "21:05").map { KeyValue($0.url, Int64(1)) }.reduceByKey(+)
    /// ```
    ///
    /// - Throws: what reading the store or `combine` throws.
    /// - Complexity: O(records) time; O(distinct keys) memory per partition.
    @inlinable
    public func reduceByKey<Key: RecordCodable, Value: RecordCodable>(
        partitions: Int? = nil, _ combine: @escaping @Sendable (Value, Value) throws -> Value
    ) throws -> Dataset<KeyValue<Key, Value>> where Element == KeyValue<Key, Value> {
        let outputs = max(1, partitions ?? partitionCount)
        let source = self.source, splits = self.splits
        // Map side: combine within each task (input partition split), then route each key by its XXH64.
        let routed = try Self.runPartitions(taskCount) { t -> [ContiguousArray<Element>] in
            var table = EncodedKeyTable()
            var scratch = BinaryWriter(capacity: 64)
            var combined = ContiguousArray<Element>()
            try Self.run(source, task: t, splits: splits) { pair in
                let (i, inserted) = table.index(of: pair.key, scratch: &scratch)
                if inserted {
                    combined.append(pair)
                } else {
                    combined[i].value = try combine(combined[i].value, pair.value)
                }
            }
            return Self.route(combined, table, among: outputs)
        }
        // Reduce side: each output partition merges its share, input partitions in order.
        let merged = try Self.runPartitions(outputs) { q -> [Element] in
            var table = EncodedKeyTable()
            var scratch = BinaryWriter(capacity: 64)
            var result: [Element] = []
            for input in routed {
                for pair in input[q] {
                    let (i, inserted) = table.index(of: pair.key, scratch: &scratch)
                    if inserted {
                        result.append(pair)
                    } else {
                        result[i].value = try combine(result[i].value, pair.value)
                    }
                }
            }
            return result
        }
        return Dataset(partitions: merged)
    }

    /// Groups the values of each key into one array, into a dataset of one `KeyValue` per key.
    ///
    /// Runs now. Keys go to output partition `XXH64(encoded key) mod partitions` (default: this
    /// dataset's partition count); a key's values are in input-partition order, then record
    /// order; keys are in first-seen order within each output partition. Keys compare by their
    /// encoded bytes, as for ``reduceByKey(partitions:_:)``.
    ///
    /// - Complexity: O(records) time and memory (prefer `reduceByKey` when a combination suffices).
    @inlinable
    public func groupByKey<Key: RecordCodable, Value: RecordCodable>(
        partitions: Int? = nil
    ) throws -> Dataset<KeyValue<Key, [Value]>> where Element == KeyValue<Key, Value> {
        let outputs = max(1, partitions ?? partitionCount)
        let source = self.source, splits = self.splits
        let routed = try Self.runPartitions(taskCount) { t -> [ContiguousArray<KeyValue<Key, [Value]>>] in
            var table = EncodedKeyTable()
            var scratch = BinaryWriter(capacity: 64)
            var groups = ContiguousArray<KeyValue<Key, [Value]>>()
            try Self.run(source, task: t, splits: splits) { pair in
                let (i, inserted) = table.index(of: pair.key, scratch: &scratch)
                if inserted {
                    groups.append(KeyValue(pair.key, [pair.value]))
                } else {
                    groups[i].value.append(pair.value)
                }
            }
            return Dataset<KeyValue<Key, [Value]>>.route(groups, table, among: outputs)
        }
        let merged = try Self.runPartitions(outputs) { q -> [KeyValue<Key, [Value]>] in
            var table = EncodedKeyTable()
            var scratch = BinaryWriter(capacity: 64)
            var result: [KeyValue<Key, [Value]>] = []
            for input in routed {
                for group in input[q] {
                    let (i, inserted) = table.index(of: group.key, scratch: &scratch)
                    if inserted {
                        result.append(group)
                    } else {
                        result[i].value.append(contentsOf: group.value)
                    }
                }
            }
            return result
        }
        return Dataset<KeyValue<Key, [Value]>>(partitions: merged)
    }

    /// The inner join with `other` by key: one `KeyValue(key, Pair(v, w))` for every pair
    /// `(key, v)` of this dataset and `(key, w)` of `other`.
    ///
    /// Runs now. Both sides go to partition `XXH64(encoded key) mod partitions` (default: the
    /// larger partition count). Order within an output partition: this dataset's pairs in
    /// (input partition, record) order, each followed by its matches in `other`'s order. Keys
    /// compare by their encoded bytes, as for ``reduceByKey(partitions:_:)``.
    ///
    /// - Complexity: O(left + right + output).
    @inlinable
    public func join<Key: RecordCodable, Value: RecordCodable, Other: RecordCodable>(
        _ other: Dataset<KeyValue<Key, Other>>, partitions: Int? = nil
    ) throws -> Dataset<KeyValue<Key, Pair<Value, Other>>> where Element == KeyValue<Key, Value> {
        let outputs = max(1, partitions ?? max(partitionCount, other.partitionCount))
        let leftSource = self.source, rightSource = other.source
        let leftSplits = splits, rightSplits = other.splits
        let left = try Self.runPartitions(taskCount) { t -> [ContiguousArray<Element>] in
            var records = ContiguousArray<Element>()
            try Self.run(leftSource, task: t, splits: leftSplits) { records.append($0) }
            return Self.route(records, among: outputs)
        }
        let right = try Self.runPartitions(other.taskCount) { t -> [ContiguousArray<KeyValue<Key, Other>>] in
            var records = ContiguousArray<KeyValue<Key, Other>>()
            try Dataset<KeyValue<Key, Other>>.run(rightSource, task: t, splits: rightSplits) { records.append($0) }
            return Dataset<KeyValue<Key, Other>>.route(records, among: outputs)
        }
        let joined = try Self.runPartitions(outputs) { q -> [KeyValue<Key, Pair<Value, Other>>] in
            var table = EncodedKeyTable()
            var scratch = BinaryWriter(capacity: 64)
            var matches: [[Other]] = []  // by the right key's table index
            for input in right {
                for pair in input[q] {
                    let (i, inserted) = table.index(of: pair.key, scratch: &scratch)
                    if inserted { matches.append([pair.value]) } else { matches[i].append(pair.value) }
                }
            }
            var result: [KeyValue<Key, Pair<Value, Other>>] = []
            for input in left {
                for pair in input[q] {
                    // A key with no right-hand value is inserted past `matches`: skipped, now and later.
                    let (i, _) = table.index(of: pair.key, scratch: &scratch)
                    guard i < matches.count else { continue }
                    for value in matches[i] { result.append(KeyValue(pair.key, Pair(pair.value, value))) }
                }
            }
            return result
        }
        return Dataset<KeyValue<Key, Pair<Value, Other>>>(partitions: joined)
    }

    /// Splits combined key/value records among `count` partitions by the XXH64 `table` kept for
    /// each (record `i` is table entry `i`), order kept.
    @inlinable
    static func route<Key: RecordCodable, Value: RecordCodable>(
        _ records: ContiguousArray<KeyValue<Key, Value>>, _ table: EncodedKeyTable, among count: Int
    ) -> [ContiguousArray<KeyValue<Key, Value>>] where Element == KeyValue<Key, Value> {
        var output = [ContiguousArray<KeyValue<Key, Value>>](repeating: [], count: count)
        if count == 1 {
            output[0] = records
            return output
        }
        for (i, record) in records.enumerated() {
            output[Int(table.hash(of: i) % UInt64(count))].append(record)
        }
        return output
    }

    /// Splits key/value records among `count` partitions by XXH64 of their encoded keys, order kept.
    @inlinable
    static func route<Key: RecordCodable, Value: RecordCodable>(
        _ records: ContiguousArray<KeyValue<Key, Value>>, among count: Int
    ) -> [ContiguousArray<KeyValue<Key, Value>>] where Element == KeyValue<Key, Value> {
        var output = [ContiguousArray<KeyValue<Key, Value>>](repeating: [], count: count)
        if count == 1 {
            output[0] = records
            return output
        }
        var scratch = BinaryWriter(capacity: 64)
        for record in records {
            scratch.removeAll()
            record.key.encode(to: &scratch)
            output[Int(XXH64.hash(scratch.bytes) % UInt64(count))].append(record)
        }
        return output
    }
}
