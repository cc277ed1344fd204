import ArgumentParser

/// `strata`: ingest into, inspect and verify a Strata store from the command line.
///
/// Every subcommand parses its arguments, calls one `Strata` API and formats the result; the
/// logic lives in the library. Exit codes: 0 success, 1 error (or rejected input lines for
/// `ingest`), 64 usage, 65 damaged or corrupt store data (found by `verify`, or met by any command).
@main
struct StrataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Ingest into, inspect, verify and travel back in time through a Strata store.",
        discussion: """
            The store is given with --store PATH or the STRATA_STORE environment variable. \
            Results go to standard output, diagnostics and progress to standard error. \
            Exit codes: 0 success, 1 error, 64 usage error, 65 damaged or corrupt store data; diff: 0 identical, \
            1 different, 2 error.
            """,
        subcommands: [Ingest.self, Streams.self, Describe.self, Cat.self, Verify.self, Stats.self, Status.self,
                      Serve.self, SliceCommand.self, Diff.self, Tail.self, Replay.self, State.self, Retain.self,
                      Compact.self, Salvage.self, TestBatch.self])

    /// Runs the command line, accepting the global `--store PATH` before the subcommand too
    /// (`strata --store S streams`), as well as after it.
    static func main() {
        DamageExits.install()
        do {
            var command = try parseAsRoot(hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            if let status = DamageExits.dataErrorExitStatus(for: error) {
                // Damaged or unreadable store data: the error's own line, then exit 65.
                printError("Error: \(error)")
                exit(withError: ExitCode(status))
            }
            exit(withError: error)
        }
    }

    /// Moves `--store PATH` / `--store=PATH` given before the subcommand name to just after it,
    /// where the subcommand's shared options parse it.
    static func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
        var global: [String] = []
        var rest = arguments[...]
        while let first = rest.first, first.hasPrefix("-") {
            if first == "--store", rest.count >= 2 {
                global += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--store=") {
                global.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !global.isEmpty, let subcommand = rest.first else { return arguments }
        return [subcommand] + global + rest.dropFirst()
    }
}

/// Exit code 65 (`EX_DATAERR`): corrupt or damaged store data.
extension ExitCode {
    static let corruptDataFound = ExitCode(65)
}
