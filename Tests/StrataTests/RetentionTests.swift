import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

private func location(_ stream: String, _ interval: UInt64) -> StoreLocation {
    StoreLocation(stream: stream, interval: Interval(interval))
}

/// The intervals of a stream that still have blocks in the log.
private func intervalsWithBlocks(_ store: Store, _ descriptor: StreamDescriptor) throws -> [UInt64] {
    var intervals: [UInt64] = []
    try store.log.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, _ in
        if intervals.last != key.interval.rawValue { intervals.append(key.interval.rawValue) }
        return true
    }
    return intervals
}

@Suite struct RetentionTests {
    @Test func keepsOnlyTheNewestIntervals() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 2, retention: .intervals(3))
            let appender = try stream.explicitAppender()
            for t in Int64(0)..<10 {
                for i in 0..<(t + 1) { try appender.append(t * 100 + i, interval: Interval(UInt64(t))) }
                try appender.seal(through: Interval(UInt64(t)))
                let kept = max(0, t - 2)
                #expect(try stream.frontier().retainedFrom == Interval(UInt64(kept)), "after sealing \(t)")
            }
            #expect(try stream.frontier() == StreamFrontier(sealedThrough: Interval(9), firstInterval: Interval(0), retainedFrom: Interval(7)))
            for t: UInt64 in 0..<7 {
                #expect(throws: StorageError.outsideRetention(location("r", t), retainedFrom: Interval(7))) { try stream.read(Interval(t)) }
            }
            for t: UInt64 in 7...9 {
                #expect(try stream.read(Interval(t)).records.sorted() == (0...Int64(t)).map { Int64(t) * 100 + $0 })
            }
            #expect(throws: StorageError.outsideRetention(location("r", 6), retainedFrom: Interval(7))) {
                try stream.read(Interval(6)...Interval(8))
            }
            // Blocks and seal rows of dropped intervals are gone.
            #expect(try intervalsWithBlocks(store, stream.descriptor) == [7, 8, 9])
            #expect(try store.log.sealRecords(of: stream.descriptor, in: Interval(0)...Interval(9)).map(\.0.rawValue) == [7, 8, 9])
            let stats = try #require(try store.stats(of: "r").first)
            #expect(stats.firstInterval == Interval(7))
            #expect(stats.newestSealed == Interval(9))
            #expect(stats.intervals == 3)
            #expect(stats.nonEmptyIntervals == 3)
            #expect(stats.records == 8 + 9 + 10)
            let report = try store.verify()
            #expect(report.isClean)
            #expect(report.intervals == 3)
            #expect(report.records == 27)
            // The late stream follows the same retention.
            let late = try #require(try store.streams().first { $0.descriptor.name == "r.late" })
            #expect(late.descriptor.retention == .intervals(3))
            #expect(late.frontier.retainedFrom == Interval(7))
        }
    }

    @Test func emptyIntervalsCountTowardsRetention() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 1, retention: .intervals(2))
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(1))
            try appender.seal(through: Interval(2))
            #expect(try stream.read(Interval(1)).records == [1])
            try appender.seal(through: Interval(3))
            #expect(throws: StorageError.outsideRetention(location("r", 1), retainedFrom: Interval(2))) { try stream.read(Interval(1)) }
            #expect(try stream.read(Interval(3)).count == 0)
            #expect(try stream.frontier().firstReadable == Interval(2))
            #expect(try store.stats(of: "r").first?.intervals == 2)
            #expect(try store.stats(of: "r").first?.records == 0)
            #expect(try intervalsWithBlocks(store, stream.descriptor).isEmpty)
        }
    }

    @Test func durationRetentionKeepsIntervalsCoveringIt() throws {
        try withStore { store in
            let stream = try store.stream("d", of: Int64.self, interval: .milliseconds(500), partitions: 1,
                                          retention: .duration(.milliseconds(1_200)))
            #expect(stream.descriptor.retention == .nanoseconds(1_200_000_000))
            let appender = try stream.explicitAppender()
            for t in UInt64(0)..<6 { try appender.append(Int64(t), interval: Interval(t)) }
            try appender.seal(through: Interval(5))
            // 1.2 s of 0.5 s intervals: the newest 3.
            #expect(try stream.frontier().retainedFrom == Interval(3))
            #expect(try stream.read(Interval(3)...Interval(5)).map(\.records) == [[3], [4], [5]])
        }
    }

    /// A state's change stream keeps its input's retention plus one snapshot period; that sum
    /// once wrapped (`&+`), so an input kept for `UInt64.max - 1` intervals gave a change stream
    /// kept for 2, which dropped the changes restoring the state needs.
    @Test func aChangeStreamsRetentionSaturatesRatherThanWraps() throws {
        for base in [StrataStorage.Retention.intervals(.max - 1), .nanoseconds(.max - 1)] {
            try withStore { store in
                let views = try store.stream("views", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 1,
                                             retention: base)
                let appender = try views.explicitAppender()
                for t in UInt64(0)..<6 { try appender.append(KeyValue("/a", 1), interval: Interval(t)) }
                try appender.seal(through: Interval(5))
                let program = try Program(name: "counts", store: store, options: ProgramOptions(snapshotEvery: 4)) { p in
                    p.read(views).runningReduce(+).save(as: "urlCounts")
                }
                try program.runUntilCaughtUp()
                let changes = try store.streams().map(\.descriptor).filter {
                    $0.name.hasPrefix("counts.") && $0.name.hasSuffix(".out")
                }
                #expect(!changes.isEmpty)
                for change in changes {
                    #expect(change.retention == (base == .intervals(.max - 1) ? .intervals(.max) : .nanoseconds(.max)),
                            "\(change.name)")
                    #expect(try intervalsWithBlocks(store, change) == [0, 1, 2, 3, 4, 5], "\(change.name)")
                }
            }
        }
    }

    @Test func changingRetentionTakesEffectAtTheNextSeal() throws {
        try withStore { store in
            let stream = try store.stream("c", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            for t in UInt64(0)..<5 { try appender.append(Int64(t), interval: Interval(t)) }
            try appender.seal(through: Interval(4))
            try store.setRetention(.intervals(2), of: "c")
            #expect(try store.info(of: "c").descriptor.retention == .intervals(2))
            #expect(try store.info(of: "c.late").descriptor.retention == .intervals(2))
            #expect(try stream.read(Interval(0)).records == [0])
            try appender.append(5, interval: Interval(5))
            try appender.seal(through: Interval(5))
            #expect(try stream.frontier().retainedFrom == Interval(4))
            #expect(throws: StorageError.outsideRetention(location("c", 3), retainedFrom: Interval(4))) { try stream.read(Interval(3)) }
            #expect(try stream.read(Interval(4)...Interval(5)).map(\.records) == [[4], [5]])
        }
    }

    @Test func freedPagesAreReusedSoTheFileStaysBounded() throws {
        try withStore { store in
            let stream = try store.stream("big", of: Bytes.self, interval: .seconds(1), partitions: 4, retention: .intervals(3))
            let appender = try stream.explicitAppender()
            var noise = SplitMix64(seed: 11)
            var sizeAfter50 = 0
            for t in UInt64(0)..<200 {
                for _ in 0..<40 { try appender.append(Bytes(noise.bytes(1_000)), interval: Interval(t)) }
                try appender.seal(through: Interval(t))
                if t == 49 { sizeAfter50 = store.usedBytes }
            }
            let sizeAfter200 = store.usedBytes
            // 200 intervals of ~40 KB written, three kept: the file does not grow with what was written.
            #expect(sizeAfter50 > 0)
            #expect(sizeAfter200 < 2 * sizeAfter50, "after 50: \(sizeAfter50) B, after 200: \(sizeAfter200) B")
            #expect(sizeAfter200 < 200 * 40_000 / 4)
            #expect(try intervalsWithBlocks(store, stream.descriptor) == [197, 198, 199])
            #expect(try store.verify().isClean)
        }
    }
}
