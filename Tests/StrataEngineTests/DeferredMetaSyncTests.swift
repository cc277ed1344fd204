import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// A program's commits that write only internal streams defer LMDB's meta-page flush
/// (`AppendBatch.defersMetaSync`, docs/durability.md); named outputs and appenders flush fully.
@Suite struct DeferredMetaSyncTests {
    static func input(_ store: Store) throws -> StoredStream<KeyValue<String, Int64>> {
        let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
        let appender = try views.explicitAppender() { $0.key }
        for t in 0..<6 {
            for i in 0..<200 { try appender.append(KeyValue("k\(i % 13)", 1), interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(5))
        return views
    }

    /// `syncs`: `.groupCommit` when true, `.noSync` otherwise.
    @Test(arguments: [true, false])
    func aVertexWritingOnlyInternalStreamsDefersTheMetaFlushWhenTheStoreSyncs(syncs: Bool) throws {
        let durability: Durability = syncs ? .groupCommit : .noSync
        let directory = try TemporaryDirectory(prefix: "strata-meta-sync")
        let store = try Store(at: directory.appending("s"), options: StoreOptions(durability: durability))
        let views = try Self.input(store)
        let committer = store.logStore.committer
        // The appender's commits flushed fully.
        #expect(committer.deferredMetaSyncCommits.load(ordering: .relaxed) == 0)
        let program = try Program(name: "p", store: store) { p in
            _ = p.read(views).runningReduce(+)   // state stream p.v0.out only: internal
        }
        try program.runUntilCaughtUp()
        let deferred = committer.deferredMetaSyncCommits.load(ordering: .relaxed)
        if durability == .noSync {
            #expect(deferred == 0)
        } else {
            // Every interval's commit of the only vertex may defer, and nothing else is queued then.
            #expect(deferred >= 1)
        }
    }

    @Test func aProgramWithANamedOutputIsCompleteAfterDeferredInternalCommits() throws {
        let directory = try TemporaryDirectory(prefix: "strata-meta-sync")
        let store = try Store(at: directory.appending("s"), options: StoreOptions(durability: .groupCommit))
        let views = try Self.input(store)
        let committer = store.logStore.committer
        let committedBefore = committer.transactionsCommitted.load(ordering: .relaxed)
        // v0: the shuffle (internal only, deferred); v1: the running count, mirrored into `totals`.
        let program = try Program(name: "p", store: store) { p in
            p.read(views).reduceByKey(partitions: 3, +).runningReduce(+).save(as: "totals")
        }
        try program.runUntilCaughtUp()
        let committed = committer.transactionsCommitted.load(ordering: .relaxed) - committedBefore
        #expect(committer.deferredMetaSyncCommits.load(ordering: .relaxed) < committed,
                "the named output's commits flush fully")
        let totals = try store.stream(named: "totals", of: KeyValue<String, Int64>.self)
        var latest: [String: Int64] = [:]  // lookup only
        try totals.forEach(in: Interval(0)...Interval(5)) { _, _, pair in latest[pair.key] = pair.value }
        #expect(latest.count == 13 && latest.values.reduce(0, +) == 1_200)
    }
}
