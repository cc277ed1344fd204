import Foundation
import StrataTestSupport
import Synchronization
import Testing

/// `onOwnThread` runs blocking test work off the cooperative pool and still reports the
/// expectations inside it against the running test.
@Suite struct OwnThreadTests {
    @Test func anExpectationInsideIsRecordedAgainstTheRunningTest() async throws {
        // On a bare Thread the failure went to «unknown» and this test passed, so
        // withKnownIssue failed with "known issue was not recorded".
        await withKnownIssue {
            try await onOwnThread("an expectation that fails") {
                #expect(Bool(false), "recorded inside onOwnThread")
            }
        }
    }

    @Test func blockingBodiesRunAtOnceOffTheCooperativePool() async throws {
        // Eight bodies each wait until all eight have started: on the cooperative pool (two
        // threads here) they would wait for good; on threads of their own they all go on.
        let bodies = 8
        let started = StartCount()
        let allStarted = DispatchSemaphore(value: 0)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<bodies {
                group.addTask {
                    try await onOwnThread(within: .seconds(300), "body \(index) waiting for the others") {
                        let count = started.next()
                        if count == bodies { for _ in 0..<bodies { allStarted.signal() } }
                        allStarted.wait()
                        return index
                    }
                }
            }
            var finished = 0
            for try await _ in group { finished += 1 }
            #expect(finished == bodies)
        }
    }

    @Test func theResultAndTheErrorOfTheBodyComeBack() async throws {
        let value = try await onOwnThread { 42 }
        #expect(value == 42)
        struct Failure: Error {}
        await #expect(throws: Failure.self) { try await onOwnThread { throw Failure() } }
    }

    @Test func aHangFailsWithTheDeadlineInsteadOfHangingTheRun() async throws {
        let release = DispatchSemaphore(value: 0)
        defer { release.signal() }
        await #expect(throws: OwnThreadTimedOut.self) {
            try await onOwnThread(within: .seconds(1), "a body that waits") { release.wait() }
        }
    }
}

/// How many of the bodies have started.
private final class StartCount: Sendable {
    private let count = Mutex(0)
    /// Counts one more start and returns the count.
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
}
