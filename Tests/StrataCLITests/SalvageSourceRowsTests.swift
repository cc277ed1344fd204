import Foundation
import Glibc
import Strata
@testable import StrataStorage
import StrataTestSupport
import Testing

/// JSON lines with ids `0..<count`: event time in seconds, 2 000 lines per interval from 1 000 s;
/// every 997th line is 2 s behind (late once its interval is sealed). No key: records go round-robin.
private func numberedLines(_ count: Int) -> String {
    var text = ""
    text.reserveCapacity(count * 32)
    for i in 0..<count {
        let ts = 1_000 + i / 2_000 - (i % 997 == 996 ? 2 : 0)
        text += #"{"ts":\#(ts),"id":\#(i)}"# + "\n"
    }
    return text
}

/// The records of `stream` and its late side stream that are committed, sealed or not.
private func committedRecords(at path: String, _ stream: String) throws -> Int {
    let store = try Store.open(at: path)
    var count = 0
    for name in [stream, stream + ".late"] {
        let stored = try store.stream(named: name, of: JSONRecord.self)
        let frontier = try stored.frontier()
        if let first = frontier.firstReadable, let last = frontier.sealedThrough {
            try stored.forEach(in: first...last) { _, _, _ in count += 1 }
        }
        try stored.forEachUnsealed(in: Interval(0)...Interval(UInt64.max)) { _, _, _ in count += 1 }
    }
    return count
}

/// Every sealed record of `streams` in the store at `path`, in read order (interval, partition,
/// chunk), each as `stream interval partition: record`: two stores that hold the same records in
/// the same places give the same list, however their commits cut the blocks.
private func storedRecords(at path: String, _ streams: [String]) throws -> [String] {
    let store = try Store.open(at: path)
    var records: [String] = []
    for name in streams {
        let stored = try store.stream(named: name, of: JSONRecord.self)
        let frontier = try stored.frontier()
        guard let first = frontier.firstReadable, let last = frontier.sealedThrough else { continue }
        try stored.forEach(in: first...last) { interval, partition, record in
            records.append("\(name) \(interval.rawValue) \(partition.rawValue): " + String(decoding: record.bytes, as: UTF8.self))
        }
    }
    return records
}

/// Flips bit `mask` of byte `index` of the value under `key` of `database`, bypassing every check:
/// as damage would.
private func flip(_ store: Store, _ database: Database, _ key: [UInt8], byte index: Int, mask: UInt8) throws {
    try store.logStore.committer.write { txn in
        try key.withUnsafeBytes { k in
            guard var row = try txn.withValue(database, key: k, { $0.map { Array($0) } }) else {
                throw StorageError.misuse("no row to damage")
            }
            row[index] ^= mask
            try row.withUnsafeBytes { try txn.put(database, key: k, value: $0) }
        }
    }
}

/// `strata salvage` copies the source rows (ingest positions, the HTTP receiver's rotation) that
/// verify, with the unsealed blocks they account for. Before, it copied neither: an ingest resumed
/// with `--source` on the salvaged store read its input again from the first line, and every line
/// already ingested was appended a second time (to the late side stream where its interval was
/// sealed; found with `strata ingest --source input` of 3 000 lines, salvage, resume: 6 000 lines
/// accepted, 3 000 of them again).
@Suite struct SalvageSourceRowsTests {
    private static func ingestArguments(_ store: String) -> [String] {
        ["ingest", "v", "--store", store, "--time-field", "ts", "--time-unit", "s", "--partitions", "3",
         "--source", "input", "--commit-bytes", "16384", "--durability", "none"]
    }

