import Synchronization
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

private typealias Pair = KeyValue<UInt64, UInt64>

/// How many records interval `t` holds: a deterministic mix of sizes, some intervals empty.
private func recordCount(_ t: UInt64) -> Int { t % 7 == 5 ? 0 : Int(1 + (t &* 37) % 60) }

/// The records of interval `t`, in append order: keyed by their sequence number, so that they
/// spread over the partitions.
private func records(_ t: UInt64) -> [Pair] { (0..<UInt64(recordCount(t))).map { Pair($0, t) } }

/// Writes intervals `0..<count`, sealing each one, in small blocks and commits so that an
/// interval's blocks are committed in several transactions before its seal.
private func writeAndSeal(_ stream: StoredStream<Pair>, intervals count: UInt64) throws {
    var limits = StreamAppender.Limits()
    limits.blockBytes = 64
    limits.commitBytes = 128
    let appender = try stream.explicitAppender(limits: limits)
    for t in 0..<count {
        for record in records(t) { try appender.append(record, interval: Interval(t)) }
        try appender.seal(through: Interval(t))
    }
}

/// Checks one read of interval `t`: complete, exact, never partial.
private func checkInterval(_ batch: IntervalBatch<Pair>) -> String? {
    let t = batch.interval.rawValue
    let got = batch.records.sorted { $0.key < $1.key }
    guard got.count == recordCount(t) else { return "interval \(t): \(got.count) records, expected \(recordCount(t))" }
    guard got == records(t) else { return "interval \(t): wrong records" }
    return nil
}

/// State shared by a test's threads.
private final class SharedProgress: Sendable {
    let writerDone = Atomic<Bool>(false)
    let failures = Mutex<[String]>([])
    let reads = Atomic<Int>(0)
}

@Suite(.timeLimit(.minutes(10)))
struct ConcurrencyTests {
    @Test func readersOnOtherThreadsOnlySeeCompleteIntervals() async throws {
        try await withStore { store in
            let stream = try store.stream("c", of: Pair.self, interval: .seconds(1), partitions: 4)
            let total: UInt64 = 80
            let shared = SharedProgress()

            let reader: @Sendable (UInt64) throws -> Void = { salt in
                var rng = salt
                var lastSeen: Interval? = nil
                while true {
                    // After the writer is done, one more pass sees the final state, then stop.
                    let done = shared.writerDone.load(ordering: .acquiring)
                    if let sealed = try stream.newestSealedInterval() {
                        if let last = lastSeen, sealed < last {
                            shared.failures.withLock { $0.append("sealed frontier went back from \(last) to \(sealed)") }
                        }
                        lastSeen = sealed
                        // The newest sealed interval and one at random below it.
                        rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                        for t in [sealed.rawValue, (rng >> 33) % (sealed.rawValue + 1)] {
                            let batch = try stream.read(Interval(t))
                            if let problem = checkInterval(batch) { shared.failures.withLock { $0.append(problem) } }
                            shared.reads.add(1, ordering: .relaxed)
                        }
                    }
                    if done {
                        if lastSeen != Interval(total - 1) { shared.failures.withLock { $0.append("final pass saw \(String(describing: lastSeen))") } }
                        return
                    }
                }
            }
            async let readerA: Void = onOwnThread(within: .seconds(1800)) { try reader(1) }
            async let readerB: Void = onOwnThread(within: .seconds(1800)) { try reader(2) }
            try await onOwnThread(within: .seconds(1800)) {
                defer { shared.writerDone.store(true, ordering: .releasing) }
                try writeAndSeal(stream, intervals: total)
            }
            try await readerA
            try await readerB
            let failures = shared.failures.withLock { $0 }
            #expect(failures.isEmpty, "\(failures.prefix(5))")
            #expect(shared.reads.load(ordering: .relaxed) >= 4)
            // After the fact, every interval reads back exactly.
            for batch in try stream.read(Interval(0)...Interval(total - 1)) { #expect(checkInterval(batch) == nil) }
            #expect(try store.verify().isClean)
        }
    }

    @Test func subscriptionYieldsEveryIntervalOnceInOrder() async throws {
        try await withStore { store in
            let stream = try store.stream("s", of: Pair.self, interval: .seconds(1), partitions: 3)
            let total: UInt64 = 40
            let subscription = stream.sealedIntervals(from: Interval(0))
            async let writer: Void = onOwnThread(within: .seconds(1800)) { try writeAndSeal(stream, intervals: total) }
            var seen: [Interval] = []
            for try await batch in subscription {
                seen.append(batch.interval)
                #expect(checkInterval(batch) == nil)
                if seen.count == Int(total) { break }
            }
            try await writer
            #expect(seen == (0..<total).map { Interval($0) })
        }
    }

    @Test func subscriptionStartsAfterTheNewestSealedIntervalAtTheCall() async throws {
        try await withStore { store in
            let stream = try store.stream("s", of: Pair.self, interval: .seconds(1), partitions: 2)
            try writeAndSeal(stream, intervals: 5)
            let subscription = stream.sealedIntervals()
            // Sealed right after the call, before the subscription is iterated: it still starts at 5.
            let appender = try stream.explicitAppender()
            for t in UInt64(5)..<9 {
                for record in records(t) { try appender.append(record, interval: Interval(t)) }
            }
            try await appender.seal(through: Interval(8))
            var seen: [Interval] = []
            for try await batch in subscription {
                seen.append(batch.interval)
                #expect(checkInterval(batch) == nil)
                if seen.count == 4 { break }
            }
            #expect(seen == (5..<9).map { Interval($0) })
        }
    }

    @Test func appendersOfSeveralStreamsShareTheCommitter() async throws {
        let options = StoreOptions(durability: .groupCommit)
        try await withStore(options: options) { store in
            let names = ["x", "y", "z"]
            let streams = try names.map { try store.stream($0, of: Pair.self, interval: .seconds(1), partitions: 2) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for stream in streams {
                    group.addTask { try await onOwnThread(within: .seconds(1800)) { try writeAndSeal(stream, intervals: 15) } }
                }
                try await group.waitForAll()
            }
            for stream in streams {
                #expect(try stream.newestSealedInterval() == Interval(14))
                for batch in try stream.read(Interval(0)...Interval(14)) { #expect(checkInterval(batch) == nil, "\(stream.name)") }
            }
            let report = try store.verify()
            #expect(report.isClean)
            #expect(report.records == 3 * (0..<15).reduce(UInt64(0)) { $0 + UInt64(recordCount($1)) })
        }
    }
}
