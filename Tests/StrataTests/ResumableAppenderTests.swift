import Glibc
import Synchronization
import Testing

@testable import Strata

/// A resumable appender commits its input position with its records; one writer per stream;
/// arrival intervals left open are sealed when the stream is next opened for writing (issue 10).
@Suite struct ResumableAppenderTests {
    @Test func thePositionIsCommittedWithTheRecordsAndNothingWithoutIt() throws {
        try withStore { store in
            let stream = try store.stream("r", of: Int64.self, interval: .seconds(1), partitions: 2)
            do {
                let appender = try stream.explicitAppender(source: "in")
                #expect(appender.resumePosition == InputPosition())
                for i in 0..<10 { try appender.append(Int64(i), interval: Interval(3)) }
                try appender.flush(position: InputPosition(lines: 10, bytes: 100, token: [7]))
                // Appended after the last positioned commit: never committed, and a plain flush is refused.
                for i in 10..<15 { try appender.append(Int64(i), interval: Interval(3)) }
                #expect(throws: StorageError.misuse(
                    "stream r: a resumable appender commits records only with their position; use flush(position:)")) {
                    try appender.flush()
                }
            }
            let resumed = try stream.explicitAppender(source: "in")
            #expect(resumed.resumePosition == InputPosition(lines: 10, bytes: 100, token: [7]))
            #expect(!resumed.resumedInputFinished)
            // The first run's committed records are unsealed but counted: sealing includes them.
            #expect(resumed.newestUnsealedInterval == Interval(3))
            for i in 10..<15 { try resumed.append(Int64(i), interval: Interval(3)) }
            try resumed.sealWithoutWaiting(through: Interval(3))
            try resumed.flush(position: InputPosition(lines: 15, bytes: 150), finished: true)
            #expect(try stream.read(Interval(3)).records.sorted() == (0..<15).map(Int64.init))
            // Another source of the same stream has a position of its own.
            #expect(try store.log.sourceRecord(of: stream.descriptor, source: "other") == nil)
        }
    }

    /// Unkeyed records go round-robin; a resumed appender continues the rotation where the
    /// committed records left it (kept in the source row), so its stream holds exactly what an
    /// uninterrupted appender with the same commits writes.
    @Test func theRoundRobinRotationResumesFromTheCommittedPosition() throws {
        try withStore { store in
            func write(_ name: String, resumingAfterFirstCommit: Bool) throws -> StoredStream<Int64> {
                let stream = try store.stream(name, of: Int64.self, interval: .seconds(1), partitions: 3)
                var appender: ExplicitAppender<Int64>? = try stream.explicitAppender(source: "in")
                for i in 0..<7 { try appender?.append(Int64(i), interval: Interval(3)) }
                try appender?.flush(position: InputPosition(lines: 7))
                if resumingAfterFirstCommit {
                    appender = nil  // released: as after a kill, the next appender starts from the store
                    appender = try stream.explicitAppender(source: "in")
                    #expect(try store.log.sourceRecord(of: stream.descriptor, source: "in")?.nextRoundRobinPartition == 1)
                }
                guard let appender else { return stream }
                for i in 7..<12 { try appender.append(Int64(i), interval: Interval(3)) }
                try appender.sealWithoutWaiting(through: Interval(3))
                try appender.flush(position: InputPosition(lines: 12), finished: true)
                return stream
            }
            let whole = try write("whole", resumingAfterFirstCommit: false)
            let resumed = try write("resumed", resumingAfterFirstCommit: true)
            #expect(try whole.read(Interval(3)).partitions == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]])
            #expect(try resumed.read(Interval(3)).partitions == whole.read(Interval(3)).partitions)
        }
    }

    @Test func theWatermarkResumesFromTheCommittedPosition() throws {
        try withStore { store in
            let stream = try store.stream("w", of: Int64.self, interval: .seconds(1), partitions: 1)
            do {
                let appender = try stream.eventTimeAppender(allowedLateness: .zero, source: "in")
                try appender.append(1, eventTime: Timestamp(nanoseconds: 1_500_000_000))
                try appender.append(2, eventTime: Timestamp(nanoseconds: 4_200_000_000))  // seals 0...3
                try appender.flush(position: InputPosition(lines: 2))
            }
            let resumed = try stream.eventTimeAppender(allowedLateness: .zero, source: "in")
            // Interval 3 is sealed; interval 4 is open and held back by the restored watermark.
            try resumed.append(3, eventTime: Timestamp(nanoseconds: 3_100_000_000))
            #expect(resumed.lateRecords == 1)
            try resumed.append(4, eventTime: Timestamp(nanoseconds: 5_000_000_000))  // seals 4
            try resumed.flush(position: InputPosition(lines: 4))
            #expect(try stream.read(Interval(4)).records == [2])
        }
    }

    @Test func aFailedCommitLeavesThePreviousPosition() throws {
        try withStore { store in
            let stream = try store.stream("f", of: Int64.self, interval: .seconds(1), partitions: 1)
            try stream.explicitAppender().seal(through: Interval(5))
            do {
                let appender = try stream.explicitAppender(source: "in")
                try appender.append(1, interval: Interval(6))
                try appender.flush(position: InputPosition(lines: 1))
                // A block for a sealed interval makes the commit fail: nothing of it lands.
                try appender.append(2, interval: Interval(7))
                try appender.flush(position: InputPosition(lines: 2))
            }
            do {
                let appender = try stream.explicitAppender(source: "in")
                #expect(appender.resumePosition.lines == 2)
            }
        }
    }

    @Test func oneWriterPerStreamWithinAProcess() throws {
        try withStore { store in
            let stream = try store.stream("one", of: Int64.self, interval: .seconds(1), partitions: 1)
            let first = try stream.explicitAppender(source: "a")
            #expect(throws: StorageError.streamBusy(stream: "one", processID: getpid())) {
                _ = try stream.explicitAppender(source: "b")
            }
            #expect(throws: StorageError.streamBusy(stream: "one", processID: getpid())) { _ = try store.seal("one") }
            // Other streams are free.
            _ = try store.stream("two", of: Int64.self, interval: .seconds(1), partitions: 1).explicitAppender()
            _ = first
        }
    }

    @Test func arrivalIntervalsLeftOpenAreSealedWhenTheStreamIsNextOpenedForWriting() throws {
        try withStore { store in
            let now = Atomic<Int64>(10_300_000_000)  // interval 10
            let clock = ArrivalClock { Timestamp(nanoseconds: now.load(ordering: .relaxed)) }
            let stream = try store.stream("a", of: Int64.self, interval: .seconds(1), partitions: 1)
            do {
                let appender = try stream.arrivalAppender(clock: clock)
                try appender.append(1)
                try appender.flush()  // committed, not sealed: the interval has not ended
            }
            #expect(try stream.newestSealedInterval() == nil)
            #expect(try stream.newestUnsealedInterval() == Interval(10))
            var seen: [Int64] = []
            try stream.forEachUnsealed(in: Interval(0)...Interval(20)) { _, _, record in seen.append(record) }
            #expect(seen == [1])
            // Still interval 10: nothing to seal yet.
            do { _ = try stream.arrivalAppender(clock: clock) }
            #expect(try stream.newestSealedInterval() == nil)
            now.store(12_000_000_000, ordering: .relaxed)
            do { _ = try stream.arrivalAppender(clock: clock) }
            #expect(try stream.newestSealedInterval() == Interval(11))
            #expect(try stream.read(Interval(10)).records == [1])
        }
    }

    @Test func storeSealMakesCommittedRecordsReadable() throws {
        try withStore { store in
            let stream = try store.stream("s", of: Int64.self, interval: .seconds(1), partitions: 2)
            do {
                let appender = try stream.eventTimeAppender(allowedLateness: .seconds(10))
                for i in 0..<6 { try appender.append(Int64(i), eventTime: Timestamp(nanoseconds: Int64(i) * 400_000_000)) }
                try appender.flush()
            }
            #expect(try stream.newestSealedInterval() == nil)
            let report = try store.seal("s", through: Interval(0))
            #expect(report == SealReport(stream: "s", sealedBefore: nil, sealedAfter: Interval(0)))
            let rest = try store.seal("s")
            #expect(rest.sealedAfter == Interval(2))
            #expect(try stream.read(Interval(0)...Interval(2)).flatMap(\.records).sorted() == [0, 1, 2, 3, 4, 5])
            #expect(try store.seal("s").changed == false)
            #expect(try store.verify().isClean)
        }
    }
}
