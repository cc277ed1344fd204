import Foundation
import StrataTestSupport

/// What one run of the built `strata` binary printed and how it exited.
struct StrataRun {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Standard error's lines, without the final newline.
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }

    /// Whether standard error shows signs of a crash rather than a reported error.
    var crashed: Bool {
        ["Fatal error", "Stack dump", "Backtrace", "Segmentation fault", "Illegal instruction"].contains {
            stderr.contains($0)
        }
    }
}

/// Runs the built `strata` binary with `arguments`, feeding it `stdin`.
///
/// Output goes to files, not pipes, so a large output cannot block the child. `STRATA_STORE` is
/// removed from the inherited environment unless `environment` sets it. `executable` runs another
/// program instead (a wrapper such as `setpriv` that runs `strata` itself).
func strata(_ arguments: [String], stdin: String = "", environment: [String: String] = [:],
            executable: String? = nil) throws -> StrataRun {
    let result = try runProcess(executable ?? builtProductsDirectory() + "/strata", arguments, stdin: stdin,
                                environment: environment)
    return StrataRun(status: result.status, stdout: result.stdout, stderr: result.stderr)
}

/// `strata(_:stdin:environment:executable:)` on a thread of its own, for async tests: waiting for
/// the child on the cooperative pool (two threads here) would hold up every other async test.
func strataOffThePool(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) async throws
    -> StrataRun
{
    try await onOwnThread { try strata(arguments, stdin: stdin, environment: environment) }
}

/// JSON lines of page views with event times in seconds: intervals 100, 100, 101 and 103 (1 s intervals).
let pageViews = """
    {"ts":100,"user":"alice","page":"/a"}
    {"ts":100,"user":"bob","page":"/b"}
    {"ts":101,"user":"alice","page":"/c"}
    {"ts":103,"user":"carol","page":"/d"}

    """

/// A store in a fresh temporary directory holding the stream `views` (from `pageViews`, one partition).
struct FixtureStore {
    let directory: TemporaryDirectory
    var path: String { directory.appending("store") }

    init(partitions: Int = 1) throws {
        directory = try TemporaryDirectory(prefix: "strata-cli")
        let run = try strata(["ingest", "views", "--store", directory.appending("store"), "--time-field", "ts",
                              "--time-unit", "s", "--key-field", "user", "--partitions", String(partitions)],
                             stdin: pageViews)
        guard run.status == 0 else { throw FixtureError(run: run) }
    }
}

/// A store in a fresh temporary directory, made by `strata ingest STREAM --store PATH ARGUMENTS` of a
/// few lines: the set-up of most command-line edge tests. An ingest that does not exit 0 is thrown
/// (`FixtureError`, with its standard error): a test never runs on a store its set-up did not make.
struct IngestedStore {
    let directory: TemporaryDirectory
    /// The store's directory.
    var path: String { directory.appending("store") }
    /// How the ingest that made the store ran (it exited 0).
    let ingest: StrataRun

    /// Ingests `lines` into `stream` of a new store; by default with event times in seconds from
    /// the field `ts`.
    ///
    /// - Throws: `FixtureError` when the ingest does not exit 0.
    init(_ stream: String, lines: String, arguments: [String] = ["--time-field", "ts", "--time-unit", "s"]) throws {
        directory = try TemporaryDirectory(prefix: "strata-cli")
        ingest = try strata(["ingest", stream, "--store", directory.appending("store")] + arguments, stdin: lines)
        guard ingest.status == 0 else { throw FixtureError(run: ingest) }
    }
}

/// Runs the seed programs of `strata-crash-child program` (tools/crash/ProgramMode.swift) over
/// `STORE` through interval `intervals − 1`: 50 events an interval, snapshots every 4 intervals.
///
/// - Throws: `ChildFailed` when the child does not exit 0.
func runSeedPrograms(store: String, intervals: Int) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata-crash-child")
    process.arguments = ["program", "--store", store, "--intervals", String(intervals), "--snapshot-every", "4",
                         "--events-per-interval", "50"]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ChildFailed(status: process.terminationStatus) }
}

/// A child process of a test's set-up did not exit 0.
struct ChildFailed: Error { var status: Int32 }

/// Opens a fixture store to reading by other users and closes it to their writing: its
/// directories 0755, its files 0644. For the tests that read it as another user (`setpriv`).
func makeReadOnlyForOthers(_ store: FixtureStore) {
    for path in [store.directory.path, store.path] { chmod(path, 0o755) }
    chmod(store.path + "/data.mdb", 0o644)
    chmod(store.path + "/lock.mdb", 0o644)
}

/// The first directory above the build products (the `strata` binary) that another user cannot
/// enter (no execute permission for others), or `nil` when every one can: the tests that run
/// `strata` as another user (`setpriv`) need none.
func buildDirectoryClosedToOthers() -> String? {
    var prefix = URL(fileURLWithPath: builtProductsDirectory())
    while prefix.path != "/" {
        let mode = (try? FileManager.default.attributesOfItem(atPath: prefix.path)[.posixPermissions] as? Int) ?? 0
        if mode & 0o001 == 0 { return prefix.path }
        prefix.deleteLastPathComponent()
    }
    return nil
}

/// The fixture's ingest failed.
struct FixtureError: Error, CustomStringConvertible {
    var run: StrataRun
    var description: String { "fixture ingest exited \(run.status): \(run.stderr)" }
}

/// The JSON object on a line of output.
func jsonObject(_ line: some StringProtocol) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(line.utf8))
    guard let object = value as? [String: Any] else { throw NotAnObject(text: String(line)) }
    return object
}

/// A line of output was not a JSON object.
struct NotAnObject: Error {
    var text: String
}
