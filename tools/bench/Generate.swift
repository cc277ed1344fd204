import ArgumentParser
import Glibc

/// `strata-bench generate`: the data set as JSON lines on stdout.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write seeded page views as JSON lines to stdout (the input of `strata ingest`).",
        discussion: "The RESULT line goes to stderr, so that stdout holds only the data set.")

    @Option(help: "Number of events.")
    var events: Int = 10_000_000

    @OptionGroup var dataSet: DataSetOptions

    func validate() throws {
        guard events >= 0 else { throw ValidationError("--events must not be negative") }
    }

    func run() throws {
        var generator = dataSet.makeGenerator()
        var writer = JSONLineWriter(fd: STDOUT_FILENO, urls: generator.urls)
        let start = now()
        for _ in 0..<events { try writer.append(generator.next()) }
        try writer.flush()
        let seconds = now() - start
        let bytes = writer.bytesWritten
        let line = "RESULT workload=generate-json events=\(events) seconds=\(fixed(seconds))"
            + " events_per_s=\(seconds > 0 ? String(Int(Double(events) / seconds)) : "inf")"
            + " bytes=\(bytes) bytes_per_event=\(fixed(events > 0 ? Double(bytes) / Double(events) : 0, 2))"
            + " mb_per_s=\(fixed(Double(bytes) / 1_048_576 / max(seconds, 1e-9), 1))"
        printToStderr(line)
    }
}
