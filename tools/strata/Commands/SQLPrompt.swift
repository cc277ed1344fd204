import Foundation
import Glibc
import Strata
import StrataSQL

/// `strata sql` on a terminal with no query: a prompt that runs statements as they are completed
/// by `;` (over as many lines as they take), with dot commands (`.help`), in-memory history and
/// line editing (``LineEditor``). Ctrl-C abandons the line being typed, or interrupts the running
/// query; Ctrl-D or `.quit` leaves. Errors are printed and the prompt goes on.
struct SQLPrompt {
    let connection: SQLConnection
    var format: SQLCommand.Format
    let store: String

    static let help = """
        Statements end with ; and may span lines. Every stream is a table.
        .tables                    the streams (and tables created in this session)
        .schema [NAME]             the columns of a table, or of every stream
        .mode [table|json|csv]     the output format (without an argument: the current one)
        .help                      this text
        .quit                      leave (also .exit, or Ctrl-D)
        Ctrl-C abandons the line being typed, or interrupts the running query.
        """

    func run() {
        var prompt = self
        prompt.loop()
    }

    private mutating func loop() {
        let editor = LineEditor()
        say("strata sql on \(store): SQLite \(SQLConnection.sqliteVersion). .help for help; end statements with ;\n")
        var pending = ""
        while true {
            switch editor.readLine(prompt: pending.isEmpty ? "strata> " : "   ...> ") {
            case .end:
                return
            case .interrupted:
                pending = ""
            case .text(let line):
                if pending.isEmpty && line.trimmingCharacters(in: .whitespaces).hasPrefix(".") {
                    if !command(line.trimmingCharacters(in: .whitespaces)) { return }
                    continue
                }
                pending += pending.isEmpty ? line : "\n" + line
                if pending.allSatisfy(\.isWhitespace) {
                    pending = ""
                    continue
                }
                guard SQLConnection.isComplete(pending) else { continue }
                let statements = pending
                pending = ""
                execute(statements)
            }
        }
    }

    /// Runs statements, printing their rows, or the error.
    private func execute(_ sql: String) {
        do {
            try SQLCommand.print(sql, on: connection, format: format)
        } catch SQLError.interrupted {
            printError("interrupted")
        } catch {
            printError("Error: " + (PlainError(error)?.description ?? String(describing: error)))
        }
    }

    /// Runs a dot command; false to leave the prompt.
    private mutating func command(_ line: String) -> Bool {
        let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let name = words.first else { return true }
        let arguments = Array(words.dropFirst())
        switch name {
        case ".quit", ".exit", ".q":
            return false
        case ".help":
            say(Self.help + "\n")
        case ".mode":
            guard let mode = arguments.first else {
                say("current output mode: \(format.rawValue)\n")
                return true
            }
            guard arguments.count == 1, let chosen = SQLCommand.Format(rawValue: mode) else {
                printError("Error: .mode takes one of table, json, csv")
                return true
            }
            format = chosen
        case ".tables":
            do {
                var names = try connection.streamNames()
                try connection.execute("SELECT name FROM main.sqlite_schema WHERE type IN ('table', 'view') ORDER BY name") { row in
                    if let table = row.text(0) { names.append(table) }
                }
                say(names.map { $0 + "\n" }.joined())
            } catch {
                printError("Error: \(error)")
            }
        case ".schema":
            do {
                let names = arguments.isEmpty ? try connection.streamNames() : arguments
                for table in names { say(try schema(of: table) + "\n") }
            } catch {
                printError("Error: " + (PlainError(error)?.description ?? String(describing: error)))
            }
        default:
            printError("Error: unknown command \(name); .help lists the commands")
        }
        return true
    }

    /// `CREATE TABLE name (column TYPE, …);` for a stream or a table of the session.
    private func schema(of table: String) throws -> String {
        let quoted = "\"" + table.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        // Naming the table creates a stream's table (and fails for an unknown one).
        var columns: [String] = []
        try connection.execute("SELECT * FROM \(quoted) LIMIT 0") { _ in }
        let literal = "'" + table.replacingOccurrences(of: "'", with: "''") + "'"
        try connection.execute("SELECT name, type FROM pragma_table_info(\(literal))") { row in
            let column = row.text(0) ?? ""
            let type = row.text(1) ?? ""
            let plain = column.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !column.isEmpty
            let name = plain ? column : "\"" + column.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            columns.append(type.isEmpty ? name : name + " " + type)
        }
        return "CREATE TABLE \(quoted) (" + columns.joined(separator: ", ") + ");"
    }

    private func say(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
