import Foundation
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// The last interval index, `UInt64.max`, has no interval after it: nothing may step past it by
/// wrapping to interval 0.
@Suite struct LastIntervalIndexTests {
    /// `verify` walked a stream's blocks interval by interval, from each found interval's `next`:
    /// a block of interval `UInt64.max` (unsealed; an explicit appender may commit one) wrapped
    /// the walk to interval 0, and it went round the stream forever.
    @Test(.timeLimit(.minutes(1))) func verifyEndsAfterABlockOfTheLastIntervalIndex() throws {
        try withStore { store in
            let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(5))
            try appender.seal(through: Interval(5))
            try appender.append(2, interval: Interval(UInt64.max))
            try appender.flush()
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
}
