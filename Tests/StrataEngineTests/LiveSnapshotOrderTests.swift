import StrataStorage
import StrataTestSupport
import Synchronization
import Testing

@testable import Strata
@testable import StrataEngine

// Live (`Program.run()`), a stateful vertex whose outputs another vertex reads (`track`, read by
// `activeCount`) commits its snapshot of an interval only once that reader has committed the
// interval: the reader's commit, on the path to the output, never queues behind the snapshot's
// (issue 16). Only the moment of the snapshot's commit moves: the stores end byte for byte as a
// run until caught up leaves them.

@Suite struct LiveSnapshotOrderTests {
    private typealias Event = KeyValue<UInt64, Int64>

    /// Event `index` of interval `t`: users drift, some sessions end (value 1).
    private static func event(_ t: UInt64, _ index: UInt64) -> Event {
        let mixed = (t &* 1_000_003 &+ index) &* 0x9E37_79B9_7F4A_7C15
        return Event(mixed % 30 &+ t / 2, Int64(mixed >> 60 == 0 ? 1 : 0))
    }

    private static let intervals: UInt64 = 12
    private static let eventsPerInterval: UInt64 = 80

    private static func define(_ p: ProgramBuilder, _ events: StoredStream<Event>) {
        let sessions = p.read(events).track(initialize: { _, _ in Int64(1) },
                                            update: { _, count, ev in ev == 1 ? nil : count + 1 }, timeout: 3)
        sessions.activeCount.save(as: "activeSessions")
    }

    @Test func liveSnapshotsFollowTheReadersCommitOfTheirInterval() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-live-snapshot")
        let path = directory.appending("live"), reference = directory.appending("reference")

        // At each snapshot, the interval and every vertex's progress then.
        let seen = Mutex<[(vertex: String, interval: Interval, progress: [String: Interval])]>([])
        let store = try Store(at: path, options: StoreOptions(durability: .groupCommit))
        let log = store.log
        let events = try store.stream("events", of: Event.self, interval: .seconds(1), partitions: 3)
        var options = ProgramOptions(snapshotEvery: 2)
        options.beforeSnapshot = { vertex, interval in
            var progress: [String: Interval] = [:]  // lookup only
            for (name, mark) in (try? log.progressMarks(prefix: "live.")) ?? [] { progress[name] = mark.interval }
            seen.withLock { $0.append((vertex, interval, progress)) }
        }
        let program = try Program(name: "live", store: store, options: options) { Self.define($0, events) }
        let stateful = Set(program.vertices.filter { $0.isStateful }.map { $0.name })  // membership only
        let readers = program.readersOf.filter { stateful.contains($0.key) }
        try #require(readers.count == 1, "\(program.readersOf)")
        let (tracking, reader) = try #require(readers.first.map { ($0.key, $0.value) })
        #expect(reader.count == 1)

        let running = Task { try await program.run(pollInterval: .milliseconds(20)) }
        let appender = try events.explicitAppender { $0.key }
        let output = try store.stream(named: "activeSessions", of: Int64.self)
        for t in 0..<Self.intervals {
            for k in 0..<Self.eventsPerInterval { try appender.append(Self.event(t, k), interval: Interval(t)) }
            try await appender.seal(through: Interval(t))
            // Until the output has the interval: a condition, with a deadline generous for a loaded machine.
            let deadline = ContinuousClock.now + .seconds(300)
            while (try output.newestSealedInterval()).map({ $0 < Interval(t) }) ?? true {
                try #require(ContinuousClock.now < deadline, "no output for interval \(t)")
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        program.stop()
        try await running.value

        // Every snapshot of the tracking vertex came after its reader had committed the interval.
        let snapshots = seen.withLock { $0 }.filter { $0.vertex == tracking }
        #expect(snapshots.map { $0.interval } == stride(from: 1, to: Self.intervals, by: 2).map { Interval($0) })
        for snapshot in snapshots {
            for name in reader {
                #expect(snapshot.progress[name].map { $0 >= snapshot.interval } == true,
                        "\(name) at \(String(describing: snapshot.progress[name])) when \(tracking) snapshotted \(snapshot.interval)")
            }
        }

        // The same input, run until caught up: the same blocks, seals, progress and snapshots.
        do {
            let other = try Store(at: reference, options: StoreOptions(durability: .groupCommit))
            let input = try other.stream("events", of: Event.self, interval: .seconds(1), partitions: 3)
            let writer = try input.explicitAppender { $0.key }
            for t in 0..<Self.intervals {
                for k in 0..<Self.eventsPerInterval { try writer.append(Self.event(t, k), interval: Interval(t)) }
                try await writer.seal(through: Interval(t))
            }
            try Program(name: "live", store: other, options: ProgramOptions(snapshotEvery: 2)) {
                Self.define($0, input)
            }.runUntilCaughtUp()
        }
        try LogImage(ofStoreAt: path, program: "live").expectIdentical(to: try LogImage(ofStoreAt: reference, program: "live"))
        let mine = try Store.open(at: path).log, theirs = try Store.open(at: reference).log
        let rows = try mine.snapshotIntervals(of: tracking)
        #expect(rows.map { $0.0 } == (try theirs.snapshotIntervals(of: tracking)).map { $0.0 })
        for (interval, partitions) in rows {
            for partition in partitions {
                let key = SnapshotKey(vertex: tracking, interval: interval, partition: partition)
                var codec = BlockCodec()
                let a = try mine.withSnapshot(key, codec: &codec) { $0.map { Array($0) } }
                let b = try theirs.withSnapshot(key, codec: &codec) { $0.map { Array($0) } }
                #expect(a != nil && a == b, "snapshot \(interval) partition \(partition)")
            }
        }
    }
}
