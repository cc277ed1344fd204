import Glibc
import MetricsTestKit
import StrataTestSupport
import Synchronization
import Testing

@testable import Strata
@testable import StrataEngine
@testable import StrataStorage

/// `strata_engine_snapshots_total` counts a snapshot once its commit succeeded: before, it was
/// counted as the commit was submitted, and a snapshot whose commit then failed was counted
/// although it was never written.
@Suite struct SnapshotMetricTests {
    @Test func aSnapshotWhoseCommitFailsIsNotCounted() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snapshot-metric")
        let path = directory.appending("s")
        try SnapshotFixture.fill(path, intervals: 0..<8)
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        let log = store.log
        let metrics = TestMetrics()
        var options = ProgramOptions(snapshotEvery: 4)
        options.metricsFactory = metrics
        let damaged = Mutex<[String]>([])
        // The first snapshot due (interval 3): once the interval's own commit is in, the vertex's
        // stats row is damaged, so that the snapshot's commit, which adds to that row, fails.
        options.beforeSnapshot = { vertex, interval in
            guard damaged.withLock({ $0.isEmpty }) else { return }
            let deadline = ContinuousClock.now + .seconds(600)
            while (try? log.progress(named: vertex))?.interval != interval, ContinuousClock.now < deadline { usleep(1000) }
            _ = try? log.committer.write { txn in
                try Array(vertex.utf8).withUnsafeBytes { key in
                    try [UInt8](repeating: 0xFF, count: 3).withUnsafeBytes { try txn.put(log.vertexStatsRows, key: key, value: $0) }
                }
            }
            damaged.withLock { $0.append(vertex) }
        }
        let program = try Program(name: "sm", store: store, options: options) { p in
            p.read(events).runningReduce(+).save(as: "totals")
        }
        #expect(throws: (any Error).self) { try program.runUntilCaughtUp() }
        let vertex = try #require(damaged.withLock { $0.first }, "no snapshot was due")
        #expect(try log.snapshotIntervals(of: vertex).isEmpty, "the snapshot's commit did not fail")
        #expect(try metrics.expectCounter("strata_engine_snapshots_total", [("vertex", vertex)]).totalValue == 0)
        // The interval itself was committed and counted.
        #expect(try metrics.expectCounter("strata_engine_intervals_processed_total", [("vertex", vertex)]).totalValue >= 4)
    }
}
