/// An error that may carry a storage error: every error type of Strata's layers offers the
/// storage failure underneath it the same way, so that "the store is full" or "the store is
/// damaged" is handled once, whatever layer reported it.
///
/// ```swift
/// do {
///     try program.runUntilCaughtUp()
/// } catch {
///     switch StorageError.carried(by: error) {
///     case .storeFull?: pauseIngest()                         // from any layer
///     case let storage? where storage.isDataError: alertOperator(storage)
///     default: throw error
///     }
/// }
/// ```
///
/// Conforming types: `StorageError` (itself), `EngineError`, `TimeTravelError`, `IngestError`,
/// `ReceiverError`, `ClusterError`, `SQLError`. Types that never wrap one (`Corruption`,
/// `RecordDecodingError`, `JSONLineError`) do not conform. Conformances are `Sendable` values.
public protocol StorageErrorCarrying: Error {
    /// The storage error this error reports, or wraps at any depth; `nil` when the failure is
    /// not the store's (a bad argument, a user closure's own error, a network failure).
    var storageError: StorageError? { get }
}

extension StorageError: StorageErrorCarrying {
    /// The error itself.
    public var storageError: StorageError? { self }

    /// The storage error `error` carries: itself when it is one, the one wrapped by an error of
    /// another layer (`StorageErrorCarrying`), or `nil`.
    public static func carried(by error: any Error) -> StorageError? {
        (error as? any StorageErrorCarrying)?.storageError
    }
}
