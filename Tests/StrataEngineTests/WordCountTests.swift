import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// The seeds' word count per interval, and what a failing user closure leaves behind.
@Suite struct WordCountTests {
    struct Boom: Error {}

    /// lines → flatMap words → (w, 1) → reduceByKey(+): each interval's word counts.
    @Test func wordCountPerInterval() throws {
        let intervals = [
            ["the quick brown fox", "jumps over the lazy dog"],
            [],
            ["to be or not to be", "that is the question", "to be"],
            ["a a a a", "b"],
        ]
        let fixture = try EngineFixtureA()
        let lines = try fixture.input("lines", intervals, partitions: 3).stream
        try fixture.run { p in
            p.read(lines)
                .flatMap { $0.split(separator: " ").map(String.init) }
                .map { KeyValue($0, Int64(1)) }
                .reduceByKey(+)
                .save(as: "wordCounts")
        }
        let out = try fixture.read("wordCounts", of: KeyValue<String, Int64>.self, intervals: intervals.count)
        for (t, lines) in intervals.enumerated() {
            var expected: [String: Int64] = [:]
            for word in lines.flatMap({ $0.split(separator: " ") }) { expected[String(word), default: 0] += 1 }
            let counts = Array(out[t].joined())
            #expect(Dictionary(uniqueKeysWithValues: counts.map { ($0.key, $0.value) }) == expected)
            #expect(counts.count == expected.count)
        }
        #expect(out[2].joined().first { $0.key == "to" }?.value == 3)
    }

    /// A narrow closure throwing in interval 2: `closureFailed` names the vertex, the interval
    /// and the partition, and the output is not committed for that interval.
    @Test func throwingClosureStopsTheProgramBeforeTheFailedInterval() throws {
        let intervals: [[Int64]] = [[1, 2, 3], [4, 5], [6, 7, 13, 8], [9]]
        let fixture = try EngineFixtureA()
        let (numbers, layout) = try fixture.input("numbers", intervals, partitions: 3)
        let failing = try #require(layout[2].firstIndex { $0.contains(13) })
        let program = try Program(name: "failing", store: fixture.store) { p in
            p.read(numbers).map { n in
                if n == 13 { throw Boom() }
                return n * 10
            }.save(as: "out")
        }
        for _ in 0..<2 {  // the same failure on every run
            do {
                try program.runUntilCaughtUp()
                Issue.record("the program did not fail")
            } catch let EngineError.closureFailed(underlying, vertex, interval, partition) {
                #expect(underlying is Boom)  // the user's own error, kept (issue 11)
                #expect(vertex == "failing.v0")
                #expect(interval == Interval(2))
                #expect(partition == PartitionIndex(UInt32(failing)))
            }
            let out = try fixture.store.stream(named: "out", of: Int64.self)
            #expect(try out.newestSealedInterval().map { $0 < Interval(2) } ?? true)
            #expect(throws: StorageError.self) { try out.read(Interval(2)) }
        }
    }

    /// A throwing `mergeValue` in a shuffle's map-side combine: the shuffle vertex fails and
    /// neither the shuffle stream nor the output has the interval.
    @Test func throwingCombinerCommitsNothingOfTheInterval() throws {
        let intervals: [[KV]] = [[KV(1, 1), KV(1, 2)], [KV(2, 1), KV(2, -1), KV(3, 4)], [KV(1, 5)]]
        let fixture = try EngineFixtureA()
        let pairs = try fixture.input("pairs", intervals, partitions: 1).stream
        do {
            try fixture.run { p in
                p.read(pairs).combineByKey(
                    createCombiner: { $0 },
                    mergeValue: { a, b in
                        if b < 0 { throw Boom() }
                        return a + b
                    }, mergeCombiners: +
                ).save(as: "sums")
            }
            Issue.record("the program did not fail")
        } catch let EngineError.closureFailed(_, vertex, interval, partition) {
            #expect(vertex == "p1.v0")
            #expect(interval == Interval(1))
            #expect(partition == PartitionIndex(0))
        }
        let sums = try fixture.store.stream(named: "sums", of: KV.self)
        #expect(try sums.newestSealedInterval().map { $0 < Interval(1) } ?? true)
        let shuffle = try fixture.store.stream(named: "p1.v0.shuffle", of: KV.self)
        #expect(try shuffle.newestSealedInterval().map { $0 < Interval(1) } ?? true)
    }
}
