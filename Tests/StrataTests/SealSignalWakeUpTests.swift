import Foundation
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// The seal signal's inotify watch of the store directory: waiters wake on commits (the `commits`
/// file every Strata process writes after each commit), not on every write to the store's files,
/// and never sleep through a commit of another process.
@Suite struct SealSignalWakeUpTests {
    /// Each commit that seals nothing wakes the waiters once: the watch bumped the signal for
    /// every write to `data.mdb` too (each commit writes its pages, then the meta page), which
    /// woke every waiter several times per commit to look at a store in which nothing was sealed.
    @Test(.timeLimit(.minutes(5))) func aCommitWakesTheWaitersOnce() async throws {
        try await withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
            let signal = store.log.sealSignal
            let commits = 40
            let wakeUps = try await onOwnThread(within: .seconds(600)) { () throws -> UInt64 in
                let appender = try stream.explicitAppender()
                signal.waitBlocking(after: signal.current, timeout: .zero)  // starts the watch
                // The watch's start bumps once; its look is over when a commit's wake-up came.
                try appender.append(0, interval: Interval(0))
                var generation = signal.current
                try appender.flush()
                signal.waitBlocking(after: generation, timeout: .seconds(600))
                let start = signal.current
                for value in 1...Int64(commits) {
                    generation = signal.current
                    try appender.append(value, interval: Interval(0))
                    try appender.flush()  // seals nothing
                    // Only the watch can end this wait: a commit that did not wake it fails the deadline.
                    signal.waitBlocking(after: generation, timeout: .seconds(600))
                    #expect(signal.current > generation, "commit \(value) woke no waiter")
                }
                return signal.current - start
            }
            print("wake-ups for \(commits) commits: \(wakeUps)")
            #expect(wakeUps == UInt64(commits), "\(wakeUps) wake-ups for \(commits) commits")
        }
    }

    /// A waiter whose waits end only by the watch (an hour's timeout) follows another process's
    /// many sealing commits (`strata ingest`, a commit every 64 bytes of input) to the last one:
    /// waking on `commits` alone never sleeps through a commit.
    @Test(.timeLimit(.minutes(10))) func aWaiterSleepsThroughNoCommitOfAnotherProcess() async throws {
        try await withStore { store in
            let signal = store.log.sealSignal
            signal.waitBlocking(after: signal.current, timeout: .zero)  // starts the watch
            let lines = (0..<300).map { "{\"ts\":\($0)}\n" }.joined()
            let path = store.path
            let ingest = Task {
                try await onOwnThread(within: .seconds(600), "strata ingest") {
                    try runProcess(builtProductsDirectory() + "/strata",
                                   ["ingest", "v", "--store", path, "--time-field", "ts", "--time-unit", "s",
                                    "--partitions", "1", "--commit-bytes", "64", "--durability", "none"], stdin: lines)
                }
            }
            let (sealed, wakeUps) = try await onOwnThread(within: .seconds(600)) { () throws -> (Interval?, Int) in
                var wakeUps = 0
                while true {
                    let generation = signal.current
                    if let stream = try store.log.descriptor(named: "v"),
                       let sealed = try store.log.frontier(of: stream).sealedThrough, sealed == Interval(299) {
                        return (sealed, wakeUps)
                    }
                    signal.waitBlocking(after: generation, timeout: .seconds(3600))
                    wakeUps += 1
                }
            }
            let run = try await ingest.value
            #expect(run.status == 0, "\(run.stderr)")
            #expect(sealed == Interval(299))
            print("a waiter woke \(wakeUps) times for an ingest of 300 intervals committed every 64 bytes")
        }
    }
}
