import Foundation
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// The last interval index, `UInt64.max`, has no interval after it: nothing may step past it by
/// wrapping to interval 0. The time limits stop a walk that wraps round forever; they are
/// generous (10 minutes) because a loaded CI machine can keep a test from its first step for
/// minutes (CI 2026-12-06: 60 s exceeded by a test that had all but waited for a thread).
@Suite struct LastIntervalIndexTests {
    /// `verify` walked a stream's blocks interval by interval, from each found interval's `next`:
    /// a block of interval `UInt64.max` (unsealed; an explicit appender may commit one) wrapped
    /// the walk to interval 0, and it went round the stream forever.
    @Test(.timeLimit(.minutes(10))) func verifyEndsAfterABlockOfTheLastIntervalIndex() throws {
        try withStore { store in
            try Self.blockAtTheLastIndex(store, "v")
            let report = try store.verify(stream: "v")
            #expect(report.isClean, "\(report.problems)")
            #expect(report.unsealedBlocks == 1, "\(report)")
        }
    }

    /// Sealed through `UInt64.max − 1`, a stream's late records would go to its late side stream's
    /// interval `UInt64.max`, which can never be sealed (no interval would follow it for the next
    /// late records): they are refused, and nothing is buffered.
    @Test func lateRecordsWithNoIntervalLeftAreRefused() throws {
        try withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 2)
            let appender = try stream.eventTimeAppender(allowedLateness: .zero)
            try appender.append(1, eventTime: Timestamp(rawValue: 5_000_000_000))
            try appender.seal(through: Interval(UInt64.max - 1))
            let error = storageError { try appender.append(2, eventTime: Timestamp(rawValue: 1_000_000_000)) }
            #expect(error == .misuse("stream v is sealed through 18446744073709551614: a late record would go to "
                + "v.late interval 18446744073709551615, the last interval index, which cannot be sealed: no interval "
                + "would follow it for later late records"))
            #expect(appender.lateRecords == 0)
            try appender.flush()
            #expect(try store.info(of: "v.late").frontier.sealedThrough == Interval(UInt64.max - 1))
            #expect(try store.info(of: "v").frontier.lateRecords == 0)
            #expect(try store.verify().isClean)
        }
    }

    /// `slice` and `countByEncodedKey` split a range into runs at `length × split / splits`: over
    /// a stream sealed through `UInt64.max − 1` the product passed `UInt64.max` and trapped. The
    /// runs cover the range exactly, and the records come back.
    @Test(.timeLimit(.minutes(10))) func slicesUpToTheIntervalBeforeTheLastIndex() throws {
        try withStore { store in
            let stream = try store.stream("s", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(KeyValue("a", 1), interval: Interval(5))
            try appender.append(KeyValue("b", 2), interval: Interval(UInt64.max / 2))
            try appender.append(KeyValue("a", 3), interval: Interval(UInt64.max - 1))
            try appender.seal(through: Interval(UInt64.max - 1))
            let sliced = try stream.slice(from: Interval(5), through: Interval(UInt64.max - 1)).collect()
            #expect(sliced.map(\.value).sorted() == [1, 2, 3])
            let counts = try stream.countByEncodedKey(from: Interval(5), through: Interval(UInt64.max - 1),
                                                      as: String.self) { record in
                try record.encodedBytes(of: String.self)
            }
            #expect(try counts.collect().map { "\($0.key)=\($0.value)" }.sorted() == ["a=2", "b=1"])
        }
    }

    /// The runs of a range split for `slice` cover it exactly, in order, without gaps or overlap,
    /// for ranges up to the whole index space.
    @Test func sliceRunsCoverTheRangeExactly() {
        let cases: [(from: UInt64, length: UInt64, splits: Int)] = [
            (0, 1, 32), (5, 7, 3), (0, UInt64.max, 32), (1, UInt64.max, 1), (5, UInt64.max - 5, 32),
            (UInt64.max - 1, 2, 2), (UInt64.max, 1, 1),
        ]
        for (from, length, splits) in cases {
            let runs = (0..<splits).compactMap { sliceRun($0, of: splits, from: Interval(from), length: length) }
            #expect(runs.first?.lowerBound == Interval(from), "\(from) \(length) \(splits)")
            #expect(runs.last?.upperBound == Interval(from + (length - 1)), "\(from) \(length) \(splits)")
            for (a, b) in zip(runs, runs.dropFirst()) {
                #expect(a.upperBound.rawValue + 1 == b.lowerBound.rawValue, "\(from) \(length) \(splits)")
            }
        }
    }

    /// A stream sealed through the last interval index (builds before a0eef49 sealed a late side
    /// stream so): `sealedIntervals` stepped from it to interval 0 and yielded the stream again,
    /// and its default start (after the newest sealed interval) was interval 0. It ends there; a
    /// salvage of the store ends too.
    @Test(.timeLimit(.minutes(10))) func subscriptionsEndAtTheLastIntervalIndex() async throws {
        try await withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(UInt64.max - 1))
            try await appender.seal(through: Interval(UInt64.max - 1))
            try appender.append(2, interval: Interval(UInt64.max))
            try await appender.flush()
            try Self.sealThroughTheLastIndex(store, "v")
            #expect(try stream.frontier().sealedThrough == Interval(UInt64.max))

            var seen: [Interval] = []
            var records: [Int64] = []
            for try await batch in stream.sealedIntervals(from: Interval(UInt64.max - 1)) {
                seen.append(batch.interval)
                records += batch.partitions.joined()
                if seen.count > 2 { break }  // a wrap goes on past the last index
            }
            #expect(seen == [Interval(UInt64.max - 1), Interval(UInt64.max)])
            #expect(records == [1, 2])
            var afterNewest: [Interval] = []
            for try await batch in stream.sealedIntervals() {
                afterNewest.append(batch.interval)
                break
            }
            #expect(afterNewest == [])

            try withStore { fresh in
                var copied: [Interval] = []
                try store.salvage(into: fresh, skipping: []) { event in
                    if case .copied(let name, let interval, _, _, _, _, _) = event, name == "v" { copied.append(interval) }
                }
                #expect(copied == [Interval(UInt64.max - 1), Interval(UInt64.max)])
                #expect(try fresh.info(of: "v").frontier.sealedThrough == Interval(UInt64.max))
            }
        }
    }

    /// `stats` counted `last − first + 1` intervals: for a stream from interval 0 sealed through
    /// the last index that trapped. It saturates at `UInt64.max`; the records are counted.
    @Test func statsOfTheWholeIndexSpace() throws {
        try withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(0))
            try appender.seal(through: Interval(UInt64.max - 1))
            try appender.append(2, interval: Interval(UInt64.max))
            try appender.flush()
            try Self.sealThroughTheLastIndex(store, "v")
            let stats = try #require(try store.stats(of: "v").first)
            #expect(stats.intervals == UInt64.max)
            #expect(stats.nonEmptyIntervals == 2)
            #expect(stats.records == 2)
        }
    }

    /// An older build could leave an unsealed block in a late side stream's interval `UInt64.max`:
    /// the next appender sealed the late side stream through it (the last index, after which no
    /// late record has an interval) with the stream's next seal, and `sealAll` did too. The block
    /// stays unsealed; the late side stream is sealed with the stream, and late records still go in.
    @Test(.timeLimit(.minutes(10))) func aLateBlockAtTheLastIndexIsNeverSealed() throws {
        try withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
            try stream.eventTimeAppender(allowedLateness: .zero).flush()  // creates v.late
            try Self.commitBlock(store, "v.late", interval: Interval(UInt64.max), value: 9)

            do {  // the appender releases the stream's writer lock at the end of the scope
                let appender = try stream.eventTimeAppender(allowedLateness: .zero)
                try appender.append(1, eventTime: Timestamp(rawValue: 5_000_000_000))
                try appender.seal(through: Interval(5))
                #expect(try store.info(of: "v.late").frontier.sealedThrough == Interval(5))
                try appender.append(2, eventTime: Timestamp(rawValue: 1_000_000_000))  // late: v.late interval 6
                #expect(appender.lateRecords == 1)
                try appender.sealAll()
                #expect(try store.info(of: "v.late").frontier.sealedThrough == Interval(6))
            }

            let again = try stream.eventTimeAppender(allowedLateness: .zero)
            #expect(again.holdsUnsealedRecords)
            try again.sealAll()
            #expect(try store.info(of: "v.late").frontier.sealedThrough == Interval(6))
            let report = try store.verify(stream: "v.late")
            #expect(report.isClean, "\(report.problems)")
            #expect(report.unsealedBlocks == 1, "\(report)")
        }
    }

    /// `hasUnsealedBlocks` looked for blocks from the interval after the sealed ones: for a stream
    /// sealed through the last index that wrapped to interval 0 and found the sealed blocks.
    @Test func aStreamSealedThroughTheLastIndexHasNoUnsealedBlocks() throws {
        try withStore { store in
            try Self.blockAtTheLastIndex(store, "v")
            let descriptor = try #require(try store.log.descriptor(named: "v"))
            func unsealed() throws -> Bool {
                try store.log.environment.read { txn in
                    try store.log.hasUnsealedBlocks(descriptor, frontier: try store.log.frontier(of: descriptor, in: txn),
                                                    in: txn)
                }
            }
            #expect(try unsealed())
            try Self.sealThroughTheLastIndex(store, "v")
            #expect(try !unsealed())
        }
    }

    /// A store image took the interval after a stream's sealed ones as the highest floor: for a
    /// stream sealed through the last index that wrapped to interval 0, and the image held every
    /// sealed block whatever floor was asked. It holds the blocks from the floor on.
    @Test(.timeLimit(.minutes(10))) func anImageOfAStreamSealedThroughTheLastIndexKeepsItsFloor() throws {
        try withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(5))
            try appender.seal(through: Interval(UInt64.max - 1))
            try appender.append(2, interval: Interval(UInt64.max))
            try appender.flush()
            try Self.sealThroughTheLastIndex(store, "v")
            let descriptor = try #require(try store.log.descriptor(named: "v"))
            for floors in [["v": Interval(UInt64.max)], [:]] {
                let image = try store.log.readImage(streams: [descriptor], vertices: []) { _ in (floors, [:]) }
                let tail = try #require(image.streams.first)
                #expect(tail.floor == Interval(UInt64.max), "\(floors)")
                #expect(tail.blocks.map(\.interval) == [Interval(UInt64.max)], "\(floors)")
            }
            let whole = try store.log.readImage(streams: [descriptor], vertices: []) { _ in (["v": Interval(0)], [:]) }
            #expect(whole.streams.first?.blocks.map(\.interval) == [Interval(5), Interval(UInt64.max)])
        }
    }

    /// An arrival appender seals at open the intervals an earlier writer left blocks in and that
    /// have ended. `sealElapsedAtOpen` looked only at the newest unsealed interval: a block of
    /// interval `UInt64.max` (which never ends: the clock is an `Int64` of nanoseconds, so even
    /// its last time falls in a lower interval) hid the ended intervals below it, and they stayed
    /// unreadable until new data came. They are sealed now; the block of the last index is not.
    @Test func anArrivalAppenderSealsTheEndedIntervalsBelowABlockOfTheLastIndex() throws {
        try withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
            do {  // an earlier writer stops with interval 5 and the last index unsealed
                let appender = try stream.explicitAppender()
                try appender.append(1, interval: Interval(5))
                try appender.append(2, interval: Interval(UInt64.max))
                try appender.flush()
            }
            let clock = ManualClock(Timestamp(milliseconds: 10_500))
            let appender = try stream.arrivalAppender(clock: clock.arrivalClock)
            #expect(try stream.newestSealedInterval() == Interval(9))
            #expect(try stream.read(Interval(5)).records == [1])
            #expect(appender.newestUnsealedInterval == Interval(UInt64.max))
            let report = try store.verify(stream: "v")
            #expect(report.isClean, "\(report.problems)")
            #expect(report.unsealedBlocks == 1, "\(report)")
        }
    }

    /// A block of the last interval index alone is never sealed by an arrival appender's open,
    /// even with the clock at its last time (`Int64.max` nanoseconds, in 2262) and the shortest
    /// interval length (1 ms): the clock is then in interval 9 223 372 036 854.
    @Test func theLastIndexNeverEndsByTheArrivalClock() throws {
        try withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .milliseconds(1), partitions: 1)
            do {
                let appender = try stream.explicitAppender()
                try appender.append(2, interval: Interval(UInt64.max))
                try appender.flush()
            }
            let clock = ManualClock(Timestamp(nanoseconds: .max))
            let appender = try stream.arrivalAppender(clock: clock.arrivalClock)
            #expect(try stream.newestSealedInterval() == nil)
            #expect(appender.newestUnsealedInterval == Interval(UInt64.max))
            #expect(try store.verify(stream: "v").unsealedBlocks == 1)
        }
    }

    /// Makes stream `name` with a record in interval 5, sealed through it, and an unsealed block
    /// of interval `UInt64.max` (an explicit appender may commit one).
    private static func blockAtTheLastIndex(_ store: Store, _ name: String) throws {
        let stream = try store.stream(name, of: Int64.self, interval: .seconds(1), partitions: 1)
        let appender = try stream.explicitAppender()
        try appender.append(1, interval: Interval(5))
        try appender.seal(through: Interval(5))
        try appender.append(2, interval: Interval(UInt64.max))
        try appender.flush()
    }

    /// Commits one block of `value` to `name`'s `interval` straight to the log, unsealed, as an
    /// older build's appender could leave it.
    private static func commitBlock(_ store: Store, _ name: String, interval: Interval, value: Int64) throws {
        let descriptor = try #require(try store.log.descriptor(named: name))
        var builder = PayloadBuilder(capacity: 64)
        var writer = BinaryWriter(capacity: 16)
        value.encode(to: &writer)
        writer.bytes.withUnsafeBytes { builder.append(encoded: $0) }
        let records = builder.recordCount
        var batch = AppendBatch()
        batch.blocks = [PendingBlock(stream: descriptor, interval: interval, partition: PartitionIndex(0),
                                     rawPayload: builder.takeBytes(replacingWith: []), recordCount: records)]
        try store.log.submit(batch, chain: nil, compressor: BlockCompressor(parallelism: 1, maxSpareBuffers: 1)).wait()
    }

    /// Seals `name` through the last interval index by a batch straight to the log, as builds
    /// before a0eef49 did for a late side stream whose stream was sealed through `UInt64.max − 1`.
    private static func sealThroughTheLastIndex(_ store: Store, _ name: String) throws {
        let descriptor = try #require(try store.log.descriptor(named: name))
        var batch = AppendBatch()
        batch.seals = [(descriptor, Interval(UInt64.max))]
        try store.log.submit(batch, chain: nil).wait()
    }
}
