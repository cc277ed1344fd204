import ArgumentParser
import Foundation
import Strata

/// `strata status [PROGRAM]`: per program and vertex, progress, lag, last snapshot, how its runs
/// began, speculation and retries.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each program vertex's progress, lag, last snapshot, how its last run began, crash recoveries, speculative copies and retries.",
        discussion: """
            PROGRESS is the start of the last committed interval; LAG the intervals sealed in all of the \
            program's inputs that the vertex has not processed; SNAPSHOT the start of the newest interval \
            with a state snapshot (- for none or a stateless vertex); STARTED how the vertex's latest run \
            began: resumed (the run before stopped cleanly), recovered (the run before was killed or crashed \
            while it ran), restarted (the run before failed with an error), first (no progress before); \
            RECOVERIES the crash recoveries (a rerun after a clean stop is a resume, not a recovery); \
            SPECULATIVE the speculative copies of straggling tasks launched, how many of them won (finished \
            first, so their output was committed) and the copies per 100 of the vertex's recent processed \
            intervals (at most 256); RETRIES the tasks run again after a failure. A line per program follows \
            the table: how its vertices' latest runs began, and whether one is marked running.
            """)

    @OptionGroup var options: StoreArguments

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
            var table = Table(header: ["PROGRAM", "VERTEX", "PROGRESS", "LAG", "SNAPSHOT", "STARTED", "RECOVERIES",
                                       "SPECULATIVE", "RETRIES"])
            for s in all {
                table.append([s.program, s.vertex, time(s.progress, s), s.lag.map(String.init) ?? "-",
                              s.lastSnapshot.map { time($0, s) } ?? "-", Self.startWord(s.lastStart),
                              String(s.recoveries), Self.speculation(s), String(s.retries)])
            }
            out.append(table.text + "\n")
            var programs: [String] = []
            for s in all where programs.last != s.program { programs.append(s.program) }
            for name in programs { out.append(summary(name, all.filter { $0.program == name }) + "\n") }
        }
        try out.flush()
    }

    /// The STARTED cell.
    static func startWord(_ start: VertexStart) -> String {
        switch start {
        case .first: "first"
        case .resumed: "resumed"
        case .afterCrash: "recovered"
        case .afterFailure: "restarted"
        case .afterUnknown, .unknown: "-"
        }
    }

    /// The `--json` name of a start.
    static func startName(_ start: VertexStart) -> JSONValue {
        switch start {
        case .first: .string("first")
        case .resumed: .string("resumed")
        case .afterCrash: .string("crash-recovery")
        case .afterFailure: .string("restart-after-failure")
        case .afterUnknown: .string("not-recorded")
        case .unknown: .null
        }
    }

    /// The SPECULATIVE cell: launched, won, per 100 recent intervals.
    static func speculation(_ s: VertexStatus) -> String {
        guard s.speculativeLaunches > 0 else { return "0" }
        var text = "\(s.speculativeLaunches) (\(s.speculativeWins) won"
        if let rate = s.speculativePer100Intervals { text += ", " + String(format: "%.1f", rate) + "/100" }
        return text + ")"
    }

    /// The line after the table for one program: how its vertices' latest runs began.
    private func summary(_ name: String, _ vertices: [VertexStatus]) -> String {
        var parts: [String] = []
        let crashed = vertices.filter { $0.lastStart == .afterCrash }
        if !crashed.isEmpty {
            var part = "recovered after a crash (\(crashed.count == 1 ? "vertex" : "vertices") "
                + crashed.map(\.vertex).joined(separator: ", ") + " \(crashed.count == 1 ? "was" : "were") mid-run"
            if let at = crashed.compactMap(\.lastStartProgress).min(), let s = crashed.first {
                part += "; restarted from progress " + time(at, s)
            }
            parts.append(part + ")")
        }
        let phrases: [(VertexStart, String)] = [(.afterFailure, "restarted after a failed run"),
                                                (.resumed, "resumed after a clean stop"), (.first, "first run"),
                                                (.afterUnknown, "start not recorded")]
        for (start, phrase) in phrases {
            let count = vertices.filter { $0.lastStart == start }.count
            if count > 0 { parts.append("\(phrase) (\(count) \(count == 1 ? "vertex" : "vertices"))") }
        }
        var line = "\(name): " + (parts.isEmpty ? "no run recorded" : parts.joined(separator: "; "))
        if vertices.contains(where: { $0.runState == .running }) {
            line += "; marked running now (a run in progress, or one whose process died: the next run recovers)"
        } else if vertices.contains(where: { $0.runState == .failed }) {
            line += "; the last run failed"
        }
        return line
    }

    /// An interval as its start time, or its index when the program's interval length is unknown.
    private func time(_ interval: Interval, _ s: VertexStatus) -> String {
        s.intervalLength.map { display.time(of: interval, length: $0) } ?? String(interval.rawValue)
    }

    /// The `--json` object of one vertex.
    private func object(_ s: VertexStatus) -> JSONValue {
        let runState: JSONValue = switch s.runState {
        case .unknown: .null
        case .running: .string("running")
        case .stoppedCleanly: .string("stopped")
        case .failed: .string("failed")
        }
        return .object([
            "program": .string(s.program),
            "vertex": .string(s.vertex),
            "progress": .unsigned(s.progress.rawValue),
            "progressTime": s.intervalLength.map { display.json(s.progress, length: $0) } ?? .null,
            "lastSnapshotTime": s.intervalLength.map { display.json(s.lastSnapshot, length: $0) } ?? .null,
            "lag": s.lag.map { .unsigned($0) } ?? .null,
            "lastSnapshot": .interval(s.lastSnapshot),
            "lastStart": Self.startName(s.lastStart),
            "lastStartProgress": .interval(s.lastStartProgress),
            "runState": runState,
            "recoveries": .unsigned(s.recoveries),
            "resumes": .unsigned(s.resumes),
            "restartsAfterFailure": .unsigned(s.restartsAfterFailure),
            "stateRestores": .unsigned(s.stateRestores),
            "snapshots": .unsigned(s.snapshotsWritten),
            "speculativeLaunches": .unsigned(s.speculativeLaunches),
            "speculativeWins": .unsigned(s.speculativeWins),
            "speculativePer100Intervals": s.speculativePer100Intervals.map { .double($0) } ?? .null,
            "recentIntervals": .unsigned(UInt64(s.recentIntervals)),
            "retries": .unsigned(s.retries),
        ])
    }
}

/// No vertex of the named program has committed anything in the store.
struct UnknownProgram: Error, CustomStringConvertible {
    var name: String
    var description: String { "no program named \(name) in the store (no vertex \(name).vN has committed progress)" }
}
