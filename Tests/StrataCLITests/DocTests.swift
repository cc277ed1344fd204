import Foundation
import StrataTestSupport
import Testing

/// Every console example of README.md and docs/*.md, run with the built tools and compared with
/// what the page shows (STYLE.md §12: docs that cannot be reproduced are bugs).
///
/// How a page runs (also in docs/cli.md, "Examples that run"):
/// - Each page runs in a fresh temporary directory, its ```console blocks in order, so later
///   blocks see what earlier ones made. `STRATA_STORE` starts unset; the built products
///   (`strata`, `strata-bench`, `strata-crash-child`, …) come first on `PATH`.
/// - A line starting with `$ ` is a command; a command ending in `\` or `|` continues on the next
///   line. The lines after it, up to the next command, are what it prints.
/// - `export NAME=VALUE` sets the environment of the page's later commands; `echo $?` prints the
///   previous command's exit status; `cat FILE` of a file that does not exist yet creates it with
///   the lines shown (so a page states its own input data); anything else runs with `/bin/sh -c`.
/// - A command passes when the lines shown equal its standard output (when it exits 0), or its
///   standard output followed by its standard error (or the other way round). A shown line `…` stands for any
///   number of lines.
/// - Normalised on both sides, and only these: elapsed times and rates (`0.012 s`, `402 records/s`,
///   `in 0.03 s`), which no two runs share; plus what a page's `DocPage` declares.
@Suite struct DocTests {
    /// What a page needs beyond the defaults. A page not listed here runs with the defaults: a
    /// page merged from another branch is covered as soon as it is in `docs/`, and a line here is
    /// all it takes to skip a command that cannot run in a test (a server in the background).
    struct DocPage: Sendable, CustomStringConvertible {
        /// The page, relative to the package root.
        var path: String
        /// Commands not run (matched by prefix, after `$ `), each with the reason.
        var skipped: [(prefix: String, reason: String)] = []
        /// Extra normalisations of the output of the commands containing `command`: regular
        /// expression → replacement, applied to shown and printed lines.
        var normalizations: [(command: String, pattern: String, replacement: String)] = []
        var description: String { path }
    }

