import Foundation
import Strata
import StrataServer
import StrataTestSupport
import Testing

/// The web console in a real browser: headless Chromium loads each page from a live receiver over
/// a store with real data, and the test polls the rendered DOM (never sleeps) until what matters
/// is there, within a generous deadline. Screenshots go to the test's temporary directory, and
/// also to `$STRATA_CONSOLE_SCREENSHOTS` when set (how `docs/console/*.png` are made).
///
/// Off the cooperative pool: each page load is a dozen requests, each a few jobs of the server's
/// tasks and the test's. On the pool (two threads here) every such job waited behind the
/// synchronous tests queued there, so under the whole suite the first test took 260–620 s instead
/// of ~20 s; the server's tasks run on threads of their own (`ReceiverHarness`), and so do the
/// test's (`.offTheCooperativePool`).
@Suite(.serialized, .offTheCooperativePool) struct ConsoleBrowserTests {
    @Test func everyPageShowsItsDataInChromium() async throws {
        let server = try await ReadAPITests.start(console: true)
        let shots = try TemporaryDirectory(prefix: "strata-console-shots")
        let base = "http://127.0.0.1:\(server.port)/"

        // Streams: the user streams with their counts, and a chart with data points.
        let streams = try await Chromium.waitForDOM(base + "#/streams", screenshot: shots.appending("streams.png")) {
            $0.contains(#"data-stream="views""#) && $0.contains(#"data-stream="pairs""#)
                && Chromium.points(in: $0, chart: "chart-rates") > 0
        }
        #expect(streams.contains(">90<"))
        #expect(!streams.contains(#"data-stream="counts.v1.out""#))

        // A stream: the per-interval bar chart, and the interval browser at a time (the CLI's grammar).
        let stream = try await Chromium.waitForDOM(base + "#/stream/views?interval=1970-01-01T00:16:41Z",
                                                   screenshot: shots.appending("stream.png")) {
            $0.contains(#"<span id="browsed-interval">1001</span>"#) && Chromium.points(in: $0, chart: "chart-intervals") >= 6
        }
        #expect(stream.contains(#"<span id="browsed-count">30</span>"#))
        #expect(stream.contains("&quot;seq&quot;:45") || stream.contains(#""seq":45"#))
        #expect(!stream.contains("&quot;seq&quot;:75"))
        let keyed = try await Chromium.waitForDOM(base + "#/stream/views?interval=1001&key=%2Fb") {
            $0.contains(#"<span id="browsed-count">"#)
        }
        #expect(keyed.contains(#"<span id="browsed-count">10</span>"#))

        // Programs: the graph with its vertex, input and output, the stateful vertex marked.
        let programs = try await Chromium.waitForDOM(base + "#/programs", screenshot: shots.appending("programs.png")) {
            $0.contains(#"<svg class="graph""#) && $0.contains(#"data-vertex="counts.v1""#)
        }
        #expect(programs.contains(#"<g class="vertex stateful" data-vertex="counts.v1""#))
        #expect(programs.contains(#"<g class="stream" data-stream="pairs""#))
        #expect(programs.contains(#"<g class="stream" data-stream="totals""#))

        // Ingest: the receiver's counters.
        let ingest = try await Chromium.waitForDOM(base + "#/ingest", screenshot: shots.appending("ingest.png")) {
            $0.contains(#"data-metric="Accepted""#)
        }
        #expect(ingest.contains(#"data-metric="Accepted">90<"#))

        if let keep = ProcessInfo.processInfo.environment["STRATA_CONSOLE_SCREENSHOTS"] {
            for name in ["streams", "stream", "programs", "ingest"] {
                try? FileManager.default.removeItem(atPath: keep + "/\(name).png")
                try FileManager.default.copyItem(atPath: shots.appending("\(name).png"), toPath: keep + "/\(name).png")
            }
        }
        try await server.stop()
    }

    /// Issue 14: processing time and scheduling delay per interval for a program another process
    /// ran (the seed programs of `strata-crash-child`, twice: the second run resumes), from the
    /// timing rows the engine keeps in the store.
    @Test func programChartsShowTheTimingsOfAProgramAnotherProcessRan() async throws {
        let server = try await ReceiverHarness.start({ $0.servesConsole = true }, prepare: { path in
            for intervals in ["6", "8"] {
                let child = Process()
                child.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata-crash-child")
                child.arguments = ["program", "--store", path, "--intervals", intervals, "--events-per-interval", "40",
                                   "--snapshot-every", "4"]
                child.standardOutput = FileHandle.nullDevice
                try child.run()
                child.waitUntilExit()
                guard child.terminationStatus == 0 else { throw TestFailure("strata-crash-child exited \(child.terminationStatus)") }
            }
        })
        // The API: one timing per processed interval, read from the store.
        let timings = try await server.get("/api/programs/seeds/timings").json()
        let vertices = try #require(timings["vertices"] as? [[String: Any]])
        #expect(vertices.count == 10)
        let v0 = try #require(vertices.first?["timings"] as? [[String: Any]])
        #expect(v0.compactMap { $0["interval"] as? Int } == Array(0..<8))
        #expect(v0.allSatisfy { ($0["recordsIn"] as? Int) == 40 && ($0["processingMs"] as? Double ?? -1) >= 0 })
        #expect(v0.first?["time"] as? String == "1970-01-01T00:00:00Z")
        #expect(try await server.get("/api/programs/seeds/timings?last=0").status == 400)
        #expect(try await server.get("/api/programs/nope/timings").status == 404)

        let shots = try TemporaryDirectory(prefix: "strata-console-shots")
        let dom = try await Chromium.waitForDOM("http://127.0.0.1:\(server.port)/#/programs/seeds",
                                                screenshot: shots.appending("program-timings.png"),
                                                screenshotHeight: 1700) {
            $0.contains(#"data-vertex="seeds.v9""#) && Chromium.points(in: $0, chart: "chart-proc-seeds") >= 8
                && Chromium.points(in: $0, chart: "chart-delay-seeds") >= 8 && Chromium.points(in: $0, chart: "chart-in-seeds") >= 8
        }
        // Ten vertices, eight processed intervals each.
        #expect(Chromium.points(in: dom, chart: "chart-proc-seeds") == 80)
        #expect(dom.contains("resumed after a clean stop"))
        #expect(dom.contains("Not running: the last run stopped."))
        if let keep = ProcessInfo.processInfo.environment["STRATA_CONSOLE_SCREENSHOTS"] {
            try? FileManager.default.removeItem(atPath: keep + "/program-timings.png")
            try FileManager.default.copyItem(atPath: shots.appending("program-timings.png"), toPath: keep + "/program-timings.png")
        }
        try await server.stop()
    }

    @Test func withoutChartJSTheConsoleSaysChartsAreUnavailable() async throws {
        let server = try await ReceiverHarness.start {
            $0.servesConsole = true
            $0.chartLibraryPath = "/nonexistent/chart.min.js"
        }
        _ = try await server.post("views", "{\"a\":1}\n")
        let dom = try await Chromium.waitForDOM("http://127.0.0.1:\(server.port)/#/streams") {
            $0.contains(#"data-stream="views""#)
        }
        #expect(dom.contains("Charts are unavailable"))
        try await server.stop()
    }
}

/// Headless Chromium (Debian's `chromium`, installed by tools/setup.sh).
enum Chromium {
    static let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Loads `url` until its DOM satisfies `condition` (at most `seconds`), then takes a screenshot
    /// when asked; returns the DOM.
    ///
    /// Each Chromium run is capped (`runLimit`) and its whole process group killed past it, a guard
    /// against a browser that hangs: one `--dump-dom` run once outlived `onOwnThread`'s 600 s under
    /// the full suite, while the server's handlers still waited on the cooperative pool (see the
    /// suite). A run that was killed shows nothing and is retried with the same virtual-time
    /// budget; the deadline covers the retries.
    static func waitForDOM(_ url: String, within seconds: Double = 900, screenshot: String? = nil,
                           screenshotHeight: Int = 900, _ condition: @escaping @Sendable (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var budget = 3000
        var dom = ""
        while true {
            let current = budget
            let result = try await onOwnThread(within: .seconds(runLimit + 60)) { try run(["--dump-dom", url], budget: current) }
            dom = result ?? ""
            if result != nil, condition(dom) { break }
            guard ContinuousClock.now < deadline else {
                throw TestFailure("the page \(url) did not show what was expected within \(seconds) s; its DOM:\n\(dom)")
            }
            if result != nil { budget = min(budget * 2, 20_000) }
        }
        if let screenshot {
            let current = budget
            var taken = false
            while !taken {
                taken = try await onOwnThread(within: .seconds(runLimit + 60)) {
                    try run(["--screenshot=\(screenshot)", "--window-size=1366,\(screenshotHeight)", url], budget: current)
                } != nil
                guard taken || ContinuousClock.now < deadline else { throw TestFailure("no screenshot of \(url) within \(seconds) s") }
            }
            #expect(FileManager.default.fileExists(atPath: screenshot))
        }
        return dom
    }

    /// The longest one Chromium run may take before its process group is killed (seconds).
    static let runLimit = 240

    /// The `data-points` a chart's canvas carries (the console sets it when it draws the chart).
    static func points(in dom: String, chart id: String) -> Int {
        guard let range = dom.range(of: #"id="\#(id)""#) else { return 0 }
        let start = dom[..<range.lowerBound].lastIndex(of: "<") ?? range.lowerBound
        let tag = dom[start...].prefix { $0 != ">" }
        guard let points = tag.range(of: #"data-points=""#) else { return 0 }
        return Int(tag[points.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    /// Runs Chromium headless on `arguments`, with `budget` ms of virtual time for the page's
    /// scripts and requests; returns its standard output, or `nil` when it ran past `runLimit`
    /// seconds and was killed (`timeout` kills Chromium's whole process group, renderers included).
    static func run(_ arguments: [String], budget: Int) throws -> String? {
        guard let path else { throw TestFailure("chromium is not installed: run tools/setup.sh") }
        let profile = try TemporaryDirectory(prefix: "strata-chromium")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-s", "KILL", "\(runLimit)", path,
                             "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--no-first-run", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                             "--user-data-dir=\(profile.path)"]
            + (arguments.contains { $0.hasPrefix("--window-size=") } ? [] : ["--window-size=1366,900"])
            + ["--virtual-time-budget=\(budget)"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        // Killed by `timeout -s KILL`: the signal reaches its own process group, `timeout` included
        // (ended by SIGKILL; or exit 137 from a `timeout` that outlived it).
        if process.terminationReason == .uncaughtSignal || process.terminationStatus == 137 { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
