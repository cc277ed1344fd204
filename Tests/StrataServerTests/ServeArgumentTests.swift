import ArgumentParser
import Foundation
import StrataTestSupport
import Testing

@testable import StrataCLI

@Suite struct ServeArgumentTests {
    @Test func serveParsesItsOptions() throws {
        let serve = try #require(try StrataCommand.parseAsRoot(
            ["serve", "--store", "/s", "--port", "0", "--host", "0.0.0.0", "--token", "t", "--max-body-bytes", "1000",
             "--max-record-bytes", "100", "--watch", "/in", "--watch-stream", "ev", "--time-field", "ts",
             "--partitions", "2", "--once"]) as? Serve)
        #expect(serve.port == 0 && serve.host == "0.0.0.0" && serve.token == "t")
        #expect(serve.maxBodyBytes == 1000 && serve.maxRecordBytes == 100)
        #expect(serve.watch == "/in" && serve.watchStream == "ev" && serve.once)
        let hoisted = try #require(try StrataCommand.parseAsRoot(
            StrataCommand.hoistingGlobalOptions(["--store", "/s", "serve"])) as? Serve)
        #expect(hoisted.options.path == "/s" && hoisted.port == 7070 && hoisted.host == "127.0.0.1")
    }

    @Test(arguments: [
        ["serve", "--store", "/s", "--port", "70000"],
        ["serve", "--store", "/s", "--watch", "/in"],
        ["serve", "--store", "/s", "--watch-stream", "ev"],
        ["serve", "--store", "/s", "--once"],
        ["serve", "--store", "/s", "--no-http"],
        ["serve", "--store", "/s", "--partitions", "2"],
        ["serve", "--store", "/s", "--watch", "/in", "--watch-stream", "ev", "--partitions", "0"],
        ["serve", "--store", "/s", "--watch", "/in", "--watch-stream", "ev", "--time-unit", "s"],
        ["serve", "--store", "/s", "--token", ""],
        ["serve", "--store", "/s", "--lateness", "soon"],
        // The receiver's limits: once exit 1 after the store was created.
        ["serve", "--store", "/s", "--host", ""],
        ["serve", "--store", "/s", "--max-record-bytes", "0"],
        ["serve", "--store", "/s", "--max-record-bytes", "16777217"],
        ["serve", "--store", "/s", "--max-body-bytes", "100", "--max-record-bytes", "101"],
        ["serve", "--store", "/s", "--max-connections", "0"],
        ["serve", "--store", "/s", "--max-queued-bytes", "0"],
        ["serve", "--store", "/s", "--watch", "/in", "--watch-stream", "ev", "--commit-bytes", "0"],
    ])
    func badServeArgumentsAreUsageErrors(arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try StrataCommand.parseAsRoot(arguments) }
        do {
            _ = try StrataCommand.parseAsRoot(arguments)
        } catch {
            #expect(StrataCommand.exitCode(for: error) == .validationFailure, "\(arguments)")
        }
    }

    /// A limit out of range is a usage error (exit 64) naming the flag, before the store is
    /// opened: `serve` once created the store, then exited 1 with the limit's inner name.
    @Test func aBadLimitLeavesNoStoreBehind() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-serve-limits")
        let store = directory.appending("store")
        let child = try ServeProcess(["serve", "--store", store, "--port", "0", "--max-connections", "0"], in: directory)
        #expect(try await child.waitForExit() == .exited(64))
        #expect(try child.standardError().hasPrefix("Error: --max-connections must be at least 1, not 0"))
        #expect(!FileManager.default.fileExists(atPath: store))
    }

    /// A watched directory that does not exist, or is a file, is a usage error (exit 64) naming it,
    /// before the store is opened: `serve` once created the store, then exited 1 with "realpath failed".
    @Test func aMissingWatchedDirectoryLeavesNoStoreBehind() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-serve-watch")
        let store = directory.appending("store")
        let missing = directory.appending("no-such-directory")
        let child = try ServeProcess(["serve", "--store", store, "--port", "0", "--watch", missing,
                                      "--watch-stream", "ev", "--once"], in: directory)
        #expect(try await child.waitForExit() == .exited(64))
        #expect(try child.standardError().hasPrefix("Error: --watch \(missing): no such directory"))
        #expect(!FileManager.default.fileExists(atPath: store))

        let file = directory.appending("a-file")
        try Data("{}\n".utf8).write(to: URL(fileURLWithPath: file))
        let onFile = try ServeProcess(["serve", "--store", store, "--port", "0", "--watch", file,
                                       "--watch-stream", "ev", "--once"], in: directory)
        #expect(try await onFile.waitForExit() == .exited(64))
        #expect(try onFile.standardError().hasPrefix("Error: --watch \(file): not a directory"))
        #expect(!FileManager.default.fileExists(atPath: store))
    }
}
