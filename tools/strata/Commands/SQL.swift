import ArgumentParser
import Dispatch
import Foundation
import Strata
import StrataSQL
import Synchronization

/// `strata sql "QUERY"` (or `-f FILE`, or standard input): SQL over the store's streams, on SQLite.
struct SQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run SQL (SQLite) over the store's streams: each stream is a table.",
        discussion: """
            Tables: every stream, with columns interval, time (ISO 8601 UTC start of the interval), partition, \
            then a column per top-level field and record (the JSON text) for JSON streams, or key and value for \
            key/value streams. Constraints on interval, time (21:00, 2026-11-23T21:00:00Z, an interval index …) \
            and partition limit what is read. Table functions: state('stream', AS_OF) and slice('stream', FROM, TO). \
            Only sealed intervals are visible. The query comes from the argument, -f FILE, or standard input; \
            several statements separated by ; run in order. With no query and a terminal on standard input, \
            a prompt opens (statements end with ;, .help lists its commands, Ctrl-D leaves). Output: an aligned table, --json (one object per row, \
            sorted keys) or --csv (as sqlite3 -csv -header). Progress goes to standard error on a terminal. \
            Ctrl-C interrupts the query (exit 130). Errors (exit 1): SQLite's message with the line and column, \
            an unknown stream, a range not sealed or outside retention. \
            With --continuous --into NAME the query runs over each interval of its JSON stream, or of the two \
            JSON streams it joins, as it is sealed (tables named after the streams, with a partition column; one \
            stream is also the table input; --window N or FROM window(STREAM, N): the last N intervals) and its rows go to the \
            JSON stream NAME, deterministically, exactly once; it runs until Ctrl-C, or with --until-caught-up \
            until every sealed interval is processed. Running it again resumes where it stopped.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The SQL to run (default: -f FILE, else standard input).")
    var query: String?

    @Option(name: .customShort("f"), help: ArgumentHelp("Read the SQL from this file.", valueName: "file"))
    var file: String?

    @Flag(help: "Print one JSON object per row (JSON lines, sorted keys).")
    var json = false

    @Flag(help: "Print CSV with a header row.")
    var csv = false

    @Flag(inversion: .prefixedNo, help: "Show scan progress on standard error (default: when it is a terminal).")
    var progress: Bool?

    @Flag(help: "Run the query over each sealed interval of its stream, continuously (needs --into).")
    var continuous = false

    @Option(help: ArgumentHelp("The JSON stream a continuous query writes its rows to.", valueName: "stream"))
    var into: String?

    @Flag(help: "Stop a continuous query once every sealed input interval is processed.")
    var untilCaughtUp = false

    @Option(parsing: .unconditional, help: ArgumentHelp("A continuous query's table holds the last N intervals.", valueName: "n"))
    var window: Int?

    @Flag(help: "Merge a continuous query's count/sum/min/max per group over every interval so far.")
    var running = false

    mutating func validate() throws {
        if continuous && into == nil { throw ValidationError("--continuous needs --into STREAM") }
        if !continuous && (into != nil || untilCaughtUp || window != nil || running) {
            throw ValidationError("--into, --until-caught-up, --window and --running go with --continuous")
        }
        if continuous && (json || csv) { throw ValidationError("a continuous query writes a stream, not --json or --csv") }
        if let window, window < 1 { throw ValidationError("--window needs at least 1 interval") }
        if json && csv { throw ValidationError("--json and --csv exclude each other") }
        if query != nil && file != nil { throw ValidationError("give the SQL as an argument or with -f, not both") }
        if let query, query.allSatisfy({ $0.isWhitespace || $0 == ";" }) { throw ValidationError(Self.noStatement) }
    }

    /// The usage error for SQL that holds no statement (only whitespace, `;` or comments).
    static let noStatement = "no SQL statement given: pass one as the argument, with -f FILE, or on standard input"


    func run() throws {
        let interactive = query == nil && file == nil && !continuous && isatty(STDIN_FILENO) != 0
        let sql: String
        if let query {
            sql = query
        } else if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                // Say why, with sql's usage (a ValidationError thrown here would print the root's).
                let fd = open(file, O_RDONLY | O_CLOEXEC)
                let why = fd < 0 ? systemErrorText(errno) : "not a regular file"
                if fd >= 0 { close(fd) }
                throw CommandUsageError(Self.self, "cannot read the SQL file \(file): \(why)")
            }
            sql = String(decoding: data, as: UTF8.self)
        } else if interactive {
            sql = ""
        } else {
            sql = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        // An ad hoc query only reads: it opens the store read-only, so it works where `cat` does.
        let store = try continuous ? options.openStore() : options.openStoreForReading()
        if continuous, let into {
            try runContinuously(sql, into: into, store: store)
            return
        }
        let connection = try SQLConnection(store: store)
        if progress ?? (isatty(2) != 0) { connection.progress = ProgressLine().update }

        // Ctrl-C interrupts the query rather than killing the process: SQLite stops at its next check.
        signal(SIGINT, SIG_IGN)
        let interruption = connection.interruption
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { interruption.interrupt() }
        source.resume()
        defer {
            source.cancel()
            signal(SIGINT, SIG_DFL)
        }
        let format: Format = json ? .json : (csv ? .csv : .table)
        if interactive {
            SQLPrompt(connection: connection, format: format, store: options.path).run()
            return
        }
        do {
            let statements = try Self.print(sql, on: connection, format: format)
            if statements == 0 { throw CommandUsageError(Self.self, Self.noStatement) }
        } catch SQLError.interrupted {
            printError("interrupted")
            throw ExitCode(130)
        }
    }

    /// Runs `sql` on `connection` and prints every statement's rows to standard output in `format`.
    ///
    /// - Returns: The number of statements run (0 for only whitespace and comments).
    /// - Throws: what the connection throws (`SQLError.interrupted` on Ctrl-C), after flushing the
    ///   rows printed so far and clearing the progress line.
    @discardableResult
    static func print(_ sql: String, on connection: SQLConnection, format: Format) throws -> Int {
        var out = OutputBuffer()
        var table: Table?
        var columns: [String] = []
        func finishTable() {
            if let done = table {
                out.append(done.text + "\n")
                table = nil
            }
        }
        do {
            let statements = try connection.execute(sql, columns: { names in
                finishTable()
                columns = names
                switch format {
                case .table: table = Table(header: names)
                case .csv:
                    out.append(names.map(Self.csvField).joined(separator: ",") + "\n")
                case .json: break
                }
            }, row: { row in
                switch format {
                case .table:
                    table?.append((0..<row.count).map { row.text($0) ?? "NULL" })
                case .csv:
                    out.append((0..<row.count).map { row.text($0).map(Self.csvField) ?? "" }.joined(separator: ",") + "\n")
                case .json:
                    Self.appendJSON(row, columns: columns, to: &out.bytes)
                }
                try out.flushIfFull()
            })
            finishTable()
            try out.flush()
            ProgressLine.clear(if: connection.progress != nil)
            return statements
        } catch SQLError.interrupted {
            finishTable()
            try? out.flush()
            ProgressLine.clear(if: connection.progress != nil)
            throw SQLError.interrupted
        } catch {
            try? out.flush()
            ProgressLine.clear(if: connection.progress != nil)
            throw error
        }
    }

    enum Format: String { case table, json, csv }

    /// Runs a continuous query until Ctrl-C (or until caught up), then reports what it did on standard error.
    private func runContinuously(_ sql: String, into: String, store: Store) throws {
        do {
            try runProgram(sql, into: into, store: store)
        } catch {
            throw ContinuousQuery.explained(error, into: into)
        }
    }

    private func runProgram(_ sql: String, into: String, store: Store) throws {
        let program = try ContinuousQuery.program(store: store, query: sql, into: into, window: window, running: running)
        if untilCaughtUp {
            let summary = try program.runUntilCaughtUp()
            let through = try program.progress().compactMap(\.through).min()
            printError("\(program.name): caught up through interval \(through.map(\.description) ?? "-") "
                       + "(\(summary.intervals) vertex interval(s) run)")
            return
        }
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let finished = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        let task = Task {
            do { try await program.run() } catch { failure.set(error) }
            finished.signal()
        }
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                task.cancel()
                program.stop()
            }
            source.resume()
            sources.append(source)
        }
        finished.wait()
        for source in sources { source.cancel() }
        if let error = failure.error { throw error }
        let through = try program.progress().compactMap(\.through).min()
        printError("\(program.name): stopped; processed through interval \(through.map(\.description) ?? "-")")
    }

    /// A CSV field quoted as `sqlite3 -csv` quotes it: when empty, or holding a space, control
    /// character, quote, apostrophe, comma or non-ASCII byte.
    static func csvField(_ text: String) -> String {
        let needsQuotes = text.isEmpty || text.utf8.contains { $0 <= 0x20 || $0 == 0x22 || $0 == 0x27 || $0 == 0x2C || $0 >= 0x7F }
        guard needsQuotes else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One row as a JSON object with sorted keys; a repeated column name gets `:2`, `:3` … appended.
    static func appendJSON(_ row: SQLRow, columns: [String], to out: inout [UInt8]) {
        var names: [String] = []
        var seen: [String: Int] = [:]
        for column in columns {
            let n = (seen[column] ?? 0) + 1
            seen[column] = n
            names.append(n == 1 ? column : "\(column):\(n)")
        }
        let order = names.indices.sorted { names[$0].utf8.lexicographicallyPrecedes(names[$1].utf8) }
        out.append(0x7B)
        for (k, index) in order.enumerated() {
            if k > 0 { out.append(0x2C) }
            SQLValue.text(names[index]).appendJSON(to: &out)
            out.append(0x3A)
            row[index].appendJSON(to: &out)
        }
        out.append(contentsOf: [0x7D, 0x0A])
    }
}

/// A progress line on standard error, rewritten at most twice a second.
final class ProgressLine {
    private var last = DispatchTime.now()

    func update(_ progress: SQLScanProgress) {
        let now = DispatchTime.now()
        guard now.uptimeNanoseconds - last.uptimeNanoseconds >= 500_000_000 else { return }
        last = now
        writeError("\r\(progress.stream): interval \(progress.intervalsRead + 1) of \(progress.intervals), "
                   + "\(progress.blocksRead) blocks read\u{1B}[K")
    }

    static func clear(if shown: Bool) { if shown { writeError("\r\u{1B}[K") } }
}

/// The error a background run ended with.
final class FailureBox: Sendable {
    private let value = Mutex<(any Error)?>(nil)
    func set(_ error: any Error) { value.withLock { $0 = error } }
    var error: (any Error)? { value.withLock { $0 } }
}

/// The continuous SQL programs of `strata serve --program FILE.sql`: each file holds one query,
/// whose rows go to the JSON stream named after the file.
func continuousPrograms(files: [String], store: Store) throws -> [Program] {
    try files.map { file in
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read the SQL program \(file)")
        }
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        guard !name.isEmpty else { throw ValidationError("the SQL program \(file) needs a file name to name its stream") }
        return try ContinuousQuery.program(store: store, query: String(decoding: data, as: UTF8.self), into: name)
    }
}

/// Runs `programs` (continuously) while `body` runs, then stops them and waits for them to commit;
/// with `catchUp`, they then process every interval sealed by then (`serve --once`).
func runBeside(_ programs: [Program], catchUp: Bool,
               _ body: @escaping @Sendable () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for program in programs {
            group.addTask {
                do { try await program.run() } catch { throw explained(error, of: program) }
            }
        }
        do {
            try await body()
        } catch {
            for program in programs { program.stop() }
            group.cancelAll()
            throw error
        }
        for program in programs { program.stop() }
        group.cancelAll()
        try await group.waitForAll()
    }
    if catchUp {
        for program in programs {
            do { _ = try program.runUntilCaughtUp() } catch { throw explained(error, of: program) }
        }
    }
}

/// `error` of a continuous query's program in plain words (``ContinuousQuery/explained(_:into:)``).
private func explained(_ error: any Error, of program: Program) -> any Error {
    ContinuousQuery.explained(error, into: String(program.name.dropFirst(ContinuousQuery.programName(into: "").count)))
}
