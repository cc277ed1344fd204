import ArgumentParser
import Dispatch
import Strata

/// `--from`, `--to`, `--zone` and `--on`: a range of a stream's intervals as interval indices or
/// times (see docs/time-travel.md), shared by `slice` and `tail`.
struct RangeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The first interval: an index, a time of day (21:00) or an ISO 8601 time (2026-11-23T21:00:00Z).",
        valueName: "T1"))
    var from: String?

    @Option(help: ArgumentHelp(
        "The end: an index (included) or a time (excluded: [T1, T2) is sliced).", valueName: "T2"))
    var to: String?

    @Option(help: ArgumentHelp(
        "The time zone of times without an offset: UTC, Europe/Paris, +02:00 …", valueName: "zone"))
    var zone = "UTC"

    @Option(help: ArgumentHelp(
        "The day of bare times of day (default: the day of the newest sealed interval).", valueName: "YYYY-MM-DD"))
    var on: String?
}

/// Runs `operation` on the cooperative pool while the calling thread (the command's main thread,
/// never a pool thread) waits for it: the command line is synchronous, re-emission is not.
func runToCompletion(_ operation: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable {
        // Written by the task before `done.signal()`, read by the waiter after `done.wait()`:
        // the semaphore orders the two.
        var error: (any Error)?
    }
    let outcome = Outcome()
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            try await operation()
        } catch {
            outcome.error = error
        }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}
