import Glibc
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

private typealias KV = KeyValue<String, Int64>

private func location(_ stream: String, _ interval: UInt64, _ partition: UInt32? = nil) -> StoreLocation {
    StoreLocation(stream: stream, interval: Interval(interval), partition: partition.map { PartitionIndex($0) })
}

/// Milliseconds as a timestamp.
private func ms(_ n: Int64) -> Timestamp { Timestamp(milliseconds: n) }

@Suite struct AppenderTests {
    // MARK: Explicit timing

    @Test func explicitIntervalsReadBackExactlyPerPartition() throws {
        try withStore { store in
            let stream = try store.stream("e", of: Event.self, interval: .seconds(1), partitions: 3)
            do {
            let appender = try stream.explicitAppender()
            #expect(throws: StorageError.notSealed(location("e", 0), newestSealed: nil)) { try stream.read(Interval(0)) }
            // Appends interleaved across intervals; round-robin over the appender: the k-th record goes to k % 3.
            let order: [UInt64] = [3, 1, 1, 4, 3, 3, 1, 3, 1, 3, 3, 1, 3]
            var expected: [UInt64: [[Event]]] = [:]
            var sequence: [UInt64: UInt32] = [:]
            for (k, t) in order.enumerated() {
                let event = Event(interval: t, sequence: sequence[t, default: 0], user: "k\(k)")
                sequence[t, default: 0] += 1
                expected[t, default: [[], [], []]][k % 3].append(event)
                try appender.append(event, interval: Interval(t))
            }
            #expect(appender.openIntervals == [Interval(1), Interval(3), Interval(4)])
            #expect(appender.appendedRecords == UInt64(order.count))
            try appender.seal(through: Interval(4))
            #expect(appender.openIntervals.isEmpty)
            #expect(appender.newestSealedInterval == Interval(4))
            #expect(try stream.frontier() == StreamFrontier(sealedThrough: Interval(4), firstInterval: Interval(1)))

            for t: UInt64 in [1, 3, 4] {
                let batch = try stream.read(Interval(t))
                #expect(batch.interval == Interval(t))
                #expect(batch.partitions == expected[t]!, "interval \(t)")
                #expect(batch.records == expected[t]!.flatMap { $0 })
                #expect(batch.count == expected[t]!.joined().count)
                for p in 0..<UInt32(3) {
                    let one = try stream.read(Interval(t), partition: PartitionIndex(p))
                    var only: [[Event]] = [[], [], []]
                    only[Int(p)] = expected[t]![Int(p)]
                    #expect(one.partitions == only, "interval \(t) partition \(p)")
                }
            }
            // Interval 2 is sealed and empty.
            let empty = try stream.read(Interval(2))
            #expect(empty.partitions == [[], [], []])
            #expect(empty.count == 0)

            #expect(throws: StorageError.beforeStreamStart(location("e", 0), firstInterval: Interval(1))) { try stream.read(Interval(0)) }
            #expect(throws: StorageError.notSealed(location("e", 5), newestSealed: Interval(4))) { try stream.read(Interval(5)) }
            #expect(throws: StorageError.partitionOutOfRange(location("e", 3, 3), partitions: 3)) {
                try stream.read(Interval(3), partition: PartitionIndex(3))
            }
            #expect(throws: StorageError.intervalSealed(location("e", 4))) { try appender.append(Event(interval: 4, sequence: 9), interval: Interval(4)) }
            #expect(throws: StorageError.intervalSealed(location("e", 0))) { try appender.append(Event(interval: 0, sequence: 9), interval: Interval(0)) }
            // Sealing what is sealed does nothing.
            try appender.seal(through: Interval(2))
            #expect(try stream.newestSealedInterval() == Interval(4))
            }  // one writer per stream: the first appender is released before the next
            // A new appender knows what is sealed.
            let second = try stream.explicitAppender()
            #expect(second.newestSealedInterval == Interval(4))
            #expect(throws: StorageError.intervalSealed(location("e", 1))) { try second.append(Event(interval: 1, sequence: 0), interval: Interval(1)) }
            try second.append(Event(interval: 5, sequence: 0), interval: Interval(5))
            try second.seal(through: Interval(5))
            #expect(try stream.read(Interval(5)).records == [Event(interval: 5, sequence: 0)])
        }
    }

    @Test func sealingEmptyIntervalsFirstMovesTheStreamStart() throws {
        try withStore { store in
            let stream = try store.stream("e", of: Event.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.seal(through: Interval(2))
            #expect(try stream.frontier() == StreamFrontier(sealedThrough: Interval(2), firstInterval: nil))
            #expect(throws: StorageError.beforeStreamStart(location("e", 1), firstInterval: nil)) { try stream.read(Interval(1)) }
            #expect(try stream.readNewest() == nil)
            try appender.append(Event(interval: 5, sequence: 0), interval: Interval(5))
            try appender.seal(through: Interval(6))
            #expect(try stream.frontier().firstInterval == Interval(5))
            #expect(throws: StorageError.beforeStreamStart(location("e", 3), firstInterval: Interval(5))) { try stream.read(Interval(3)) }
            #expect(try stream.read(Interval(5)).records == [Event(interval: 5, sequence: 0)])
            #expect(try stream.read(Interval(6)).count == 0)
        }
    }

    @Test func aSecondAppenderOfAStreamIsRefusedWhileTheFirstLives() throws {
        try withStore { store in
            let stream = try store.stream("e", of: Event.self, interval: .seconds(1), partitions: 2)
            do {
                let first = try stream.explicitAppender()
                #expect(throws: StorageError.streamBusy(stream: "e", processID: getpid())) {
                    _ = try stream.explicitAppender()
                }
                try first.append(Event(interval: 1, sequence: 0), interval: Interval(1))
                try first.flush()
            }
            // Released: the next writer continues the interval the first one left open.
            let second = try stream.explicitAppender()
            try second.append(Event(interval: 1, sequence: 1), interval: Interval(1))
            try second.seal(through: Interval(1))
            #expect(try stream.read(Interval(1)).count == 2)
            #expect(try store.verify().isClean)
        }
    }

    @Test func sealAllSealsEveryBufferedInterval() throws {
        try withStore { store in
            let stream = try store.stream("e", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(5, interval: Interval(5))
            try appender.append(7, interval: Interval(7))
            try appender.sealAll()
            #expect(try stream.newestSealedInterval() == Interval(7))
            #expect(try stream.read(Interval(5)...Interval(7)).map(\.records) == [[5], [], [7]])
            // Nothing buffered: nothing to seal.
            try appender.sealAll()
            #expect(try stream.newestSealedInterval() == Interval(7))
        }
    }

    @Test func asyncFlushAndSeal() async throws {
        try await withStore { store in
            let stream = try store.stream("e", of: Int64.self, interval: .seconds(1), partitions: 2)
            let appender = try stream.explicitAppender()
            for i in Int64(0)..<10 { try appender.append(i, interval: Interval(0)) }
            try await appender.flush()
            #expect(try store.verify().unsealedBlocks == 2)
            try await appender.seal(through: Interval(0))
            #expect(try stream.read(Interval(0)).partitions == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]])
        }
    }

    // MARK: Partitioning

    @Test func keyedRecordsGoToTheHashOfTheirEncodedKey() throws {
        try withStore { store in
            let stream = try store.stream("kv", of: KV.self, interval: .seconds(1), partitions: 7)
            let appender = try stream.explicitAppender() { $0.key }
            // Golden partitions: XXH64 of the key's encoding (varint length, UTF-8) modulo 7.
            let golden: [(String, Int)] = [("user-42", 0), ("alice", 4), ("bob", 0), ("", 5)]
            for (key, partition) in golden { #expect(expectedPartition(of: key, partitions: 7) == partition, "\(key)") }
            var expected = [[KV]](repeating: [], count: 7)
            for i in Int64(0)..<300 {
                let key = i < 4 ? golden[Int(i)].0 : "key-\(i % 37)"
                let record = KV(key, i)
                expected[expectedPartition(of: key, partitions: 7)].append(record)
                try appender.append(record, interval: Interval(0))
            }
            try appender.seal(through: Interval(0))
            let batch = try stream.read(Interval(0))
            #expect(batch.partitions == expected)
            for (key, partition) in golden { #expect(batch.partitions[partition].contains { $0.key == key }) }
            // Every key lives in exactly one partition.
            var home: [String: Int] = [:]
            for (p, records) in batch.partitions.enumerated() {
                for record in records { #expect(home.updateValue(p, forKey: record.key) ?? p == p) }
            }
        }
    }

    @Test func keyValueStreamsPartitionByTheirKeyByDefault() throws {
        try withStore { store in
            let stream = try store.stream("kv", of: KV.self, interval: .seconds(1), partitions: 7)
            let appender = try stream.explicitAppender()
            for (i, key) in ["user-42", "alice", "bob", "", "alice"].enumerated() { try appender.append(KV(key, Int64(i)), interval: Interval(0)) }
            try appender.seal(through: Interval(0))
            #expect(try stream.read(Interval(0)).partitions == [
                [KV("user-42", 0), KV("bob", 2)], [], [], [], [KV("alice", 1), KV("alice", 4)], [KV("", 3)], [],
            ])
        }
    }

    @Test func integerKeysHashTheirEightLittleEndianBytes() throws {
        try withStore { store in
            let stream = try store.stream("n", of: Int64.self, interval: .seconds(1), partitions: 7)
            let appender = try stream.explicitAppender() { $0 }
            for n: Int64 in [1, 2, 3, 42, 1000] { try appender.append(n, interval: Interval(0)) }
            try appender.seal(through: Interval(0))
            // XXH64(n as 8 bytes little-endian) % 7, from the reference implementation.
            #expect(try stream.read(Interval(0)).partitions == [[], [], [2], [], [1, 42], [3, 1000], []])
        }
    }

    @Test func unkeyedRecordsGoRoundRobin() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 4)
            let appender = try stream.explicitAppender()
            for n in Int64(0)..<10 { try appender.append(n, interval: Interval(0)) }
            try appender.seal(through: Interval(0))
            #expect(try stream.read(Interval(0)).partitions == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]])
        }
    }

    // MARK: Event time

    @Test func watermarkSealsAndLateRecordsAreKept() throws {
        try withStore { store in
            let stream = try store.stream("et", of: Event.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.eventTimeAppender(allowedLateness: .seconds(1))
            func add(_ millis: Int64) throws { try appender.append(Event(interval: UInt64(millis), sequence: 0), eventTime: ms(millis)) }
            try add(500)
            #expect(appender.newestSealedInterval == nil)
            try add(2_500)  // watermark 1.5 s: interval 0 (ends at 1 s) is complete
            #expect(appender.newestSealedInterval == Interval(0))
            try add(700)  // late: interval 0 is sealed
            #expect(appender.lateRecords == 1)
            try add(1_200)
            try add(1_999)
            #expect(appender.newestSealedInterval == Interval(0))
            try add(3_000)  // watermark 2 s: interval 1 ends at 2 s, so it is complete
            #expect(appender.newestSealedInterval == Interval(1))
            try add(1_500)  // late
            try add(2_999)
            #expect(appender.lateRecords == 2)
            #expect(appender.appendedRecords == 6)
            try appender.flush()

            #expect(try stream.frontier() == StreamFrontier(sealedThrough: Interval(1), firstInterval: Interval(0), lateRecords: 2))
            #expect(try stream.read(Interval(0)).records.map(\.interval) == [500])
            #expect(try stream.read(Interval(1)).records.map(\.interval) == [1_200, 1_999])
            // Late records are filed under the first open interval of the late stream.
            let late = try store.stream(named: "et.late", of: Event.self)
            #expect(try late.newestSealedInterval() == Interval(1))
            #expect(try late.read(Interval(1)).records.map(\.interval) == [700])
            #expect(throws: StorageError.notSealed(location("et.late", 2), newestSealed: Interval(1))) { try late.read(Interval(2)) }

            try add(10_000)  // watermark 9 s: seals through 8
            try appender.flush()
            #expect(try stream.newestSealedInterval() == Interval(8))
            #expect(try stream.read(Interval(2)).records.map(\.interval) == [2_500, 2_999])
            #expect(try stream.read(Interval(3)).records.map(\.interval) == [3_000])
            for t: UInt64 in 4...8 { #expect(try stream.read(Interval(t)).count == 0) }
            #expect(try late.read(Interval(2)).records.map(\.interval) == [1_500])
            #expect(try store.stats(of: "et").first?.lateRecords == 2)
            #expect(try stream.frontier().lateRecords == 2)
            // Nothing was dropped: every record is in the stream or its late stream.
            let main = try stream.read(Interval(0)...Interval(8)).flatMap(\.records).count
            let kept = try late.read(Interval(1)...Interval(8)).flatMap(\.records).count
            #expect(main + kept == 9 - 1)  // the 10 s record is still open
        }
    }

    @Test func zeroLatenessSealsWhenTheIntervalEnds() throws {
        try withStore { store in
            let stream = try store.stream("et", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.eventTimeAppender(allowedLateness: .zero)
            try appender.append(1, eventTime: ms(999))
            #expect(appender.newestSealedInterval == nil)
            try appender.append(2, eventTime: ms(1_000))
            #expect(appender.newestSealedInterval == Interval(0))
            try appender.append(3, eventTime: ms(999))
            #expect(appender.lateRecords == 1)
            #expect(throws: StorageError.timeOutOfRange(stream: "et", time: Timestamp(nanoseconds: -1))) {
                try appender.append(4, eventTime: Timestamp(nanoseconds: -1))
            }
            try appender.flush()
            #expect(try stream.read(Interval(0)).records == [1])
        }
    }

    /// `sealAll` after late records only once sealed the stream's next interval (2), empty, so the
    /// on-time record for it that came next was late; a second writer did it again (3).
    @Test func lateRecordsAloneSealOnlyTheLateSideStream() throws {
        try withStore { store in
            let stream = try store.stream("et", of: Int64.self, interval: .seconds(1), partitions: 1)
            do {
                let appender = try stream.eventTimeAppender(allowedLateness: .zero)
                try appender.append(1, eventTime: ms(500))
                try appender.append(2, eventTime: ms(1_500))
                try appender.sealAll()
                #expect(try stream.newestSealedInterval() == Interval(1))
                try appender.append(3, eventTime: ms(600))  // late
                #expect(appender.newestUnsealedInterval == nil && appender.holdsUnsealedRecords)
                try appender.sealAll()
                #expect(!appender.holdsUnsealedRecords)
                #expect(appender.newestSealedInterval == Interval(1))
            }
            #expect(try stream.newestSealedInterval() == Interval(1))
            let late = try store.stream(named: "et.late", of: Int64.self)
            #expect(try late.newestSealedInterval() == Interval(2))
            #expect(try late.read(Interval(2)).records == [3])
            do {
                // A later writer: late records again, then an on-time one for interval 2.
                let appender = try stream.eventTimeAppender(allowedLateness: .zero)
                try appender.append(4, eventTime: ms(700))
                try appender.sealAll()
                #expect(try stream.newestSealedInterval() == Interval(1))
                #expect(try late.read(Interval(3)).records == [4])
                try appender.append(5, eventTime: ms(2_100))
                #expect(appender.lateRecords == 1)
                try appender.append(6, eventTime: ms(800))  // late: filed after the late stream's sealed intervals
                try appender.sealAll()
            }
            #expect(try stream.newestSealedInterval() == Interval(2))
            #expect(try stream.read(Interval(2)).records == [5])
            #expect(try late.newestSealedInterval() == Interval(4))
            #expect(try late.read(Interval(4)).records == [6])
            #expect(try stream.frontier().lateRecords == 3)
            // A seal the user asks for still seals what they name, with the late records.
            let explicit = try stream.explicitAppender()
            try explicit.seal(through: Interval(5))
            #expect(try stream.newestSealedInterval() == Interval(5) && late.newestSealedInterval() == Interval(5))
            #expect(try store.verify().isClean)
        }
    }

    // MARK: Arrival time

    @Test func arrivalTimeSealsWhenTheClockMovesOn() throws {
        try withStore { store in
            let clock = ManualClock(ms(100))
            let stream = try store.stream("a", of: String.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.arrivalAppender(clock: clock.arrivalClock)
            try appender.append("a")
            try appender.append("b")
            clock.set(ms(900))
            try appender.append("c")
            #expect(appender.newestSealedInterval == nil)
            clock.set(ms(1_500))
            try appender.append("d")  // interval 1: interval 0 is complete
            #expect(appender.newestSealedInterval == Interval(0))
            try appender.flush()
            #expect(try stream.read(Interval(0)).records == ["a", "b", "c"])
            #expect(throws: StorageError.notSealed(location("a", 1), newestSealed: Interval(0))) { try stream.read(Interval(1)) }

            clock.set(ms(3_200))
            try appender.sealElapsed()  // seals 1 and 2
            #expect(try stream.newestSealedInterval() == Interval(2))
            #expect(try stream.read(Interval(1)).records == ["d"])
            #expect(try stream.read(Interval(2)).count == 0)

            // The clock going back into a sealed interval files records in the first open one.
            clock.set(ms(2_500))
            try appender.append("e")
            #expect(appender.openIntervals == [Interval(3)])
            clock.set(ms(4_100))
            try appender.append(contentsOf: ["f", "g"])
            try appender.sealElapsed()
            #expect(try stream.read(Interval(3)).records == ["e"])
            clock.set(ms(5_000))
            try appender.sealElapsed()
            #expect(try stream.read(Interval(4)).records == ["f", "g"])
            #expect(appender.lateRecords == 0)

            clock.set(Timestamp(nanoseconds: -5))
            #expect(throws: StorageError.timeOutOfRange(stream: "a", time: Timestamp(nanoseconds: -5))) { try appender.append("h") }
            try appender.sealElapsed()  // before the epoch: nothing to seal
            #expect(try stream.newestSealedInterval() == Interval(4))
        }
    }

    // MARK: Blocks

    @Test func largeRecordsRoundTrip() throws {
        try withStore { store in
            let stream = try store.stream("big", of: Bytes.self, interval: .seconds(1), partitions: 2)
            var limits = StreamAppender.Limits()
            limits.blockBytes = 1_024
            let appender = try stream.explicitAppender(limits: limits)
            var noise = SplitMix64(seed: 3)
            let sizes = [0, 10, 126, 127, 128, 129, 200, 1_023, 1_024, 1_025, 5_000, 70_000, 300_000]
            var expected: [[Bytes]] = [[], []]
            for (k, size) in sizes.enumerated() {
                let record = k % 2 == 0 ? Bytes(noise.bytes(size)) : Bytes([UInt8](repeating: UInt8(k), count: size))
                expected[k % 2].append(record)
                try appender.append(record, interval: Interval(0))
            }
            try appender.seal(through: Interval(0))
            #expect(try stream.read(Interval(0)).partitions == expected)
            let seal = try #require(try store.log.sealRecords(of: stream.descriptor, in: Interval(0)...Interval(0)).first?.1)
            #expect(seal.records == UInt64(sizes.count))
            #expect(seal.chunks.allSatisfy { $0 >= 3 })
            #expect(try store.verify().isClean)
        }
    }

    @Test func aRecordOverTheLimitIsRefusedAndNothingElseIsLost() throws {
        try withStore { store in
            let stream = try store.stream("huge", of: Bytes.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(Bytes([1]), interval: Interval(0))
            // 16 MiB of bytes: 4-byte length + 16 MiB, framed with a 4-byte prefix: over a quarter of 64 MiB.
            let huge = Bytes([UInt8](repeating: 7, count: 16 << 20))
            #expect(throws: StorageError.recordTooLarge(stream: "huge", bytes: 4 + 4 + (16 << 20))) {
                try appender.append(huge, interval: Interval(0))
            }
            try appender.append(Bytes([2]), interval: Interval(0))
            try appender.seal(through: Interval(0))
            #expect(try stream.read(Interval(0)).records == [Bytes([1]), Bytes([2])])
            #expect(appender.appendedRecords == 2)
        }
    }

    @Test func smallBlocksMakeManyChunksInAppendOrder() throws {
        try withStore { store in
            let stream = try store.stream("c", of: Event.self, interval: .seconds(1), partitions: 2)
            var limits = StreamAppender.Limits()
            limits.blockBytes = 100
            limits.commitBytes = 150
            let appender = try stream.explicitAppender(limits: limits)
            var expected: [UInt64: [[Event]]] = [:]
            var k = 0
            for t in UInt64(0)..<3 {
                for s in UInt32(0)..<40 {
                    let event = Event(interval: t, sequence: s, user: "user-\(s)")
                    expected[t, default: [[], []]][k % 2].append(event)
                    k += 1
                    try appender.append(event, interval: Interval(t))
                }
            }
            try appender.seal(through: Interval(2))
            let seals = try store.log.sealRecords(of: stream.descriptor, in: Interval(0)...Interval(2))
            #expect(seals.count == 3)
            for (t, seal) in seals {
                #expect(seal.records == 40)
                #expect(seal.chunks.count == 2)
                #expect(seal.chunks.allSatisfy { $0 >= 4 }, "interval \(t): \(seal.chunks)")
                #expect(try stream.read(t).partitions == expected[t.rawValue]!)
            }
            let report = try store.verify()
            #expect(report.isClean)
            #expect(report.blocks == UInt64(seals.reduce(0) { $0 + $1.1.chunks.reduce(0, +) }))
        }
    }

    // MARK: Appending across appenders and reopening

    @Test func aNewAppenderAfterAFlushContinuesTheInterval() throws {
        try withStore { store in
            do {
                let stream = try store.stream("e", of: Int64.self, interval: .seconds(1), partitions: 1)
                let first = try stream.explicitAppender()
                for n in Int64(0)..<5 { try first.append(n, interval: Interval(0)) }
                for n in Int64(100)..<103 { try first.append(n, interval: Interval(1)) }
                try first.flush()
            }
            let report = try store.verify()
            #expect(report.unsealedBlocks == 2)
            #expect(report.intervals == 0)
            // Another Store for the same directory shares the open environment.
            let again = try Store(at: store.path, options: .testing)
            #expect(again.log === store.log)
            let stream = try again.stream(named: "e", of: Int64.self)
            let second = try stream.explicitAppender()
            for n in Int64(103)..<105 { try second.append(n, interval: Interval(1)) }
            try second.seal(through: Interval(1))
            #expect(try stream.read(Interval(0)).records == [0, 1, 2, 3, 4])
            #expect(try stream.read(Interval(1)).records == [100, 101, 102, 103, 104])
            let seals = try store.log.sealRecords(of: stream.descriptor, in: Interval(0)...Interval(1))
            #expect(seals.map(\.1.chunks) == [[1], [2]])
        }
    }

    @Test func flushedUnsealedChunksSurviveReopening() throws {
        try withStorePath { path in
            do {
                let store = try Store(at: path, options: .testing)
                let stream = try store.stream("e", of: Int64.self, interval: .seconds(1), partitions: 2)
                let first = try stream.explicitAppender()
                for n in Int64(0)..<6 { try first.append(n, interval: Interval(3)) }
                try first.flush()
            }
            try reopen(path) { store in
                #expect(try store.verify().unsealedBlocks == 2)
                let stream = try store.stream(named: "e", of: Int64.self)
                #expect(try stream.newestSealedInterval() == nil)
                let second = try stream.explicitAppender()
                for n in Int64(6)..<9 { try second.append(n, interval: Interval(3)) }
                try second.seal(through: Interval(3))
                // Each partition: the first appender's chunk, then the second's.
                #expect(try stream.read(Interval(3)).partitions == [[0, 2, 4, 6, 8], [1, 3, 5, 7]])
                #expect(try store.verify().isClean)
            }
        }
    }

    @Test func droppingAnAppenderHandsOverItsBuffers() throws {
        try withStore { store in
            let stream = try store.stream("e", of: Int64.self, interval: .seconds(1), partitions: 1)
            do {
                let appender = try stream.explicitAppender()
                try appender.append(1, interval: Interval(0))
                try appender.append(2, interval: Interval(0))
            }
            // The dropped appender's commit is queued before this one's: they land in order.
            let next = try stream.explicitAppender()
            try next.append(3, interval: Interval(0))
            try next.seal(through: Interval(0))
            #expect(try stream.read(Interval(0)).records == [1, 2, 3])
        }
    }
}
