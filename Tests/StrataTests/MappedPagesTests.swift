import Dispatch
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// Readers unmap the pages of blocks they have read, and every 32 MiB the whole data file
/// (`Environment.releasePages`, `releaseMappedFile`): reads before, during and after must see the
/// same records, since the pages come back from the page cache.
@Suite struct MappedPagesTests {
    @Test func unmappingPagesWhileReadingChangesNoRecord() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-mapped-pages")
        let (store, stream) = try Self.makeStore(directory.appending("s"))
        let expected = try Self.readAll(stream)
        let environment = store.logStore.environment
        // Two readers on threads of their own while the map is unmapped again and again.
        let readers = (0..<2).map { _ in
            ThreadRun {
                var reads: [[[KeyValue<Int64, String>]]] = []
                for _ in 0..<10 { reads.append(try Self.readAll(stream)) }
                return reads
            }
        }
        let sweeper = ThreadRun {
            for _ in 0..<200 { try environment.read { _ in environment.releaseMappedFile() } }
            return true
        }
        #expect(try await sweeper.value(within: .seconds(120)) == true)
        for reader in readers {
            let reads = try #require(try await reader.value(within: .seconds(120)), "a reader did not finish")
            for read in reads { #expect(read == expected) }
        }
        #expect(try Self.readAll(stream) == expected)
    }

    /// A store with 4 sealed intervals of 2,000 records in 2 partitions, blocks of several pages.
    static func makeStore(_ path: String) throws -> (Store, StoredStream<KeyValue<Int64, String>>) {
        let store = try Store(at: path, options: StoreOptions(durability: .noSync))
        let stream = try store.stream("s", of: KeyValue<Int64, String>.self, interval: .seconds(1), partitions: 2)
        let appender = try stream.explicitAppender()
        for t in 0..<4 {
            // Large, poorly compressible values: blocks over several pages.
            for i in 0..<2_000 {
                try appender.append(KeyValue(Int64(i), String(repeating: "\(i * 7919 % 1_000)-", count: 20)),
                                    interval: Interval(UInt64(t)))
            }
        }
        try appender.seal(through: Interval(3))
        return (store, stream)
    }

    /// Every record of intervals 0–3, per interval, read synchronously.
    static func readAll(_ stream: StoredStream<KeyValue<Int64, String>>) throws -> [[KeyValue<Int64, String>]] {
        try stream.read(Interval(0)...Interval(3)).map(\.records)
    }
}
