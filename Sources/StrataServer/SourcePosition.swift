import FoundationEssentials
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

/// The record a directory source commits to `NAME.src` with every commit of `NAME`'s records, in
/// the same transaction: the directory and every file's position, files in name order.
///
/// ```json
/// {"directory":"/data/in","files":[{"file":"a.jsonl","line":1200,"offset":98811}]}
/// ```
///
/// `NAME.src` keeps only its newest sealed interval (retention: 1 interval); interval `k` holds
/// the `k`-th commit's record. Its intervals count commits, not time.
struct SourcePositionsRecord: Codable, Equatable {
    /// The watched directory's absolute path.
    var directory: String
    /// Every file's position, in name order.
    var files: [SourcePosition]

    /// The record's JSON text, keys sorted.
    func encoded() throws(ReceiverError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self))
        } catch {
            throw .invalidArgument("the source positions cannot be encoded: \(error)")
        }
    }

    /// Decodes a record read back from `stream`.
    init(decoding bytes: [UInt8], stream: String) throws(ReceiverError) {
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(bytes))
        } catch {
            throw .corruptPositions(stream: stream, reason: "\(error)")
        }
    }

    init(directory: String, files: [SourcePosition]) {
        self.directory = directory
        self.files = files
    }

    /// The newest record committed to `stream`'s positions stream, with its interval; `nil` when
    /// none was committed.
    static func newest(of stream: String, in store: Store) throws(ReceiverError) -> (Interval, Self)? {
        let name = SideStreams.sourcePositions(of: stream)
        do {
            let positions = try store.stream(named: name, of: JSONRecord.self)
            guard let sealed = try positions.newestSealedInterval() else { return nil }
            guard let last = try positions.read(sealed).records.last else {
                throw ReceiverError.corruptPositions(stream: name, reason: "its newest interval \(sealed) is empty")
            }
            return (sealed, try Self(decoding: last.bytes, stream: name))
        } catch let error as ReceiverError {
            throw error
        } catch StorageError.unknownStream(_) {
            return nil
        } catch {
            throw .storage(StorageError(describing: error), context: "stream \(name): read the source positions")
        }
    }
}

extension StorageError {
    /// Any error as a storage error: storage errors as they are, anything else as `.misuse`.
    init(describing error: any Error) {
        self = error as? StorageError ?? .misuse(String(describing: error))
    }
}
