import ArgumentParser
import Strata

/// `strata`: ingest into, inspect and verify a Strata store from the command line.
///
/// Every subcommand parses its arguments, calls one `Strata` API and formats the result; the
/// logic lives in the library. Exit codes: 0 success, 1 error (or rejected input lines for
/// `ingest`), 64 usage, 65 damaged or corrupt store data (found by `verify`, or met by any command),
/// 73 a store that cannot be created (its parent directory does not exist).
@main
struct StrataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Ingest into, inspect, verify and travel back in time through a Strata store.",
        discussion: """
            The store is given with --store PATH or the STRATA_STORE environment variable. \
            Results go to standard output, diagnostics and progress to standard error. \
            Exit codes: 0 success, 1 error, 64 usage error, 65 damaged or corrupt store data, 73 a store that \
            cannot be created (its parent directory does not exist); diff: 0 identical, 1 different, 2 error.
            """,
        version: "strata \(Store.libraryVersion) (store format \(Store.formatVersion))",
        // One per line, so that branches adding commands merge without conflicts.
        subcommands: [
            Ingest.self,
            Streams.self,
            Describe.self,
            Cat.self,
            Verify.self,
            Stats.self,
            Status.self,
            Serve.self,
            SliceCommand.self,
            Diff.self,
            Tail.self,
            Replay.self,
            State.self,
            Retain.self,
            Compact.self,
            Salvage.self,
            Drop.self,
            Rename.self,
            TestBatch.self,
            SQLCommand.self,
            Seal.self,
            Cluster.self,
        ])

    /// Runs the command line, accepting the global `--store PATH` before the subcommand too
    /// (`strata --store S streams`), as well as after it.
    static func main() {
        DamageExits.install()
        let arguments = hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst()))
        if let error = unknownSubcommand(in: arguments) {
            printError("Error: \(error)")
            exit(withError: ExitCode(64))
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let usage as CommandUsageError {
            printError("Error: \(usage.message)")
            printError("Usage: " + usageString(for: usage.command))
            printError("  See 'strata help \(usage.command._commandName)' for more information.")
            exit(withError: ExitCode(64))
        } catch {
            if let status = DamageExits.dataErrorExitStatus(for: error) {
                // Damaged or unreadable store data: the error's own line, then exit 65.
                printError("Error: \(error)")
                exit(withError: ExitCode(status))
            }
            if case .storeParentNotFound = DamageExits.storageError(in: error) {
                // A store that cannot be created where it was asked for: exit 73 (EX_CANTCREAT).
                printError("Error: \(error)")
                exit(withError: ExitCode.cannotCreateStore)
            }
            if let misplaced = misplacedStoreOption(error, arguments: arguments) {
                printError("Error: \(misplaced)")
                exit(withError: ExitCode(64))
            }
            if let plain = PlainError(error) { exit(withError: plain) }
            exit(withError: error)
        }
    }

    /// The names of the subcommands, and of the commands that take `--store`.
    static var subcommandNames: [String] {
        configuration.subcommands.map { $0._commandName }
    }

    /// "unknown command 'cta'; did you mean 'cat'?" when the first word is not a subcommand.
    static func unknownSubcommand(in arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-") else { return nil }
        let names = subcommandNames + ["help"]
        if names.contains(first) { return nil }
        var message = "unknown command '\(first)'"
        if let suggestion = closest(to: first, among: names) { message += "; did you mean '\(suggestion)'?" }
        return message + " (strata --help lists the commands)"
    }

    /// Where `--store` goes when a command that does not read a store was given it.
    static func misplacedStoreOption(_ error: any Error, arguments: [String]) -> String? {
        let text = message(for: error)
        guard text.contains("'--store'"), text.lowercased().contains("unknown option") else { return nil }
        let takers = configuration.subcommands.filter { command in
            command.helpMessage().contains("--store")
        }.map { $0._commandName }
        // The words left once the store options are taken out: none means no command was given.
        var words: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--store" {
                index += 2
                continue
            }
            if !argument.hasPrefix("-") { words.append(argument) }
            index += 1
        }
        if words.isEmpty {
            return "--store PATH needs a command after it: strata --store PATH COMMAND "
                + "(commands: \(takers.joined(separator: ", ")))"
        }
        return "--store is not an option of this command; it goes with a command that reads a store, "
            + "before or after the command's name: strata --store PATH COMMAND, or strata COMMAND --store PATH "
            + "(commands: \(takers.joined(separator: ", ")))"
    }

    /// The options that may come before the subcommand's name: the store, and the cluster's
    /// (`strata --nats URL cat …`; only the commands that take them accept them).
    static let globalOptionsWithValues = [
        "--store", "--nats", "--node", "--nats-creds", "--nats-user", "--nats-password", "--nats-token",
        "--nats-tls-ca", "--nats-tls-cert", "--nats-tls-key", "--namespace", "--replicas",
    ]

    /// Moves `--store PATH` / `--store=PATH` (and the cluster options) given before the subcommand
    /// name to just after it, where the subcommand's shared options parse them.
    static func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
        var global: [String] = []
        var rest = arguments[...]
        while let first = rest.first, first.hasPrefix("-") {
            if globalOptionsWithValues.contains(first), rest.count >= 2 {
                global += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if globalOptionsWithValues.contains(where: { first.hasPrefix($0 + "=") }) {
                global.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !global.isEmpty, let subcommand = rest.first else { return arguments }
        // `strata --nats URL cluster status`: the options go to the nested command.
        let nested = rest.dropFirst()
        if subcommand == Cluster._commandName, let leaf = nested.first, !leaf.hasPrefix("-") {
            return [subcommand, leaf] + global + nested.dropFirst()
        }
        return [subcommand] + global + rest.dropFirst()
    }
}

/// The candidate nearest to `word` by edit distance, when it is near enough to be a typo
/// (at most a third of the word's length, and at least one edit).
func closest(to word: String, among candidates: [String]) -> String? {
    // Optimal string alignment: insertions, deletions, substitutions and swaps of neighbours ("cta").
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
    let w = Array(word)
    let scored = candidates.map { ($0, distance(w, Array($0))) }.sorted { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
    guard let best = scored.first, best.1 <= max(1, w.count / 3) || best.0.hasPrefix(word) else { return nil }
    return best.0
}

/// Exit code 65 (`EX_DATAERR`): corrupt or damaged store data.
extension ExitCode {
    static let corruptDataFound = ExitCode(65)
    /// Exit code 73 (`EX_CANTCREAT`): a store could not be created where it was asked for (its
    /// parent directory does not exist).
    static let cannotCreateStore = ExitCode(73)
}
