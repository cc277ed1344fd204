import Glibc

/// What was wrong with bytes read from disk.
@frozen
public enum Corruption: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer bytes than the header or a length field promises.
    case truncated(expected: Int, actual: Int)
    /// The block does not start with the block magic.
    case badMagic
    /// A format version this build does not read.
    case unsupportedVersion(UInt8)
    /// A compression codec this build does not know.
    case unknownCodec(UInt8)
    /// A reserved field was not zero.
    case reservedFieldSet
    /// The stored checksum does not match the bytes.
    case checksumMismatch(stored: UInt64, computed: UInt64)
    /// LZ4 rejected the payload or it did not expand to the raw length.
    case decompressionFailed
    /// The record framing inside a payload is inconsistent.
    case badFraming(offset: Int)
    /// The header's record count does not match the records found.
    case recordCountMismatch(header: Int, found: Int)
    /// A block a seal lists is not in the log.
    case missingBlock(chunk: UInt32)
    /// A record's bytes do not decode as the stream's record type.
    case undecodableRecord(index: Int, RecordDecodingError)
    /// A catalog, seal or frontier row is malformed.
    case badRow(String)
    /// A block exists with no seal to account for it, below the sealed frontier.
    case orphanBlock(chunk: UInt32)

    public var description: String {
        switch self {
        case .truncated(let e, let a): "truncated: expected \(e) bytes, found \(a)"
        case .badMagic: "not a block (bad magic)"
        case .unsupportedVersion(let v): "unsupported format version \(v)"
        case .unknownCodec(let c): "unknown codec \(c)"
        case .reservedFieldSet: "reserved header field is not zero"
        case .checksumMismatch(let s, let c):
            "checksum mismatch (stored \(String(s, radix: 16)), computed \(String(c, radix: 16)))"
        case .decompressionFailed: "LZ4 decompression failed"
        case .badFraming(let o): "bad record framing at payload byte \(o)"
        case .recordCountMismatch(let h, let f): "record count mismatch (header \(h), found \(f))"
        case .missingBlock(let c): "block of chunk \(c) is missing"
        case .undecodableRecord(let i, let e): "record \(i) does not decode: \(e)"
        case .badRow(let what): "malformed \(what)"
        case .orphanBlock(let c): "chunk \(c) is not covered by its interval's seal"
        }
    }
}

/// Where in a store something is: a stream, and optionally an interval, partition and chunk.
public struct StoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// The stream's name.
    public var stream: String
    /// The interval, when known.
    public var interval: Interval?
    /// The partition, when known.
    public var partition: PartitionIndex?

    /// Creates a location.
    public init(stream: String, interval: Interval? = nil, partition: PartitionIndex? = nil) {
        self.stream = stream
        self.interval = interval
        self.partition = partition
    }

    public var description: String {
        var text = "stream \(stream)"
        if let interval { text += " interval \(interval)" }
        if let partition { text += " partition \(partition)" }
        return text
    }
}

