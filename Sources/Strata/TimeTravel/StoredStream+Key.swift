import StrataStorage

/// Finds the records of one key in a JSON stream with a key field: the partition the key goes
/// to (by the stream's `KeyPlacement`), and whether a record's key field holds it.
///
/// The key is matched as ingest partitions it: a string field by its unescaped text, any other
/// value (number, `true`, …) by its JSON text. So the key `"42"` matches `"url":"42"` and `"url":42`.
///
/// `JSONKeyFilter` is `Sendable`; `matches(_:)` keeps a scratch buffer, so give each task its own copy.
public struct JSONKeyFilter: Sendable {
    /// The only partition that can hold the key.
    public let partition: PartitionIndex
    private let wanted: [UInt8]
    private let scanner: JSONLineScanner
    private var scratch: [UInt8] = []

    /// A filter for `key` on the stream `descriptor` describes.
    ///
    /// - Throws: `StorageError.streamMismatch` when the stream is not a JSON stream or has no key
    ///   field (its records were spread round-robin, so no partition holds a key).
    public init(key: String, stream descriptor: StreamDescriptor) throws(StorageError) {
        guard descriptor.recordType == JSONRecord.recordTypeName else {
            throw .streamMismatch(stream: descriptor.name, reason:
                "--key needs a JSON stream with a key field, and it holds \(descriptor.readableRecordType)")
        }
        guard let keyField = descriptor.keyField else {
            throw .streamMismatch(stream: descriptor.name, reason:
                "it has no key field (created without --key-field), so its records cannot be found by key")
        }
        wanted = Array(key.utf8)
        let hash = wanted.withUnsafeBytes {
            JSONLineParser.partitionHash(ofKeyText: $0, placement: descriptor.keyPlacement ?? .fieldBytes)
        }
        partition = PartitionIndex(UInt32(hash % UInt64(max(1, descriptor.partitions))))
        scanner = JSONLineScanner(fields: [keyField])
    }

    /// Whether the record's key field holds the key.
    public mutating func matches(_ record: JSONRecord) -> Bool {
        let wanted = self.wanted, scanner = self.scanner
        return record.bytes.withUnsafeBytes { line -> Bool in
            guard let value = (try? scanner.scan(line))?.0 else { return false }
            let text = UnsafeRawBufferPointer(rebasing: line[value.range])
            guard value.kind == .string, value.hasEscapes else { return text.elementsEqual(wanted) }
            scratch.removeAll(keepingCapacity: true)
            guard (try? unescapeJSONString(text, into: &scratch)) != nil else { return false }
            return scratch == wanted
        }
    }
}

extension StoredStream where Record == JSONRecord {
    /// Calls `body` with every record of `range` whose key field holds `key`, in (interval,
    /// partition, chunk, sequence) order, reading only the key's partition (see ``JSONKeyFilter``).
    ///
    /// ```swift
    /// try views.forEach(in: first...last, key: "/home") { interval, partition, record in … }
    /// ```
    ///
    /// - Throws: `StorageError.streamMismatch` when the stream has no key field; the errors of
    ///   ``forEach(in:partition:_:)``.
    /// - Complexity: O(bytes of one partition of `range`).
    public func forEach(in range: ClosedRange<Interval>, key: String,
                        _ body: (Interval, PartitionIndex, JSONRecord) throws -> Void) throws {
        var filter = try JSONKeyFilter(key: key, stream: descriptor)
        try forEach(in: range, partition: filter.partition) { interval, partition, record in
            if filter.matches(record) { try body(interval, partition, record) }
        }
    }
}

extension StoredStream {
    /// Calls `body` with every `KeyValue` record of `range` whose key equals `key`, in (interval,
    /// partition, chunk, sequence) order.
    ///
    /// Every partition is read: a key/value stream may have been written round-robin, so no
    /// partition can be skipped without knowing how it was written.
    ///
    /// ```swift
    /// try counts.forEach(in: first...last, key: "/home") { interval, partition, record in … }
    /// ```
    ///
    /// - Throws: the errors of ``forEach(in:partition:_:)``.
    /// - Complexity: O(bytes of `range`).
    public func forEach<Key: RecordCodable & Equatable, Value: RecordCodable>(
        in range: ClosedRange<Interval>, key: Key, _ body: (Interval, PartitionIndex, Record) throws -> Void
    ) throws where Record == KeyValue<Key, Value> {
        try forEach(in: range, partition: nil) { interval, partition, record in
            if record.key == key { try body(interval, partition, record) }
        }
    }
}
