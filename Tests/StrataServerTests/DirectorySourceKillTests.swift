import Foundation
import Glibc
import Strata
import StrataServer
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
}
