import Dispatch
import Foundation
import Synchronization

/// Runs each job of the tasks that prefer it on a new thread of its own (8 MiB stack), never on
/// the cooperative pool, so a task may block (child processes, NATS calls, polling loops) without
/// starving the other tests of a run.
///
/// A task run here is still a task: it inherits the task-local values of the task that created
/// it, so Swift Testing's `#expect` and `Issue.record` inside it are reported against the running
/// test — on a bare `Thread` they are reported against «unknown» and the test itself passes.
public final class OwnThreadExecutor: TaskExecutor, Sendable {
    /// An executor; each job it is given gets a thread.
    public init() {}

    /// Runs the job on a new thread. A task has at most one job enqueued at a time, so the jobs
    /// of one task never overlap.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let thread = Thread { job.runSynchronously(on: executor) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Runs `body` with its task preferring `OwnThreadExecutor`: every job of the task and of its
/// child tasks (each resumption after an `await`) runs on a thread of its own, never on the
/// cooperative pool.
///
/// For async work that must keep moving while the pool is busy: under the whole suite the pool
/// (one thread per core) runs the synchronous tests one after another, and a job enqueued there
/// waits behind every test queued before it — minutes on two cores. Unstructured tasks started in
/// `body` (`Task { … }`) do not inherit the preference: give them `Task(executorPreference:)`.
public func offTheCooperativePool<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(OwnThreadExecutor()) { try await body() }
}

/// The error of `onOwnThread(within:_:_:)` when the work has not returned within its deadline.
public struct OwnThreadTimedOut: Error, CustomStringConvertible {
    /// What was being waited for.
    public let what: String
    /// The deadline that passed.
    public let deadline: Duration
    public var description: String { "timed out waiting for \(what): still running after \(deadline)" }
}

/// Runs blocking work in a task on a thread of its own (`OwnThreadExecutor`) and waits for its
/// result. Test expectations inside `body` are reported against the calling test.
///
/// - Throws: what `body` throws, or `OwnThreadTimedOut` when it has not returned within
///   `deadline` (the thread is left behind, so a hang fails the test instead of the suite).
public func onOwnThread<T: Sendable>(within deadline: Duration = .seconds(600), _ what: String = "blocking work",
                                     _ body: @escaping @Sendable () throws -> T) async throws -> T {
    let run = OwnThreadRun<T>()
    Task(executorPreference: OwnThreadExecutor()) { run.finish(Result { try body() }) }
    guard let result = await run.value(within: deadline) else {
        throw OwnThreadTimedOut(what: what, deadline: deadline)
    }
    return try result.get()
}

/// The result of one `onOwnThread` run, and the test task waiting for it.
private final class OwnThreadRun<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<Result<T, any Error>?, Never>?
    }
    private let state = Mutex(State())

    func finish(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>?, Never>? in
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: result)
    }

    func value(within deadline: Duration) async -> Result<T, any Error>? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { return continuation.resume(returning: ready) }
            let nanoseconds = Int(clamping: deadline.components.seconds) * 1_000_000_000
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
                let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>?, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: nil)
            }
        }
    }
}
