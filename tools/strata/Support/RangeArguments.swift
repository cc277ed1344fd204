import ArgumentParser
import Dispatch
import Strata

/// `--from`, `--to`, `--zone` and `--on`: a range of a stream's intervals in the one time grammar
/// (docs/cli.md, "Times"), shared by `cat`, `slice`, `tail`, `replay` and `diff`.
struct RangeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "The first interval: an index, 21:00, 2026-11-23T21:00:00Z, now, -5m or beginning (default: beginning).",
        valueName: "T1"))
    var from: TimeArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "The end: an index or end (included), or a time (excluded: [T1, T2)) (default: end).", valueName: "T2"))
    var to: TimeArgument?

    @OptionGroup var reading: TimeReadingOptions

    func validate() throws {
        try from?.validate("--from")
        try to?.validate("--to")
    }

    /// The range on the stream described by `info`; missing ends are `beginning` and `end`.
    func intervals(in info: StreamInfo) throws -> ClosedRange<Interval> {
        try reading.intervals(from: from, to: to, in: info)
    }
}

/// The `{"interval":T,"partition":P,"record":` prefix and `,"time":"…"}` suffix of a `--json` record line.
func jsonRecordAffixes(_ interval: Interval, _ partition: PartitionIndex, time: String) -> (prefix: [UInt8], suffix: [UInt8]) {
    var prefix = Array(#"{"interval":"#.utf8)
    appendDecimal(interval.rawValue, to: &prefix)
    prefix.append(contentsOf: #","partition":"#.utf8)
    appendDecimal(UInt64(partition.rawValue), to: &prefix)
    prefix.append(contentsOf: #","record":"#.utf8)
    var suffix = Array(#","time":"#.utf8)
    appendJSONString(time, to: &suffix)
    suffix.append(0x7D)
    return (prefix, suffix)
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
