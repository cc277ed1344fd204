import Foundation
import StrataTestSupport
import Testing

@testable import Strata

/// `Store.retain` drops intervals now; `Store.compact` shrinks the file and keeps every record.
@Suite struct CompactionTests {
    @Test func retentionThenCompactionShrinksTheFileAndKeepsTheRetainedRecords() throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("store")
        var kept: [Int64] = []
        do {
            let store = try Store(at: path, options: StoreOptions(durability: .noSync))
            let stream = try store.stream("numbers", of: Int64.self, interval: .seconds(1), partitions: 2)
            let appender = try stream.explicitAppender()
            for t in 0..<40 as Range<UInt64> {
                for i in 0..<2_000 as Range<Int64> { try appender.append(Int64(t) * 10_000 + i, interval: Interval(t)) }
            }
            try appender.seal(through: Interval(39))
            let change = try store.retain(.intervals(4), of: "numbers")
            #expect(change.retainedFromAfter == Interval(36))
            #expect(change.droppedIntervals == 36)
            kept = try stream.slice(from: Interval(36), through: Interval(39)).collect().sorted()
            #expect(kept.count == 8_000)
            // The store is open in this process: compaction refuses.
            #expect(throws: StorageError.self) { try Store.compact(at: path) }
            drain(store)
        }
        let report = try Store.compact(at: path)
        #expect(report.bytesAfter < report.bytesBefore / 2)
        #expect(!FileManager.default.fileExists(atPath: path + "/data.mdb.compact"))

        let reopened = try Store.open(at: path)
        let stream = try reopened.stream(named: "numbers", of: Int64.self)
        #expect(try stream.slice(from: Interval(36), through: Interval(39)).collect().sorted() == kept)
        #expect(try reopened.verify(stream: nil).isClean)
        // Still writable after the swap.
        let appender = try stream.explicitAppender()
        try appender.append(7, interval: Interval(40))
        try appender.seal(through: Interval(40))
        #expect(try stream.read(Interval(40)).records == [7])
        drain(reopened)
    }

    @Test func compactingAMissingStoreIsStoreNotFound() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: StorageError.storeNotFound(path: directory.appending("none"))) {
            try Store.compact(at: directory.appending("none"))
        }
    }

    /// Waits for the store's pending commits so that it closes when the last reference goes.
    private func drain(_ store: Store) { drainCommits(store) }
}
