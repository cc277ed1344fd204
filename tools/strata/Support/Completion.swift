import ArgumentParser
import Foundation
import Strata

/// Shell completion of stream names (`CompletionKind.custom`): the user streams of the store
/// named by `--store` on the command line being completed, else by `STRATA_STORE`.
///
/// Runs inside the shell's completion call, so it must never fail loudly: any error (no store,
/// an unreadable one) completes nothing.
@Sendable
func completeStreamNames(_ arguments: [String], _ index: Int, _ prefix: String) -> [String] {
    var path = ProcessInfo.processInfo.environment["STRATA_STORE"]
    var i = 0
    while i < arguments.count {
        let argument = arguments[i]
        if argument == "--store", i + 1 < arguments.count {
            path = arguments[i + 1]
            i += 1
        } else if argument.hasPrefix("--store=") {
            path = String(argument.dropFirst("--store=".count))
        }
        i += 1
    }
    guard let path, !path.isEmpty, let store = try? Store.open(at: path),
          let streams = try? store.streams() else { return [] }
    return streams.map(\.descriptor).filter { !$0.isInternal && $0.name.hasPrefix(prefix) }.map(\.name)
}
