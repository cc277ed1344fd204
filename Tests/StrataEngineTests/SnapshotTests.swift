import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataEngine
@testable import StrataStorage

// Snapshots: stateful vertices write their per-partition state every N intervals in the commit of
// that interval's outputs and progress. A new `Program` restores from the newest snapshot and
// replays only the input after it, so it works even when retention already dropped the input
// before the snapshot, and its outputs are block for block those of a run that never stopped.
// Old snapshots are pruned; a damaged one is skipped for an older one or a full replay, and
// reported as `corrupt` when there is no way around it.

@Suite struct SnapshotTests {
    /// Stops after interval 11, drops old input by retention, and continues with a new `Program`
    /// that must restore from snapshots; compares with one `Program` that never stopped.
    @Test func restoringFromSnapshotsMatchesAnUninterruptedRun() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snap")
        let stopped = directory.appending("stopped")
        try SnapshotFixture.fill(stopped, intervals: 0..<12)
        try SnapshotFixture.makeProgram(at: stopped, snapshotEvery: 4).runUntilCaughtUp()
        try SnapshotFixture.fill(stopped, intervals: 12..<16)
        let restarted = try SnapshotFixture.makeProgram(at: stopped, snapshotEvery: 4)
        #expect(try restarted.recover() == 3)
        try SnapshotFixture.continueRun(restarted, at: stopped)

        // The same snapshot period: it also sets how long the state change streams are kept.
        let reference = directory.appending("reference")
        try SnapshotFixture.makeReference(reference, snapshotEvery: 4)

