import Testing

@testable import Strata
import StrataTestSupport

/// `Store.drop` and `Store.rename` (issue 13): whole streams go or change names in one commit.
@Suite struct DropRenameTests {
    typealias Counts = KeyValue<String, Int64>

    /// A store with `counts` holding intervals 0…4 (one record each) and `other`, untouched.
    func fill(_ store: Store) throws {
        for name in ["counts", "other"] {
            let stream = try store.stream(name, of: Counts.self, interval: .seconds(1), partitions: 2)
            let appender = try stream.explicitAppender()
            for t in 0..<5 { try appender.append(KeyValue("/k\(t)", Int64(t)), interval: Interval(UInt64(t))) }
            try appender.seal(through: Interval(4))
        }
    }

    @Test func dropRemovesTheStreamItsSideStreamAndTheirBlocksOnly() throws {
        try withStorePath { path in
            let store = try Store(at: path, options: .testing)
            try fill(store)
            let report = try store.drop("counts")
            #expect(report.stream == "counts" && report.blocks == 5 && report.programs.isEmpty)
            #expect(throws: StorageError.unknownStream("counts")) { try store.info(of: "counts") }
            #expect(throws: StorageError.unknownStream("counts.late")) { try store.info(of: "counts.late") }
            #expect(try store.stream(named: "other", of: Counts.self).read(Interval(0)...Interval(4)).count == 5)
            let verified = try store.verify()
            #expect(verified.isClean && verified.records == 5, "\(verified.problems)")
            // The name is free again, as a new stream with its own ID.
            _ = try store.stream("counts", of: Counts.self, interval: .seconds(1), partitions: 2)
            #expect(try store.info(of: "counts").frontier.sealedThrough == nil)
        }
    }

    @Test func renameKeepsTheRecordsAndRefusesTakenNames() throws {
        try withStorePath { path in
            let store = try Store(at: path, options: .testing)
            try fill(store)
            #expect(throws: StorageError.streamExists("other")) { try store.rename("counts", to: "other") }
            #expect(throws: StorageError.invalidStreamName("a/b")) { try store.rename("counts", to: "a/b") }
            #expect(throws: StorageError.self) { try store.rename("counts.late", to: "x") }
            try store.rename("counts", to: "renamed")
            let renamed = try store.stream(named: "renamed", of: Counts.self)
            #expect(try renamed.read(Interval(0)...Interval(4)).flatMap(\.records).map(\.value) == [0, 1, 2, 3, 4])
            #expect(try store.info(of: "renamed.late").descriptor.lateRecordsOf == "renamed")
            #expect(throws: StorageError.unknownStream("counts")) { try store.info(of: "counts") }
            #expect(try store.verify().isClean)
        }
    }
}
