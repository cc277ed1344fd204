import Foundation
import StrataTestSupport
import Testing

// `strata replay`: a past range of a stream re-driven into a new stream, block for block, at full
// speed or at the original pace; bad ranges and an existing target are errors (exit 1).

@Suite struct ReplayCommandTests {
    @Test func replayCopiesTheRangeIntoANewStreamRecordForRecord() throws {
        let store = try FixtureStore(partitions: 2)
        let run = try strata(["replay", "views", "--from", "100", "--to", "103", "--into", "views.v2",
                              "--store", store.path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try jsonObject(run.stdout)
        #expect(summary["intervals"] as? Int == 4)
        #expect(summary["into"] as? String == "views.v2")
        #expect(run.stderr.contains("replay: interval 103 (4/4)"))
        let original = try strata(["cat", "views", "--from", "100", "--to", "103", "--json", "--store", store.path])
        let copy = try strata(["cat", "views.v2", "--from", "100", "--to", "103", "--json", "--store", store.path])
        #expect(copy.status == 0)
        #expect(copy.stdout == original.stdout)
        #expect(!copy.stdout.isEmpty)
        // Settings follow the source: the JSON time and key fields too.
        let described = try strata(["describe", "views.v2", "--store", store.path])
        #expect(described.stdout.contains("user"))
        // And the copy verifies.
        #expect(try strata(["verify", "--store", store.path]).status == 0)
    }

    @Test func replayRefusesBadRangesAndAnExistingTarget() throws {
        let store = try FixtureStore()
        let before = try strata(["replay", "views", "--from", "50", "--to", "101", "--into", "a", "--store", store.path])
        #expect(before.status == 1)
        #expect(before.stderr.contains("before the stream began"))
        let unsealed = try strata(["replay", "views", "--from", "100", "--to", "200", "--into", "b", "--store", store.path])
        #expect(unsealed.status == 1)
        #expect(unsealed.stderr.contains("not sealed"))
        #expect(try strata(["replay", "views", "--from", "100", "--to", "101", "--into", "c", "--store", store.path]).status == 0)
        let again = try strata(["replay", "views", "--from", "100", "--to", "101", "--into", "c", "--store", store.path])
        #expect(again.status == 1)
        #expect(again.stderr.contains("exists"))
        let reversed = try strata(["replay", "views", "--from", "103", "--to", "100", "--into", "d", "--store", store.path])
        #expect(reversed.status == 1)
        #expect(reversed.stderr.contains("it ends before it begins"))
        let unknown = try strata(["replay", "nope", "--from", "1", "--to", "2", "--into", "e", "--store", store.path])
        #expect(unknown.status == 1)
    }

    @Test func replayAtPaceSealsOneIntervalPerIntervalLength() throws {
        let store = try FixtureStore()
        // 1 s intervals at 20× speed: 4 intervals take about 0.15 s; the order of progress lines shows pacing.
        let run = try strata(["replay", "views", "--from", "100", "--to", "103", "--into", "paced", "--pace",
                              "--speed", "20", "--store", store.path])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("replay: interval") }
        #expect(lines.count == 4)
    }
}