        try LogImage(ofStoreAt: stopped, program: "sn").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "sn"))

        // Every stateful vertex restored its state once and snapshotted at the end; the reference
        // never restored. The restart followed a clean stop: a resume, not a crash recovery.
        let status = try Store.open(at: stopped).programStatus(program: "sn")
        let stateful = status.filter { $0.lastSnapshot != nil }
        #expect(stateful.count == 3)
        #expect(stateful.allSatisfy { $0.stateRestores == 1 && $0.lastSnapshot == Interval(19) && $0.lag == 0 })
        #expect(status.filter { $0.lastSnapshot == nil }.allSatisfy { $0.stateRestores == 0 })
        #expect(status.allSatisfy { $0.recoveries == 0 && $0.lastStart == .resumed && $0.runState == .stoppedCleanly })
        #expect(try Store.open(at: reference).programStatus(program: "sn").allSatisfy {
            $0.stateRestores == 0 && $0.lastStart == .first
        })
    }

    /// Without snapshots, the same restart needs input that retention dropped: a typed error.
    @Test func withoutSnapshotsRetentionMakesRestoreImpossible() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snap")
        let path = directory.appending("store")
        try SnapshotFixture.fill(path, intervals: 0..<12)
        try SnapshotFixture.makeProgram(at: path, snapshotEvery: nil).runUntilCaughtUp()
        try SnapshotFixture.fill(path, intervals: 12..<SnapshotFixture.intervals)
        let error = try #require(throws: EngineError.self) {
            try SnapshotFixture.makeProgram(at: path, snapshotEvery: nil).runUntilCaughtUp()
        }
        guard case .storage(.outsideRetention, _, _) = error else {
            Issue.record("expected outsideRetention, got \(error)")
            return
        }
    }

    /// Snapshots kept: the latest, those still within the inputs' retention, and the newest one
    /// before it (the state as of the first retained interval starts there).
    @Test func oldSnapshotsArePruned() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snap")
        let path = directory.appending("store")
        try SnapshotFixture.fill(path, intervals: 0..<12)
        try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4).runUntilCaughtUp()
        try SnapshotFixture.fill(path, intervals: 12..<16)
        try SnapshotFixture.continueRun(try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4), at: path)
        let store = try Store.open(at: path)
        let retainedFrom = try store.info(of: "events").frontier.retainedFrom
        #expect(retainedFrom == Interval(12))
        var snapshotted = 0
        for (vertex, _) in try store.log.progressMarks(prefix: "sn.") {
            let snapshots = try store.log.snapshotIntervals(of: vertex)
            guard let latest = snapshots.last else { continue }
            snapshotted += 1
            #expect(latest.0 == Interval(19), "\(vertex)")
            #expect(snapshots.filter { $0.0 < retainedFrom }.map(\.0) == [Interval(11)], "\(vertex): \(snapshots.map(\.0))")
            #expect(snapshots.count >= 2, "\(vertex): \(snapshots.map(\.0))")
            #expect(snapshots.allSatisfy { $0.1.count == 3 }, "\(vertex): one row per partition")
        }
        #expect(snapshotted == 3)

        // Two more sealed input intervals, not processed yet: the vertices reading the input lag by 2.
        try SnapshotFixture.fill(path, intervals: SnapshotFixture.intervals..<(SnapshotFixture.intervals + 2))
        let status = try store.programStatus(program: "sn")
        let readers = status.filter { $0.vertex == "sn.v0" || $0.vertex == "sn.v2" }
        #expect(readers.count == 2 && readers.allSatisfy { $0.lag == 2 && $0.progress == Interval(19) }, "\(status)")
        // Issue 13: lag is against the program's inputs, so the vertices downstream lag by 2 too.
        #expect(status.count > 2 && status.allSatisfy { $0.lag == 2 && $0.intervalLength != nil }, "\(status)")
    }

    /// A damaged newest snapshot is skipped: the older one plus a longer replay gives the same
    /// outputs.
    @Test func aDamagedSnapshotFallsBackToAnOlderOne() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snap")
        let path = directory.appending("store")
        try SnapshotFixture.fill(path, intervals: 0..<12)
        try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4).runUntilCaughtUp()
        let store = try Store.open(at: path)
        for vertex in try SnapshotFixture.snapshottingVertices(store) {
            try store.log.unsafeDamageSnapshot(SnapshotKey(vertex: vertex, interval: Interval(11),
                                                           partition: PartitionIndex(1)), byteOffset: 40)
        }
        // Restore before more input comes: the window's replay from snapshot 7 reads intervals
        // its shuffle stream's retention still keeps.
        let restarted = try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4)
        #expect(try restarted.recover() == 3)
        try SnapshotFixture.fill(path, intervals: 12..<16)
        try SnapshotFixture.continueRun(restarted, at: path)

        let reference = directory.appending("reference")
        try SnapshotFixture.makeReference(reference, snapshotEvery: 4)
        try LogImage(ofStoreAt: path, program: "sn").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "sn"))
    }

    /// When every usable snapshot is damaged and the input before them is gone, the damage is
    /// reported as a typed `corrupt` error naming the snapshot; nothing is committed.
    @Test func damagedSnapshotsWithoutInputAreReportedAsCorrupt() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snap")
        let path = directory.appending("store")
        try SnapshotFixture.fill(path, intervals: 0..<12)
        try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4).runUntilCaughtUp()
        let store = try Store.open(at: path)
        let vertices = try SnapshotFixture.snapshottingVertices(store)
        for vertex in vertices {
            for (interval, _) in try store.log.snapshotIntervals(of: vertex) {
                try store.log.unsafeDamageSnapshot(SnapshotKey(vertex: vertex, interval: interval,
                                                               partition: PartitionIndex(0)), byteOffset: 36)
            }
        }
        try SnapshotFixture.fill(path, intervals: 12..<SnapshotFixture.intervals)
        let program = try SnapshotFixture.makeProgram(at: path, snapshotEvery: 4)
        let error = try #require(throws: EngineError.self) { try program.runUntilCaughtUp() }
        guard case .storage(.corrupt(let location, let corruption), _, _) = error else {
            Issue.record("expected a corrupt snapshot, got \(error)")
            return
        }
        #expect(location.stream.hasPrefix("snapshot of sn.v"))
        #expect(location.interval == Interval(11))
        #expect(location.partition == PartitionIndex(0))
        guard case .checksumMismatch = corruption else {
            Issue.record("expected a checksum mismatch, got \(corruption)")
            return
        }
    }

    @Test func snapshotBoundariesDependOnIntervalIndicesOnly() {
        #expect(SnapshotPolicy.crosses(from: nil, to: Interval(0), every: 4) == false)
        #expect(SnapshotPolicy.crosses(from: nil, to: Interval(3), every: 4))
        #expect(SnapshotPolicy.crosses(from: Interval(2), to: Interval(3), every: 4))
        #expect(SnapshotPolicy.crosses(from: Interval(3), to: Interval(6), every: 4) == false)
        #expect(SnapshotPolicy.crosses(from: Interval(6), to: Interval(9), every: 4))  // skipped 7: sparse vertex
        #expect(SnapshotPolicy.crosses(from: Interval(9), to: Interval(10), every: 1))
        let existing = [3, 7, 11, 15].map { Interval(UInt64($0)) }
        // The newest snapshot before the retention start is kept too.
        #expect(SnapshotPolicy.pruneBefore(latest: Interval(19), inputsRetainedFrom: Interval(12), existing: existing)
                == Interval(11))
        #expect(SnapshotPolicy.pruneBefore(latest: Interval(19), inputsRetainedFrom: Interval(12), existing: []) == Interval(12))
        #expect(SnapshotPolicy.pruneBefore(latest: Interval(19), inputsRetainedFrom: Interval(0), existing: existing)
                == Interval(0))
        #expect(SnapshotPolicy.pruneBefore(latest: Interval(9), inputsRetainedFrom: Interval(12), existing: existing)
                == Interval(9))
    }

    @Test func aSnapshotPeriodBelowOneIsRefused() throws {
        let directory = try TemporaryDirectory(prefix: "strata-snap")
        let path = directory.appending("store")
        try SnapshotFixture.fill(path, intervals: 0..<2)
        #expect(throws: EngineError.self) { try SnapshotFixture.makeProgram(at: path, snapshotEvery: 0) }
    }
}

