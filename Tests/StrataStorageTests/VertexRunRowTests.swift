import StrataTestSupport
import Testing

@testable import StrataStorage

// Issues 13 and 14: the run state and start classification kept in a vertex's stats row (row
// version 3), and the rolling per-interval timing rows beside it (docs/format.md).

@Suite struct VertexRunRowTests {
    @Test func statsRowVersion3RoundTripsAndVersion2RowsStillRead() throws {
        var stats = VertexStats()
        stats.inputs = ["events"]
        stats.outputs = ["counts"]
        stats.recoveries = 2
        stats.speculativeLaunches = 5
        stats.speculativeWins = 2
        stats.resumes = 3
        stats.crashRecoveries = 1
        stats.restartsAfterFailure = 4
        stats.snapshotsWritten = 6
        stats.runState = .running
        stats.lastStart = .afterCrash
        stats.lastStartProgress = Interval(41)
        let row = stats.encodedRow()
        #expect(row.first == 3)
        #expect(try row.withUnsafeBytes { try VertexStats(row: $0) } == stats)
        for index in row.indices {
            var damaged = row
            damaged[index] ^= 0x40
            #expect(throws: Corruption.self) { try damaged.withUnsafeBytes { try VertexStats(row: $0) } }
        }
        // A version 2 row (inputs, counters, outputs) reads with no run state.
        var w = BinaryWriter(capacity: 64)
        w.write(byte: 2)
        w.write(["events"])
        w.write(UInt64(1))
        w.write(UInt64(2))
        w.write(UInt64(3))
        w.write(["counts"])
        let old = try RowChecksum.seal(w.bytes).withUnsafeBytes { try VertexStats(row: $0) }
        #expect(old.recoveries == 1 && old.speculativeLaunches == 2 && old.retries == 3 && old.outputs == ["counts"])
        #expect(old.runState == .unknown && old.lastStart == .unknown && old.resumes == 0)
    }

    /// Each counted start is classified from the state the previous run left: nothing (first),
    /// a clean stop (resume), still running (crash), failed (restart after a failure).
    @Test func runMarksClassifyEveryStartInTheCommit() throws {
        let directory = try TemporaryDirectory(prefix: "strata-runrows")
        let log = try LogStore.open(path: directory.appending("store"), options: StoreOptions())
        func commit(_ mark: VertexStatsUpdate.RunMark) throws -> VertexStats {
            var batch = AppendBatch()
            batch.vertexStats = [("p.v0", VertexStatsUpdate(run: mark))]
            try log.submit(batch, chain: nil).wait()
            return try #require(try log.vertexStats(named: "p.v0"))
        }
        var stats = try commit(.began(counted: true, progress: nil))
        #expect(stats.lastStart == .first && stats.runState == .running && stats.lastStartProgress == nil)
        stats = try commit(.stopped)
        #expect(stats.runState == .stoppedCleanly)
        // A later run of the same process: marked running, not counted again.
        stats = try commit(.began(counted: false, progress: Interval(3)))
        #expect(stats.runState == .running && stats.lastStart == .first && stats.resumes == 0)
        stats = try commit(.stopped)
        stats = try commit(.began(counted: true, progress: Interval(5)))
        #expect(stats.lastStart == .resumed && stats.resumes == 1 && stats.lastStartProgress == Interval(5))
        // Killed while running: the next start is a crash recovery.
        stats = try commit(.began(counted: true, progress: Interval(9)))
        #expect(stats.lastStart == .afterCrash && stats.crashRecoveries == 1 && stats.lastStartProgress == Interval(9))
        stats = try commit(.failed)
        #expect(stats.runState == .failed)
        stats = try commit(.began(counted: true, progress: Interval(9)))
        #expect(stats.lastStart == .afterFailure && stats.restartsAfterFailure == 1)
        #expect(stats.resumes == 1 && stats.crashRecoveries == 1)
    }

    /// One row per processed interval in a ring of `VertexTiming.slots` per vertex: readers get
    /// the newest intervals in order, never another vertex's rows, and a damaged row is an error.
    @Test func timingRowsKeepTheNewestIntervalsPerVertex() throws {
        let directory = try TemporaryDirectory(prefix: "strata-timings")
        let log = try LogStore.open(path: directory.appending("store"), options: StoreOptions())
        func timing(_ t: UInt64) -> VertexTiming {
            VertexTiming(interval: Interval(t), processingNanoseconds: t * 1000, schedulingDelayNanoseconds: t,
                         recordsIn: t * 2, recordsOut: t, speculativeLaunches: UInt32(t % 3), speculativeWins: 0, retries: 1)
        }
        // Sparse intervals: 0, 3, 6, … 897; the vertex's stats row and a vertex whose name extends it beside.
        var batch = AppendBatch()
        batch.vertexStats = [("p.v1", VertexStatsUpdate(inputs: ["events"]))]
        batch.vertexTimings = [("p.v10", timing(7))]
        try log.submit(batch, chain: nil).wait()
        for start in stride(from: 0 as UInt64, to: 900, by: 150) {
            var batch = AppendBatch()
            batch.vertexTimings = stride(from: start, to: start + 150, by: 3).map { ("p.v1", timing($0)) }
            try log.submit(batch, chain: nil).wait()
        }
        let rows = try log.vertexTimings(of: "p.v1")
        #expect(rows.map(\.interval.rawValue) == Array(stride(from: 642 as UInt64, to: 900, by: 3)))
        #expect(rows.last == timing(897))
        #expect(try log.vertexTimings(of: "p.v10") == [timing(7)])
        #expect(try log.vertexTimings(of: "p.v") == [])
        #expect(try log.vertexStats(named: "p.v1")?.inputs == ["events"])

        let row = timing(5).encodedRow()
        #expect(try row.withUnsafeBytes { try VertexTiming(row: $0) } == timing(5))
        for index in row.indices {
            var damaged = row
            damaged[index] ^= 0x01
            #expect(throws: Corruption.self) { try damaged.withUnsafeBytes { try VertexTiming(row: $0) } }
        }
    }
}
