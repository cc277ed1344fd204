import PropertyBased
import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

@Suite struct WindowTests {
    /// `window` holds, at each window end, partition `p` of each of its intervals in order, and
    /// nothing elsewhere.
    @Test func windowIsTheUnionOfItsIntervalsPerPartition() async {
        await propertyCheck(count: 30, input: EngineGenB.valueIntervals, EngineGenB.partitions, EngineGenB.length,
                            EngineGenB.slide) { intervals, partitions, length, slide throws in
            let fixture = try EngineFixtureB()
            let layout = try fixture.input("in", intervals, partitions: partitions)
            try fixture.run("w") { p in
                // A narrow chain before the window is recomputed for earlier intervals.
                p.read(try fixture.store.stream(named: "in", of: Int64.self)).map { $0 * 10 }
                    .window(length: length, slide: slide).save(as: "windows")
            }
            let count = intervals.count
            let windows = try fixture.read("windows", of: Int64.self, intervals: count)
            for t in 0..<count {
                for p in 0..<partitions {
                    let expected = ReferenceB.closes(t, slide: slide)
                        ? ReferenceB.window(t, length: length).flatMap { layout[$0][p].map { $0 * 10 } } : []
                    #expect(windows[t][p] == expected, "interval \(t) partition \(p)")
                }
            }
        }
    }

    /// An interval without input still closes a window over earlier input.
    @Test func emptyIntervalsStillCloseWindows() throws {
        let fixture = try EngineFixtureB()
        _ = try fixture.input("in", [[1, 2], [], [], [], [3]] as [[Int64]], partitions: 2)
        try fixture.run("w") { p in
            p.read(try fixture.store.stream(named: "in", of: Int64.self)).window(length: 3).save(as: "windows")
        }
        let windows = try fixture.readFlat("windows", of: Int64.self, intervals: 5)
        #expect(windows.map { $0.sorted() } == [[1, 2], [1, 2], [1, 2], [], [3]])
    }

    /// `reduceByKeyAndWindow` equals the reference per window, each partition sorted by key bytes,
    /// and the incremental form (with `inverse`) equals the non-incremental one partition by partition.
    @Test func reduceByKeyAndWindowMatchesReferenceAndIncrementalEqualsFull() async {
        await propertyCheck(count: 30, input: EngineGenB.keyedIntervals, EngineGenB.partitions, EngineGenB.length,
                            EngineGenB.slide) { intervals, partitions, length, slide throws in
            let fixture = try EngineFixtureB()
            _ = try fixture.input("in", intervals, partitions: partitions)
            let input = try fixture.store.stream(named: "in", of: PairB.self)
            try fixture.run("w") { p in
                let pairs = p.read(input)
                pairs.reduceByKeyAndWindow(+, length: length, slide: slide).save(as: "full")
                pairs.reduceByKeyAndWindow(+, inverse: -, length: length, slide: slide).save(as: "incremental")
            }
            let expected = ReferenceB.reduceByKeyAndWindow(intervals, length: length, slide: slide,
                                                           count: intervals.count, +)
            let full = try fixture.read("full", of: PairB.self, intervals: intervals.count)
            let incremental = try fixture.read("incremental", of: PairB.self, intervals: intervals.count)
            #expect(full == incremental)
            for t in 0..<intervals.count {
                let pairs = full[t].flatMap { $0 }
                #expect(Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) }) == expected[t],
                        "interval \(t)")
                #expect(pairs.count == expected[t].count)
                for partition in full[t] { #expect(isSortedByEncodedKey(partition)) }
            }
        }
    }

