import Dispatch
import Glibc
import StrataTestSupport
import Synchronization
import Testing

@testable import Strata
@testable import StrataStorage

/// A vertex writing only internal streams hands each interval's blocks to the vertices reading
/// them as soon as it has submitted their commit (`HandedOffBlocks`): the consumer computes while
/// the commit is still being written, its own commit lands after the producer's, and the bytes
/// are those of a run that read everything from the store.
@Suite struct HandOffTests {
    static let intervals = 6

    static func append(_ views: StoredStream<KeyValue<String, Int64>>, _ appender: ExplicitAppender<KeyValue<String, Int64>>,
                       interval t: Int) throws {
        for i in 0..<300 { try appender.append(KeyValue("k\((i * 7 + t) % 17)", Int64(i % 5)), interval: Interval(UInt64(t))) }
        try appender.seal(through: Interval(UInt64(t)))
    }

    static func define(_ p: ProgramBuilder, _ views: StoredStream<KeyValue<String, Int64>>) {
        // v0: the shuffle's map side (internal only: hands off); v1: the running count, saved.
        p.read(views).reduceByKey(partitions: 3, +).runningReduce(+).save(as: "totals")
    }

    static func totalsBlocks(_ store: Store) throws -> [String] {
        let descriptor = try #require(try store.log.descriptors().first { $0.name == "totals" })
        var list: [String] = []
        try store.log.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, bytes in
            list.append("\(key.interval)/\(key.partition)/\(key.chunk.rawValue): \(Array(bytes))")
            return true
        }
        return list
    }

    /// The committer is held (a write that waits) from the moment the shuffle's tasks of interval 3
    /// start: the running count can then process interval 3 only from the handed-off blocks; once
    /// released, every commit lands and the outputs equal a batch run's, block for block.
    @Test func theConsumerComputesFromHandedOffBlocksBeforeTheCommitAndWritesTheSameBytes() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-handoff")
        // The reference: the same input, a batch run (`through`: nothing is handed off).
        let reference = try Store(at: directory.appending("reference"), options: StoreOptions(durability: .groupCommit))
        let referenceViews = try reference.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
        let referenceAppender = try referenceViews.explicitAppender { $0.key }
        for t in 0..<Self.intervals { try Self.append(referenceViews, referenceAppender, interval: t) }
        let batch = try Program(name: "p", store: reference,
                                options: ProgramOptions(through: Interval(UInt64(Self.intervals - 1)))) { Self.define($0, referenceViews) }
        try await onOwnThread(within: .seconds(300)) { _ = try batch.runUntilCaughtUp() }
        #expect(reference.logStore.handedOff.count == 0)

        let store = try Store(at: directory.appending("live"), options: StoreOptions(durability: .groupCommit))
        let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
        let committer = store.logStore.committer
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let holding = Mutex(false)
        let steps = Mutex<Set<String>>([])  // membership only
        var options = ProgramOptions()
        options.faults = TaskFaults(delay: { vertex, interval, _, _ in
            if vertex == "p.v0" && interval == Interval(3) {
                let first = holding.withLock { was in defer { was = true }; return !was }
                if first {
                    _ = committer.submit { _ in
                        held.signal()
                        release.wait()
                    }
                    held.wait()
                }
            }
            return nil
        })
        options.trace = IntervalTrace { vertex, interval, step in
            _ = steps.withLock { $0.insert("\(vertex)/\(interval.rawValue)/\(step)") }
        }
        let program = try Program(name: "p", store: store, options: options) { Self.define($0, views) }
        let running = Task { try await program.run(pollInterval: .seconds(5)) }

        try await onOwnThread(within: .seconds(300)) {
            let appender = try views.explicitAppender { $0.key }
            func waitFor(_ step: String) throws {
                let deadline = DispatchTime.now() + .seconds(120)
                while !steps.withLock({ $0.contains(step) }) {
                    guard DispatchTime.now() < deadline else { throw StorageError.misuse("no \(step) within 120 s") }
                    usleep(1000)
                }
            }
            for t in 0..<3 {
                try Self.append(views, appender, interval: t)
                try waitFor("p.v1/\(t)/committed")
            }
            try Self.append(views, appender, interval: 3)
            // The committer is held: interval 3 of the shuffle is not in the store, yet the running
            // count computes it.
            try waitFor("p.v1/3/processed")
            #expect(!steps.withLock { $0.contains("p.v0/3/committed") })
            #expect(try store.log.frontier(of: #require(store.log.descriptors().first { $0.name == "p.v0.shuffle" }))
                .sealedThrough == Interval(2))
            release.signal()
            try waitFor("p.v1/3/committed")
            for t in 4..<Self.intervals {
                try Self.append(views, appender, interval: t)
                try waitFor("p.v1/\(t)/committed")
            }
        }
        program.stop()
        try await running.value
        #expect(store.logStore.handedOff.count == 0, "every handed-off interval goes once committed")
        #expect(try Self.totalsBlocks(store) == Self.totalsBlocks(reference))
        #expect(!(try Self.totalsBlocks(store)).isEmpty)
    }

    /// A commit that requires the producer's chain fails when that chain failed, and a failed
    /// chain's handed-off blocks are not offered.
    @Test func aFailedProducerChainFailsTheConsumersCommitAndHidesItsBlocks() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-handoff")
        let store = try Store(at: directory.appending("s"), options: StoreOptions(durability: .groupCommit))
        let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
        let log = store.logStore
        let chain = CommitChain()
        let payload: [UInt8] = [1, 2, 3]
        let block = try payload.withUnsafeBytes {
            try PendingBlock(stream: views.descriptor, interval: Interval(0), partition: PartitionIndex(1), payload: $0,
                             recordCount: 1)
        }
        log.handedOff.publish([block], of: views.descriptor, interval: Interval(0), chain: chain)
        let entry = try #require(log.handedOff.entry(of: views.descriptor.id, interval: Interval(0)))
        #expect(entry.blocks.map(\.count) == [0, 1] && entry.records == 1)
        chain.fail(.misuse("the producer's commit failed"))
        #expect(log.handedOff.entry(of: views.descriptor.id, interval: Interval(0)) == nil)
        let ticket = log.submit(AppendBatch(), chain: nil, requires: [chain])
        try await onOwnThread(within: .seconds(120)) {
            #expect(throws: StorageError.self) { try ticket.wait() }
        }
        log.handedOff.remove(views.descriptor.id, interval: Interval(0))
        #expect(log.handedOff.count == 0)
    }
}
