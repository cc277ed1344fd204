import Foundation
import Strata
import StrataServer
import StrataTestSupport
import Testing

/// The read API (`/api/…`, docs/http.md) against a live receiver over a real store.
@Suite struct ReadAPITests {
    /// 90 JSON records in intervals 1000–1002 (30 each), keys /a /b /c in turn, sealed through 1002;
    /// and a program counting `pairs` by key with runningReduce, run to its end.
    static func start(token: String? = nil, console: Bool = false) async throws -> ReceiverHarness {
        let server = try await ReceiverHarness.start {
            $0.token = token
            $0.servesConsole = console
            // One writer per stream: the server's worker seals its stream (a quiet one at once).
            $0.idleSeal = .milliseconds(100)
        }
        var body = ""
        for seq in 0..<90 { body += #"{"ts":\#(1000 + seq / 30),"url":"/\#(["a", "b", "c"][seq % 3])","seq":\#(seq)}"# + "\n" }
        let posted = try await server.post("views", query: "time-field=ts&time-unit=s&key-field=url&partitions=2", body,
                                           headers: token == nil ? [:] : ["Authorization": "Bearer \(token ?? "")"])
        #expect(posted.status == 200, "\(posted.text)")
        // Blocking work runs off the cooperative pool, which the server's handlers need.
        let store = server.store
        try await onOwnThread {
            let sealed = try waitUntil { try store.info(of: "views").frontier.sealedThrough == Interval(1002) }
            #expect(sealed)
            let pairs = try store.stream("pairs", of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: 2)
            let appender = try pairs.explicitAppender() { $0.key }
            for t in UInt64(10)...12 {
                for (key, n) in [("x", 1), ("y", 2), ("x", 3)] {
                    try appender.append(KeyValue(key, Int64(n) * Int64(t)), interval: Interval(t))
                }
            }
            try appender.seal(through: Interval(12))
            let program = try Program(name: "counts", store: store, snapshotEvery: 2) { p in
                p.read(pairs).runningReduce(+).save(as: "totals")
            }
            _ = try program.runUntilCaughtUp()
        }
        return server
    }

    static let authorization = ["Authorization": "Bearer s3cret"]

    @Test func streamsListUserStreamsWithTotals() async throws {
        let server = try await Self.start()
        let json = try await server.get("/api/streams").json()
        let streams = try #require(json["streams"] as? [[String: Any]])
        let names = streams.compactMap { $0["name"] as? String }
        #expect(names == ["pairs", "totals", "views"])
        let views = try #require(streams.first { $0["name"] as? String == "views" })
        #expect(views["sealedThrough"] as? Int == 1002)
        #expect(views["sealedThroughTime"] as? String == "1970-01-01T00:16:42Z")
        #expect((views["stats"] as? [String: Any])?["records"] as? Int == 90)
        #expect(views["partitions"] as? Int == 2)
        let all = try #require(try await server.get("/api/streams?all=true").json()["streams"] as? [[String: Any]])
        #expect(all.contains { $0["name"] as? String == "counts.v1.out" && $0["internal"] as? Bool == true })
        let one = try await server.get("/api/streams/views").json()
        #expect(one["name"] as? String == "views" && one["keyField"] as? String == "url")
        #expect(one["keyPlacement"] as? String == "string key")
        #expect(try await server.get("/api/streams/nope").status == 404)
        try await server.stop()
    }

    @Test func intervalsCountRecordsAndBytesPerInterval() async throws {
        let server = try await Self.start()
        let json = try await server.get("/api/streams/views/intervals?from=999&to=1002").json()
        let intervals = try #require(json["intervals"] as? [[String: Any]])
        // 999 is before the stream's first interval: the range is clipped to what exists.
        #expect(intervals.compactMap { $0["interval"] as? Int } == [1000, 1001, 1002])
        #expect(intervals.compactMap { $0["records"] as? Int } == [30, 30, 30])
        #expect(intervals.allSatisfy { ($0["storedBytes"] as? Int ?? 0) > 0 })
        #expect(intervals[1]["time"] as? String == "1970-01-01T00:16:41Z")
        // The CLI's time grammar: the same range as times (half-open).
        let byTime = try await server.get("/api/streams/views/intervals?from=1970-01-01T00:16:41Z&to=1970-01-01T00:16:43Z").json()
        #expect((byTime["intervals"] as? [[String: Any]])?.compactMap { $0["interval"] as? Int } == [1001, 1002])
        let bad = try await server.get("/api/streams/views/intervals?from=yesterday-ish")
        #expect(bad.status == 400)
        #expect(try bad.json()["error"] as? String != nil)
        try await server.stop()
    }

    @Test func recordsOfAnIntervalAsJSONLinesWithFilters() async throws {
        let server = try await Self.start()
        let base = "http://127.0.0.1:\(server.port)/api/streams/views/records"
        let lines = try await Curl.lines(base + "?interval=1001")
        #expect(lines.count == 30)
        #expect(lines.allSatisfy { ($0["record"] as? [String: Any])?["ts"] as? Int == 1001 && $0["interval"] as? Int == 1001 })
        let seqs = lines.compactMap { ($0["record"] as? [String: Any])?["seq"] as? Int }
        #expect(Set(seqs) == Set(30..<60))
        // The same interval named by a time.
        #expect(try await Curl.lines(base + "?interval=1970-01-01T00:16:41.500Z").count == 30)
        // Key filter: only /b, across partitions.
        let keyed = try await Curl.lines(base + "?interval=1001&key=/b")
        #expect(keyed.count == 10)
        #expect(keyed.allSatisfy { ($0["record"] as? [String: Any])?["url"] as? String == "/b" })
        // Partition filter: only partition 1, and partitions together make the whole.
        let p0 = try await Curl.lines(base + "?interval=1001&partition=0"), p1 = try await Curl.lines(base + "?interval=1001&partition=1")
        #expect(p0.allSatisfy { $0["partition"] as? Int == 0 } && p1.allSatisfy { $0["partition"] as? Int == 1 })
        #expect(p0.count + p1.count == 30)
        // A range, and a limit.
        #expect(try await Curl.lines(base + "?from=1000&to=1002").count == 90)
        #expect(try await Curl.lines(base + "?from=1000&to=1002&limit=45").count == 45)
        // Errors: not sealed, bad partition, unknown stream, no interval.
        #expect(try await Curl.status(base + "?interval=1003") == 404)
        #expect(try await Curl.status(base + "?interval=1001&partition=7") == 400)
        #expect(try await Curl.status("http://127.0.0.1:\(server.port)/api/streams/nope/records?interval=1") == 404)
        #expect(try await Curl.status(base) == 400)
        // KeyValue records: the key filter compares the pair's key.
        let totals = try await Curl.lines("http://127.0.0.1:\(server.port)/api/streams/totals/records?interval=12&key=x")
        #expect(totals.count == 1)
        #expect((totals.first?["record"] as? [String: Any])?["value"] as? Int == 10 + 30 + 11 + 33 + 12 + 36)
        try await server.stop()
    }

    @Test func tailSendsEachNewlySealedInterval() async throws {
        let server = try await Self.start()
        // From 1003, the interval after the newest sealed one: the tail waits for it.
        let url = "http://127.0.0.1:\(server.port)/api/streams/views/tail?from=1003&intervals=2"
        let tail = Task { try await Curl.run(["--fail-with-body", url]) }
        // Appended through the server, the stream's one writer; its idle seal seals 1004.
        let more = #"{"ts":1003,"url":"/a","seq":900}"# + "\n" + #"{"ts":1004,"url":"/a","seq":901}"# + "\n"
        let posted = try await server.post("views", query: "time-field=ts&time-unit=s&key-field=url&partitions=2", more,
                                           headers: [:])
        #expect(posted.status == 200)
        let lines = try Curl.parse(try await tail.value)
        #expect(lines.compactMap { $0["interval"] as? Int } == [1003, 1004])
        try await server.stop()
    }

    @Test func programsListVerticesWithTheirStreamsAndState() async throws {
        let server = try await Self.start()
        let json = try await server.get("/api/programs").json()
        let programs = try #require(json["programs"] as? [[String: Any]])
        #expect(programs.compactMap { $0["name"] as? String } == ["counts"])
        let vertices = try #require(programs.first?["vertices"] as? [[String: Any]])
        let stateful = try #require(vertices.first { $0["stateful"] as? Bool == true })
        // runningReduce shuffles by key first (counts.v0), then keeps the state (counts.v1).
        #expect(stateful["name"] as? String == "counts.v1")
        #expect(stateful["inputs"] as? [String] == ["counts.v0.shuffle"])
        let shuffle = try #require(vertices.first { $0["name"] as? String == "counts.v0" })
        #expect(shuffle["inputs"] as? [String] == ["pairs"] && shuffle["outputs"] as? [String] == ["counts.v0.shuffle"])
        #expect(shuffle["stateful"] as? Bool == false)
        #expect((stateful["outputs"] as? [String])?.contains("totals") == true)
        #expect(stateful["stateStreams"] as? [String] == ["counts.v1.out", "totals"] || stateful["stateStreams"] as? [String] == ["totals", "counts.v1.out"])
        #expect(stateful["progress"] as? Int == 12)
        #expect(stateful["lag"] as? Int == 0)
        #expect(try await server.get("/api/programs/nope").status == 404)

        // State as of 11: x = 10+30+11+33, y = 20+22.
        let state = try await server.get("/api/state/totals?as-of=11").json()
        let entries = try #require(state["entries"] as? [[String: Any]])
        #expect(entries.count == 2)
        #expect(entries.first { $0["key"] as? String == "x" }?["value"] as? Int == 84)
        #expect(state["asOf"] as? Int == 11)
        let top = try await server.get("/api/state/totals?top=1").json()
        #expect((top["entries"] as? [[String: Any]])?.first?["key"] as? String == "x")
        #expect(top["keys"] as? Int == 2)
        let one = try await server.get("/api/state/totals?as-of=10&key=y").json()
        #expect((one["entries"] as? [[String: Any]])?.first?["value"] as? Int == 20)
        #expect(try await server.get("/api/state/views").status == 404)
        try await server.stop()
    }

    @Test func readingNeedsTheTokenButTheConsolePageDoesNot() async throws {
        let server = try await Self.start(token: "s3cret", console: true)
        #expect(try await server.get("/api/streams").status == 401)
        #expect(try await server.get("/api/streams", headers: Self.authorization).status == 200)
        #expect(try await server.get("/api/streams", headers: ["Authorization": "Bearer s3cre"]).status == 401)
        let page = try await server.get("/")
        #expect(page.status == 200)
        #expect(page.text.contains("<title>Strata console</title>"))
        #expect(try await server.get("/console/app.js").text.contains("streamsPage"))
        try await server.stop()
    }
}

/// Real curl, for chunked responses and `Expect: 100-continue`.
enum Curl {
    /// Runs curl with `arguments` on a thread of its own (never the cooperative pool, which the
    /// server under test needs); returns its standard output.
    static func run(_ arguments: [String]) async throws -> Data {
        try await onOwnThread { try runNow(arguments) }
    }

