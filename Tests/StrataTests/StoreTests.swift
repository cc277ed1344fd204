import Foundation
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// Writes `count` intervals of `Event`s (interval t holds t % 4 + 1 records) and seals them.
private func writeIntervals(_ stream: StoredStream<Event>, _ range: Range<UInt64>, limits: StreamAppender.Limits = .init()) throws {
    let appender = try stream.explicitAppender(limits: limits)
    for t in range {
        for s in 0..<UInt32(t % 4 + 1) { try appender.append(Event(interval: t, sequence: s, user: "u\(s)"), interval: Interval(t)) }
    }
    if let last = range.last { try appender.seal(through: Interval(last)) }
}

/// Checks that intervals `range` hold what `writeIntervals` wrote.
private func expectIntervals(_ stream: StoredStream<Event>, _ range: Range<UInt64>,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
    for t in range {
        let batch = try stream.read(Interval(t))
        let expected = (0..<UInt32(t % 4 + 1)).map { Event(interval: t, sequence: $0, user: "u\($0)") }
        #expect(batch.records.sorted { $0.sequence < $1.sequence } == expected, "interval \(t)", sourceLocation: sourceLocation)
    }
}

@Suite struct StoreTests {
    @Test func createsAStreamAndOpensItAgain() throws {
        try withStore { store in
            let created = try store.stream("views", of: Int64.self, interval: .seconds(1), partitions: 4)
            #expect(created.name == "views")
            #expect(created.descriptor.recordType == "Swift.Int64")
            #expect(created.descriptor.intervalLength == .seconds(1))
            #expect(created.descriptor.partitions == 4)
            #expect(created.descriptor.retention == .forever)
            #expect(created.descriptor.lateRecordsOf == nil)
            #expect(try created.frontier() == StreamFrontier())
            #expect(try created.newestSealedInterval() == nil)
            let again = try store.stream("views", of: Int64.self, interval: .seconds(1), partitions: 4)
            #expect(again.descriptor == created.descriptor)
            let named = try store.stream(named: "views", of: Int64.self)
            #expect(named.descriptor == created.descriptor)
            #expect(try store.info(of: "views") == StreamInfo(descriptor: created.descriptor, frontier: StreamFrontier()))
        }
    }

