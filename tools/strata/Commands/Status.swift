import ArgumentParser
import Foundation
import Strata

/// `strata status [PROGRAM]`: per program and vertex, progress, lag, last snapshot and counters.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each program vertex's progress, lag, last snapshot, recoveries, speculative launches and retries.",
        discussion: """
            PROGRESS is the start of the last committed interval; LAG the intervals sealed in all of the \
            program's inputs that the vertex has not processed; SNAPSHOT the start of the newest interval \
            with a state snapshot (- for none or a stateless vertex); RECOVERIES the runs that restored the \
            vertex's state from a snapshot and replay (a rerun after a clean stop counts too); SPECULATIVE \
            the speculative copies of straggling tasks launched (each copy, whether it won or not); RETRIES \
            the tasks run again after a failure.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "One program (default: every program).")
    var program: String?

    @Flag(help: "Print one JSON object per vertex.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    func run() throws {
        let store = try options.openStoreForReading()
        let all = try store.programStatus(program: program)
        if let program, all.isEmpty { throw UnknownProgram(name: program) }
        var out = OutputBuffer()
        if json {
            for status in all { out.append(object(status).text + "\n") }
        } else {
            var table = Table(header: ["PROGRAM", "VERTEX", "PROGRESS", "LAG", "SNAPSHOT", "RECOVERIES",
                                       "SPECULATIVE", "RETRIES"])
            for s in all {
                table.append([s.program, s.vertex, time(s.progress, s), s.lag.map(String.init) ?? "-",
                              s.lastSnapshot.map { time($0, s) } ?? "-", String(s.recoveries),
                              String(s.speculativeLaunches), String(s.retries)])
            }
            out.append(table.text + "\n")
        }
        try out.flush()
    }

    /// An interval as its start time, or its index when the program's interval length is unknown.
    private func time(_ interval: Interval, _ s: VertexStatus) -> String {
        s.intervalLength.map { display.time(of: interval, length: $0) } ?? String(interval.rawValue)
    }

    /// The `--json` object of one vertex.
    private func object(_ s: VertexStatus) -> JSONValue {
        .object([
            "program": .string(s.program),
            "vertex": .string(s.vertex),
            "progress": .unsigned(s.progress.rawValue),
            "progressTime": s.intervalLength.map { display.json(s.progress, length: $0) } ?? .null,
            "lastSnapshotTime": s.intervalLength.map { display.json(s.lastSnapshot, length: $0) } ?? .null,
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
