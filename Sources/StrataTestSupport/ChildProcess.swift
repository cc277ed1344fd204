import Foundation

/// What a child process printed and how it exited.
public struct ProcessResult: Sendable {
    /// The exit status (or, for a process ended by a signal, what `Process` reports for it).
    public var status: Int32
    /// Everything it wrote to standard output.
    public var stdout: String
    /// Everything it wrote to standard error.
    public var stderr: String

    /// A result.
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs `executable` with `arguments`, feeding it `stdin`, and waits for it to exit.
///
/// Output goes to files, not pipes, so a large output can never block the child. `STRATA_STORE`
/// is removed from the inherited environment unless `environment` sets it. Blocks the calling
/// thread until the child exits: call it from a thread of the test's own, not the cooperative pool.
public func runProcess(_ executable: String, _ arguments: [String], stdin: String = "",
                       environment: [String: String] = [:]) throws -> ProcessResult {
    let scratch = try TemporaryDirectory(prefix: "strata-run")
    let inPath = scratch.appending("stdin"), outPath = scratch.appending("stdout"), errPath = scratch.appending("stderr")
    try Data(stdin.utf8).write(to: URL(fileURLWithPath: inPath))
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
        try? input.close()
        try? output.close()
        try? errors.close()
    }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["STRATA_STORE"] = nil
    env.merge(environment) { _, new in new }
    process.environment = env
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus,
        stdout: String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self),
        stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self))
}
