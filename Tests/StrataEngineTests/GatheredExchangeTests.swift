import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataEngine

/// A program split into one task store per partition, with exchanges gathered through an
/// in-memory transport of `ExchangeMessage`s (what the cluster sends through JetStream), gives
/// every output partition block for block as a single-node run — also when a task's store is
/// lost mid-run and rebuilt from the messages, and when every message arrives twice.
@Suite struct GatheredExchangeTests {
    typealias View = KeyValue<String, Int64>
    static let partitions = 4

    /// The running count, a window count and sessions over (url, event) pairs, and the running
    /// count again over the input as partitioned (`assumingPartitionedByKey()`: no shuffle).
    static func define(_ p: ProgramBuilder, _ views: StoredStream<View>) {
        let ones = p.read(views).map { KeyValue($0.key, Int64(1)) }
        ones.runningReduce(+).save(as: "urlCounts")
        ones.reduceByKeyAndWindow(+, inverse: -, length: 3, slide: 1).save(as: "windowCounts")
        p.read(views).track(initialize: { _, _ in Int64(1) }, update: { _, state, event in event == 9 ? nil : state + 1 },
                            timeout: 4).updates.save(as: "sessions")
        // The input is partitioned by url (a keyed stream): the same running count without a shuffle.
        p.read(views).assumingPartitionedByKey().mapValues { _ in Int64(1) }.runningReduce(+).save(as: "urlCountsUnshuffled")
    }
    static let outputs = ["urlCounts", "windowCounts", "sessions", "urlCountsUnshuffled"]

    /// Interval `t`'s generated records: deterministic, uneven over urls and intervals.
    static func records(_ t: Int) -> [View] {
        (0..<(15 + (t * 7) % 11)).map { i in
            View("/u\((i * i + 3 * t) % 13)", Int64((i + t) % 10))
        }
    }

    /// One partition's task: its store, its program, what it gathers and sends.
    final class Task {
        let store: Store
        let program: Program
        var gatherer: TaskGatherer
        let exporter: TaskExporter
        let channels: [TaskExporter.Channel]
        var exported: [String: Interval] = [:]
        /// How far into the transport's messages this task has read.
        var cursor = 0

        init(directory: String, partition: Int) throws {
            store = try Store(at: directory, options: StoreOptions(durability: .noSync))
            let views = try store.stream("views", of: View.self, interval: .seconds(1), partitions: GatheredExchangeTests.partitions)
            var options = ProgramOptions(snapshotEvery: 3)
            options.gathersExchanges = true
            program = try Program(name: "c", store: store, options: options) { p in GatheredExchangeTests.define(p, views) }
            let q = UInt32(partition)
            gatherer = try TaskGatherer(log: store.log, target: q, channels:
                [TaskGatherer.Channel(local: views.descriptor, sources: 1)]
                + program.gatheredExchanges.map { TaskGatherer.Channel(local: $0.gathered, sources: $0.sources) })
            exporter = TaskExporter(log: store.log, source: q)
            var channels = program.gatheredExchanges.map {
                TaskExporter.Channel(local: $0.sent, wireName: $0.gathered.name, targets: Array(0..<$0.gathered.partitions))
            }
            for name in GatheredExchangeTests.outputs {
                let stream = try #require(try store.log.descriptor(named: name))
                channels.append(TaskExporter.Channel(local: stream, wireName: name, targets: [q]))
            }
            self.channels = channels
        }

        /// Reads the new messages for its partition, commits what is complete, runs, and returns
        /// what it sends.
        func step(_ transport: [ExchangeMessage], duplicate: Bool) throws -> [ExchangeMessage] {
            for message in transport[cursor...] where message.target == gatherer.target && !Self.isOutput(message) {
                try gatherer.receive(message)
                if duplicate { try gatherer.receive(message) }
            }
            cursor = transport.count
            if let batch = try gatherer.takeReady() { try store.log.submit(batch, chain: nil).wait() }
            try program.runUntilCaughtUp()
            var sent: [ExchangeMessage] = []
            for channel in channels {
                guard let through = try exporter.sealedThrough(channel), exported[channel.wireName].map({ $0 < through }) ?? true
                else { continue }
                for messages in try exporter.messages(channel, after: exported[channel.wireName], through: through) {
                    sent += messages
                }
                exported[channel.wireName] = through
            }
            return sent
        }

