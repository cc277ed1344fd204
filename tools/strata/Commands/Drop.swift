import ArgumentParser
import Strata

/// `strata drop STREAM [--force]`: deletes a stream and its late side stream.
struct Drop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a stream, its late side stream and everything they hold.",
        discussion: """
            Refuses while another process writes the stream (an ingest, strata serve ingesting into it: \
            whoever holds its writer lock), and refuses a stream a program reads or writes unless --force. \
            Readers in other processes are not refused: a read in progress finishes, the next read of the \
            stream fails with "unknown stream" (a tail -f following it ends with that error). The space is \
            reused by the store; strata compact returns it to the file system.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stream's name.", completion: .custom(completeStreamNames))
    var stream: String

    @Flag(help: "Drop a stream a program reads or writes too.")
    var force = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let report = try Store.drop(stream, inStoreAt: options.path, force: force)
        var out = OutputBuffer()
        if json {
            out.append(JSONValue.object([
                "stream": .string(report.stream), "blocks": .unsigned(UInt64(report.blocks)),
                "programs": .array(report.programs.map { .string($0) }),
            ]).text + "\n")
        } else {
            var line = "dropped \(report.stream) and \(report.stream).late: \(report.blocks) blocks"
            if !report.programs.isEmpty { line += " (used by program \(report.programs.joined(separator: ", ")))" }
            out.append(line + "\n")
        }
        try out.flush()
    }
}

/// `strata rename STREAM NEW`: renames a stream and its late side stream.
struct Rename: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rename a stream (and its late side stream); no data moves.",
        discussion: """
            Refuses while another process writes the stream (whoever holds its writer lock), when NEW exists, \
            and for a stream a program reads or writes (the program finds its streams by name). Readers keep \
            reading it: its data is kept by the stream's ID, which does not change.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stream's name.", completion: .custom(completeStreamNames))
    var stream: String

    @Argument(help: "Its new name.")
    var newName: String

    func run() throws {
        try Store.rename(stream, to: newName, inStoreAt: options.path)
        var out = OutputBuffer()
        out.append("renamed \(stream) to \(newName)\n")
        try out.flush()
    }
}
