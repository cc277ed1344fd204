import Strata

/// Every error of Strata's SQL layer: SQLite's own, with where in the query it happened, or the
/// store's, wrapped.
///
/// `SQLError` is `Sendable`; it is a plain value.
@frozen
public enum SQLError: Error, Sendable, CustomStringConvertible, StorageErrorCarrying {
    /// SQLite rejected or failed the query. `offset` is the byte offset in `sql` of the token the
    /// error is about, when SQLite knows it (`sqlite3_error_offset`).
    case sqlite(code: Int32, message: String, sql: String, offset: Int?)
    /// The query names a table that is neither a stream nor a table of the connection.
    case unknownStream(String, known: [String])
    /// A stream holds a record type the SQL layer cannot turn into columns (register it with
    /// ``SQLConnection/register(_:)``).
    case unsupportedRecordType(stream: String, recordType: String)
    /// A constraint or table-function argument is not a value the column or function takes.
    case invalidArgument(String)
    /// The query was interrupted (``SQLInterrupt/interrupt()``, Ctrl-C on the command line).
    case interrupted
    /// The store failed: a stream not sealed that far, outside retention, a corrupt block….
    case storage(StorageError)
    /// A time bound did not parse or resolve.
    case timeTravel(TimeTravelError)
    /// A state lookup (`state(…)`) failed in the engine's state-as-of code.
    case state(String)

    public var description: String {
        switch self {
        case .sqlite(_, let message, let sql, let offset):
            guard let offset, offset >= 0, offset <= sql.utf8.count else { return "SQL error: \(message)" }
            let (line, column, text) = Self.position(of: offset, in: sql)
            let caret = String(repeating: " ", count: max(0, column - 1)) + "^"
            return "SQL error at line \(line), column \(column): \(message)\n  \(text)\n  \(caret)"
        case .unknownStream(let name, let known):
            let list = known.isEmpty ? "the store has no streams" : "streams: " + known.joined(separator: ", ")
            return "no stream or table named \(name) (\(list))"
        case .unsupportedRecordType(let stream, let type):
            return "stream \(stream) holds records of type \(type), which SQL cannot read as columns: "
                + "JSON, the standard scalar types, KeyValue pairs of them, and types registered as SQLRecord"
        case .invalidArgument(let text): return text
        case .interrupted: return "interrupted"
        case .storage(let error): return error.description
        case .timeTravel(let error): return error.description
        case .state(let text): return text
        }
    }

    /// The storage error of `.storage`, or of `.timeTravel` when it wraps one; `nil` for SQLite's
    /// own errors and bad queries.
    public var storageError: StorageError? {
        switch self {
        case .storage(let error): error
        case .timeTravel(let error): error.storageError
        default: nil
        }
    }

    /// The 1-based line and column (in characters) of a byte offset, and that line's text.
    static func position(of offset: Int, in sql: String) -> (Int, Int, String) {
        let bytes = Array(sql.utf8)
        var line = 1, lineStart = 0
        for i in 0..<min(offset, bytes.count) where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        var lineEnd = lineStart
        while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
        let column = String(decoding: bytes[lineStart..<min(offset, bytes.count)], as: UTF8.self).count + 1
        return (line, column, String(decoding: bytes[lineStart..<lineEnd], as: UTF8.self))
    }

    /// Wraps what a store or time-travel call threw.
    init(wrapping error: any Error) {
        switch error {
        case let error as SQLError: self = error
        case let error as StorageError: self = .storage(error)
        case let error as TimeTravelError:
            if case .storage(let storage) = error { self = .storage(storage) } else { self = .timeTravel(error) }
        default: self = .state(String(describing: error))
        }
    }
}