        static func isOutput(_ message: ExchangeMessage) -> Bool { GatheredExchangeTests.outputs.contains(message.stream) }
    }

    /// Every block of `stream`'s partition `partition`, per sealed interval through `through`.
    static func blocks(_ store: Store, _ stream: String, partition: Int, through: Int) throws -> [[[UInt8]]] {
        let descriptor = try #require(try store.log.descriptor(named: stream))
        return try (0...through).map { t in
            var blocks: [[UInt8]] = []
            try store.log.withSealedBlocks(of: descriptor, interval: Interval(UInt64(t)),
                                           partition: PartitionIndex(UInt32(partition))) { _, _, block in
                blocks.append(Array(block))
            }
            return blocks
        }
    }

    func run(intervals: Int, loseTaskAt: Int?, duplicate: Bool) throws {
        let directory = try TemporaryDirectory(prefix: "strata-gathered")
        // The single-node run.
        let single = try Store(at: directory.appending("single"), options: StoreOptions(durability: .noSync))
        let views = try single.stream("views", of: View.self, interval: .seconds(1), partitions: Self.partitions)
        let appender = try views.explicitAppender()
        let program = try Program(name: "c", store: single, options: ProgramOptions(snapshotEvery: 3)) { p in
            Self.define(p, views)
        }
        // The tasks, fed from the single store's input as a cluster's tasks are fed from JetStream.
        var tasks = try (0..<Self.partitions).map { try Task(directory: directory.appending("task\($0)"), partition: $0) }
        let feeder = TaskExporter(log: single.log, source: 0)
        let input = TaskExporter.Channel(local: views.descriptor, wireName: "views", targets: Array(0..<UInt32(Self.partitions)))
        var fed: Interval?
        var transport: [ExchangeMessage] = []
        for t in 0..<intervals {
            for record in Self.records(t) { try appender.append(record, interval: Interval(UInt64(t))) }
            try appender.seal(through: Interval(UInt64(t)))
            for messages in try feeder.messages(input, after: fed, through: Interval(UInt64(t))) { transport += messages }
            fed = Interval(UInt64(t))
            if t == loseTaskAt {
                // Task 2's store is gone: a new one reads every message again from the beginning.
                tasks[2] = try Task(directory: directory.appending("task2-rebuilt"), partition: 2)
            }
            // Until quiet: each round, each task takes what arrived, runs and sends.
            var rounds = 0
            while true {
                let before = transport.count
                for task in tasks { transport += try task.step(transport, duplicate: duplicate) }
                rounds += 1
                if transport.count == before { break }
                try #require(rounds < 20, "the tasks never became quiet")
            }
        }
        try program.runUntilCaughtUp()
        for name in Self.outputs {
            for q in 0..<Self.partitions {
                let expected = try Self.blocks(single, name, partition: q, through: intervals - 1)
                let actual = try Self.blocks(tasks[q].store, name, partition: q, through: intervals - 1)
                #expect(actual == expected, "\(name) partition \(q) differs")
                #expect(expected.contains { !$0.isEmpty }, "\(name) partition \(q) is empty: a weak test")
                for other in 0..<Self.partitions where other != q {
                    #expect(try Self.blocks(tasks[q].store, name, partition: other, through: intervals - 1).allSatisfy(\.isEmpty))
                }
            }
        }
        // Without its shuffle, the running count gives the shuffled plan's blocks.
        for q in 0..<Self.partitions {
            #expect(try Self.blocks(single, "urlCountsUnshuffled", partition: q, through: intervals - 1)
                    == Self.blocks(single, "urlCounts", partition: q, through: intervals - 1), "partition \(q)")
        }
        // The outputs as sent: every interval of every partition exactly once (duplicates identical).
        var sent: [String: [UInt8]] = [:]  // lookup only
        for message in transport where Task.isOutput(message) {
            if case .block(_, _, let bytes) = message.body {
                if let earlier = sent[message.messageID] { #expect(earlier == bytes) }
                sent[message.messageID] = bytes
            }
        }
        #expect(!sent.isEmpty)
    }

    @Test func tasksPerPartitionGiveTheSingleNodeBlocks() throws {
        try run(intervals: 9, loseTaskAt: nil, duplicate: false)
    }

    @Test func aLostTaskStoreIsRebuiltFromTheMessages() throws {
        try run(intervals: 9, loseTaskAt: 5, duplicate: false)
    }

