import Synchronization

/// The bound on one stream's request bytes read from sockets and not yet appended: back-pressure.
///
/// A request reserves each body chunk before it reads the next one; when the stream's reserved
/// bytes would pass the capacity, it waits, so its socket is not read (NIO stops reading a
/// connection whose body is not consumed) until the stream's worker has appended earlier
/// bodies and released their bytes. The oldest request still receiving its body may always go
/// on: otherwise requests each holding part of the budget could wait on one another forever.
/// Memory per stream therefore stays below the capacity plus one body.
///
/// `IngestBudget` is `Sendable`; its state is behind a `Mutex`, and waiters are resumed outside it.
final class IngestBudget: Sendable {
    private struct Waiter {
        var token: UInt64
        var request: UInt64
        var bytes: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var reserved = 0
        /// Requests still receiving their bodies, oldest first (request numbers only grow).
        var receiving: [UInt64] = []
        var waiters: [Waiter] = []
        var nextToken: UInt64 = 0

        func grants(_ bytes: Int, to request: UInt64, capacity: Int) -> Bool {
            reserved + bytes <= capacity || receiving.first == request
        }

        /// Removes and returns the waiters that may go on now, in arrival order.
        mutating func takeGranted(capacity: Int) -> [Waiter] {
            var granted: [Waiter] = []
            var index = 0
            while index < waiters.count {
                let waiter = waiters[index]
                if grants(waiter.bytes, to: waiter.request, capacity: capacity) {
                    reserved += waiter.bytes
                    granted.append(waiter)
                    waiters.remove(at: index)
                } else {
                    index += 1
                }
            }
            return granted
        }
    }

    /// The bytes that may be reserved before requests wait (the oldest excepted).
    let capacity: Int
    private let state = Mutex(State())
    private let counters: MetricsCounters

    init(capacity: Int, counters: MetricsCounters) {
        self.capacity = capacity
        self.counters = counters
    }

    /// The bytes reserved now.
    var reservedBytes: Int { state.withLock { $0.reserved } }

    /// The requests waiting for room now.
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Registers a request that starts receiving its body.
    func beginReceiving(_ request: UInt64) {
        state.withLock { $0.receiving.append(request) }
    }

    /// Marks a request's body as complete (or abandoned): it no longer counts as receiving.
    func endReceiving(_ request: UInt64) {
        let granted = state.withLock { state -> [Waiter] in
            if let index = state.receiving.firstIndex(of: request) { state.receiving.remove(at: index) }
            return state.takeGranted(capacity: capacity)
        }
        for waiter in granted { waiter.continuation.resume() }
    }

    /// Reserves `bytes` for `request`, waiting while the stream's budget is spent.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting (nothing is reserved then).
    func reserve(_ bytes: Int, for request: UInt64) async throws {
        let immediate = state.withLock { state -> Bool in
            guard state.waiters.isEmpty || state.receiving.first == request,
                  state.grants(bytes, to: request, capacity: capacity) else { return false }
            state.reserved += bytes
            return true
        }
        if immediate {
            counters.queuedBytes.add(bytes, ordering: .relaxed)
            return
        }
        counters.backpressureWaits.add(1, ordering: .relaxed)
        let token = state.withLock { state -> UInt64 in
            state.nextToken += 1
            return state.nextToken
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted = state.withLock { state -> [Waiter]? in
                    // Checked under the lock: a cancellation either is seen here or finds the waiter.
                    if Task.isCancelled { return nil }
                    state.waiters.append(Waiter(token: token, request: request, bytes: bytes, continuation: continuation))
                    return state.takeGranted(capacity: capacity)
                }
                guard let granted else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                for waiter in granted { waiter.continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.token == token }) else { return nil }
                return state.waiters.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
        counters.queuedBytes.add(bytes, ordering: .relaxed)
    }

    /// Gives back bytes reserved earlier, once they are appended (or dropped).
    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        counters.queuedBytes.subtract(bytes, ordering: .relaxed)
        let granted = state.withLock { state -> [Waiter] in
            state.reserved -= bytes
            return state.takeGranted(capacity: capacity)
        }
        for waiter in granted { waiter.continuation.resume() }
    }
}
