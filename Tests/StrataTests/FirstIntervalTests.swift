import Foundation
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// `StreamFrontier.firstInterval` is the first interval that held records when it was sealed:
/// empty intervals sealed before it do not count, whether the seal rows come from the
/// committer's tally or from a walk of the blocks (after a reopen), and retention never moves it
/// (it moves `retainedFrom`, and with it `firstReadable`).
@Suite struct FirstIntervalTests {
    /// Intervals 0 and 1 empty, records in 2, 4 and 5, 3 empty, all sealed by one seal: the
    /// stream begins at 2, by the tally (same store) and by the walk (the blocks committed by an
    /// earlier opening of the store, which the new committer's tally does not know).
    @Test func emptyFirstIntervalsDoNotCountByTallyOrByWalk() throws {
        for reopenBeforeSeal in [false, true] {
            try withStorePath { path in
                do {
                    let store = try Store(at: path, options: .testing)
                    let stream = try store.stream("s", of: Int64.self, interval: .seconds(1), partitions: 2)
                    let appender = try stream.explicitAppender()
                    for t: UInt64 in [2, 4, 5] {
                        for v in 0..<5 { try appender.append(Int64(v), interval: Interval(t)) }
                    }
                    try appender.flush()
                    if !reopenBeforeSeal { try appender.seal(through: Interval(5)) }
                }
                // A reopened store's committer has no tally: it seals by walking the blocks.
                try reopen(path) { store in
                    let stream = try store.stream(named: "s", of: Int64.self)
                    if reopenBeforeSeal { try stream.explicitAppender().seal(through: Interval(5)) }
                    #expect(try stream.frontier() == StreamFrontier(sealedThrough: Interval(5), firstInterval: Interval(2)),
                            "reopened before the seal: \(reopenBeforeSeal)")
                    #expect(throws: StorageError.beforeStreamStart(StoreLocation(stream: "s", interval: Interval(1)),
                                                                   firstInterval: Interval(2))) { try stream.read(Interval(1)) }
                    #expect(try stream.read(Interval(3)).count == 0)
                    #expect(try stream.read(Interval(4)).count == 5)
                }
            }
        }
    }

    /// Retention of 2 intervals: sealing 0…5 at once drops 0…3; the stream still began at 0, so a
    /// read of interval 1 is outside retention, not before the start.
    @Test func retentionMovesTheFirstReadableIntervalNotTheFirstInterval() throws {
        try withStore { store in
            let stream = try store.stream("s", of: Int64.self, interval: .seconds(1), partitions: 1, retention: .intervals(2))
            let appender = try stream.explicitAppender()
            for t: UInt64 in 0..<6 { try appender.append(Int64(t), interval: Interval(t)) }
            try appender.seal(through: Interval(5))
            let frontier = try stream.frontier()
            #expect(frontier == StreamFrontier(sealedThrough: Interval(5), firstInterval: Interval(0), retainedFrom: Interval(4)))
            #expect(frontier.firstReadable == Interval(4))
            #expect(throws: StorageError.outsideRetention(StoreLocation(stream: "s", interval: Interval(1)),
                                                          retainedFrom: Interval(4))) { try stream.read(Interval(1)) }
            #expect(try stream.read(Interval(4)).records == [4])
            let stats = try #require(try store.stats().first { $0.name == "s" })
            #expect(stats.firstInterval == Interval(4), "stats report the first readable interval")
        }
    }
}
