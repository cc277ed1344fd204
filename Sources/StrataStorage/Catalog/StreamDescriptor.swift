/// How long a stream keeps its sealed intervals.
public enum Retention: Sendable, Equatable, CustomStringConvertible {
    /// Keep every interval.
    case forever
    /// Keep the newest `n` sealed intervals (at least 1).
    case intervals(UInt64)
    /// Keep the intervals that end within this many nanoseconds of the newest sealed interval's end.
    case nanoseconds(UInt64)

    /// Keeps intervals covering this duration; one longer than `UInt64.max` nanoseconds (584 years)
    /// keeps that long, a negative one nothing but the newest interval.
    public static func duration(_ duration: Duration) -> Retention {
        let (seconds, attoseconds) = duration.components
        let (wholeNanos, overflow) = UInt64(clamping: seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .nanoseconds(.max) }
        let (nanos, carry) = wholeNanos.addingReportingOverflow(UInt64(clamping: attoseconds / 1_000_000_000))
        return .nanoseconds(carry ? .max : nanos)
    }

    /// The number of newest intervals kept for a stream of this interval length, or `nil` for all.
    public func keptIntervals(intervalLength: IntervalLength) -> UInt64? {
        switch self {
        case .forever: return nil
        case .intervals(let n): return max(1, n)
        case .nanoseconds(let ns):
            // ⌈ns / length⌉ without `ns + length − 1`, which overflows for long lengths.
            let length = max(1, intervalLength.rawValue)
            let (whole, rest) = ns.quotientAndRemainder(dividingBy: length)
            return max(1, rest == 0 ? whole : whole + 1)
        }
    }

    public var description: String {
        switch self {
        case .forever: "forever"
        case .intervals(let n): "last \(n) intervals"
        case .nanoseconds(let ns): "last \(IntervalLength(rawValue: ns))"
        }
    }
}

/// How a JSON stream with a key field chooses each line's partition from the field's value: fixed
/// when the stream is created, kept for its life (catalog row version 2; a version 1 row is
/// `fieldBytes`).
///
/// The field's value is taken as text: a string's unescaped UTF-8, or any other value's JSON text
/// (so `"42"` and `42` go to the same partition).
public enum KeyPlacement: UInt8, Sendable, Equatable, CustomStringConvertible {
    /// `XXH64(text) mod partitions`: streams created before placement was recorded.
    case fieldBytes = 0
    /// `XXH64(encoded String key) mod partitions`, the hash of the text's `String` encoding
    /// (varint length, then the UTF-8): the partition the engine routes that `String` key to, so a
    /// program keyed by the field finds each key where a keyed shuffle would put it. New streams.
    case stringKey = 1

    public var description: String {
        switch self {
        case .fieldBytes: "field bytes"
        case .stringKey: "string key"
        }
    }
}

/// A stream's settings, kept in the catalog: fixed at creation except retention.
///
/// `StreamDescriptor` is `Sendable`; it is a plain value.
public struct StreamDescriptor: Sendable, Equatable {
    /// The stream's store-wide identifier.
    public package(set) var id: StreamID
    /// The stream's name.
    public package(set) var name: String
    /// The record type's catalog name (`RecordCodable.recordTypeName`; `json` for JSON streams).
    public package(set) var recordType: String
    /// The length of each interval.
    public package(set) var intervalLength: IntervalLength
    /// The number of partitions of each interval.
    public package(set) var partitions: UInt32
    /// How long sealed intervals are kept.
    public package(set) var retention: Retention
    /// For JSON streams, the top-level field holding event time (`nil`: arrival time).
    public package(set) var timeField: String?
    /// For JSON streams, the top-level field whose value chooses the partition (`nil`: round-robin).
    public package(set) var keyField: String?
    /// For JSON streams with a key field, how the field's value chooses the partition; `nil` without one.
    public package(set) var keyPlacement: KeyPlacement?
    /// For JSON streams with a numeric time field, its unit (`s`, `ms`, `us`, `ns`).
    public package(set) var timeUnit: TimeUnit?
    /// For a late side stream, the name of the stream whose late records it keeps.
    public package(set) var lateRecordsOf: String?

    /// Creates a descriptor; `keyPlacement` applies only with a `keyField` (`nil` there: `.stringKey`).
    public init(id: StreamID, name: String, recordType: String, intervalLength: IntervalLength,
                partitions: UInt32, retention: Retention = .forever, timeField: String? = nil,
                keyField: String? = nil, timeUnit: TimeUnit? = nil, lateRecordsOf: String? = nil,
                keyPlacement: KeyPlacement? = nil) {
        self.id = id
        self.name = name
        self.recordType = recordType
        self.intervalLength = intervalLength
        self.partitions = partitions
        self.retention = retention
        self.timeField = timeField
        self.keyField = keyField
        self.keyPlacement = keyField == nil ? nil : (keyPlacement ?? .stringKey)
        self.timeUnit = timeUnit
        self.lateRecordsOf = lateRecordsOf
    }

