import Dispatch
import Synchronization

/// The acknowledgement of one submitted commit: wait for it synchronously or with `await`.
///
/// `CommitTicket` is `Sendable`; any number of threads and tasks may wait on it.
package final class CommitTicket: Sendable {
    private enum State {
        case pending([CheckedContinuation<Void, any Error>])
        case done(Result<Void, StorageError>)
    }

    private let state = Mutex<State>(.pending([]))
    private let semaphore = DispatchSemaphore(value: 0)

    package init() {}

    /// A ticket that is already acknowledged.
    package static let completed: CommitTicket = {
        let ticket = CommitTicket()
        ticket.complete(.success(()))
        return ticket
    }()

    /// Records the outcome and wakes every waiter.
    func complete(_ result: Result<Void, StorageError>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .pending(let waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
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
                case .pending(var waiters):
                    waiters.append(continuation)
                    state = .pending(waiters)
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
