import ArgumentParser
import Foundation
import Strata

/// `strata status [PROGRAM]`: per program and vertex, progress, lag, last snapshot and counters.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each program vertex's progress, lag, last snapshot, recoveries, speculative launches and retries.",
        discussion: """
            PROGRESS is the last committed interval; LAG the sealed input intervals not yet processed; \
            SNAPSHOT the newest interval with a state snapshot (- for none or a stateless vertex); \
            RECOVERIES the restarts that restored state from a snapshot and replay.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "One program (default: every program).")
    var program: String?

    @Flag(help: "Print one JSON object per vertex.")
    var json = false

    func run() throws {
        let store = try options.openStoreForReading()
        let all = try store.programStatus(program: program)
        if let program, all.isEmpty { throw UnknownProgram(name: program) }
        var out = OutputBuffer()
        if json {
            for status in all { out.append(Self.object(status).text + "\n") }
        } else {
            var table = Table(header: ["PROGRAM", "VERTEX", "PROGRESS", "LAG", "SNAPSHOT", "RECOVERIES",
                                       "SPECULATIVE", "RETRIES"])
            for s in all {
                table.append([s.program, s.vertex, String(s.progress.rawValue), s.lag.map(String.init) ?? "-",
                              text(s.lastSnapshot), String(s.recoveries), String(s.speculativeLaunches),
                              String(s.retries)])
            }
            out.append(table.text + "\n")
        }
        try out.flush()
    }

    /// The `--json` object of one vertex.
    static func object(_ s: VertexStatus) -> JSONValue {
        .object([
            "program": .string(s.program),
            "vertex": .string(s.vertex),
            "progress": .unsigned(s.progress.rawValue),
            "lag": s.lag.map { .unsigned($0) } ?? .null,
            "lastSnapshot": .interval(s.lastSnapshot),
            "recoveries": .unsigned(s.recoveries),
            "speculativeLaunches": .unsigned(s.speculativeLaunches),
            "retries": .unsigned(s.retries),
        ])
    }
}

/// No vertex of the named program has committed anything in the store.
struct UnknownProgram: Error, CustomStringConvertible {
    var name: String
    var description: String { "no program named \(name) in the store (no vertex \(name).vN has committed progress)" }
}
