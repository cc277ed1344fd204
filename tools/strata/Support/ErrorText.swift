import ArgumentParser
import Foundation
import Glibc
import Strata

/// An error whose text was rewritten in plain words for the command line (`describeError`).
struct PlainError: Error, CustomStringConvertible {
    var description: String

    /// The plain rewrite of `error`, or `nil` when its own text is already plain (or it is an
    /// argument parser error, which prints its usage itself).
    init?(_ error: any Error) {
        if error is ExitCode || error is ValidationError || error is CleanExit { return nil }
        let text = describeError(error)
        guard text != String(describing: error) else { return nil }
        description = text
    }
}

/// The error as one line a person can act on.
///
/// - A library contract message (`misuse: …`) loses its prefix: the rest says what to do.
/// - A system error that ends `(errno: N)` or `(errno N)`, as NIO's and Foundation's do, becomes
///   `CALL failed: TEXT`, where TEXT is the C library's words for N in lower case
///   ("address already in use"), e.g. `bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)`
///   → `bind failed: address already in use`. One that already says what and where in words
///   (`StorageError.system`: `/s/x: mkdir failed: not a directory (errno 20)`) only loses the
///   number: `/s/x: mkdir failed: not a directory`.
func describeError(_ error: any Error) -> String {
    if let storage = error as? StorageError, case .misuse(let what) = storage { return what }
    if let timeTravel = error as? TimeTravelError, case .storage(.misuse(let what)) = timeTravel { return what }
    if let ingest = error as? IngestError, case .storage(.misuse(let what)) = ingest { return what }
    let text = String(describing: error)
    guard let errno = trailingErrno(text) else { return text }
    var call = text
    if let paren = call.firstIndex(of: "(") { call = String(call[..<paren]) }
    call = call.trimmingCharacters(in: .whitespaces)
    let words = systemErrorText(errno)
    if call.isEmpty { return words }
    guard call.contains(" ") else { return "\(call) failed: \(words)" }
    // Words already: keep them (the path and the call), in lower case, without the trailing errno.
    guard let number = text.range(of: "(errno", options: .backwards) else { return words }
    let said = text[..<number.lowerBound].trimmingCharacters(in: .whitespaces)
    return said.isEmpty ? words : said.replacingOccurrences(of: String(cString: strerror(errno)), with: words)
}

/// `strerror(errno)` in lower case: "address already in use", "no such file or directory".
func systemErrorText(_ code: Int32) -> String {
    let text = String(cString: strerror(code))
    guard let first = text.first else { return "error \(code)" }
    // Lower-case the first letter only: "Address already in use" → "address already in use".
    return first.lowercased() + text.dropFirst()
}

/// N of a trailing `(errno: N)` or `(errno N)`, or nil.
private func trailingErrno(_ text: String) -> Int32? {
    guard text.hasSuffix(")"), let open = text.range(of: "(errno", options: .backwards) else { return nil }
    let digits = text[open.upperBound...].dropLast().filter { $0.isNumber }
    return Int32(digits)
}

/// A usage error found after parsing (it depends on the stream's contents, e.g. `--top` on a JSON
/// stream): printed with the usage of `command`, not the root's, and exit status 64.
struct CommandUsageError: Error, CustomStringConvertible {
    /// The subcommand whose usage is printed.
    var command: any ParsableCommand.Type
    /// What is wrong.
    var message: String
    var description: String { message }

    init(_ command: any ParsableCommand.Type, _ message: String) {
        self.command = command
        self.message = message
    }
}
