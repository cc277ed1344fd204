import Foundation
import Strata

/// How far a directory source has ingested one file: every line before `offset` is in the stream
/// exactly once, and no line after it.
///
/// `SourcePosition` is `Sendable`; it is a plain value.
public struct SourcePosition: Sendable, Equatable, Codable {
    /// The file's name within the watched directory.
    public var file: String
    /// The byte offset just past the last line ingested (the start of the next line).
    public var offset: UInt64
    /// The number of lines ingested, blank and rejected ones included.
    public var line: UInt64

    /// A position in `file`.
    public init(file: String, offset: UInt64, line: UInt64) {
        self.file = file
        self.offset = offset
        self.line = line
    }
}

/// The record a directory source commits to `NAME.pos` with every commit of `NAME`'s records, in
/// the same transaction (`StreamAppender.commit(together:)` across record types): the directory and
/// every file's position, files in name order.
///
/// Binary, as every typed record (`docs/ingest.md` gives the layout): a version byte (2), the
/// directory (a string), the file count (a varint), per file its name (a string), offset and line
/// count (each a `UInt64`), then the partitions the stream's and the dead letters' next unkeyed
/// records go to (each a `UInt32`). Records of version 1, written before the rotation was kept,
/// still read, as partition 0. (The event-time watermark needs no keeping: what it sealed is in
/// the store, which a resumed appender reads.)
///
/// `NAME.pos` keeps only its newest sealed interval (retention: 1 interval); interval `k` holds
/// the `k`-th commit's record. Its intervals count commits, not time. Stores written before it
/// existed keep their positions as JSON text in `NAME.src` (`LegacySourcePositions`): they are read
/// from there until the first commit to `NAME.pos`, after which `NAME.src` is dropped.
struct SourcePositionsRecord: RecordCodable, Equatable {
    /// The catalog name of `NAME.pos` streams.
    static var recordTypeName: String { "strata.source-positions" }
    /// The layout version written first; version 1 (without the round-robin partitions) still reads.
    static let version: UInt8 = 2

    /// The watched directory's absolute path.
    var directory: String
    /// Every file's position, in name order.
    var files: [SourcePosition]
    /// The partition the stream's next unkeyed record goes to: a resumed source continues the
    /// rotation there, so a resumed directory is stored as an uninterrupted one.
    var nextRoundRobinPartition: UInt32
    /// The partition the next dead letter goes to (the dead-letter stream's rotation).
    var nextDeadLetterPartition: UInt32

    init(directory: String, files: [SourcePosition], nextRoundRobinPartition: UInt32 = 0,
         nextDeadLetterPartition: UInt32 = 0) {
        self.directory = directory
        self.files = files
        self.nextRoundRobinPartition = nextRoundRobinPartition
        self.nextDeadLetterPartition = nextDeadLetterPartition
    }

    func encode(to writer: inout BinaryWriter) {
        writer.write(byte: Self.version)
        writer.write(directory)
        writer.write(varint: UInt64(files.count))
        for file in files {
            writer.write(file.file)
            writer.write(file.offset)
            writer.write(file.line)
        }
        writer.write(nextRoundRobinPartition)
        writer.write(nextDeadLetterPartition)
    }

    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let at = reader.offset
        let version = try reader.readByte()
        guard version == 1 || version == Self.version else {
            throw .invalidValue(offset: at, what: "source positions version \(version) (this build reads 1 and 2)")
        }
        directory = try reader.read()
        let count = try reader.readVarint()
        // Each file takes at least 17 bytes: a bound on the count before anything is reserved.
        guard count <= UInt64(reader.remaining / 17) else {
            throw .invalidValue(offset: reader.offset, what: "source positions file count \(count)")
        }
        files = []
        files.reserveCapacity(Int(count))
        for _ in 0..<count {
            let file: String = try reader.read()
            let offset: UInt64 = try reader.read()
            let line: UInt64 = try reader.read()
            files.append(SourcePosition(file: file, offset: offset, line: line))
        }
        if version >= 2 {
            nextRoundRobinPartition = try reader.read()
            nextDeadLetterPartition = try reader.read()
        } else {
            nextRoundRobinPartition = 0
            nextDeadLetterPartition = 0
        }
    }

    /// Where the positions of `stream`'s directory source were read from.
    enum Origin: Equatable {
        /// `NAME.pos`, at its newest sealed interval.
        case typed(Interval)
        /// `NAME.src`, JSON text written before `NAME.pos` existed.
        case legacy
    }

    /// The newest record committed for `stream`'s directory source, with where it was found:
    /// `NAME.pos` when it holds one, else the JSON text of an older store's `NAME.src`; `nil` when
    /// neither does.
    static func newest(of stream: String, in store: Store) throws(ReceiverError) -> (Origin, Self)? {
        let name = SideStreams.sourcePositions(of: stream)
        do {
            if let positions = try store.existingStream(named: name, of: Self.self),
               let sealed = try positions.newestSealedInterval() {
                guard let last = try positions.read(sealed).records.last else {
                    throw ReceiverError.corruptPositions(stream: name, reason: "its newest interval \(sealed) is empty")
                }
                return (.typed(sealed), last)
            }
        } catch let error as ReceiverError {
            throw error
        } catch StorageError.streamMismatch(_, let reason) {
            throw .corruptPositions(stream: name, reason: reason)
        } catch {
            throw .storage(StorageError(describing: error), context: "stream \(name): read the source positions")
        }
        return try LegacySourcePositions.newest(of: stream, in: store).map { (.legacy, $0) }
    }
}

/// The source positions of stores written before `NAME.pos`: the newest record of the JSON
/// stream `NAME.src`, as JSON text, read only (nothing writes it any more).
///
/// ```json
/// {"directory":"/data/in","files":[{"file":"a.jsonl","line":1200,"offset":98811}]}
/// ```
enum LegacySourcePositions {
    private struct Text: Decodable {
        var directory: String
        var files: [SourcePosition]
    }

    /// The newest record of `NAME.src`; `nil` when the stream does not exist or holds none.
    static func newest(of stream: String, in store: Store) throws(ReceiverError) -> SourcePositionsRecord? {
        let name = SideStreams.legacySourcePositions(of: stream)
        do {
            guard let positions = try store.existingStream(named: name, of: JSONRecord.self),
                  let sealed = try positions.newestSealedInterval() else { return nil }
            guard let last = try positions.read(sealed).records.last else {
                throw ReceiverError.corruptPositions(stream: name, reason: "its newest interval \(sealed) is empty")
            }
            let text: Text
            do {
                text = try JSONDecoder().decode(Text.self, from: Data(last.bytes))
            } catch {
                throw ReceiverError.corruptPositions(stream: name, reason: "\(error)")
            }
            return SourcePositionsRecord(directory: text.directory, files: text.files)
        } catch let error as ReceiverError {
            throw error
        } catch {
            throw .storage(StorageError(describing: error), context: "stream \(name): read the source positions")
        }
    }
}

extension Store {
    /// The stream `name` of record type `Record`, or `nil` when the store has no stream of that name.
    func existingStream<Record: RecordCodable>(named name: String, of type: Record.Type) throws(StorageError)
        -> StoredStream<Record>?
    {
        do {
            return try stream(named: name, of: type)
        } catch .unknownStream(_) {
            return nil
        }
    }
}

extension StorageError {
    /// Any error as a storage error: storage errors as they are, anything else as `.misuse`.
    init(describing error: any Error) {
        self = error as? StorageError ?? .misuse(String(describing: error))
    }
}
