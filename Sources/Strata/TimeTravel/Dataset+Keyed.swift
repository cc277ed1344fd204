import StrataEngine
import StrataStorage

extension Dataset {
    /// The output partition of `key` among `count`: XXH64 of its encoded bytes, modulo `count`,
    /// as the engine's shuffles route keys.
    @inlinable
    static func partition<Key: RecordCodable>(of key: Key, among count: Int, scratch: inout BinaryWriter) -> Int {
        scratch.removeAll()
        key.encode(to: &scratch)
        return Int(XXH64.hash(scratch.bytes) % UInt64(count))
    }

    /// Combines the values of each key with `combine`, into a dataset of one `KeyValue` per key.
    ///
    /// Runs now. Each input partition combines its own pairs first; then every key goes to output
    /// partition `XXH64(encoded key) mod partitions` (default: this dataset's partition count),
    /// where the input partitions' combinations are combined in partition order. Within an output
    /// partition, keys are in first-seen order (input partition, then record order), so the result
    /// is the same in every run; for a commutative, associative `combine` it does not depend on
    /// the partitioning either.
    ///
    /// ```swift
    /// let perURL = try views.slice("21:00", "21:05").map { KeyValue($0.url, Int64(1)) }.reduceByKey(+)
    /// ```
    ///
    /// - Throws: what reading the store or `combine` throws.
    /// - Complexity: O(records) time; O(distinct keys) memory per partition.
    @inlinable
    public func reduceByKey<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int? = nil, _ combine: @escaping @Sendable (Value, Value) throws -> Value
    ) throws -> Dataset<KeyValue<Key, Value>> where Element == KeyValue<Key, Value> {
        let outputs = max(1, partitions ?? partitionCount)
        let source = self.source
        // Map side: combine within each input partition, then route each key.
        let routed = try Self.runPartitions(partitionCount) { p -> [ContiguousArray<Element>] in
            var slot: [Key: Int] = [:]  // lookup only; never iterated
            var combined = ContiguousArray<Element>()
            try source(p) { pair in
                if let i = slot[pair.key] {
                    combined[i].value = try combine(combined[i].value, pair.value)
                } else {
                    slot[pair.key] = combined.count
                    combined.append(pair)
                }
            }
            return Self.route(combined, among: outputs)
        }
        // Reduce side: each output partition merges its share, input partitions in order.
        let merged = try Self.runPartitions(outputs) { q -> [Element] in
            var slot: [Key: Int] = [:]
            var result: [Element] = []
            for input in routed {
                for pair in input[q] {
                    if let i = slot[pair.key] {
                        result[i].value = try combine(result[i].value, pair.value)
                    } else {
                        slot[pair.key] = result.count
                        result.append(pair)
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
    /// order; keys are in first-seen order within each output partition.
    ///
    /// - Complexity: O(records) time and memory (prefer `reduceByKey` when a combination suffices).
    @inlinable
    public func groupByKey<Key: RecordCodable & Hashable, Value: RecordCodable>(
        partitions: Int? = nil
    ) throws -> Dataset<KeyValue<Key, [Value]>> where Element == KeyValue<Key, Value> {
        let outputs = max(1, partitions ?? partitionCount)
        let source = self.source
        let routed = try Self.runPartitions(partitionCount) { p -> [ContiguousArray<KeyValue<Key, [Value]>>] in
            var slot: [Key: Int] = [:]  // lookup only; never iterated
            var groups = ContiguousArray<KeyValue<Key, [Value]>>()
            try source(p) { pair in
                if let i = slot[pair.key] {
                    groups[i].value.append(pair.value)
                } else {
                    slot[pair.key] = groups.count
                    groups.append(KeyValue(pair.key, [pair.value]))
                }
            }
            return Dataset<KeyValue<Key, [Value]>>.route(groups, among: outputs)
        }
        let merged = try Self.runPartitions(outputs) { q -> [KeyValue<Key, [Value]>] in
            var slot: [Key: Int] = [:]
            var result: [KeyValue<Key, [Value]>] = []
            for input in routed {
                for group in input[q] {
                    if let i = slot[group.key] {
                        result[i].value.append(contentsOf: group.value)
                    } else {
                        slot[group.key] = result.count
                        result.append(group)
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
    /// (input partition, record) order, each followed by its matches in `other`'s order.
    ///
    /// - Complexity: O(left + right + output).
    @inlinable
    public func join<Key: RecordCodable & Hashable, Value: RecordCodable, Other: RecordCodable>(
        _ other: Dataset<KeyValue<Key, Other>>, partitions: Int? = nil
    ) throws -> Dataset<KeyValue<Key, Pair<Value, Other>>> where Element == KeyValue<Key, Value> {
        let outputs = max(1, partitions ?? max(partitionCount, other.partitionCount))
        let leftSource = self.source, rightSource = other.source
        let left = try Self.runPartitions(partitionCount) { p -> [ContiguousArray<Element>] in
            var records = ContiguousArray<Element>()
            try leftSource(p) { records.append($0) }
            return Self.route(records, among: outputs)
        }
        let right = try Self.runPartitions(other.partitionCount) { p -> [ContiguousArray<KeyValue<Key, Other>>] in
            var records = ContiguousArray<KeyValue<Key, Other>>()
            try rightSource(p) { records.append($0) }
            return Dataset<KeyValue<Key, Other>>.route(records, among: outputs)
        }
        let joined = try Self.runPartitions(outputs) { q -> [KeyValue<Key, Pair<Value, Other>>] in
            var matches: [Key: [Other]] = [:]  // lookup only; never iterated
            for input in right {
                for pair in input[q] { matches[pair.key, default: []].append(pair.value) }
            }
            var result: [KeyValue<Key, Pair<Value, Other>>] = []
            for input in left {
                for pair in input[q] {
                    guard let values = matches[pair.key] else { continue }
                    for value in values { result.append(KeyValue(pair.key, Pair(pair.value, value))) }
                }
            }
            return result
        }
        return Dataset<KeyValue<Key, Pair<Value, Other>>>(partitions: joined)
    }

    /// Splits key/value records among `count` partitions by their key's XXH64, order kept.
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
            output[partition(of: record.key, among: count, scratch: &scratch)].append(record)
        }
        return output
    }
}
