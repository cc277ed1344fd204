import ArgumentParser
import Glibc

/// `strata test-batch` (hidden): runs many `strata` command lines in one process, for the
/// store-damage test, which runs thousands of commands on damaged stores.
///
/// Each line of the command file is one command line, arguments separated by tabs; `{store}` is
/// replaced by each store of the store file in turn. For every (store, command) from `--start` on,
/// the command runs in this process with standard output and error sent to `OUT/run.out` and
/// `OUT/run.err`; then one line `STORE-INDEX COMMAND-INDEX STATUS SAME` is appended to
/// `OUT/results`, where SAME is `same` when standard output equals the first store's. A fatal end of
/// the process (an LMDB assertion's `_exit(65)`, the last-resort handler, a signal) leaves the run
/// out of `results`: the caller reads `run.err`, records the run and starts again after it.
struct TestBatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-batch", abstract: "Run command lines on many stores (test harness).", shouldDisplay: false)

    @Option(help: "File of command lines, arguments separated by tabs.") var commands: String
    @Option(help: "File of store directories, one a line; the first is the reference.") var stores: String
    @Option(help: "Directory for run.out, run.err and results.") var out: String
    @Option(help: "First run: STORE-INDEX,COMMAND-INDEX.") var start = "0,0"

    func run() throws {
        let commandLines = try Self.lines(commands).map { $0.split(separator: "\t").map(String.init) }
        let storeList = try Self.lines(stores)
        let parts = start.split(separator: ",").compactMap { Int($0) }
        guard parts.count == 2 else { throw ValidationError("--start needs STORE,COMMAND") }
        var reference: [[UInt8]] = []
        // The reference outputs come from the first store (run again, quietly, when starting later).
        for command in commandLines {
            let (_, output) = Self.runOne(command.map { $0 == "{store}" ? storeList[0] : $0 }, out: out)
            reference.append(output)
        }
        let results = open(out + "/results", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard results >= 0 else { throw ValidationError("cannot open \(out)/results") }
        defer { close(results) }
        for storeIndex in parts[0]..<storeList.count {
            for commandIndex in commandLines.indices where storeIndex > parts[0] || commandIndex >= parts[1] {
                let arguments = commandLines[commandIndex].map { $0 == "{store}" ? storeList[storeIndex] : $0 }
                let (status, output) = Self.runOne(arguments, out: out)
                var line = "\(storeIndex) \(commandIndex) \(status) \(output == reference[commandIndex] ? "same" : "diff")\n"
                line.withUTF8 { _ = write(results, $0.baseAddress, $0.count) }
            }
        }
    }

    private static func lines(_ path: String) throws -> [String] {
        guard let file = fopen(path, "r") else { throw ValidationError("cannot read \(path)") }
        defer { fclose(file) }
        var result: [String] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
            if !trimmed.isEmpty { result.append(trimmed) }
        }
        free(line)
        return result
    }

    /// Runs one command line as `main` would, with its output in files; returns the exit status and
    /// standard output.
    private static func runOne(_ arguments: [String], out: String) -> (Int32, [UInt8]) {
        let outPath = out + "/run.out", errPath = out + "/run.err"
        let savedOut = dup(1), savedErr = dup(2)
        let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        dup2(outFD, 1)
        dup2(errFD, 2)
        close(outFD)
        close(errFD)
        var status: Int32 = 0
        do {
            var command = try StrataCommand.parseAsRoot(StrataCommand.hoistingGlobalOptions(arguments))
            try command.run()
        } catch {
            if let dataStatus = DamageExits.dataErrorExitStatus(for: error) {
                printError("Error: \(error)")
                status = dataStatus
            } else {
                let code = StrataCommand.exitCode(for: error)
                let message = StrataCommand.fullMessage(for: error)
                if !message.isEmpty { printError(message) }
                status = code.rawValue
            }
        }
        fflush(nil)
        dup2(savedOut, 1)
        dup2(savedErr, 2)
        close(savedOut)
        close(savedErr)
        var bytes: [UInt8] = []
        if let file = fopen(outPath, "r") {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n <= 0 { break }
                bytes.append(contentsOf: buffer[0..<n])
            }
            fclose(file)
        }
        return (status, bytes)
    }
}