/// Every error the storage layer throws. Each names what failed and where.
@frozen
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An LMDB call failed; `context` names what was being done.
    case lmdb(code: Int32, call: String, context: String)
    /// The disk, or the map at its configured size limit, is full. Nothing committed was lost.
    case storeFull(context: String)
    /// Bytes read from the store failed validation. Never skipped silently.
    case corrupt(StoreLocation, Corruption)
    /// A record's bytes are intact (its block's checksum verified) but the reader's record type
    /// does not accept them: a field value outside what the type allows (an enum case it does not
    /// know), or another type's layout. The store is not damaged, and `verify` finds nothing; the
    /// type reading the stream differs from the one that wrote it. `record` is the record's index
    /// in its partition of the interval (from 0), `recordType` the reading type's catalog name.
    case recordRejected(StoreLocation, record: Int, recordType: String, RecordDecodingError)
    /// No store exists at the path.
    case storeNotFound(path: String)
    /// A store was to be created at `path`, but its parent directory `parent` does not exist (and
    /// `StoreOptions.createsParentDirectories` is off). Added in 0.1 (docs/errors.md).
    case storeParentNotFound(path: String, parent: String)
    /// The path exists but is not a store this build can open.
    case notAStore(path: String, reason: String)
    /// The store's LMDB file is damaged below the level of streams (its meta pages, B-tree pages or
    /// page references), so what it holds cannot be located; `what` says what was found.
    /// `strata verify` reports the damage and `strata salvage` copies out what still verifies.
    case damaged(path: String, what: String)
    /// No stream of this name exists.
    case unknownStream(String)
    /// A stream name is empty, too long, or has characters outside `[A-Za-z0-9._-]`.
    case invalidStreamName(String)
    /// The stream exists with other settings or another record type.
    case streamMismatch(stream: String, reason: String)
    /// The interval is not sealed yet.
    case notSealed(StoreLocation, newestSealed: Interval?)
    /// The interval is older than the stream's retention keeps.
    case outsideRetention(StoreLocation, retainedFrom: Interval)
    /// The interval is before the stream's first interval with records (`nil`: none sealed yet).
    case beforeStreamStart(StoreLocation, firstInterval: Interval?)
    /// Records were appended to an interval that is already sealed.
    case intervalSealed(StoreLocation)
    /// A partition index is not below the stream's partition count.
    case partitionOutOfRange(StoreLocation, partitions: UInt32)
    /// A time before the Unix epoch, or one that does not fit the interval arithmetic.
    case timeOutOfRange(stream: String, time: Timestamp)
    /// A single record or block is larger than the format allows.
    case recordTooLarge(stream: String, bytes: Int)
    /// A stream of this name exists already, where a new one was to be made (replay, rename).
    case streamExists(String)
    /// The API was used against its documented contract.
    case misuse(String)
    /// An operating-system call failed.
    case system(call: String, errno: Int32, path: String)
    /// Another process (`processID`, when the lock names it) has the store open, and the operation
    /// (compaction) needs it to itself.
    case storeInUse(path: String, processID: Int32?)
    /// Another writer (`processID`, the process holding the stream's writer lock; this one when
    /// it is another appender of this process) is appending to the stream: one writer per stream.
    case streamBusy(stream: String, processID: Int32?)

    /// Whether the error reports damaged or unreadable store data: `.corrupt`, `.damaged`, and
    /// `.notAStore` for a data file that is not a valid store (empty, too short, not LMDB's); not for
    /// a path that is no directory at all. The CLI exits 65 for these.
    public var isDataError: Bool {
        switch self {
        case .corrupt, .damaged: true
        case .notAStore(_, let reason): reason.hasPrefix("data.mdb")
        default: false
        }
    }

    public var description: String {
        switch self {
        case .lmdb(let code, let call, let context):
            "\(context.isEmpty ? "" : context + ": ")\(call) failed: \(LMDBCode.message(for: code)) (\(code))"
        case .storeFull(let context): "store full: \(context); nothing committed was lost"
        case .corrupt(let location, let what): "\(location): corrupt: \(what)"
        case .recordRejected(let location, let record, let type, let why):
            "\(location): record \(record) is intact but does not decode as \(type): \(why) "
                + "(the store is not damaged: the reading type does not accept what was written)"
        case .storeNotFound(let path): "no store at \(path)"
        case .storeParentNotFound(let path, let parent):
            "cannot create store \(path): its parent directory \(parent) does not exist; create it first (mkdir -p \(parent))"
        case .notAStore(let path, let reason): "\(path) is not a Strata store: \(reason)"
        case .damaged(let path, let what): "\(path.isEmpty ? "the store" : "store " + path) is damaged: \(what)"
        case .unknownStream(let name): "unknown stream \(name)"
        case .invalidStreamName(let name): "invalid stream name \"\(name)\": use 1–195 characters of A–Z a–z 0–9 . _ -, not ending in .late"
        case .streamMismatch(let stream, let reason): "stream \(stream) exists with other settings: \(reason)"
        case .notSealed(let location, let newest):
            "\(location) is not sealed (newest sealed: \(newest.map { String($0.rawValue) } ?? "none"))"
        case .outsideRetention(let location, let from): "\(location) is outside retention (kept from interval \(from))"
        case .beforeStreamStart(let location, let first?): "\(location) is before the stream began (first interval \(first))"
        case .beforeStreamStart(let location, nil): "\(location) is not readable: the stream has no sealed records yet"
        case .intervalSealed(let location): "\(location) is already sealed"
        case .partitionOutOfRange(let location, let partitions): "\(location): the stream has \(partitions) partitions"
        case .timeOutOfRange(let stream, let time): "stream \(stream): time \(time.rawValue) ns is out of range"
        case .recordTooLarge(let stream, let bytes): "stream \(stream): record of \(bytes) bytes exceeds the limit"
        case .streamExists(let name): "stream \(name) already exists; choose another name (or drop it first: strata drop \(name))"
        case .misuse(let what): "misuse: \(what)"
        case .system(let call, let errno, let path): "\(path): \(call) failed: \(systemMessage(errno)) (errno \(errno))"
        case .storeInUse(let path, let pid?): "store \(path) is open in another process (pid \(pid)); close it first"
        case .storeInUse(let path, nil): "store \(path) is open in another process; close it first"
        case .streamBusy(let stream, let pid?) where pid == getpid():
            "stream \(stream) is being written by another appender in this process (pid \(pid)); one writer per stream"
        case .streamBusy(let stream, let pid?):
            "stream \(stream) is being written by process \(pid); one writer per stream: wait for it to end or stop it"
        case .streamBusy(let stream, nil): "stream \(stream) is being written by another process; one writer per stream"
        }
    }
}