    /// `String` keys of 0–56 characters, half of them behind a shared 16-character prefix, beside
    /// short ones: the incremental window (which sorts by each key's head kept from when it
    /// entered, and emits a key of at most 16 encoded bytes from that head) writes the
    /// non-incremental window's pairs, in the same order, partition by partition.
    @Test func stringKeysShortAndLongEmitAsTheFullWindowDoes() async {
        let keys = Gen.uint8(in: 0...2).array(of: 0...40).array(of: 0...40).array(of: 1...8)
        await propertyCheck(count: 20, input: keys, EngineGenB.partitions, EngineGenB.length) {
            generated, partitions, length throws in
            // Every other key behind a shared 16-byte prefix (equal heads, ordered by their whole
            // bytes); values −3…3 from the key's length and position: some sums cancel to 0.
            let intervals = generated.map { keys in
                keys.enumerated().map { position, key in
                    KeyValue((position % 2 == 0 ? "shared-prefix-16" : "") + String(decoding: key.map { $0 + 0x61 }, as: UTF8.self),
                             Int64((key.count + position) % 7) - 3)
                }
            }
            let fixture = try EngineFixtureB()
            _ = try fixture.input("in", intervals, partitions: partitions)
            let input = try fixture.store.stream(named: "in", of: KeyValue<String, Int64>.self)
            try fixture.run("w") { p in
                let pairs = p.read(input)
                pairs.reduceByKeyAndWindow(+, length: length).save(as: "full")
                pairs.reduceByKeyAndWindow(+, inverse: -, length: length).save(as: "incremental")
            }
            let full = try fixture.read("full", of: KeyValue<String, Int64>.self, intervals: intervals.count)
            let incremental = try fixture.read("incremental", of: KeyValue<String, Int64>.self, intervals: intervals.count)
            #expect(full == incremental)
            for t in 0..<intervals.count { for partition in full[t] { #expect(isSortedByEncodedKey(partition)) } }
        }
    }

    /// Windows keep closing over sealed empty intervals after the input ends; incremental results
    /// stay equal, and keys leave once none of their intervals is in the window.
    @Test func windowsAfterTheInputEndsDrainToNothing() throws {
        let fixture = try EngineFixtureB()
        let (stream, appender) = try fixture.input("in", of: PairB.self, partitions: 3)
        try fixture.append([[PairB(1, 5), PairB(2, 1)], [PairB(1, -5)], [], [], [], []], from: 0, to: appender)
        try fixture.run("w") { p in
            let pairs = p.read(stream)
            pairs.reduceByKeyAndWindow(+, length: 3).save(as: "full")
            pairs.reduceByKeyAndWindow(+, inverse: -, length: 3).save(as: "incremental")
            pairs.reduceByKeyAndWindow(+, inverse: -, length: 3, filter: { _, value in value != 0 }).save(as: "nonzero")
        }
        let full = try fixture.readFlat("full", of: PairB.self, intervals: 6)
        #expect(try fixture.readFlat("incremental", of: PairB.self, intervals: 6) == full)
        let dictionaries = full.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value) }) }
        #expect(dictionaries == [[1: 5, 2: 1], [1: 0, 2: 1], [1: 0, 2: 1], [1: -5], [:], [:]])
        let nonzero = try fixture.readFlat("nonzero", of: PairB.self, intervals: 6)
        #expect(nonzero.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value) }) }
                == [[1: 5, 2: 1], [2: 1], [2: 1], [1: -5], [:], [:]])
    }

    /// `reduceByWindow` and `countByWindow` equal the reference; with and without inverse alike.
    @Test func reduceAndCountByWindowMatchReference() async {
        await propertyCheck(count: 30, input: EngineGenB.valueIntervals, EngineGenB.partitions, EngineGenB.length,
                            EngineGenB.slide) { intervals, partitions, length, slide throws in
            let fixture = try EngineFixtureB()
            _ = try fixture.input("in", intervals, partitions: partitions)
            let input = try fixture.store.stream(named: "in", of: Int64.self)
            try fixture.run("w") { p in
                let values = p.read(input)
                values.reduceByWindow(+, length: length, slide: slide).save(as: "full")
                values.reduceByWindow(+, inverse: -, length: length, slide: slide).save(as: "incremental")
                values.countByWindow(length: length, slide: slide).save(as: "count")
            }
            let count = intervals.count
            let sums = ReferenceB.sumByWindow(intervals, length: length, slide: slide, count: count)
            let counts = ReferenceB.windows(intervals, length: length, slide: slide, count: count)
                .map { $0.isEmpty ? nil : Int64($0.count) }
            let full = try fixture.read("full", of: Int64.self, intervals: count)
            #expect(try fixture.read("incremental", of: Int64.self, intervals: count) == full)
            #expect(full.map { $0.flatMap { $0 } } == sums.map { $0.map { [$0] } ?? [] })
            #expect(try fixture.readFlat("count", of: Int64.self, intervals: count)
                    == counts.map { $0.map { [$0] } ?? [] })
        }
    }

    /// `countByValueAndWindow` counts each distinct record per window.
    @Test func countByValueAndWindowMatchesReference() async {
        await propertyCheck(count: 20, input: EngineGenB.valueIntervals, EngineGenB.partitions, EngineGenB.length,
                            EngineGenB.slide) { intervals, partitions, length, slide throws in
            let fixture = try EngineFixtureB()
            _ = try fixture.input("in", intervals, partitions: partitions)
            let input = try fixture.store.stream(named: "in", of: Int64.self)
            try fixture.run("w") { p in
                p.read(input).countByValueAndWindow(length: length, slide: slide).save(as: "counts")
            }
            let counts = try fixture.read("counts", of: KeyValue<Int64, Int64>.self, intervals: intervals.count)
            let windows = ReferenceB.windows(intervals, length: length, slide: slide, count: intervals.count)
            for t in 0..<intervals.count {
                var expected: [Int64: Int64] = [:]
                for value in windows[t] { expected[value, default: 0] += 1 }
                let pairs = counts[t].flatMap { $0 }
                #expect(Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) }) == expected, "interval \(t)")
                for partition in counts[t] { #expect(isSortedByEncodedKey(partition)) }
            }
        }
    }

    /// The seeds' example: `reduceByWindow("5s", +)` and `reduceByWindow("5s", +, -)` over page
    /// counts, windows [0,5), [1,6), [2,7), … (clipped at the start).
    @Test func seedsReduceByWindowOverFiveIntervals() throws {
        let fixture = try EngineFixtureB()
        let perInterval: [[Int64]] = [[1, 1], [1], [], [1, 1, 1], [1], [1, 1], [], [], [], [], [1]]
        _ = try fixture.input("pageViews", perInterval, partitions: 4)
        let views = try fixture.store.stream(named: "pageViews", of: Int64.self)
        try fixture.run("seeds") { p in
            let ones = p.read(views)
            ones.reduceByWindow(+, length: 5).save(as: "sum")
            ones.reduceByWindow(+, inverse: -, length: 5).save(as: "sumIncremental")
        }
        let expected: [[Int64]] = [[2], [3], [3], [6], [7], [7], [6], [6], [3], [2], [1]]
        #expect(try fixture.readFlat("sum", of: Int64.self, intervals: 11) == expected)
        #expect(try fixture.readFlat("sumIncremental", of: Int64.self, intervals: 11) == expected)
    }

    /// A slide of 2 emits only at odd intervals (`(t + 1) % 2 == 0`).
    @Test func slideAlignsWindowEnds() throws {
        let fixture = try EngineFixtureB()
        _ = try fixture.input("in", [[1], [2], [3], [4], [5]] as [[Int64]], partitions: 1)
        let input = try fixture.store.stream(named: "in", of: Int64.self)
        try fixture.run("slide") { p in p.read(input).reduceByWindow(+, inverse: -, length: 3, slide: 2).save(as: "s") }
        #expect(try fixture.readFlat("s", of: Int64.self, intervals: 5) == [[], [3], [], [9], []])
    }

    /// Invalid shapes fail the program's definition.
    @Test func invalidWindowShapesAreRejected() throws {
        let fixture = try EngineFixtureB()
        _ = try fixture.input("in", [[1]] as [[Int64]], partitions: 1)
        let input = try fixture.store.stream(named: "in", of: Int64.self)
        #expect(throws: EngineError.self) {
            try Program(name: "bad", store: fixture.store) { p in p.read(input).window(length: 0).save(as: "x") }
        }
        #expect(throws: EngineError.self) {
            try Program(name: "bad2", store: fixture.store) { p in
                p.read(input).countByWindow(length: 2, slide: 0).save(as: "y")
            }
        }
    }

    /// Restarting (a new `Program` with the same name) after more input is sealed gives the same
    /// incremental window output as one uninterrupted run.
    @Test func incrementalWindowSurvivesRestart() async {
        await propertyCheck(count: 15, input: EngineGenB.keyedIntervals, EngineGenB.partitions, EngineGenB.length,
                            Gen.int(in: 0...10)) { intervals, partitions, length, cut throws in
            let fixture = try EngineFixtureB()
            let (stream, appender) = try fixture.input("in", of: PairB.self, partitions: partitions)
            let split = min(cut, intervals.count - 1)
            func define(_ output: String) -> (ProgramBuilder) throws -> Void {
                { p in p.read(stream).reduceByKeyAndWindow(+, inverse: -, length: length).save(as: output) }
            }
            try fixture.append(Array(intervals[...split]), from: 0, to: appender)
            try fixture.run("restarted", define("restarted"))
            let kept = try fixture.run("kept", define("kept"))  // the same instance runs again below
            if split + 1 < intervals.count {
                try fixture.append(Array(intervals[(split + 1)...]), from: split + 1, to: appender)
            }
            try fixture.run("restarted", define("restarted"))
            try kept.runUntilCaughtUp()
            try fixture.run("once", define("once"))
            let count = intervals.count
            let once = try fixture.read("once", of: PairB.self, intervals: count)
            #expect(try fixture.read("restarted", of: PairB.self, intervals: count) == once)
            #expect(try fixture.read("kept", of: PairB.self, intervals: count) == once)
        }
    }
}
