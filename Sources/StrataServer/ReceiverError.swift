import Glibc
import Strata

/// Every error the HTTP receiver and the directory source report.
///
/// Each case carries what a person needs to act: the stream, the path, the system call. The
/// description is one line (`stream views: the store is full …`). `ReceiverError` is `Sendable`.
@frozen
public enum ReceiverError: Error, Sendable, CustomStringConvertible {
    /// The store refused an operation; `context` says which one (`stream views: flush`).
    case storage(StorageError, context: String)
    /// A setting or a request parameter is not valid; the text names it and its value.
    case invalidArgument(String)
    /// A stream exists with settings other than those asked for, or is not a JSON stream.
    case streamConflict(stream: String, reason: String)
    /// The listening socket could not be bound.
    case bindFailed(host: String, port: Int, reason: String)
    /// A system call on the watched directory or one of its files failed.
    case system(call: String, errno: Int32, path: String)
    /// The source positions recorded in the store belong to another directory.
    case sourceMismatch(stream: String, recordedDirectory: String, configuredDirectory: String)
    /// The source positions record of a stream could not be read.
    case corruptPositions(stream: String, reason: String)
    /// The receiver or source is already running, or was shut down before it started.
    case notRunnable(String)

    public var description: String {
        switch self {
        case .storage(let error, let context):
            return "\(context): \(error)"
        case .invalidArgument(let text):
            return text
        case .streamConflict(let stream, let reason):
            return "stream \(stream): \(reason)"
        case .bindFailed(let host, let port, let reason):
            if reason.hasPrefix("the address is already in use") {
                return "address \(host):\(port) is already in use: another server listens there; pick another --port"
            }
            return "cannot listen on \(host):\(port): \(reason)"
        case .system(let call, let code, let path):
            return "\(path): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .sourceMismatch(let stream, let recorded, let configured):
            return "stream \(stream) holds the positions of files of \(recorded), not \(configured): "
                + "one directory feeds one stream"
        case .corruptPositions(let stream, let reason):
            return "stream \(stream): the recorded source positions are unreadable: \(reason)"
        case .notRunnable(let text):
            return text
        }
    }
}

extension ReceiverError: StorageErrorCarrying {
    /// The storage error of `.storage`; `nil` for bad arguments, conflicts, system calls, … .
    public var storageError: StorageError? {
        if case .storage(let error, _) = self { return error }
        return nil
    }
}
