import StrataStorage

/// Every error the engine throws: what failed, in which vertex, interval and partition.
@frozen
public enum EngineError: Error, Sendable, CustomStringConvertible {
    /// The store failed while the vertex read or wrote.
    case storage(StorageError, vertex: String, interval: Interval?)
    /// A user closure threw `underlying` (the user's own error, to catch with `as`); nothing of
    /// that interval was committed.
    ///
    /// ```swift
    /// do { try program.runUntilCaughtUp() }
    /// catch EngineError.closureFailed(let error as MyParseError, let vertex, let interval, _) { … }
    /// ```
    case closureFailed(underlying: any Error, vertex: String, interval: Interval, partition: PartitionIndex?)
    /// The program was defined or used against its contract.
    case misuse(String)
    /// A stream asked for its state (`StateAsOf`) is not written by a stateful vertex that
    /// registered its state, or holds other types than the ones asked for.
    case noState(stream: String, reason: String)

    public var description: String {
        switch self {
        case .storage(let error, let vertex, let interval):
            "vertex \(vertex)\(interval.map { " interval \($0)" } ?? ""): \(error)"
        case .closureFailed(let underlying, let vertex, let interval, let partition):
            "vertex \(vertex) interval \(interval)\(partition.map { " partition \($0)" } ?? ""): \(underlying)"
        case .misuse(let what): "misuse: \(what)"
        case .noState(let stream, let reason): "stream \(stream): \(reason)"
        }
    }
}

extension EngineError: StorageErrorCarrying {
    /// The storage error of `.storage`, or the one a user closure's error carries
    /// (`.closureFailed`, when that error is or wraps one); `nil` otherwise.
    public var storageError: StorageError? {
        switch self {
        case .storage(let error, _, _): error
        case .closureFailed(let underlying, _, _, _): StorageError.carried(by: underlying)
        case .misuse, .noState: nil
        }
    }
}