    @Test func duplicateMessagesChangeNothing() throws {
        try run(intervals: 6, loseTaskAt: nil, duplicate: true)
    }

    /// A subject's messages after an interval are the same however the intervals are batched
    /// into calls: a seal mark per interval, also for intervals without blocks, so that a task
    /// sending a few intervals per round and a speculative copy sending many at once race with the
    /// same messages (docs/cluster.md, "One sequence per subject").
    @Test func theMessagesAfterAnIntervalDoNotDependOnTheBatching() throws {
        let directory = try TemporaryDirectory(prefix: "strata-canonical")
        let store = try Store(at: directory.appending("s"), options: StoreOptions(durability: .noSync))
        let views = try store.stream("views", of: View.self, interval: .seconds(1), partitions: Self.partitions)
        let appender = try views.explicitAppender()
        // Intervals 3, 4, 6 and 9 hold records, 5, 7 and 8 none; sealed through 11.
        for t in [3, 4, 6, 9] {
            for record in Self.records(t) { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(11))
        let exporter = TaskExporter(log: store.log, source: 0)
        let channel = TaskExporter.Channel(local: views.descriptor, wireName: "views", targets: Array(0..<UInt32(Self.partitions)))
        func messages(after: UInt64?, through: UInt64) throws -> [[ExchangeMessage]] {
            try exporter.messages(channel, after: after.map { Interval($0) }, through: Interval(through))
        }
        // Per target: blocks of each interval, then its mark; marks from 3 (the first with blocks) on.
        let all = try messages(after: nil, through: 11)
        for perTarget in all {
            let marks = perTarget.compactMap { message -> UInt64? in
                if case .sealed(let through) = message.body { return through.rawValue } else { return nil }
            }
            #expect(marks == Array(3...11))
            #expect(perTarget.last == ExchangeMessage(stream: "views", source: 0, target: perTarget[0].target,
                                                      body: .sealed(through: Interval(11))))
        }
        // Cut anywhere: the batches put end to end are the messages of one call.
        for after in UInt64(3)...10 {
            let whole = try messages(after: after, through: 11)
            for cut in (after + 1)...11 {
                let first = try messages(after: after, through: cut)
                let second = cut < 11 ? try messages(after: cut, through: 11) : all.map { _ in [] }
                for target in 0..<Self.partitions {
                    #expect(first[target] + second[target] == whole[target], "after \(after), cut at \(cut), target \(target)")
                }
            }
            // The messages after `after` are the tail of the messages from the start.
            for target in 0..<Self.partitions {
                let markIndex = try #require(all[target].firstIndex { $0.body == .sealed(through: Interval(after)) })
                #expect(Array(all[target][(markIndex + 1)...]) == whole[target], "after \(after), target \(target)")
            }
        }
        #expect(try messages(after: 11, through: 11).allSatisfy(\.isEmpty))
    }

    @Test func aDivergentCopyIsAnError() throws {
        let directory = try TemporaryDirectory(prefix: "strata-gathered")
        let task = try Task(directory: directory.appending("t"), partition: 0)
        var codec = BlockCodec()
        let a = [UInt8](repeating: 1, count: 8).withUnsafeBytes { codec.encode(payload: $0, recordCount: 0) }
        let b = [UInt8](repeating: 2, count: 8).withUnsafeBytes { codec.encode(payload: $0, recordCount: 0) }
        var gatherer = task.gatherer
        try gatherer.receive(ExchangeMessage(stream: "views", source: 0, target: 0, body: .block(interval: Interval(0), chunk: 0, bytes: a)))
        #expect(throws: ClusterExchangeError.divergentBlock(stream: "views", interval: Interval(0), source: 0, target: 0, chunk: 0)) {
            try gatherer.receive(ExchangeMessage(stream: "views", source: 0, target: 0, body: .block(interval: Interval(0), chunk: 0, bytes: b)))
        }
        var damaged = a
        damaged[damaged.count - 1] ^= 0xFF
        #expect(throws: ClusterExchangeError.self) {
            try gatherer.receive(ExchangeMessage(stream: "views", source: 0, target: 0, body: .block(interval: Interval(1), chunk: 0, bytes: damaged)))
        }
        #expect(throws: ClusterExchangeError.self) {
            try gatherer.receive(ExchangeMessage(stream: "views", source: 1, target: 0, body: .sealed(through: Interval(0))))
        }
    }
}
