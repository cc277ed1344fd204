import Foundation
import Strata
import StrataTestSupport
import Testing

/// `strata-bench`'s RESULT lines report what a run did (issue 16): a rerun with nothing left to do
/// says so instead of dividing the input's events by a few milliseconds, and the end-to-end
/// `pipeline` checks its output. Small data: 3 intervals of 5,000 page views.
@Suite struct BenchResultTests {
    /// The fields of the last `RESULT` line of `output`.
    static func result(_ output: String) throws -> [String: String] {
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("RESULT ") })
        var fields: [String: String] = [:]  // lookup only
        for pair in line.split(separator: " ").dropFirst() {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    static func bench(_ arguments: [String]) throws -> StrataRun {
        try strata(arguments, executable: builtProductsDirectory() + "/strata-bench")
    }

    @Test func aRerunWithNothingToDoReportsNoEventsAndNoRate() throws {
        let directory = try TemporaryDirectory(prefix: "strata-bench-result")
        let store = directory.appending("store")
        let ingest = try Self.bench(["ingest", "--store", store, "--events", "15000", "--rate", "5000", "--urls", "50",
                                     "--durability", "none", "--mode", "inline"])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let first = try Self.bench(["running-count", "--store", store, "--durability", "none"])
        #expect(first.status == 0, "\(first.stderr)")
        let done = try Self.result(first.stdout)
        #expect(done["status"] == "complete" && done["events"] == "15000" && done["input_events"] == "15000")
        let again = try Self.bench(["running-count", "--store", store, "--durability", "none"])
        #expect(again.status == 0, "\(again.stderr)")
        let nothing = try Self.result(again.stdout)
        #expect(nothing["status"] == "nothing-to-do")
        #expect(nothing["events"] == "0" && nothing["events_per_s"] == "0" && nothing["intervals"] == "0")
        #expect(nothing["input_events"] == "15000")
    }

    /// `--trace FILE` writes the run's timeline: every step of every vertex and interval, and
    /// every task attempt with its thread, start, end and CPU time.
    @Test func aTracedRunWritesEveryStepAndTask() throws {
        let directory = try TemporaryDirectory(prefix: "strata-bench-trace")
        let store = directory.appending("store"), trace = directory.appending("trace.tsv")
        let ingest = try Self.bench(["ingest", "--store", store, "--events", "15000", "--rate", "5000", "--urls", "50",
                                     "--durability", "none", "--mode", "inline", "--partitions", "4"])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let run = try Self.bench(["running-count", "--store", store, "--durability", "none", "--trace", trace])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Self.result(run.stdout)["status"] == "complete")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t") }
        #expect(lines.first?.joined(separator: " ") == "vertex interval what partition thread began_us ended_us cpu_us")
        let rows = lines.dropFirst()
        #expect(rows.allSatisfy { $0.count == 8 })
        // Two vertices (the shuffle's map side and the running count), 3 intervals each.
        let vertices = Set(rows.map { String($0[0]) })
        #expect(vertices.count == 2)
        for vertex in vertices {
            for step in ["found", "began", "processed", "committed"] {
                #expect(rows.filter { $0[0] == vertex && $0[2] == step }.count == 3, "\(vertex) \(step)")
            }
            let tasks = rows.filter { $0[0] == vertex && $0[2] == "task" }
            #expect(Set(tasks.map { "\($0[1]) \($0[3])" }).count == 12, "\(vertex): every (interval, partition)")
            #expect(tasks.allSatisfy { (Int($0[4]) ?? 0) > 0 && (Int($0[5]) ?? 0) <= (Int($0[6]) ?? -1) })
        }
    }

    @Test func thePipelineTakesAJSONFileToTheRunningCount() throws {
        let directory = try TemporaryDirectory(prefix: "strata-bench-pipeline")
        let lines = directory.appending("events.jsonl")
        let generate = try Self.bench(["generate", "--events", "15000", "--rate", "5000", "--urls", "50"])
        #expect(generate.status == 0, "\(generate.stderr)")
        try Data(generate.stdout.utf8).write(to: URL(fileURLWithPath: lines))
        let run = try Self.bench(["pipeline", "--input", lines, "--store", directory.appending("store"),
                                  "--durability", "none"])
        #expect(run.status == 0, "\(run.stderr)")
        let fields = try Self.result(run.stdout)
        #expect(fields["workload"] == "pipeline" && fields["events"] == "15000" && fields["urls"] == "50")
        #expect(Double(fields["peak_rss_mb"] ?? "") ?? 0 > 0)
        #expect(Double(fields["clock_peak_rss_mb"] ?? "") ?? 0 > 0)
    }

    /// A stored page view as `strata-bench ingest` writes it (`ts`, `url`, `user`, `ev`), for
    /// the reference below: the same catalog name and encoding as the benchmark's own type.
    struct StoredPageView: RecordCodable {
        static var recordTypeName: String { "strata-bench.PageView" }
        var ts: Int64
        var url: String
        var user: UInt64
        var ev: UInt8

        func encode(to writer: inout BinaryWriter) {
            writer.write(ts)
            writer.write(url)
            writer.write(user)
            writer.write(ev)
        }

        init(from reader: inout BinaryReader) throws(RecordDecodingError) {
            ts = try reader.read()
            url = try reader.read()
            user = try reader.read()
            ev = try reader.read()
        }
    }

    /// `sessions` over a typed input reads only `user` and `ev` (`PageViewSession`, the url
    /// skipped): its live-session counts equal a reference that decodes whole page views and
    /// folds each user's events in input order (a `buy` ends a session, 2 intervals without a view
    /// time it out).
    @Test func theSessionsWorkloadReadsUserAndEventFromATypedInput() throws {
        let directory = try TemporaryDirectory(prefix: "strata-bench-sessions")
        let store = directory.appending("store")
        let ingest = try Self.bench(["ingest", "--store", store, "--events", "20000", "--rate", "2000", "--urls", "50",
                                     "--durability", "none", "--mode", "inline"])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let run = try Self.bench(["sessions", "--store", store, "--durability", "none", "--timeout", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Self.result(run.stdout)["events"] == "20000")

        let opened = try Store.open(at: store, durability: .noSync)
        let views = try opened.stream(named: "pageViews", of: StoredPageView.self)
        let info = try opened.info(of: "pageViews")
        let first = try #require(info.frontier.firstReadable), last = try #require(info.frontier.sealedThrough)
        // Per user: views so far in the session, and the last interval with an event (lookup only).
        var sessions: [UInt64: (views: Int64, lastActive: UInt64)] = [:]
        var expected: [Int64] = []
        for batch in try views.read(first...last) {
            let t = batch.interval.rawValue
            for partition in batch.partitions {
                for view in partition {
                    if let current = sessions[view.user] {
                        sessions[view.user] = view.ev == 3 ? nil : (current.views + 1, t)
                    } else {
                        sessions[view.user] = (1, t)
                    }
                }
            }
            sessions = sessions.filter { t - $0.value.lastActive < 2 }
            expected.append(Int64(sessions.count))
        }
        let counts = try opened.stream(named: "activeSessions", of: Int64.self)
        let found = try counts.read(first...last).flatMap(\.records)
        #expect(expected.count >= 10)
        #expect(found == expected)
    }
}
