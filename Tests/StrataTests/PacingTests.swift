import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// Issue 10, item 7: speeds outside a sane range trapped (`tail`) or never ended (`replay`).

@Suite struct PacingTests {
    @Test func issue10_item7_dueTimesSaturateInsteadOfTrapping() {
        typealias S = StoredStream<Int64>
        #expect(S.dueOffset(length: 1_000_000_000, emitted: 1, speed: 1e-300) == .nanoseconds(Int64.max))
        #expect(S.dueOffset(length: UInt64.max, emitted: Int64.max, speed: 0.001) == .nanoseconds(Int64.max))
        #expect(S.dueOffset(length: 1_000_000_000, emitted: 3, speed: 2) == .milliseconds(1500))
        #expect(S.dueOffset(length: 1_000_000_000, emitted: 0, speed: 1e-300) == .zero)
    }

    @Test(arguments: [1e-300, 0, -1, .nan, .infinity, 0.000_999, 1_000_001])
    func issue10_item7_speedsOutsideTheRangeEndTheReEmissionWithAnError(speed: Double) async throws {
        try await withStore { store in
            let stream = try store.stream("numbers", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            for t in UInt64(0)...2 { try appender.append(Int64(t), interval: Interval(t)) }
            try await appender.seal(through: Interval(2))
            await #expect(throws: TimeTravelError.self) {
                for try await _ in stream.reEmit(from: Interval(0), pace: .original(speed: speed)) {}
            }
            #expect(throws: StorageError.self) {
                try store.replay("numbers", range: Interval(0)...Interval(2), into: "copy", pace: speed)
            }
        }
    }

    @Test func issue10_item7_theSlowestAndFastestSpeedsAreAccepted() async throws {
        try await withStore { store in
            let stream = try store.stream("numbers", of: Int64.self, interval: .milliseconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            for t in UInt64(0)...3 { try appender.append(Int64(t), interval: Interval(t)) }
            try await appender.seal(through: Interval(3))
            var seen: [Int64] = []
            for try await batch in stream.reEmit(from: Interval(0), pace: .original(speed: ReEmitPace.speeds.upperBound)) {
                seen += batch.records
            }
            #expect(seen == [0, 1, 2, 3])
            // The slowest: the first interval is due at once; stop after it.
            for try await batch in stream.reEmit(from: Interval(0), pace: .original(speed: ReEmitPace.speeds.lowerBound)) {
                #expect(batch.records == [0])
                break
            }
            let summary = try store.replay("numbers", range: Interval(0)...Interval(3), into: "copy",
                                           pace: ReEmitPace.speeds.upperBound)
            #expect(summary.intervals == 4)
        }
    }
}
