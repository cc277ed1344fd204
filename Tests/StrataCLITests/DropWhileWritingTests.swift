import Foundation
import StrataTestSupport
import Testing

/// Issue 13: `strata drop` and `rename` refuse while another process writes the stream (the
/// per-stream writer lock), not while another process merely has the store open: a reader in
/// another process does not block a drop, and learns that the stream is gone.
@Suite struct DropWhileWritingTests {
    @Test func dropAndRenameRefuseWhileAChildProcessWritesTheStream() async throws {
        let store = try FixtureStore()
        defer { withExtendedLifetime(store) {} }
        let path = store.path
        try await onOwnThread {
            // A child ingest into `views`, its input still open: it holds the stream's writer lock.
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
            writer.arguments = ["ingest", "views", "--store", path]
            let input = Pipe()
            writer.standardInput = input
            writer.standardOutput = FileHandle.nullDevice
            writer.standardError = FileHandle.nullDevice
            try writer.run()
            defer {
                if writer.isRunning { kill(writer.processIdentifier, SIGKILL) }
                writer.waitUntilExit()
            }
            let pid = writer.processIdentifier
            // The lock file names its holder once the child has taken it.
            let lockFile = path + "/writers/stream-1.lock"
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline, writer.isRunning,
                  (try? String(contentsOfFile: lockFile, encoding: .utf8)) != "\(pid)\n" {
                usleep(20_000)
            }
            try #require(try String(contentsOfFile: lockFile, encoding: .utf8) == "\(pid)\n")

            let refused = try strata(["drop", "views", "--store", path])
            #expect(refused.status == 1)
            #expect(refused.stderr == "Error: stream views is being written by process \(pid); one writer per stream: "
                    + "wait for it to end or stop it\n")
            let renameRefused = try strata(["rename", "views", "pages", "--store", path])
            #expect(renameRefused.status == 1 && renameRefused.stderr.contains("being written by process \(pid)"))
            // Nothing changed, and a stream nobody writes drops at once beside the writer.
            #expect(try strata(["cat", "views", "--store", path]).stdout == pageViews)
            _ = try strata(["replay", "views", "--into", "copy", "--store", path])
            #expect(try strata(["drop", "copy", "--store", path]).status == 0)

            // The writer's input ends: it commits, releases the lock and exits.
            input.fileHandleForWriting.write(Data(#"{"ts":104,"user":"dave","page":"/e"}"#.utf8 + [0x0A]))
            try input.fileHandleForWriting.close()
            writer.waitUntilExit()
            #expect(writer.terminationStatus == 0)
            #expect(try strata(["rename", "views", "pages", "--store", path]).stdout == "renamed views to pages\n")
        }
    }

    @Test func aReaderInAnotherProcessDoesNotBlockADropAndLearnsTheStreamIsGone() async throws {
        let store = try FixtureStore()
        let path = store.path
        let directory = try TemporaryDirectory(prefix: "strata-cli-drop-reader")
        let outPath = directory.appending("out"), errPath = directory.appending("err")
        defer { withExtendedLifetime((store, directory)) {} }
        try await onOwnThread {
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            let reader = Process()
            reader.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
            reader.arguments = ["tail", "-f", "views", "--store", path, "--timeout", "120s"]
            reader.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
            reader.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            try reader.run()
            defer {
                if reader.isRunning { kill(reader.processIdentifier, SIGKILL) }
                reader.waitUntilExit()
            }
            func read(_ file: String) -> String {
                String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data(), as: UTF8.self)
            }
            // The follower has read the newest sealed interval: it has the store open and follows.
            var deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline, reader.isRunning, !read(outPath).contains("carol") { usleep(20_000) }
            try #require(read(outPath) == #"{"ts":103,"user":"carol","page":"/d"}"# + "\n", "\(read(errPath))")

            let dropped = try strata(["drop", "views", "--store", path])
            #expect(dropped.status == 0, "\(dropped.stderr)")
            #expect(dropped.stdout == "dropped views and views.late: 3 blocks\n")
            // The follower's next look finds the stream gone: a plain error, not damage, not a hang.
            deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline, reader.isRunning { usleep(20_000) }
            #expect(!reader.isRunning)
            reader.waitUntilExit()
            #expect(reader.terminationStatus == 1)
            #expect(read(errPath) == "Error: unknown stream views\n")
        }
    }
}
