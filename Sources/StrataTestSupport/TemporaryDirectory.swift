import Foundation

/// A fresh directory under the system's temporary directory, removed when the value is released.
///
/// Every test opens its own store in one of these. `TemporaryDirectory` is `Sendable`.
public final class TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// Creates a new, empty directory.
    public init(prefix: String = "strata-test") throws {
        let base = FileManager.default.temporaryDirectory.path
        let template = "\(base)/\(prefix)-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let created = bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: created)
    }

    /// A path inside the directory (not created).
    public func appending(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The directory holding the built products (`strata`, `strata-crash-child`, …) of this test run.
public func builtProductsDirectory() -> String {
    // The test bundle runs from `.build/<configuration>/`; executables are built beside it.
    var url = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
    while url.path != "/" {
        url = url.deletingLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("strata").path) { return url.path }
    }
    if let env = ProcessInfo.processInfo.environment["STRATA_BUILD_DIR"] { return env }
    return FileManager.default.currentDirectoryPath + "/.build/debug"
}
