import Dispatch
import Synchronization

/// The acknowledgement of one submitted commit: wait for it synchronously or with `await`.
///
/// `CommitTicket` is `Sendable`; any number of threads and tasks may wait on it.
package final class CommitTicket: Sendable {
    private enum State {
        /// Not acknowledged yet: its waiters, the holds still open, and the outcome once the
        /// committer gave it while a hold was open.
        case pending([CheckedContinuation<Void, any Error>], holds: Int, outcome: Result<Void, StorageError>?)
        case done(Result<Void, StorageError>)
    }

    private let state: Mutex<State>
    private let semaphore = DispatchSemaphore(value: 0)

    /// A pending ticket.
    ///
    /// - Parameter holds: Holds to `release()` before the outcome reaches waiters: a stage that
    ///   hands the commit on (the appender's compressor) holds the ticket until it has let go of
    ///   what it holds, so an acknowledged commit leaves nothing of the store behind.
    package init(holds: Int = 0) {
        state = Mutex(.pending([], holds: holds, outcome: nil))
    }

    /// A ticket that is already acknowledged.
    package static let completed: CommitTicket = {
        let ticket = CommitTicket()
        ticket.complete(.success(()))
        return ticket
    }()

    /// Records the outcome and wakes every waiter, or keeps it until the last hold is released.
    func complete(_ result: Result<Void, StorageError>) {
        finish { _, outcome in
            if outcome == nil { outcome = result }
        }
    }

    /// Releases one hold given to `init(holds:)`; the outcome reaches waiters after the last.
    package func release() {
        finish { holds, _ in holds -= 1 }
    }

    private func finish(_ update: (inout Int, inout Result<Void, StorageError>?) -> Void) {
        let resolved = state.withLock { state -> (Result<Void, StorageError>, [CheckedContinuation<Void, any Error>])? in
            guard case .pending(let waiters, var holds, var outcome) = state else { return nil }
            update(&holds, &outcome)
            guard holds <= 0, let result = outcome else {
                state = .pending(waiters, holds: holds, outcome: outcome)
                return nil
            }
            state = .done(result)
            return (result, waiters)
        }
        guard let (result, waiters) = resolved else { return }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
        semaphore.signal()
    }

    /// The outcome, if known.
    package var result: Result<Void, StorageError>? {
        state.withLock { state in
            if case .done(let result) = state { return result }
            return nil
        }
    }

    /// Blocks the calling thread until the commit is durable. Never call it on the cooperative pool.
    package func wait() throws(StorageError) {
        if let result { return try result.get() }
        semaphore.wait()
        semaphore.signal()  // let other waiters through
        if let result { try result.get() }
    }

    /// Suspends until the commit is durable.
    package func value() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result: Result<Void, StorageError>? = state.withLock { state in
                switch state {
                case .pending(var waiters, let holds, let outcome):
                    waiters.append(continuation)
                    state = .pending(waiters, holds: holds, outcome: outcome)
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let result { continuation.resume(with: result.mapError { $0 as any Error }) }
        }
    }
}

/// Commits that must land in order or not at all: after one fails, the rest fail with its error.
package final class CommitChain: Sendable {
    private let failure = Mutex<StorageError?>(nil)
    package init() {}
    /// The first failure of the chain, if any.
    package var firstFailure: StorageError? { failure.withLock { $0 } }
    func fail(_ error: StorageError) { failure.withLock { if $0 == nil { $0 = error } } }
}