    private static func runNow(_ arguments: [String], allowFailure: Bool = false) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["--silent", "--show-error", "--max-time", "120"] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 || allowFailure else { throw TestFailure("curl \(arguments) exited \(process.terminationStatus)") }
        return data
    }

    /// The response's JSON lines; fails on a status other than 200.
    static func lines(_ url: String) async throws -> [[String: Any]] {
        try parse(try await run(["--fail-with-body", url]))
    }

    /// JSON lines as objects; an `{"error":…}` line fails.
    static func parse(_ data: Data) throws -> [[String: Any]] {
        let text = String(decoding: data, as: UTF8.self)
        return try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw TestFailure("not a JSON object: \(line)")
            }
            if let error = object["error"] { throw TestFailure("error line: \(error)") }
            return object
        }
    }

    /// The response's status (0 when there was no HTTP response).
    static func status(_ url: String, _ options: [String] = []) async throws -> Int {
        let data = try await onOwnThread { () throws -> Data in
            try runNow(options + ["--output", "/dev/null", "--write-out", "%{http_code}", url], allowFailure: true)
        }
        return Int(String(decoding: data, as: UTF8.self)) ?? 0
    }
}

/// Polls `condition` (blocking; off the cooperative pool) until it holds or 60 s pass.
private func waitUntil(_ condition: () throws -> Bool) throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return false
}