    /// The name of the side stream that keeps this stream's late records.
    public var lateStreamName: String { name + ".late" }

    /// Whether `name` is a valid stream name: 1–200 characters of `A–Z a–z 0–9 . _ -` (a stream a user
    /// creates has at most 195, leaving room for its late side stream `NAME.late`).
    public static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard (1...200).contains(utf8.count) else { return false }
        return utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2e || b == 0x5f || b == 0x2d
        }
    }
}

extension StreamDescriptor: RowCodec {
    package static let rowName = "catalog row"
    /// Version 2 adds the key placement after the version 1 fields. A row whose placement is
    /// `fieldBytes` or absent is written as version 1, byte for byte as before placement was recorded.
    package static let rowVersion: UInt8 = 2
    package static var readableRowVersions: ClosedRange<UInt8> { 1...2 }
    package var rowCapacity: Int { 128 }

    /// The row: version 2 with a `stringKey` placement, version 1 otherwise; fields, checksum.
    package func encodedRow() -> [UInt8] {
        var writer = BinaryWriter(capacity: rowCapacity)
        let placement = keyPlacement ?? .fieldBytes
        writer.write(byte: placement == .fieldBytes ? 1 : Self.rowVersion)
        writeRowFields(to: &writer)
        return RowChecksum.seal(writer.bytes)
    }

    /// The catalog row's fields, in order; `encodedRow()` adds the version and the checksum.
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(id.rawValue)
        w.write(name)
        w.write(recordType)
        w.write(intervalLength.rawValue)
        w.write(partitions)
        switch retention {
        case .forever: w.write(byte: 0); w.write(UInt64(0))
        case .intervals(let n): w.write(byte: 1); w.write(n)
        case .nanoseconds(let n): w.write(byte: 2); w.write(n)
        }
        w.write(timeField)
        w.write(keyField)
        w.write(timeUnit?.rawValue)
        w.write(lateRecordsOf)
        if let keyPlacement, keyPlacement != .fieldBytes { w.write(byte: keyPlacement.rawValue) }
    }

    /// Decodes a catalog row, verifying its checksum.
    package init(row: UnsafeRawBufferPointer) throws(Corruption) {
        self = try Self.decodeRow(row) { version, r in
            let id = StreamID(rawValue: try r.read())
            let name: String = try r.read()
            let recordType: String = try r.read()
            let intervalLength = IntervalLength(rawValue: try r.read())
            let partitions: UInt32 = try r.read()
            let kind = try r.readByte()
            let amount: UInt64 = try r.read()
            let retention: Retention
            switch kind {
            case 0: retention = .forever
            case 1: retention = .intervals(amount)
            case 2: retention = .nanoseconds(amount)
            default: throw Corruption.badRow("catalog row retention")
            }
            let timeField: String? = try r.read()
            let keyField: String? = try r.read()
            let unit: String? = try r.read()
            var timeUnit: TimeUnit?
            if let unit {
                guard let known = TimeUnit(rawValue: unit) else { throw Corruption.badRow("catalog row time unit") }
                timeUnit = known
            }
            let lateRecordsOf: String? = try r.read()
            var keyPlacement = KeyPlacement.fieldBytes
            if version >= 2 {
                guard keyField != nil, let known = KeyPlacement(rawValue: try r.readByte()) else {
                    throw Corruption.badRow("catalog row key placement")
                }
                keyPlacement = known
            }
            guard r.remaining == 0, partitions > 0, intervalLength.rawValue > 0 else {
                throw Corruption.badRow("catalog row")
            }
            return StreamDescriptor(id: id, name: name, recordType: recordType, intervalLength: intervalLength,
                                    partitions: partitions, retention: retention, timeField: timeField,
                                    keyField: keyField, timeUnit: timeUnit, lateRecordsOf: lateRecordsOf,
                                    keyPlacement: keyPlacement)
        }
    }
}

/// A small row's trailing checksum: the row's bytes, then `XXH64(bytes)` little-endian.
package enum RowChecksum {
    /// Appends the checksum.
    package static func seal(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        let digest = XXH64.hash(bytes)
        withUnsafeBytes(of: digest.littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// The row's bytes without the checksum, once the checksum matches.
    package static func verified(_ row: UnsafeRawBufferPointer, what: String) throws(Corruption) -> UnsafeRawBufferPointer {
        guard row.count >= 8 else { throw .badRow(what + " (too short)") }
        let body = UnsafeRawBufferPointer(rebasing: row[0..<row.count - 8])
        let stored = UInt64(littleEndian: row.loadUnaligned(fromByteOffset: row.count - 8, as: UInt64.self))
        let computed = XXH64.hash(body)
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        return body
    }
}
