import Dispatch
import Foundation
import Synchronization
import Testing

@testable import StrataStorage

// Issue 10, item 8: `SealSignal.wait` could miss its wake-up when its timeout fired before the
// waiter registered (a probe of 50 tasks × 400 zero-timeout waits left 358 waits hanging).

@Suite struct SealSignalTests {
    /// Runs `body` in an unstructured task and reports whether it finished within `deadline`. A
    /// hung body cannot be cancelled out of a lost wake-up, so it is left behind (and the test fails)
    /// instead of hanging the suite.
    func finishes(within deadline: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = Once()
            Task.detached {
                await body()
                if once.claim() { continuation.resume(returning: true) }
            }
            DispatchQueue.global().asyncAfter(deadline: SealSignal.deadline(after: deadline)) {
                if once.claim() { continuation.resume(returning: false) }
            }
        }
    }

    @Test func issue10_item8_zeroTimeoutWaitsAllReturnUnderStress() async {
        let signal = SealSignal()
        let returned = Counter()
        let finished = await finishes(within: .seconds(120)) {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        for _ in 0..<400 {
                            await signal.wait(after: signal.current, timeout: .zero)
                            returned.add()
                        }
                    }
                }
            }
        }
        #expect(finished, "only \(returned.value) of 20000 zero-timeout waits returned")
    }

    @Test func issue10_item8_waitsRacingBumpsAllReturn() async {
        // Waits with short and long timeouts while other tasks bump: each wait ends by its bump or
        // its timeout, never neither. Long timeouts can only end by a bump after the wait began.
        let signal = SealSignal()
        let stop = Counter()
        let finished = await finishes(within: .seconds(120)) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while stop.value == 0 {
                        signal.bump()
                        await Task.yield()
                    }
                }
                await withTaskGroup(of: Void.self) { waiters in
                    for index in 0..<20 {
                        waiters.addTask {
                            for round in 0..<200 {
                                let timeout: Duration = (index + round) % 3 == 0 ? .zero : .seconds(3600)
                                await signal.wait(after: signal.current, timeout: timeout)
                            }
                        }
                    }
                }
                stop.add()
            }
        }
        #expect(finished)
    }

    @Test func issue10_item8_aWaitAfterABumpReturnsAtOnce() async {
        let signal = SealSignal()
        let generation = signal.current
        signal.bump()
        // An hour's timeout: only the check of the generation can end this wait.
        let finished = await finishes(within: .seconds(60)) {
            await signal.wait(after: generation, timeout: .seconds(3600))
        }
        #expect(finished)
        let blocked = await finishes(within: .seconds(60)) {
            signal.waitBlocking(after: generation, timeout: .seconds(3600))
        }
        #expect(blocked)
    }

    @Test func issue10_item8_cancellationEndsAWait() async {
        let signal = SealSignal()
        let started = Counter()
        let finished = await finishes(within: .seconds(60)) {
            let waiter = Task {
                started.add()
                await signal.wait(after: signal.current, timeout: .seconds(3600))
            }
            waiter.cancel()
            await waiter.value
            // A task cancelled before it waits returns at once too.
            await withTaskGroup(of: Void.self) { group in
                group.cancelAll()
                group.addTask { await signal.wait(after: signal.current, timeout: .seconds(3600)) }
            }
        }
        #expect(finished && started.value == 1)
    }

    @Test func issue10_item8_deadlinesSaturateInsteadOfTrapping() {
        #expect(SealSignal.deadline(after: .seconds(Int64.max)) == .distantFuture)
        #expect(SealSignal.deadline(after: Duration(secondsComponent: Int64.max, attosecondsComponent: 999_999_999_999_999_999))
                == .distantFuture)
        let now = DispatchTime.now()
        #expect(SealSignal.deadline(after: .seconds(-5)) <= DispatchTime.now())
        #expect(SealSignal.deadline(after: .milliseconds(-1)) >= now)
        #expect(SealSignal.deadline(after: .zero) >= now)
    }

    @Test func issue10_item8_aWriteToTheWatchedFileWakesAWaiter() async throws {
        // A stand-in for another process's commit: any write to the data file is a wake-up.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-seal-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/data.mdb"
        #expect(FileManager.default.createFile(atPath: file, contents: Data([0])))
        let signal = SealSignal(watching: file)
        // The first wait starts the watch and returns (a look after the watch began).
        await signal.wait(after: signal.current, timeout: .seconds(3600))
        let generation = signal.current
        // Whether the write comes before the wait registers or after, the wait ends: only the
        // inotify watch can end it (its timeout is an hour).
        let waiting = Task { await signal.wait(after: generation, timeout: .seconds(3600)) }
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.write(Data([1, 2, 3]))
        try handle.close()
        let finished = await finishes(within: .seconds(60)) { await waiting.value }
        #expect(finished)
    }
}

extension SealSignalTests {
    @Test func issue10_item8_manyStoresShareOneInotifyInstance() async throws {
        // More watched data files than the default per-user limit of inotify instances (128):
        // every one of them still wakes its waiter.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-seal-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var signals: [SealSignal] = []
        for index in 0..<200 {
            let file = directory + "/data-\(index).mdb"
            #expect(FileManager.default.createFile(atPath: file, contents: Data([0])))
            let signal = SealSignal(watching: file)
            await signal.wait(after: signal.current, timeout: .seconds(3600))  // starts the watch
            signals.append(signal)
        }
        for index in [0, 127, 128, 199] {
            let signal = signals[index]
            let generation = signal.current
            let waiting = Task { await signal.wait(after: generation, timeout: .seconds(3600)) }
            let handle = try #require(FileHandle(forWritingAtPath: directory + "/data-\(index).mdb"))
            handle.write(Data([1]))
            try handle.close()
            let finished = await finishes(within: .seconds(60)) { await waiting.value }
            #expect(finished, "the waiter of file \(index) was not woken")
        }
    }
}

/// A flag that only the first caller of `claim()` gets.
final class Once: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A counter any task may bump.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
