import Strata

/// One page view of the benchmark data set: the typed record the library path appends and scans.
///
/// Encoded field by field, as the `RecordCodable` documentation shows: `ts` and `user`
/// little-endian at full width, `url` as a varint length and its UTF-8 bytes, `ev` as one byte
/// (33 bytes for a 14-byte url). Partitioned by `url`.
struct PageView: RecordCodable, KeyedRecord, Equatable {
    /// A stable catalog name, so that a store written by one build reads with another.
    static var recordTypeName: String { "strata-bench.PageView" }

    /// Event time, milliseconds since the Unix epoch.
    var ts: Int64
    /// The page, e.g. `/products/1234`.
    var url: String
    /// The user id.
    var user: UInt64
    /// The event kind: an index into `PageViewGenerator.eventNames` (view, click, add, buy).
    var ev: UInt8

    init(ts: Int64, url: String, user: UInt64, ev: UInt8) {
        self.ts = ts
        self.url = url
        self.user = user
        self.ev = ev
    }

    /// Records with the same url land in the same partition.
    var partitionKey: String { url }

    func encode(to writer: inout BinaryWriter) {
        writer.write(ts)
        writer.write(url)
        writer.write(user)
        writer.write(ev)
    }

    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        ts = try reader.read()
        url = try reader.read()
        user = try reader.read()
        ev = try reader.read()
    }
}

/// The fields of a `PageView` that the sessions workload uses, `user` and `ev`, read from a
/// stored `PageView` without decoding its `url` into a `String` (the url's length prefix is
/// read and its bytes skipped; `ts` is read and dropped). Its catalog name is `PageView`'s, so it
/// reads `PageView` streams; it is never written (`encode` writes a full `PageView` with
/// `ts` 0 and an empty url, for completeness only). The typed counterpart of
/// `JSONPageViewSession`.
struct PageViewSession: RecordCodable {
    static var recordTypeName: String { PageView.recordTypeName }

    /// The user id.
    var user: UInt64
    /// The event kind, as `PageView.ev`.
    var ev: UInt8

    init(user: UInt64, ev: UInt8) {
        self.user = user
        self.ev = ev
    }

    func encode(to writer: inout BinaryWriter) {
        PageView(ts: 0, url: "", user: user, ev: ev).encode(to: &writer)
    }

    /// Reads a `PageView`'s encoding (`ts`, `url`, `user`, `ev`); the url's bytes are bounded by
    /// the frame but not checked as UTF-8 (they are never read).
    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        _ = try reader.read(Int64.self)
        _ = try reader.readLengthPrefixed()
        user = try reader.read()
        ev = try reader.read()
    }
}
