import StrataTestSupport
import Testing

/// Runs each test of the suite it marks with `offTheCooperativePool`: the test's own jobs (each
/// resumption after an `await`) run on threads of their own, so a test that talks to an in-process
/// server over many round trips is not queued behind the synchronous tests that fill the
/// cooperative pool under the whole suite.
struct OffTheCooperativePoolTrait: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        // The suite itself has nothing to run off the pool; its test cases do.
        guard testCase != nil else { return try await function() }
        try await StrataTestSupport.offTheCooperativePool { try await function() }
    }
}

extension Trait where Self == OffTheCooperativePoolTrait {
    /// Each test runs its jobs on threads of their own, off the cooperative pool.
    static var offTheCooperativePool: Self { Self() }
}
