import Strata

/// The settings of a JSON stream that the receiver or a directory source creates when it is
/// absent, as `strata ingest` does; an existing stream must match the settings given for it.
///
/// Over HTTP they come from the query parameters of `POST /streams/NAME`: `interval`,
/// `partitions`, `time-field`, `key-field`, `time-unit`. Only the parameters given are compared
/// with an existing stream.
///
/// `JSONStreamSettings` is `Sendable`; it is a plain value.
public struct JSONStreamSettings: Sendable, Equatable {
    /// The interval length of a new stream (`interval=1s`); default 1 s.
    public var interval: IntervalLength?
    /// Partitions per interval of a new stream, 1–4096 (`partitions=4`); default 4.
    public var partitions: Int?
    /// The top-level field holding event time (`time-field=ts`); default none: arrival time.
    public var timeField: String?
    /// The top-level field whose value chooses the partition (`key-field=user`); default round-robin.
    public var keyField: String?
    /// The unit of a numeric time field (`time-unit=s`); default milliseconds.
    public var timeUnit: TimeUnit?

    /// Settings; every one left `nil` takes its default when the stream is created and is not
    /// compared with an existing stream.
    public init(interval: IntervalLength? = nil, partitions: Int? = nil, timeField: String? = nil,
                keyField: String? = nil, timeUnit: TimeUnit? = nil) {
        self.interval = interval
        self.partitions = partitions
        self.timeField = timeField
        self.keyField = keyField
        self.timeUnit = timeUnit
    }

    /// The query parameter names, in the order they are documented.
    static let parameterNames = ["interval", "partitions", "time-field", "key-field", "time-unit"]

    /// Reads settings from query parameters; unknown names are an error, so a typo is not ignored.
    ///
    /// - Throws: `ReceiverError.invalidArgument` naming the parameter and its value.
    init(query: [(name: String, value: String)]) throws(ReceiverError) {
        for (name, value) in query {
            switch name {
            case "interval":
                guard let length = IntervalLength(parsing: value) else {
                    throw .invalidArgument(
                        "query parameter interval=\(value) is not a length of at least 1ms such as 100ms, 1s, 2m, 1h")
                }
                interval = length
            case "partitions":
                guard let count = Int(value), (1...4096).contains(count) else {
                    throw .invalidArgument("query parameter partitions=\(value) is not a number from 1 to 4096")
                }
                partitions = count
            case "time-field":
                guard !value.isEmpty else { throw .invalidArgument("query parameter time-field is empty") }
                timeField = value
            case "key-field":
                guard !value.isEmpty else { throw .invalidArgument("query parameter key-field is empty") }
                keyField = value
            case "time-unit":
                guard let unit = TimeUnit(rawValue: value) else {
                    throw .invalidArgument("query parameter time-unit=\(value) is not one of s, ms, us, ns")
                }
                timeUnit = unit
            default:
                throw .invalidArgument(
                    "unknown query parameter \(name); known: \(Self.parameterNames.joined(separator: ", "))")
            }
        }
        if timeUnit != nil && timeField == nil {
            throw .invalidArgument("query parameter time-unit needs time-field")
        }
    }

    /// Creates the JSON stream with these settings (defaults for those not given), or opens it
    /// and checks the settings given.
    ///
    /// Blocks while a new stream is committed: call it from a thread of your own.
    ///
    /// - Throws: `ReceiverError.streamConflict` when the stream exists with other settings or
    ///   holds another record type; `.invalidArgument` for an invalid name; `.storage` otherwise.
    func openStream(_ name: String, in store: Store) throws(ReceiverError) -> StoredStream<JSONRecord> {
        let found: StreamDescriptor?
        do {
            found = try store.info(of: name).descriptor
        } catch .unknownStream {
            found = nil
        } catch {
            throw .storage(error, context: "stream \(name): open")
        }
        if let existing = found {
            if let reason = conflict(with: existing) { throw .streamConflict(stream: name, reason: reason) }
            return try open(name, in: store, matching: existing)
        }
        do {
            return try store.jsonStream(
                name, interval: interval ?? .seconds(1), partitions: partitions ?? 4, timeField: timeField,
                keyField: keyField, timeUnit: timeUnit ?? .milliseconds)
        } catch .streamMismatch(let stream, let reason) {
            throw .streamConflict(stream: stream, reason: "exists with other settings: \(reason)")
        } catch .invalidStreamName(let invalid) {
            throw .invalidArgument(StorageError.invalidStreamName(invalid).description)
        } catch {
            throw .storage(error, context: "stream \(name): create")
        }
    }