    static let declared: [DocPage] = [
        DocPage(path: "docs/cli.md", skipped: [
            ("strata serve --store events.strata --port", "a server in the background: StrataServerTests run it"),
            ("curl", "needs the server above"),
            ("kill", "needs the server above"),
            ("strata sql --store pv.strata", "its store is the one docs/sql.md builds; SQLDocExampleTests runs that page"),
        ], normalizations: [
            // An arrival-time stream gets the intervals of the moment it was ingested.
            ("ingest access", #"intervals 1\d{9}–1\d{9}, sealed through 1\d{9}$"#, "intervals T–T, sealed through T"),
            // The bytes LMDB's file uses depend on when freed pages are reused.
            ("stats", #"store: \d+ bytes used"#, "store: N bytes used"),
            ("stats", #""storeUsedBytes":\d+"#, #""storeUsedBytes":N"#),
            ("verify", #""pages":\d+"#, #""pages":N"#),
            ("verify", #""entries":\d+"#, #""entries":N"#),
        ]),
        // Its examples build their store from generated page views: SQLDocExampleTests runs them.
        DocPage(path: "docs/sql.md", skipped: [("", "run by SQLDocExampleTests with the page's own fixture")]),
        DocPage(path: "docs/time-travel.md", normalizations: [
            // The bytes LMDB's file uses depend on when freed pages are reused.
            ("compact", #"\d+ bytes"#, "N bytes"),
        ]),
        DocPage(path: "docs/ingest.md", skipped: [
            ("strata serve", "a server in the background: StrataServerTests run it"),
            ("curl", "needs the server above"),
            ("printf", "posts to the server above"),
            ("kill", "needs the server above"),
        ]),
    ]

    /// Every page with a console example, with its declaration or the defaults.
    static func pages() -> [DocPage] {
        let root = packageRoot()
        var paths = ["README.md"]
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: root + "/docs")) ?? []
        paths += docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        return paths.filter { path in
            ((try? String(contentsOfFile: root + "/" + path, encoding: .utf8)) ?? "").contains("```console")
        }.map { path in declared.first { $0.path == path } ?? DocPage(path: path) }
    }

    @Test(arguments: pages())
    func consoleExamplesPrintWhatThePageShows(page: DocPage) throws {
        let text = try String(contentsOfFile: Self.packageRoot() + "/" + page.path, encoding: .utf8)
        let directory = try TemporaryDirectory(prefix: "strata-doc")
        var environment = ProcessInfo.processInfo.environment
        environment["STRATA_STORE"] = nil
        environment["PATH"] = builtProductsDirectory() + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["TZ"] = "UTC"
        var lastStatus: Int32 = 0
        for example in Self.examples(in: text) {
            let location = "\(page.path):\(example.line): $ \(example.command)"
            if page.skipped.contains(where: { example.command.hasPrefix($0.prefix) }) { continue }
            var printed: [[String]]
            if example.command.hasPrefix("export "), let eq = example.command.firstIndex(of: "=") {
                let name = String(example.command[example.command.index(example.command.startIndex, offsetBy: 7)..<eq])
                environment[name] = String(example.command[example.command.index(after: eq)...])
                printed = [[]]
            } else if example.command == "echo $?" {
                printed = [["\(lastStatus)"]]
            } else if let file = Self.catFile(example.command),
                      !FileManager.default.fileExists(atPath: directory.appending(file)) {
                // The page states its input: create the file with the lines shown.
                try Data((example.expected.joined(separator: "\n") + "\n").utf8)
                    .write(to: URL(fileURLWithPath: directory.appending(file)))
                printed = [example.expected]
            } else {
                let run = try Self.shell(example.command, in: directory.path, environment: environment)
                lastStatus = run.status
                #expect(!run.crashed, "\(location) crashed: \(run.stderr)")
                let out = Self.lines(run.stdout), err = Self.lines(run.stderr)
                // A failing command must show its error: standard output alone passes only on success.
                printed = (run.status == 0 ? [out] : []) + [out + err, err + out]
            }
            let expected = example.expected.map { Self.normalize($0, page, example.command) }
            let matched = printed.contains {
                Self.matches(expected, $0.map { Self.normalize($0, page, example.command) })
            }
            #expect(matched, """
                \(location)
                shown:
                \(example.expected.joined(separator: "\n"))
                printed:
                \((printed.count > 1 ? printed[1] : printed[0]).joined(separator: "\n"))
                """)
        }
    }

    @Test func everyPageWithExamplesIsRunAndEveryDeclarationNamesAPage() {
        let pages = Self.pages().map(\.path)
        #expect(pages.contains("README.md") && pages.contains("docs/cli.md") && pages.contains("docs/tutorial.md"))
        for page in Self.declared { #expect(pages.contains(page.path), "\(page.path) has no console example") }
    }

    // MARK: Reading pages

    /// One command of a page and the lines shown after it.
    struct Example {
        var line: Int
        var command: String
        var expected: [String]
    }

    /// The commands of every ```console block of `text`, in order.
    static func examples(in text: String) -> [Example] {
        var examples: [Example] = []
        var inBlock = false, continuing = false
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(line)
            if !inBlock {
                if line.hasPrefix("```console") { inBlock = true }
                continue
            }
            if line.hasPrefix("```") {
                inBlock = false
                continuing = false
                continue
            }
            if continuing, !examples.isEmpty {
                examples[examples.count - 1].command += "\n" + line
                continuing = line.hasSuffix("\\") || line.hasSuffix("|")
            } else if line.hasPrefix("$ ") {
                examples.append(Example(line: number + 1, command: String(line.dropFirst(2)), expected: []))
                continuing = line.hasSuffix("\\") || line.hasSuffix("|")
            } else if !examples.isEmpty {
                examples[examples.count - 1].expected.append(line)
            }
        }
        return examples
    }

    /// `FILE` of `cat FILE` (one plain file name), or nil.
    static func catFile(_ command: String) -> String? {
        let words = command.split(separator: " ")
        guard words.count == 2, words[0] == "cat", !words[1].contains("/"), !words[1].hasPrefix("-") else { return nil }
        return String(words[1])
    }

    /// Whether `printed` is `expected`, where an expected `…` line stands for any lines.
    static func matches(_ expected: [String], _ printed: [String]) -> Bool {
        guard let first = expected.first else { return printed.isEmpty }
        if first == "…" {
            let rest = Array(expected.dropFirst())
            return (0...printed.count).contains { matches(rest, Array(printed.dropFirst($0))) }
        }
        guard let line = printed.first, line == first else { return false }
        return matches(Array(expected.dropFirst()), Array(printed.dropFirst()))
    }

    /// The line with elapsed times and rates, and the page's own patterns, normalised.
    static func normalize(_ line: String, _ page: DocPage, _ command: String) -> String {
        var line = line
        let patterns = [(#"\b\d+\.\d+ s\b"#, "N.NN s"), (#"\b\d+ records/s\b"#, "N records/s")]
            + page.normalizations.filter { command.contains($0.command) }.map { ($0.pattern, $0.replacement) }
        for (pattern, replacement) in patterns {
            line = line.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return line
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// Runs `command` with `/bin/sh -c` in `directory`.
    static func shell(_ command: String, in directory: String, environment: [String: String]) throws -> StrataRun {
        let scratch = try TemporaryDirectory(prefix: "strata-doc-run")
        let outPath = scratch.appending("stdout"), errPath = scratch.appending("stderr")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? output.close()
            try? errors.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        return StrataRun(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self))
    }

    /// The package's root directory, found from this source file.
    static func packageRoot() -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
}
