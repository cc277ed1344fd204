import Foundation
import Glibc
import StrataTestSupport

/// How a child process ended.
enum ProcessEnd: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)
}

/// The built `strata` binary running as a child process, its output going to files.
final class ServeProcess: @unchecked Sendable {
    // @unchecked: `Process` is not Sendable; it is only started here and then waited for or
    // signalled through its process identifier, which is thread-safe.
    private let process = Process()
    private let errorPath: String
    private let outputPath: String

    /// Starts `strata ARGUMENTS`; its standard output and error go to files in `directory`.
    init(_ arguments: [String], in directory: TemporaryDirectory, environment: [String: String] = [:]) throws {
        let name = UUID().uuidString
        errorPath = directory.appending("\(name).stderr")
        outputPath = directory.appending("\(name).stdout")
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["STRATA_STORE"] = nil
        env["STRATA_TOKEN"] = nil
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// What the child wrote on standard error so far.
    func standardError() throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: errorPath)), as: UTF8.self)
    }

    /// What the child wrote on standard output so far.
    func standardOutput() throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: outputPath)), as: UTF8.self)
    }

    /// The port from the child's `listening on http://HOST:PORT` line, polling until it appears.
    func listeningPort() async throws -> Int {
        let marker = "listening on http://127.0.0.1:"
        _ = try await eventually { try self.standardError().contains(marker) || !self.process.isRunning }
        let text = try standardError()
        guard let range = text.range(of: marker), let port = Int(text[range.upperBound...].prefix { $0.isNumber }) else {
            throw TestFailure("strata serve did not listen: \(text)")
        }
        return port
    }

    /// Polls the child's standard error until `predicate` holds, then sends it `signal` at once,
    /// from the polling thread (a busy cooperative pool cannot delay it). Returns false when
    /// `seconds` pass or the child ends first.
    func signal(_ number: Int32, whenStandardError predicate: @escaping @Sendable (String) -> Bool,
                within seconds: Double) async throws -> Bool {
        try await onOwnThread {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while ContinuousClock.now < deadline && self.process.isRunning {
                if predicate(try self.standardError()) {
                    kill(self.process.processIdentifier, number)
                    return true
                }
                usleep(1000)
            }
            return false
        }
    }

    /// Sends `signal` to the child.
    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the child to end.
    func waitForExit() async throws -> ProcessEnd {
        let process = self.process
        return try await onOwnThread {
            process.waitUntilExit()
            return process.terminationReason == .uncaughtSignal ? .signaled(process.terminationStatus)
                : .exited(process.terminationStatus)
        }
    }
}
