import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataEngine

/// A partition task's store image (`Program.image(keeping:)`, what the cluster publishes as a
/// checkpoint) installed into a fresh store continues the program block for block: the outputs
/// equal a single-node run's, and the new task computes only the intervals after the image.
@Suite struct StoreImageTests {
    typealias G = GatheredExchangeTests
    static let intervals = 11

    /// Runs the tasks of `GatheredExchangeTests` and, at interval `cut`, replaces task 2 by a fresh
    /// store into which the old one's image was installed; returns what the new task processed.
    @Test(arguments: [2, 5, 8])
    func aTaskRestoredFromAnImageGivesTheSingleNodeBlocks(cut: Int) throws {
        let directory = try TemporaryDirectory(prefix: "strata-image")
        let single = try Store(at: directory.appending("single"), options: StoreOptions(durability: .noSync))
        let views = try single.stream("views", of: G.View.self, interval: .seconds(1), partitions: G.partitions)
        let appender = try views.explicitAppender()
        let program = try Program(name: "c", store: single, options: ProgramOptions(snapshotEvery: 3)) { p in
            G.define(p, views)
        }
        var tasks = try (0..<G.partitions).map { try G.Task(directory: directory.appending("task\($0)"), partition: $0) }
        let feeder = TaskExporter(log: single.log, source: 0)
        let input = TaskExporter.Channel(local: views.descriptor, wireName: "views", targets: Array(0..<UInt32(G.partitions)))
        var fed: Interval?
        var transport: [ExchangeMessage] = []
        var restoredThrough: Interval?
        for t in 0..<Self.intervals {
            for record in G.records(t) { try appender.append(record, interval: Interval(UInt64(t))) }
            try appender.seal(through: Interval(UInt64(t)))
            for messages in try feeder.messages(input, after: fed, through: Interval(UInt64(t))) { transport += messages }
            fed = Interval(UInt64(t))
            if t == cut {
                let old = tasks[2]
                var keeping: [String: Interval?] = [:]
                for channel in old.channels { keeping[channel.local.name] = old.exported[channel.wireName] }
                let (image, through) = try old.program.image(keeping: keeping)
                let bytes = image.encoded()
                #expect(try StoreImage(decoding: bytes) == image)
                #expect(bytes == (try StoreImage(decoding: bytes)).encoded(), "the encoding is a function of the content")
                let fresh = try G.Task(directory: directory.appending("task2-image"), partition: 2)
                try fresh.program.install(try StoreImage(decoding: bytes))
                // The gatherer starts after what the store holds now (as a cluster task's does).
                fresh.gatherer = try TaskGatherer(log: fresh.store.log, target: 2, channels:
                    [TaskGatherer.Channel(local: try #require(try fresh.store.log.descriptor(named: "views")), sources: 1)]
                    + fresh.program.gatheredExchanges.map { TaskGatherer.Channel(local: $0.gathered, sources: $0.sources) })
                fresh.exported = old.exported
                tasks[2] = fresh
                restoredThrough = through
                // The image holds less than the whole input once the stateful vertices have a
                // snapshot far enough in: the unshuffled running count replays the input itself
                // after its snapshot (interval 2 at cut 5, 5 at cut 8), less the window's lookback of 3.
                let frontier = try fresh.store.log.frontier(of: views.descriptor)
                #expect(frontier.retainedFrom > Interval(0) || cut < 6, "the image kept the whole input: \(frontier)")
            }
            var rounds = 0
            while true {
                let before = transport.count
                for task in tasks { transport += try task.step(transport, duplicate: false) }
                rounds += 1
                if transport.count == before { break }
                try #require(rounds < 20, "the tasks never became quiet")
            }
        }
        try program.runUntilCaughtUp()
        // The outputs as sent (by the old task before the cut, by the new one after): every
        // interval of every partition block for block the single-node run's.
        var sent: [String: [UInt32: [UInt8]]] = [:]  // lookup only
        for message in transport where G.Task.isOutput(message) {
            if case .block(let interval, let chunk, let bytes) = message.body {
                let key = "\(message.stream)/\(message.target)/\(interval.rawValue)"
                if let earlier = sent[key]?[chunk] { #expect(earlier == bytes, "\(key) chunk \(chunk): two different copies") }
                sent[key, default: [:]][chunk] = bytes
            }
        }
        for name in G.outputs {
            for q in 0..<G.partitions {
                let expected = try G.blocks(single, name, partition: q, through: Self.intervals - 1)
                for (t, blocks) in expected.enumerated() {
                    let chunks = sent["\(name)/\(q)/\(t)"] ?? [:]
                    let actual = (0..<UInt32(chunks.count)).compactMap { chunks[$0] }
                    #expect(actual == blocks, "\(name) partition \(q) interval \(t) differs (cut at \(cut))")
                }
            }
        }
        // The new task computed only the intervals after the image's snapshots and progress.
        // Before the first snapshots (cut 2, snapshots every 3 intervals) the image starts at the
        // beginning: it holds the whole input so far.
        guard let through = restoredThrough else {
            #expect(cut < 3, "no snapshot in the image at interval \(cut)")
            return
        }
        for vertex in tasks[2].program.statefulVertexNames {
            let computed = try tasks[2].store.log.vertexTimings(of: vertex).map(\.interval)
            #expect(computed.allSatisfy { $0 > through }, "\(vertex) computed \(computed) again (image through \(through))")
            #expect(computed.count <= Self.intervals - 1 - Int(through.rawValue))
        }
    }

    /// Every byte flip of an image is refused with `Corruption`, never a crash or a wrong image.
    @Test func aDamagedImageIsRefused() throws {
        let directory = try TemporaryDirectory(prefix: "strata-image")
        let task = try G.Task(directory: directory.appending("t"), partition: 1)
        let store = try Store(at: directory.appending("in"), options: StoreOptions(durability: .noSync))
        let views = try store.stream("views", of: G.View.self, interval: .seconds(1), partitions: G.partitions)
        let appender = try views.explicitAppender()
        let feeder = TaskExporter(log: store.log, source: 0)
        let input = TaskExporter.Channel(local: views.descriptor, wireName: "views", targets: Array(0..<UInt32(G.partitions)))
        var transport: [ExchangeMessage] = []
        for t in 0..<4 {
            for record in G.records(t) { try appender.append(record, interval: Interval(UInt64(t))) }
        }
        try appender.seal(through: Interval(3))
        for messages in try feeder.messages(input, after: nil, through: Interval(3)) { transport += messages }
        _ = try task.step(transport, duplicate: false)
        let bytes = try task.program.image().image.encoded()
        #expect(bytes.count > 64)
        for offset in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 200)) {
            var damaged = bytes
            damaged[offset] ^= 0x5A
            #expect(throws: Corruption.self, "flip at \(offset)") { _ = try StoreImage(decoding: damaged) }
        }
        for length in [0, 5, 12, bytes.count - 1] {
            #expect(throws: Corruption.self) { _ = try StoreImage(decoding: Array(bytes.prefix(length))) }
        }
        // An image into a store that already ran is refused.
        #expect(throws: EngineError.self) { try task.program.install(try StoreImage(decoding: bytes)) }
    }
}