    @Test func reopeningWithOtherSettingsIsAMismatch() throws {
        try withStore { store in
            _ = try store.stream("views", of: Int64.self, interval: .seconds(1), partitions: 4)
            #expect(throws: StorageError.streamMismatch(stream: "views", reason: "it holds Swift.Int64, not Swift.String")) {
                try store.stream("views", of: String.self, interval: .seconds(1), partitions: 4)
            }
            #expect(throws: StorageError.streamMismatch(stream: "views", reason: "interval 1s, not 2s")) {
                try store.stream("views", of: Int64.self, interval: .seconds(2), partitions: 4)
            }
            #expect(throws: StorageError.streamMismatch(stream: "views", reason: "4 partitions, not 8")) {
                try store.stream("views", of: Int64.self, interval: .seconds(1), partitions: 8)
            }
            #expect(throws: StorageError.streamMismatch(stream: "views", reason: "it holds Swift.Int64, not json")) {
                try store.jsonStream("views", interval: .seconds(1), partitions: 4)
            }
            #expect(throws: StorageError.streamMismatch(stream: "views", reason: "it holds Swift.Int64, not Swift.UInt64")) {
                try store.stream(named: "views", of: UInt64.self)
            }
            // Retention is not part of the match: the stream keeps its own.
            let other = try store.stream("views", of: Int64.self, interval: .seconds(1), partitions: 4, retention: .intervals(2))
            #expect(other.descriptor.retention == .forever)
        }
    }

    @Test func invalidNamesAndSettingsAreRejected() throws {
        try withStore { store in
            for name in ["", "a b", "ü", "a/b", String(repeating: "x", count: 196), "views.late"] {
                #expect(throws: StorageError.invalidStreamName(name)) {
                    try store.stream(name, of: Int64.self, interval: .seconds(1), partitions: 1)
                }
            }
            // 195 bytes is the longest: its late side stream's name, NAME.late, is then 200.
            let longest = try store.stream(String(repeating: "x", count: 195), of: Int64.self, interval: .seconds(1), partitions: 1)
            #expect(StreamDescriptor.isValidName(longest.descriptor.lateStreamName))
            for partitions in [0, 4097, -1] {
                #expect(throws: StorageError.misuse("stream p: the partition count must be 1 to 4096, not \(partitions)")) {
                    try store.stream("p", of: Int64.self, interval: .seconds(1), partitions: partitions)
                }
            }
            _ = try store.stream("p", of: Int64.self, interval: .seconds(1), partitions: 4096)
            #expect(throws: StorageError.misuse("stream short: the interval length must be at least 1 ms")) {
                try store.stream("short", of: Int64.self, interval: IntervalLength(rawValue: 999_999), partitions: 1)
            }
            _ = try store.stream("short", of: Int64.self, interval: .milliseconds(1), partitions: 1)
        }
    }

    @Test func unknownStreamsAreNamed() throws {
        try withStore { store in
            #expect(throws: StorageError.unknownStream("nope")) { try store.stream(named: "nope", of: Int64.self) }
            #expect(throws: StorageError.unknownStream("nope")) { try store.info(of: "nope") }
            #expect(throws: StorageError.unknownStream("nope")) { try store.stats(of: "nope") }
            #expect(throws: StorageError.unknownStream("nope")) { try store.verify(stream: "nope") }
            #expect(throws: StorageError.unknownStream("nope")) { try store.setRetention(.intervals(1), of: "nope") }
        }
    }

    @Test func openingAMissingStoreDoesNotCreateIt() throws {
        try withStorePath { path in
            #expect(throws: StorageError.storeNotFound(path: path)) { try Store.open(at: path) }
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(throws: StorageError.storeNotFound(path: path)) {
                try Store(at: path, options: StoreOptions(createIfMissing: false))
            }
            // An empty directory is not a store either.
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            #expect(throws: StorageError.storeNotFound(path: path)) { try Store.open(at: path) }
            #expect(!FileManager.default.fileExists(atPath: path + "/data.mdb"))
        }
    }

    @Test func aFileIsNotAStore() throws {
        try withStorePath { path in
            #expect(FileManager.default.createFile(atPath: path, contents: Data("hello".utf8)))
            #expect(throws: StorageError.notAStore(path: path, reason: "not a directory")) { try Store(at: path) }
        }
    }

    @Test func aNewerFormatIsNotOpened() throws {
        try withStorePath { path in
            do {
                let store = try Store(at: path, options: .testing)
                let meta = store.log.meta
                try store.log.committer.write { txn in
                    try Array("format".utf8).withUnsafeBytes { key in
                        try withUnsafeBytes(of: UInt32(2).bigEndian) { try txn.put(meta, key: key, value: $0) }
                    }
                }
            }
            closeStore(at: path, options: .testing)
            #expect(throws: StorageError.notAStore(path: path, reason: "format version 2; this build reads version 1")) {
                try Store(at: path, options: .testing)
            }
        }
    }

    @Test func openingAnOpenStoreSharesIt() throws {
        try withStore { store in
            let again = try Store(at: store.path, options: .testing)
            #expect(again.log === store.log)
            let viaOpen = try Store.open(at: store.path, durability: .noSync)
            #expect(viaOpen.log === store.log)
            #expect(throws: StorageError.misuse("store \(store.path) is already open in this process with other options")) {
                try Store.open(at: store.path, durability: .fsyncEveryCommit)
            }
            #expect(store.options == .testing)
        }
    }

    @Test func streamsListsMainAndLateStreamsInNameOrder() throws {
        try withStore { store in
            let b = try store.stream("b", of: Int64.self, interval: .seconds(2), partitions: 3, retention: .intervals(5))
            let a = try store.jsonStream("a", interval: .milliseconds(500), partitions: 1, timeField: "ts", keyField: "user")
            let streams = try store.streams()
            #expect(streams.map(\.descriptor.name) == ["a", "a.late", "b", "b.late"])
            let late = streams[3].descriptor
            #expect(late.lateRecordsOf == "b")
            #expect(late.recordType == b.descriptor.recordType)
            #expect(late.intervalLength == .seconds(2))
            #expect(late.partitions == 3)
            #expect(late.retention == .intervals(5))
            #expect(Set(streams.map(\.descriptor.id)).count == 4)
            #expect(a.descriptor.timeField == "ts")
            #expect(a.descriptor.keyField == "user")
            #expect(a.descriptor.timeUnit == .milliseconds)
            #expect(streams.allSatisfy { $0.frontier == StreamFrontier() })
            // The late stream is readable as a stream of its own, but only its stream's appenders write it.
            let lateStream = try store.stream(named: "b.late", of: Int64.self)
            #expect(throws: StorageError.misuse("stream b.late is a late side stream; it is written only by its stream's appenders")) {
                try lateStream.explicitAppender()
            }
        }
    }

    @Test func sealedDataSurvivesReopening() throws {
        try withStorePath { path in
            do {
                let store = try Store(at: path, options: .testing)
                try writeIntervals(try store.stream("e", of: Event.self, interval: .seconds(1), partitions: 2), 0..<6)
            }
            try reopen(path) { store in
                let stream = try store.stream(named: "e", of: Event.self)
                #expect(try stream.newestSealedInterval() == Interval(5))
                try expectIntervals(stream, 0..<6)
                // A new appender continues after the seal.
                try writeIntervals(stream, 6..<9)
                try expectIntervals(stream, 0..<9)
            }
            try reopen(path) { store in
                try expectIntervals(try store.stream(named: "e", of: Event.self), 0..<9)
                #expect(try store.verify().isClean)
            }
        }
    }

    @Test(arguments: StrataStorage.Durability.allCases)
    func everyDurabilityModeWorksEndToEnd(mode: StrataStorage.Durability) throws {
        let options = StoreOptions(durability: mode)
        try withStorePath(options: options) { path in
            do {
                let store = try Store(at: path, options: options)
                #expect(store.options.durability == mode)
                let stream = try store.stream("e", of: Event.self, interval: .seconds(1), partitions: 3)
                // Small batches: many commits, some of them waiting together.
                var limits = StreamAppender.Limits()
                limits.blockBytes = 64
                limits.commitBytes = 64
                try writeIntervals(stream, 0..<12, limits: limits)
                try expectIntervals(stream, 0..<12)
            }
            try reopen(path, options: options) { store in
                let stream = try store.stream(named: "e", of: Event.self)
                try expectIntervals(stream, 0..<12)
                let report = try store.verify()
                #expect(report.isClean)
                #expect(report.intervals == 12)
                #expect(report.records == (0..<12).reduce(0) { $0 + $1 % 4 + 1 })
            }
        }
    }

    @Test func aFullStoreFailsWithStoreFullAndKeepsWhatWasSealed() throws {
        let options = StoreOptions(durability: .noSync, sizeLimit: 4 << 20)
        try withStorePath(options: options) { path in
            var sealedThrough: UInt64? = nil
            var records: [UInt64: [Bytes]] = [:]
            var noise = SplitMix64(seed: 7)
            do {
                let store = try Store(at: path, options: options)
                let stream = try store.stream("fill", of: Bytes.self, interval: .seconds(1), partitions: 2)
                let appender = try stream.explicitAppender()
                var failure: StorageError?
                for t in UInt64(0)..<100 {  // 100 × 100 KB: far more than 4 MiB
                    let batch = (0..<100).map { _ in Bytes(noise.bytes(1_000)) }
                    do {
                        for record in batch { try appender.append(record, interval: Interval(t)) }
                        try appender.seal(through: Interval(t))
                    } catch {
                        failure = error as? StorageError
                        break
                    }
                    records[t] = batch
                    sealedThrough = t
                }
                guard case .storeFull = failure else {
                    Issue.record("expected .storeFull, got \(String(describing: failure))")
                    return
                }
                // The appender's commit chain is broken: it keeps failing with the same error.
                #expect(throws: failure!) { try appender.flush() }
                let last = try #require(sealedThrough)
                #expect(last >= 10)
                #expect(try stream.newestSealedInterval() == Interval(last))
                for t in 0...last {
                    let read = try stream.read(Interval(t))
                    #expect(read.records.count == 100)
                    #expect(Set(read.records) == Set(records[t]!), "interval \(t)")
                }
                #expect(try store.verify().isClean)
                #expect(store.usedBytes <= 4 << 20)
            }
            try reopen(path, options: options) { store in
                let stream = try store.stream(named: "fill", of: Bytes.self)
                let last = try #require(sealedThrough)
                #expect(try stream.newestSealedInterval() == Interval(last))
                for t in 0...last { #expect(Set(try stream.read(Interval(t)).records) == Set(records[t]!)) }
                #expect(try store.verify().isClean)
            }
        }
    }

    @Test func statsSumTheSeals() throws {
        try withStore { store in
            let stream = try store.stream("e", of: Event.self, interval: .seconds(1), partitions: 2)
            let appender = try stream.explicitAppender()
            for t: UInt64 in [3, 4, 6] {
                for s in 0..<UInt32(10) { try appender.append(Event(interval: t, sequence: s, user: "abcabcabc"), interval: Interval(t)) }
            }
            try appender.seal(through: Interval(7))
            let stats = try #require(try store.stats(of: "e").first)
            #expect(stats.name == "e")
            #expect(stats.firstInterval == Interval(3))
            #expect(stats.newestSealed == Interval(7))
            #expect(stats.intervals == 5)
            #expect(stats.nonEmptyIntervals == 3)
            #expect(stats.records == 30)
            #expect(stats.lateRecords == 0)
            let seals = try store.log.sealRecords(of: stream.descriptor, in: Interval(0)...Interval(7))
            #expect(seals.map(\.0) == [Interval(3), Interval(4), Interval(6)])
            #expect(stats.rawBytes == seals.reduce(0) { $0 + $1.1.rawBytes })
            #expect(stats.storedBytes == seals.reduce(0) { $0 + $1.1.storedBytes })
            #expect(stats.compressionRatio == Double(stats.rawBytes) / Double(stats.storedBytes))
            // One record: frame length (1) + 8 + 4 + 10 ("abcabcabc" with its length) + 1 (nil payload).
            #expect(stats.rawBytes == 30 * 24)
            let all = try store.stats()
            #expect(all.map(\.name) == ["e", "e.late"])
            #expect(all[1].intervals == 0)
            #expect(all[1].newestSealed == Interval(7))
            #expect(all[1].firstInterval == nil)
        }
    }
}