/// Input `events` (KeyValue<String, Int64>, 3 partitions, retention 8 intervals) and program `sn`:
/// a running sum per key, a windowed sum with inverse over 3 intervals, and sessions per key
/// (`track`, timeout 2) with their live count.
enum SnapshotFixture {
    static let intervals = 20
    static let emptyIntervals: Set<Int> = [5, 15]

    static func records(_ t: Int) -> [KeyValue<String, Int64>] {
        guard !emptyIntervals.contains(t) else { return [] }
        var state = UInt64(t + 3) &* 0x9E37_79B9_7F4A_7C15
        var records: [KeyValue<String, Int64>] = []
        for _ in 0..<(200 + 10 * t) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            records.append(KeyValue("k\(Int(state >> 33) % (40 + 5 * t))", Int64(state >> 60)))
        }
        return records
    }

    static func fill(_ path: String, intervals range: Range<Int>) throws {
        let store = try Store(at: path)
        let events = try store.stream("events", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 3,
                                      retention: .intervals(8))
        let appender = try events.explicitAppender() { $0.key }
        for t in range {
            for record in records(t) { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(UInt64(range.upperBound - 1)))
    }

    static func makeProgram(at path: String, snapshotEvery: Int?) throws -> Program {
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        return try Program(name: "sn", store: store, snapshotEvery: snapshotEvery) { p in
            let input = p.read(events)
            input.runningReduce(+).save(as: "totals")
            input.reduceByKeyAndWindow(+, inverse: -, length: 3).save(as: "windows")
            let sessions = input.track(initialize: { (_: String, v: Int64) in v },
                                       update: { (_: String, total: Int64, v: Int64) in v == 0 ? nil : total + v },
                                       timeout: 2)
            sessions.updates.save(as: "sessions")
            sessions.activeCount.save(as: "active")
        }
    }

    /// Runs `program` over what is sealed, then over intervals 16…19. (The window reads the
    /// intervals it drops from its shuffle stream, whose retention is the input's 8 intervals; the
    /// stream keeps them beyond that while the window is behind: `RetentionHold`.)
    static func continueRun(_ program: Program, at path: String) throws {
        try program.runUntilCaughtUp()
        try fill(path, intervals: 16..<intervals)
        try program.runUntilCaughtUp()
    }

    /// The same input and steps, processed by one `Program` that never stops.
    static func makeReference(_ path: String, snapshotEvery: Int?) throws {
        try fill(path, intervals: 0..<12)
        let program = try makeProgram(at: path, snapshotEvery: snapshotEvery)
        try program.runUntilCaughtUp()
        try fill(path, intervals: 12..<16)
        try continueRun(program, at: path)
    }

    /// The vertices of `sn` that have snapshots.
    static func snapshottingVertices(_ store: Store) throws -> [String] {
        try store.log.progressMarks(prefix: "sn.").map(\.0).filter { !(try store.log.snapshotIntervals(of: $0)).isEmpty }
    }
}
