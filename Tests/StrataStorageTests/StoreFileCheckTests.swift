import Foundation
import Synchronization
import StrataTestSupport
import Testing

@testable import StrataStorage

/// Issue 10: what is checked in `data.mdb` before LMDB maps it, and read-only opens.
@Suite struct StoreFileCheckTests {
    /// A store with one sealed interval, closed again; returns its directory and data file bytes.
    private func makeStore(in directory: TemporaryDirectory) throws -> (String, [UInt8]) {
        let path = directory.appending("store")
        do {
            let log = try LogStore.open(path: path, options: StoreOptions(durability: .fsyncEveryCommit))
            _ = try log.createOrOpenStream(LogStore.StreamSpec(name: "views", recordType: "Swift.Int64",
                                                               intervalLength: .seconds(1), partitions: 2))
        }
        return (path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))))
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + "/data.mdb"))
    }

    @Test func anIntactStorePassesAndNamesItsLastPage() throws {
        let directory = try TemporaryDirectory()
        let (path, bytes) = try makeStore(in: directory)
        let meta = try #require(try StoreFileCheck.check(directory: path, allowEmpty: false))
        #expect(meta.pageSize == 4096)
        #expect(Int(meta.lastPage + 1) * meta.pageSize <= bytes.count)
        #expect(try StoreFileCheck.check(directory: directory.appending("absent"), allowEmpty: false) == nil)
    }

    @Test func anEmptyFileIsNotAStoreUnlessTheOpenCreates() throws {
        let directory = try TemporaryDirectory()
        let (path, _) = try makeStore(in: directory)
        try write([], to: path)
        #expect(throws: StorageError.notAStore(path: path, reason: "data.mdb is empty (0 bytes)")) {
            try StoreFileCheck.check(directory: path, allowEmpty: false)
        }
        #expect(try StoreFileCheck.check(directory: path, allowEmpty: true) == nil)
    }

    @Test func everyTruncationIsRefused() throws {
        let directory = try TemporaryDirectory()
        let (path, bytes) = try makeStore(in: directory)
        for length in stride(from: 1, to: bytes.count, by: 512) {
            try write(Array(bytes[0..<length]), to: path)
            #expect(throws: StorageError.self, "length \(length)") {
                try StoreFileCheck.check(directory: path, allowEmpty: false)
            }
        }
    }

    @Test func everyFlipOfAMetaFieldThatMattersIsRefused() throws {
        let directory = try TemporaryDirectory()
        let (path, bytes) = try makeStore(in: directory)
        func transaction(_ page: Int) -> UInt64 {
            bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: page + 16 + 128, as: UInt64.self)) }
        }
        let newer = transaction(4096) > transaction(0) ? 4096 : 0
        // LMDB reads magic, version and page size of both meta pages, and picks by transaction ID;
        // the newer page's roots and last page are what it then follows.
        let both = [16, 20, 40, 16 + 128 + 7]
        let newerOnly = [16 + 24 + 48 + 40, 16 + 120]
        for (page, fields) in [(0, both), (4096, both), (newer, newerOnly)] {
            for field in fields {
                var damaged = bytes
                damaged[page + field] ^= 0x40
                try write(damaged, to: path)
                #expect(throws: StorageError.self, "page \(page / 4096) offset \(field)") {
                    try StoreFileCheck.check(directory: path, allowEmpty: false)
                }
            }
        }
    }

    @Test func readOnlyStoresReadAndRefuseEveryWrite() throws {
        let directory = try TemporaryDirectory()
        let (_, bytes) = try makeStore(in: directory)
        // A copy: this process may still hold the original open for writing.
        let path = directory.appending("copy")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try write(bytes, to: path)
        let log = try LogStore.open(path: path, options: StoreOptions(createIfMissing: false, readOnly: true))
        #expect(log.environment.readOnly)
        #expect(try log.descriptors().map(\.name) == ["views", "views.late"])
        #expect(throws: StorageError.self) {
            _ = try log.createOrOpenStream(LogStore.StreamSpec(name: "other", recordType: "Swift.Int64",
                                                               intervalLength: .seconds(1), partitions: 1))
        }
        #expect(try log.environment.walkStructure(expected: LogStore.databaseNames).isClean)
    }
    /// A store another process commits to while it is checked: the size and the two meta pages
    /// are read at different moments. Seen under load as a second `strata ingest` refusing a store
    /// the first was filling ("data.mdb is 12288 bytes but its meta page (transaction 2) says 24576
    /// bytes are in use"), and in `checksBesideAWriterNeverCallTheStoreDamaged` as meta pages of
    /// non-consecutive transactions. The check is made again while the file changes; a file that
    /// stays as it is fails as before.
    @Test func aCheckRacingACommitIsMadeAgainWhileTheFileChanges() throws {
        typealias State = StoreFileCheck.FileState
        let meta = StoreFileCheck.Meta(pageSize: 4096, lastPage: 5, transactionID: 2, roots: (nil, 3))
        let refused = StorageError.damaged(path: "s", what: "data.mdb is 12288 bytes but …")
        // The file grew.
        var states = [State(size: 24_576, metaBytes: [2])]
        var checked: [Int] = []
        let grown = try StoreFileCheck.checkWhileChanging(initial: State(size: 12_288, metaBytes: [1]),
                                                          state: { states.removeFirst() }) {
            (size: Int) throws(StorageError) -> StoreFileCheck.Meta in
            checked.append(size)
            guard size >= 24_576 else { throw refused }
            return meta
        }
        #expect(grown == meta && checked == [12_288, 24_576])
        // A meta page changed, the size did not: checked again, and it passes.
        var calls = 0
        let again = try StoreFileCheck.checkWhileChanging(initial: State(size: 8_192, metaBytes: [1]),
                                                          state: { State(size: 8_192, metaBytes: [3]) }) {
            (_: Int) throws(StorageError) -> StoreFileCheck.Meta in
            calls += 1
            if calls == 1 { throw refused }
            return meta
        }
        #expect(again == meta && calls == 2)
        // Damaged for good: nothing moves, the error stands after one look.
        calls = 0
        #expect(throws: refused) {
            try StoreFileCheck.checkWhileChanging(initial: State(size: 12_288, metaBytes: [1]),
                                                  state: { State(size: 12_288, metaBytes: [1]) }) {
                (_: Int) throws(StorageError) -> StoreFileCheck.Meta in
                calls += 1
                throw refused
            }
        }
        #expect(calls == 1)
    }

    /// The same with a real writer: a thread commits stream after stream (the file grows) while
    /// another checks the file again and again; no check may call the store damaged.
    @Test func checksBesideAWriterNeverCallTheStoreDamaged() throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("store")
        let log = try LogStore.open(path: path, options: StoreOptions(durability: .noSync))
        let done = Atomic<Bool>(false)
        let failure = Mutex<String?>(nil)
        let checker = Thread {
            while !done.load(ordering: .acquiring) {
                do { _ = try StoreFileCheck.check(directory: path, allowEmpty: false) } catch {
                    failure.withLock { $0 = $0 ?? "\(error)" }
                }
            }
        }
        checker.start()
        for i in 0..<200 {
            _ = try log.createOrOpenStream(LogStore.StreamSpec(name: "s\(i)", recordType: "Swift.Int64",
                                                               intervalLength: .seconds(1), partitions: 64))
        }
        done.store(true, ordering: .releasing)
        while !checker.isFinished { usleep(1_000) }
        #expect(failure.withLock { $0 } == nil)
    }
}