    /// An ingest SIGKILLed mid-input (after its commit of the first 7 001 lines, mid-interval, so
    /// that interval's blocks are committed and not sealed), its store salvaged, the ingest resumed
    /// on the salvaged store: the stream holds the records of an uninterrupted ingest, each in the
    /// same interval and partition (round-robin: the rotation went on), in the same order.
    @Test func anIngestResumedOnASalvagedStoreStoresTheRecordsOfAnUninterruptedOne() async throws {
        try await onOwnThread(within: .seconds(600), "ingests, a SIGKILL, a salvage and a resume") {
            let directory = try TemporaryDirectory(prefix: "strata-salvage-resume")
            let count = 12_000, killedAfter = 7_001
            let text = numberedLines(count)
            let whole = directory.appending("whole"), killed = directory.appending("killed")
            let salvaged = directory.appending("salvaged")

            let uninterrupted = try strata(Self.ingestArguments(whole), stdin: text)
            #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")

            // The first lines through a pipe the test holds open: the ingest commits them and waits.
            let child = Process()
            child.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
            child.arguments = Self.ingestArguments(killed)
            var environment = ProcessInfo.processInfo.environment
            environment["STRATA_STORE"] = nil
            child.environment = environment
            let pipe = Pipe()
            child.standardInput = pipe
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            try child.run()
            defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
            let head = text.split(separator: "\n").prefix(killedAfter).joined(separator: "\n") + "\n"
            pipe.fileHandleForWriting.write(Data(head.utf8))
            let deadline = ContinuousClock.now + .seconds(300)
            while (try? committedRecords(at: killed, "v")) != killedAfter {
                guard ContinuousClock.now < deadline, child.isRunning else {
                    Issue.record("the ingest did not commit \(killedAfter) records")
                    return
                }
                usleep(20_000)
            }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            #expect(child.terminationReason == .uncaughtSignal)

            let salvage = try strata(["salvage", killed, "--into", salvaged])
            #expect(salvage.status == 0, "\(salvage.stdout)\(salvage.stderr)")
            // Interval 1003 (lines 6 000–7 000 but the late 6 978: 1 000 records) is committed, not sealed.
            let streamLine = salvage.stdout.split(separator: "\n").first { $0.hasPrefix("v: ") }.map(String.init) ?? ""
            #expect(streamLine.contains("(and, not sealed yet, 1 intervals, ") && streamLine.hasSuffix(" 1000 records); nothing lost"),
                    "\(salvage.stdout)")
            do {
                let store = try Store.open(at: salvaged)
                let descriptor = try #require(try store.logStore.descriptor(named: "v"))
                let row = try #require(try store.logStore.sourceRecord(of: descriptor, source: "input"))
                #expect(row.position.lines == UInt64(killedAfter))
                #expect(row.position.bytes == UInt64(head.utf8.count))
            }

            let resumed = try strata(Self.ingestArguments(salvaged), stdin: text)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stderr.contains("source input: skipped \(killedAfter) lines (\(head.utf8.count) bytes)"),
                    "\(resumed.stderr)")
            // Record for record: the commit at the pause cut blocks where an uninterrupted ingest did not.
            let expected = try storedRecords(at: whole, ["v", "v.late"])
            let actual = try storedRecords(at: salvaged, ["v", "v.late"])
            #expect(expected.count == count)
            #expect(actual.count == expected.count)
            if let first = (0..<min(actual.count, expected.count)).first(where: { actual[$0] != expected[$0] }) {
                Issue.record("record \(first) differs: \(actual[first]), uninterrupted \(expected[first])")
            }
            #expect(try strata(["verify", "--store", salvaged]).status == 0)
        }
    }

    /// A source row that does not verify is named, counted as a loss (exit 65) and not copied.
    @Test func aDamagedSourceRowIsANoteAndIsNotCopied() async throws {
        try await onOwnThread(within: .seconds(300), "an ingest, a damaged row and a salvage") {
            let directory = try TemporaryDirectory(prefix: "strata-salvage-source")
            let original = directory.appending("store"), salvaged = directory.appending("salvaged")
            let ingest = try strata(Self.ingestArguments(original), stdin: numberedLines(4_000))
            #expect(ingest.status == 0, "\(ingest.stderr)")
            do {
                let store = try Store.open(at: original)
                let descriptor = try #require(try store.logStore.descriptor(named: "v"))
                #expect(try store.logStore.sourceRecord(of: descriptor, source: "input")?.position.lines == 4_000)
                // A bit of the lines count, inside the checksummed body.
                try flip(store, store.logStore.meta, SourceRecord.key(stream: descriptor.id, source: "input"), byte: 4, mask: 0x10)
                #expect(throws: StorageError.self) { try store.logStore.sourceRecord(of: descriptor, source: "input") }
            }
            let salvage = try strata(["salvage", original, "--into", salvaged])
            #expect(salvage.status == 65, "\(salvage.stdout)\(salvage.stderr)")
            #expect(!salvage.crashed)
            let lines = salvage.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("v: copied 2 intervals, ") == true
                    && lines.first?.hasSuffix("; lost 0 intervals, 0 blocks in 0 partitions, 0 records") == true, "\(salvage.stdout)")
            #expect(lines.contains { $0.hasPrefix("  source row input: checksum") && $0.hasSuffix("; not copied") }, "\(salvage.stdout)")
            let store = try Store.open(at: salvaged)
            let descriptor = try #require(try store.logStore.descriptor(named: "v"))
            #expect(try store.logStore.sourceRecord(of: descriptor, source: "input") == nil)
            #expect(try store.verify().isClean)
        }
    }

    /// When records of a stream are lost, its source row is still copied (the input was read
    /// there), and a note says its position counts the lost lines.
    @Test func aPositionCountingLostRecordsIsNamed() async throws {
        try await onOwnThread(within: .seconds(300), "an ingest, a damaged block and a salvage") {
            let marker = VerifyCommandTests.marker
            let directory = try TemporaryDirectory(prefix: "strata-salvage-source")
            let original = directory.appending("store"), salvaged = directory.appending("salvaged")
            let input = "{\"ts\":100,\"id\":\"\(marker)\"}\n{\"ts\":101,\"ok\":true}\n"
            let ingest = try strata(["ingest", "s", "--store", original, "--time-field", "ts", "--time-unit", "s",
                                     "--partitions", "1", "--source", "log"], stdin: input)
            #expect(ingest.status == 0, "\(ingest.stderr)")
            let file = URL(fileURLWithPath: original + "/data.mdb")
            var data = try Data(contentsOf: file)
            var searchFrom = data.startIndex
            while let found = data.range(of: Data(marker.utf8), in: searchFrom..<data.endIndex) {
                data[found.lowerBound] ^= 0x01
                searchFrom = found.upperBound
            }
            try data.write(to: file)

            let salvage = try strata(["salvage", original, "--into", salvaged])
            #expect(salvage.status == 65)
            #expect(salvage.stdout == """
                s: copied 2 intervals, 1 blocks, 1 records; lost 0 intervals, 1 blocks in 1 partitions, 1 records
                  source log: its position (2 lines, \(input.utf8.count) bytes) still counts the lines of the records \
                lost here as read; resuming the input does not read them again

                """, "\(salvage.stdout)")
            let store = try Store.open(at: salvaged)
            let descriptor = try #require(try store.logStore.descriptor(named: "s"))
            #expect(try store.logStore.sourceRecord(of: descriptor, source: "log")?.position.lines == 2)
            // A rerun of the ingest on the salvaged store skips the whole input, as it would have on the original.
            let rerun = try strata(["ingest", "s", "--store", salvaged, "--source", "log"], stdin: input)
            #expect(rerun.status == 0 && rerun.stderr.contains("source log: skipped 2 lines"), "\(rerun.stderr)")
        }
    }
}
