import StrataTestSupport
import Testing

@testable import Strata

/// Re-emission of stored intervals: order, bounds, pace, following new seals, errors.
@Suite struct ReEmitTests {
    /// Appends `value` to each interval of `intervals` and seals through the last one.
    func append(_ intervals: ClosedRange<UInt64>, to stream: StoredStream<Int64>) throws {
        let appender = try stream.explicitAppender()
        for t in intervals { try appender.append(Int64(t), interval: Interval(t)) }
        try appender.seal(through: Interval(intervals.upperBound))
    }

    @Test func fullSpeedYieldsEverySealedIntervalInOrder() async throws {
        try await withStore { store in
            let stream = try store.stream("numbers", of: Int64.self, interval: .milliseconds(10), partitions: 2)
            try append(5...9, to: stream)
            var seen: [(Interval, [Int64])] = []
            for try await batch in stream.reEmit(from: Interval(6)) { seen.append((batch.interval, batch.records)) }
            #expect(seen.map(\.0) == (6...9).map { Interval(UInt64($0)) })
            #expect(seen.map(\.1) == (6...9).map { [Int64($0)] })
            var bounded: [Interval] = []
            for try await batch in stream.reEmit(from: Interval(5), through: Interval(7)) { bounded.append(batch.interval) }
            #expect(bounded == [Interval(5), Interval(6), Interval(7)])
        }
    }

    @Test func pacedReEmissionYieldsTheSameIntervals() async throws {
        try await withStore { store in
            let stream = try store.stream("numbers", of: Int64.self, interval: .milliseconds(10), partitions: 1)
            try append(1...4, to: stream)
            var seen: [Int64] = []
            for try await batch in stream.reEmit(from: Interval(1), pace: .original(speed: 100)) { seen += batch.records }
            #expect(seen == [1, 2, 3, 4])
        }
    }

    @Test func followingYieldsIntervalsSealedLater() async throws {
        try await withStore { store in
            let stream = try store.stream("numbers", of: Int64.self, interval: .milliseconds(10), partitions: 1)
            try append(1...2, to: stream)
            var seen: [Int64] = []
            for try await batch in stream.reEmit(from: Interval(1), follow: true) {
                seen += batch.records
                if batch.interval == Interval(2) { try append(3...4, to: stream) }
                if batch.interval == Interval(4) { break }
            }
            #expect(seen == [1, 2, 3, 4])
        }
    }

    @Test func unreadableStartsEndTheSequenceWithTypedErrors() async throws {
        try await withStore { store in
            let stream = try store.stream("numbers", of: Int64.self, interval: .milliseconds(10), partitions: 1)
            try append(10...20, to: stream)
            await #expect(throws: TimeTravelError.storage(.beforeStreamStart(
                StoreLocation(stream: "numbers", interval: Interval(3)), firstInterval: Interval(10)))) {
                for try await _ in stream.reEmit(from: Interval(3), through: Interval(12)) {}
            }
            await #expect(throws: TimeTravelError.storage(.notSealed(
                StoreLocation(stream: "numbers", interval: Interval(25)), newestSealed: Interval(20)))) {
                for try await _ in stream.reEmit(from: Interval(18), through: Interval(25)) {}
            }
            _ = try store.retain(.intervals(5), of: "numbers")
            await #expect(throws: TimeTravelError.storage(.outsideRetention(
                StoreLocation(stream: "numbers", interval: Interval(12)), retainedFrom: Interval(16)))) {
                for try await _ in stream.reEmit(from: Interval(12)) {}
            }
        }
    }
}
