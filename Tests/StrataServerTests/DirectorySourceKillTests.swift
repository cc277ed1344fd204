import Foundation
import Glibc
import Strata
@testable import StrataServer
import StrataStorage
import StrataTestSupport
import Testing

/// A directory source in a real process, `strata serve --watch … --once`, killed with SIGKILL in
/// the middle of a file, again and again, then run to the end: the stream must hold every line
/// exactly once, and the dead-letter stream every malformed line exactly once.
@Suite(.serialized) struct DirectorySourceKillTests {
    @Test func killedMidFileAndRestartedNeitherSkipsNorRepeatsALine() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-watch-kill")
        let inbox = directory.appending("in"), storePath = directory.appending("store")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: false)

        // 150 000 lines, every 15 000th malformed, and a last line without a newline.
        let lineCount = 150_000, badEvery = 15_000
        var text = ""
        text.reserveCapacity(lineCount * 80)
        var bad: Set<Int> = []  // line numbers, from 1
        for seq in 0..<lineCount {
            if seq % badEvery == 7 {
                bad.insert(seq + 1)
                text += "{\"ts\":\(1000 + seq / 1000),\"seq\":\(seq),\"broken\n"
            } else {
                text += "{\"ts\":\(1000 + seq / 1000),\"seq\":\(seq),\"pad\":\"abcdefghijklmnopqrstuvwxyz0123456789\"}\n"
            }
        }
        text += "{\"ts\":\(1000 + lineCount / 1000),\"seq\":\(lineCount),\"tail\":true}"
        let size = UInt64(text.utf8.count)
        try Data(text.utf8).write(to: URL(fileURLWithPath: inbox + "/events.jsonl"))
        let arguments = ["serve", "--store", storePath, "--watch", inbox, "--watch-stream", "ev", "--time-field", "ts",
                         "--time-unit", "s", "--partitions", "3", "--once", "--progress", "--commit-bytes", "16384"]

        var committed: UInt64 = 0
        for round in 1...3 {
            let child = try ServeProcess(arguments, in: directory)
            // Kill right after a commit that ends inside the file and past the last kill's position.
            let previous = committed
            let midFile = try await child.signal(SIGKILL, whenStandardError: { text in
                for line in text.split(separator: "\n") {
                    guard line.hasPrefix("committed events.jsonl through byte "),
                          let offset = UInt64(line.dropFirst("committed events.jsonl through byte ".count).prefix { $0.isNumber }),
                          offset > previous, offset < size else { continue }
                    return true
                }
                return false
            }, within: 120)
            let output = try child.standardError()
            try #require(midFile, "round \(round): no commit inside the file: \(output)")
            #expect(try await child.waitForExit() == .signaled(SIGKILL))

            // What the killed process committed is a position strictly inside the file.
            let store = try Store.open(at: storePath)
            let position = try #require(try DirectorySource.positions(of: "ev", in: store).first)
            #expect(position.file == "events.jsonl")
            #expect(position.offset > committed && position.offset < size, "round \(round)")
            committed = position.offset
        }

        // The last run reads the rest and ends.
        let last = try ServeProcess(arguments, in: directory)
        let end = try await last.waitForExit()
        let stderr = try last.standardError()
        #expect(end == .exited(0) || end == .exited(1), "\(stderr)")
        #expect(stderr.contains("ingested \(inbox) into ev: "))
        #expect(!stderr.contains("Fatal error"))

        let store = try Store.open(at: storePath)
        #expect(try DirectorySource.positions(of: "ev", in: store)
                == [SourcePosition(file: "events.jsonl", offset: size, line: UInt64(lineCount + 1))])
        var seen = [Int](repeating: 0, count: lineCount + 1)
        for record in try readSealed("ev", in: store) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(record.utf8)) as? [String: Any])
            let seq = try #require(object["seq"] as? Int)
            seen[seq] += 1
        }
        for seq in 0...lineCount {
            #expect(seen[seq] == (bad.contains(seq + 1) ? 0 : 1), "seq \(seq) stored \(seen[seq]) times")
        }
        let dead = try deadLetters(of: "ev", in: store).compactMap { $0["line"] as? Int }
        #expect(dead.sorted() == bad.sorted(), "each malformed line is dead-lettered exactly once")
        #expect(try store.verify().isClean)
    }

    /// A directory source killed with SIGKILL mid-file and resumed stores exactly the bytes of an
    /// uninterrupted one: unkeyed lines go round-robin, and the rotation resumes where the
    /// committed lines left it (kept in `NAME.pos` with the positions), not at partition 0. Each
    /// kill follows a commit inside the file past the previous kill's position (progress visible
    /// on standard error), so every kill lands mid-file, after commits. Event times run back now
    /// and then, so the late side stream is compared as well.
    @Test func aResumedWatchStoresTheBytesOfAnUninterruptedOne() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-watch-bytes")
        let inbox = directory.appending("in")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: false)
        let lineCount = 60_000  // 60 intervals of 1 000 lines; every 97th line 3 s back (late)
        var text = ""
        text.reserveCapacity(lineCount * 80)
        for seq in 0..<lineCount {
            let ts = 1000 + seq / 1000 - (seq % 97 == 96 ? 3 : 0)
            text += "{\"ts\":\(ts),\"seq\":\(seq),\"pad\":\"abcdefghijklmnopqrstuvwxyz\"}\n"
        }
        let size = UInt64(text.utf8.count)
        try Data(text.utf8).write(to: URL(fileURLWithPath: inbox + "/events.jsonl"))
        func arguments(_ store: String) -> [String] {
            ["serve", "--store", store, "--watch", inbox, "--watch-stream", "ev", "--time-field", "ts",
             "--time-unit", "s", "--partitions", "3", "--once", "--progress", "--commit-bytes", "16384",
             "--durability", "none"]
        }

        let whole = directory.appending("whole")
        let uninterrupted = try ServeProcess(arguments(whole), in: directory)
        let uninterruptedEnd = try await uninterrupted.waitForExit()
        let uninterruptedOutput = try uninterrupted.standardError()
        #expect(uninterruptedEnd == .exited(0), "\(uninterruptedOutput)")

        let resumed = directory.appending("resumed")
        var committed: UInt64 = 0
        for round in 1...4 {
            let child = try ServeProcess(arguments(resumed), in: directory)
            let previous = committed
            let midFile = try await child.signal(SIGKILL, whenStandardError: { text in
                text.split(separator: "\n").contains { line in
                    guard line.hasPrefix("committed events.jsonl through byte "),
                          let offset = UInt64(line.dropFirst("committed events.jsonl through byte ".count)
                              .prefix { $0.isNumber }) else { return false }
                    return offset > previous && offset < size
                }
            }, within: 300)
            let output = try child.standardError()
            try #require(midFile, "round \(round): no commit inside the file: \(output)")
            #expect(try await child.waitForExit() == .signaled(SIGKILL))
            let position = try #require(try DirectorySource.positions(of: "ev", in: Store.open(at: resumed)).first)
            #expect(position.offset > committed && position.offset < size, "round \(round)")
            committed = position.offset
        }
        let last = try ServeProcess(arguments(resumed), in: directory)
        let lastEnd = try await last.waitForExit()
        let lastOutput = try last.standardError()
        #expect(lastEnd == .exited(0), "\(lastOutput)")

        let expected = try storedBlocks(at: whole, ["ev", "ev.late"])
        let actual = try storedBlocks(at: resumed, ["ev", "ev.late"])
        #expect(expected.contains { $0.key.hasPrefix("ev.late ") }, "the input has late records")
        #expect(actual.count == expected.count, "\(actual.count) blocks after 4 kills, \(expected.count) without")
        if let first = (0..<min(actual.count, expected.count)).first(where: {
            actual[$0].key != expected[$0].key || actual[$0].bytes != expected[$0].bytes
        }) {
            let difference = "block \(first) differs after 4 kills: \(actual[first].key) (\(actual[first].bytes.count) "
                + "bytes), uninterrupted \(expected[first].key) (\(expected[first].bytes.count) bytes)"
            Issue.record("\(difference)")
        }
    }

    /// Positions records of version 1, written before the round-robin rotation was kept, still
    /// read (as partition 0), and a rotation past the stream's partitions is a typed error naming
    /// `NAME.pos`.
    @Test func positionsOfVersionOneStillReadAndABadRotationIsNamed() throws {
        let directory = try TemporaryDirectory(prefix: "strata-watch-pos")
        let inbox = directory.appending("in")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: false)
        let resolved = try #require(realpath(inbox, nil))
        let absolute = String(cString: resolved)
        free(resolved)
        var v1 = BinaryWriter(capacity: 64)
        v1.write(byte: 1)
        v1.write(absolute)
        v1.write(varint: 1)
        v1.write("a.jsonl")
        v1.write(UInt64(12))
        v1.write(UInt64(1))
        let decoded = try v1.bytes.withUnsafeBytes { raw in
            var reader = BinaryReader(raw)
            return try SourcePositionsRecord(from: &reader)
        }
        #expect(decoded == SourcePositionsRecord(directory: absolute,
                                                 files: [SourcePosition(file: "a.jsonl", offset: 12, line: 1)]))

        let store = try Store(at: directory.appending("store"))
        _ = try store.jsonStream("ev", interval: .seconds(1), partitions: 2)
        let positions = try store.stream("ev.pos", of: SourcePositionsRecord.self, interval: .seconds(1),
                                         partitions: 1, retention: .intervals(1))
        do {  // the appender releases the stream's writer lock at the end of the scope
            let appender = try positions.explicitAppender()
            try appender.append(SourcePositionsRecord(directory: absolute, files: [], nextRoundRobinPartition: 2),
                                interval: Interval(0))
            try appender.seal(through: Interval(0))
        }
        var configuration = DirectorySourceConfiguration(directory: inbox, stream: "ev")
        configuration.stopsWhenDrained = true  // were the rotation taken, the source would end, not wait
        let source = try DirectorySource(store: store, configuration: configuration)
        let error = #expect(throws: ReceiverError.self) { try source.runOnThisThread() }
        guard case .corruptPositions(let stream, let reason) = error else {
            Issue.record("expected corrupt positions, got \(String(describing: error))")
            return
        }
        #expect(stream == "ev.pos")
        #expect(reason == "the next round-robin partition of ev is 2, not one of its 2 partitions")
    }
}

