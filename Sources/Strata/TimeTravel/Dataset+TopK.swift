import StrataStorage

extension Dataset {
    /// The first `k` records in the order `ranksBefore` defines (a strict weak order: true when
    /// the first argument ranks before the second), as `collect().sorted(by:).prefix(k)` would
    /// give them, without sorting or holding every record.
    ///
    /// Records that rank equal keep dataset order (partition, then record order).
    ///
    /// ```swift
    /// let longest = try views.slice("21:00", "21:05").topK(3) { $0.url.utf8.count > $1.url.utf8.count }
    /// ```
    ///
    /// - Complexity: O(records × k) worst case, O(records) typically; O(k) memory per partition.
    @inlinable
    public func topK(_ k: Int, by ranksBefore: @escaping @Sendable (Element, Element) throws -> Bool) throws -> [Element] {
        guard k > 0 else { return [] }
        let source = self.source, splits = self.splits
        let tops = try Self.runPartitions(taskCount) { t -> [Element] in
            var top: [Element] = []  // sorted by `ranksBefore`, at most k
            top.reserveCapacity(k + 1)
            try Self.run(source, task: t, splits: splits) { element in
                if top.count == k, let last = top.last, !(try ranksBefore(element, last)) { return }
                // Insert after every record that ranks before or equal to it (stable).
                var index = top.count
                while index > 0, try ranksBefore(element, top[index - 1]) { index -= 1 }
                top.insert(element, at: index)
                if top.count > k { top.removeLast() }
            }
            return top
        }
        // Merge the partition tops; a stable sort keeps partition order among equals.
        var all: [Element] = []
        for top in tops { all.append(contentsOf: top) }
        var failure: (any Error)?
        let sorted = all.enumerated().sorted { a, b in
            do {
                if try ranksBefore(a.element, b.element) { return true }
                if try ranksBefore(b.element, a.element) { return false }
            } catch {
                failure = failure ?? error
            }
            return a.offset < b.offset
        }
        if let failure { throw failure }
        return sorted.prefix(k).map(\.element)
    }

    /// The `k` records with the largest values; among equal values, the smallest keys first.
    ///
    /// This is the order of `counts.slice("21:00", "21:05").topK(10)`: the ten largest counts,
    /// ties broken by key so that the answer is the same in every run. Records are taken as they
    /// are: a key that appears in several intervals appears several times (combine first with
    /// `reduceByKey` to rank keys).
    ///
    /// - Complexity: as ``topK(_:by:)``.
    @inlinable
    public func topK<Key: RecordCodable & Comparable, Value: RecordCodable & Comparable>(_ k: Int) throws
        -> [KeyValue<Key, Value>] where Element == KeyValue<Key, Value>
    {
        try topK(k) { TopKOrder.byValue.ranksBefore($0, $1) }
    }
}

/// The orders `topK` and `strata slice --top` rank key/value records by.
///
/// `TopKOrder` is `Sendable`; it is a plain value.
public enum TopKOrder: String, Sendable, CaseIterable {
    /// Largest value first; among equal values, smallest key first.
    case byValue = "value"
    /// Largest key first; among equal keys, largest value first.
    case byKey = "key"

    /// Whether `a` ranks before `b` in this order.
    @inlinable
    public func ranksBefore<Key: Comparable, Value: Comparable>(_ a: KeyValue<Key, Value>, _ b: KeyValue<Key, Value>) -> Bool {
        switch self {
        case .byValue: a.value != b.value ? a.value > b.value : a.key < b.key
        case .byKey: a.key != b.key ? a.key > b.key : a.value > b.value
        }
    }
}