    /// Opens an existing JSON stream with its own settings.
    private func open(_ name: String, in store: Store, matching d: StreamDescriptor) throws(ReceiverError)
        -> StoredStream<JSONRecord>
    {
        let unit = d.timeUnit ?? .milliseconds
        do {
            return try store.jsonStream(name, interval: d.intervalLength, partitions: Int(d.partitions),
                                        timeField: d.timeField, keyField: d.keyField, timeUnit: unit)
        } catch {
            throw .storage(error, context: "stream \(name): open")
        }
    }

    /// Why an existing stream does not fit these settings, or `nil` when it does.
    func conflict(with d: StreamDescriptor) -> String? {
        guard d.recordType == JSONRecord.recordTypeName else {
            return "holds records of type \(d.recordType), not JSON lines"
        }
        if let interval, interval != d.intervalLength {
            return "exists with other settings: interval \(d.intervalLength), not \(interval)"
        }
        if let partitions, partitions != Int(d.partitions) {
            return "exists with other settings: \(d.partitions) partitions, not \(partitions)"
        }
        if let timeField, timeField != d.timeField {
            return "exists with other settings: " + (d.timeField.map { "time field \($0)" } ?? "arrival time")
                + ", not time field \(timeField)"
        }
        if let timeUnit, timeUnit != (d.timeUnit ?? .milliseconds) {
            return "exists with other settings: time unit \(d.timeUnit?.rawValue ?? "ms"), not \(timeUnit.rawValue)"
        }
        if let keyField, keyField != d.keyField {
            return "exists with other settings: " + (d.keyField.map { "key field \($0)" } ?? "no key field")
                + ", not key field \(keyField)"
        }
        return nil
    }
}

/// The side streams the receiver and the directory source keep next to a stream `NAME`.
///
/// - `NAME.dead`: dead letters, one JSON record per rejected line:
///   `{"line":N,"origin":"…","raw":"…","reason":"…"}` (see `docs/ingest.md`).
/// - `NAME.pos`: the positions a directory source has ingested through (typed records, one
///   partition), committed in the same transaction as the records they cover.
/// - `NAME.src`: where stores written before `NAME.pos` kept those positions, as JSON text; read
///   when `NAME.pos` has none, and dropped after the first commit to `NAME.pos`.
///
/// Each has its own `.late` side stream, as every stream does.
public enum SideStreams {
    /// The suffix of a dead-letter stream.
    public static let deadLetterSuffix = ".dead"
    /// The suffix of a source-positions stream.
    public static let positionsSuffix = ".pos"
    /// The suffix of a source-positions stream as older stores have it (JSON text).
    public static let legacyPositionsSuffix = ".src"
    /// The longest name of a stream the receiver writes: its side streams must fit the catalog's
    /// 195-byte limit for a stream that has a late side stream.
    public static let maxStreamNameBytes = 190

    /// The dead-letter stream of `stream`.
    public static func deadLetters(of stream: String) -> String { stream + deadLetterSuffix }

    /// The source-positions stream of `stream`.
    public static func sourcePositions(of stream: String) -> String { stream + positionsSuffix }

    /// The source-positions stream of `stream` in stores written before `NAME.pos` (JSON text).
    public static func legacySourcePositions(of stream: String) -> String { stream + legacyPositionsSuffix }

    /// Checks that the receiver may write `stream`: a valid name, short enough for its side
    /// streams, not itself a side stream.
    ///
    /// - Throws: `ReceiverError.invalidArgument` saying what is wrong.
    public static func checkWritable(_ stream: String) throws(ReceiverError) {
        guard StreamDescriptor.isValidName(stream) else {
            throw .invalidArgument("invalid stream name \"\(stream)\": use 1–\(maxStreamNameBytes) characters of "
                                   + "A–Z a–z 0–9 . _ -")
        }
        guard stream.utf8.count <= maxStreamNameBytes else {
            throw .invalidArgument("stream name \(stream.prefix(20))… is \(stream.utf8.count) bytes; the receiver "
                                   + "writes streams of at most \(maxStreamNameBytes), leaving room for \(stream.prefix(20))….dead")
        }
        for suffix in [".late", deadLetterSuffix, positionsSuffix, legacyPositionsSuffix] where stream.hasSuffix(suffix) {
            throw .invalidArgument("stream \(stream) is a side stream (\(suffix)); write to its main stream")
        }
    }
}
