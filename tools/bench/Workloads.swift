import ArgumentParser
import Dispatch
import Glibc
import Strata
import StrataEngine
import Synchronization

// Engine workloads: programs over a stored page-view stream, timed from sealed input log to
// sealed output log. The input is either the typed `PageView` stream of `strata-bench ingest` or
// the JSON stream of `strata ingest` (fields ts, url, user, ev).

/// `strata-bench running-count`: `(url, 1) → runningReduce(+) → save` over every sealed interval.
struct RunningCount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "running-count",
        abstract: "Run the running count of page views per url over every sealed interval of a stored stream.",
        discussion: """
            The program maps each page view to (url, 1), keeps a running count per url \
            (runningReduce(+): a per-interval reduceByKey, then the running state) and saves, per \
            interval, the urls seen in it with their new counts as KeyValue<String, Int64> \
            (print them with `strata cat --json`). Timed: defining the program and running it until \
            it has caught up, every output committed. The input is a PageView stream (strata-bench \
            ingest) or a JSON stream (strata ingest), whose url field is read straight from the \
            stored JSON text. Resumable: rerun after a kill, the same command restores the program's \
            state (newest snapshot, --snapshot-every, plus replay), prints how long it took to catch \
            up with the pre-crash progress, and continues; rerun after completion, it changes nothing.
            """)

    @OptionGroup var workload: WorkloadOptions

    @Option(help: "The output stream; when it exists, the program resumes from its progress.")
    var output: String = "urlCounts"

    @Option(help: "Partitions of the per-url state (default: the input's); another count adds a reduceByKey(partitions:) first.")
    var partitions: Int?

    @Flag(name: .customLong("assume-partitioned"),
          help: "Declare the pairs partitioned by url (assumingPartitionedByKey(): strata-bench ingest keys its stream by url), so that the running count does no shuffle; checked per key, a stream partitioned otherwise fails.")
    var assumePartitioned = false

    @Option(help: "How the program keys each view: decoded (map { KeyValue($0.url, 1) }, every record decoded) or encoded (countByEncodedKey: the url's bytes read from the stored record, nothing decoded; the same output blocks).")
    var keys: KeyReading = .decoded

    func validate() throws {
        if let partitions, !(1...4096).contains(partitions) { throw ValidationError("--partitions must be 1 to 4096") }
        if keys == .encoded, assumePartitioned || partitions != nil {
            throw ValidationError("--keys encoded counts through its own shuffle: not with --assume-partitioned or --partitions")
        }
    }

    func run() throws {
        let input = try workload.open(output: output)
        let output = self.output, partitions = self.partitions, assumePartitioned = self.assumePartitioned
        let keys = self.keys
        let run = try workload.time(input, name: "running-count", output: output) { p in
            if keys == .encoded {
                input.kind.countsPerURL(p).runningReduce(+).save(as: output)
                return
            }
            var pairs: DStream<KeyValue<String, Int64>>
            switch input.kind {
            case .typed(let views): pairs = p.read(views).map { KeyValue($0.url, Int64(1)) }
            case .json(let views): pairs = p.read(views).map { KeyValue($0.url, Int64(1)) }
            }
            if assumePartitioned { pairs = pairs.assumingPartitionedByKey() }
            if let partitions, partitions != Int(input.descriptor.partitions) {
                pairs.reduceByKey(partitions: partitions, +).runningReduce(+).save(as: output)
            } else {
                pairs.runningReduce(+).save(as: output)
            }
        }
        // After the clock: every url's last count, summed, is the number of events.
        let counts = try input.store.stream(named: output, of: KeyValue<String, Int64>.self)
        var latest: [String: Int64] = [:]  // lookup and a sum only; never printed in its order
        var outputRecords = 0
        if let first = run.first, let last = try counts.newestSealedInterval(), first <= last {
            try counts.forEach(in: first...last) { _, _, pair in
                latest[pair.key] = pair.value
                outputRecords += 1
            }
        }
        let total = latest.values.reduce(0, +)
        guard total == Int64(run.inputEvents) else {
            throw ValidationError("the final counts sum to \(total), but the input holds \(run.inputEvents) events")
        }
        print("  output \(output): \(outputRecords) records; \(latest.count) urls whose final counts sum to \(total) events (checked)")
        run.printResult(workload: "running-count", extra: ["output_records": String(outputRecords), "urls": String(latest.count),
                                                           "shuffle": assumePartitioned ? "elided" : "yes",
                                                           "keys": keys.rawValue])
    }
}

/// `strata-bench window-count`: `(url, 1) → reduceByKeyAndWindow(+, inverse: -) → save`, the
/// count per url over the last `--length` intervals, at every `--slide`-th interval.
struct WindowCount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "window-count",
        abstract: "Count page views per url over a sliding window of intervals, incrementally.",
        discussion: """
            (url, 1) → reduceByKeyAndWindow(+, inverse: -, length:, slide:) → save, as \
            KeyValue<String, Int64> per window end. Input and timing as for running-count.
            """)

    @OptionGroup var workload: WorkloadOptions

    @Option(help: "The output stream; when it exists, the program resumes from its progress.")
    var output: String = "urlWindowCounts"

    @Option(help: "Intervals per window (docs/benchmarks.md measures the default, 5).")
    var length: Int = 5

    @Option(help: "Intervals between window ends.")
    var slide: Int = 1

    @Flag(name: .customLong("no-inverse"), help: "Re-reduce each window from its intervals instead of updating it incrementally.")
    var noInverse = false

    func validate() throws {
        guard length >= 1, slide >= 1 else { throw ValidationError("--length and --slide must be at least 1") }
    }

    func run() throws {
        let input = try workload.open(output: output)
        let output = self.output, length = self.length, slide = self.slide
        let run = try workload.time(input, name: "window-count", output: output) { p in
            let pairs: DStream<KeyValue<String, Int64>>
            switch input.kind {
            case .typed(let views): pairs = p.read(views).map { KeyValue($0.url, Int64(1)) }
            case .json(let views): pairs = p.read(views).map { KeyValue($0.url, Int64(1)) }
            }
            if noInverse {
                pairs.reduceByKeyAndWindow(+, length: length, slide: slide).save(as: output)
            } else {
                pairs.reduceByKeyAndWindow(+, inverse: -, length: length, slide: slide).save(as: output)
            }
        }
        let stats = try input.store.stats(of: output).first
        print("  output \(output): \(stats?.records ?? 0) records in \(stats?.nonEmptyIntervals ?? 0) window ends")
        run.printResult(workload: "window-count", extra: ["output_records": String(stats?.records ?? 0),
                                                         "length": String(length), "slide": String(slide),
                                                         "inverse": noInverse ? "no" : "yes"])
    }
}

/// `strata-bench sessions`: per user, a session of page views that ends with a `buy` or after
/// `--timeout` intervals without a view (`track`); saves the number of live sessions per interval.
struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "Track user sessions (track with a timeout) and save the live session count per interval.",
        discussion: """
            (user, ev) → track(initialize: 1, update: count + 1, or end at a buy; timeout) and \
            saves activeCount (Int64, one record per interval) as the output, and the updated \
            sessions (KeyValue<UInt64, Int64>: user, views so far) as OUTPUT.updates. Typed \
            PageView (strata-bench ingest) or JSON (strata ingest: fields user, a number, and ev, \
            one of view, click, add, buy) input.
            """)

    @OptionGroup var workload: WorkloadOptions

    @Option(help: "The output stream; when it exists, the program resumes from its progress.")
    var output: String = "activeSessions"

    @Option(help: "Intervals without a view after which a session ends.")
    var timeout: Int = 5

    func validate() throws {
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1") }
    }

    func run() throws {
        let input = try workload.open(output: output)
        // A JSON stream (strata ingest) is read for its user and ev fields only.
        let jsonViews: StoredStream<JSONPageViewSession>? = if case .json = input.kind {
            try input.store.stream(named: input.descriptor.name, of: JSONPageViewSession.self)
        } else {
            nil
        }
        // A typed stream is read for its user and ev fields only, as the JSON one: its url is
        // skipped, not decoded into a `String` (the program and its fingerprint are the same).
        let typedViews: StoredStream<PageViewSession>? = if case .typed = input.kind {
            try input.store.stream(named: input.descriptor.name, of: PageViewSession.self)
        } else {
            nil
        }
        let output = self.output, timeout = self.timeout
        let run = try workload.time(input, name: "sessions", output: output) { p in
            let pairs: DStream<KeyValue<UInt64, UInt8>>
            switch input.kind {
            case .typed: pairs = p.read(typedViews!).map { KeyValue($0.user, $0.ev) }
            case .json: pairs = p.read(jsonViews!).map { KeyValue($0.user, $0.ev) }
            }
            let sessions = pairs.track(
                initialize: { (_: UInt64, _: UInt8) in Int64(1) },
                update: { (_: UInt64, views: Int64, ev: UInt8) in ev == 3 ? nil : views + 1 },
                timeout: timeout)
            sessions.activeCount.save(as: output)
            sessions.updates.save(as: output + ".updates")
        }
        let counts = try input.store.stream(named: output, of: Int64.self)
        let last = try counts.readNewest()?.records.last
        print("  output \(output): \(last.map(String.init) ?? "no") live sessions after the last interval")
        run.printResult(workload: "sessions", extra: ["timeout": String(timeout),
                                                     "live_sessions": last.map(String.init) ?? "0"])
    }
}

// MARK: - Shared by the workloads

/// The store and input stream of a workload.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "The store directory.")
    var store: String

    @Option(help: "The input stream: PageView (strata-bench ingest) or JSON (strata ingest).")
    var input: String = "pageViews"

    @Option(help: "Durability of the program's commits: none, group or fsync.")
    var durability: DurabilityOption = .group

    @Option(help: "The program's name (default: the output stream's name followed by .program).")
    var program: String?

    @Option(name: .customLong("snapshot-every"),
            help: "Snapshot stateful vertices every N intervals, or never.")
    var snapshotEvery: SnapshotPeriod = SnapshotPeriod(intervals: Program.defaultSnapshotEvery)

    @Option(help: "Write a timeline of the run to this file (tab-separated: each vertex's steps per interval and each task attempt, with its thread and CPU time; see docs/benchmarks.md, \"Where a batch run's wall time goes\").")
    var trace: String?

    /// Opens the store and the input stream, and checks that the output is new.
    func open(output: String) throws -> WorkloadInput {
        let strataStore = try Store.open(at: store, durability: durability.durability)
        let info = try strataStore.info(of: input)
        guard let first = info.frontier.firstReadable, let last = info.frontier.sealedThrough, first <= last else {
            throw ValidationError("stream \(input) has no readable sealed interval")
        }
        // An existing output means a program that already ran (or was killed): it resumes from
        // its progress, restoring its state from its snapshots.
        let resuming = (try? strataStore.info(of: output)) != nil
        let kind: WorkloadInput.Kind
        switch info.descriptor.recordType {
        case PageView.recordTypeName: kind = .typed(try strataStore.stream(named: input, of: PageView.self))
        case JSONRecord.recordTypeName: kind = .json(try strataStore.stream(named: input, of: JSONPageViewURL.self))
        case let other:
            throw ValidationError("stream \(input) holds \(other): expected \(PageView.recordTypeName) or json")
        }
        return WorkloadInput(store: strataStore, descriptor: info.descriptor, kind: kind, first: first, last: last,
                             resuming: resuming)
    }

    /// Defines the program, runs it until it has caught up (progress on stderr) and returns the
    /// timing. The input's sealed intervals and record count are read before the clock starts.
    func time(_ input: WorkloadInput, name: String, output: String, define: (ProgramBuilder) throws -> Void) throws
        -> WorkloadRun
    {
        let stats = try input.store.stats(of: input.descriptor.name).first
        let inputEvents = Int(stats?.records ?? 0)
        let inputIntervals = Int(input.last.rawValue - input.first.rawValue + 1)
        let programName = program ?? output + ".program"
        printToStderr("\(name): \(inputEvents) events in \(inputIntervals) sealed intervals of \(input.descriptor.name) "
                      + "(\(input.kind.label), \(input.descriptor.partitions) partitions), program \(programName)")
        // Before the clock: the store's pages written and not yet flushed (a store just copied
        // with `cp`, or ingested with --durability none) go to disk now, not in the program's
        // first synced commit, which would otherwise flush them all inside the timed run.
        flushStoreFile()
        let watch = Stopwatch()
        var options = ProgramOptions(snapshotEvery: snapshotEvery.intervals)
        let timeline = trace.map { _ in RunTimeline() }
        options.trace = timeline?.trace
        let program = try Program(name: programName, store: input.store, options: options, define: define)
        // Resuming: restore every stateful vertex to the progress it had committed before the
        // program stopped (the newest snapshot plus a replay of the input after it), timed from
        // the start of this run until every vertex is caught up with that progress.
        var recovery: Double?
        let before = try program.progress()
        // What this run processes: the input intervals after the least advanced vertex's progress
        // (all of them for a new program), and their events (from the seal records).
        let pending = try Self.pendingInput(input, before: before)
        if input.resuming {
            let progressText = before.map { "\($0.vertex) \($0.through.map(String.init(describing:)) ?? "-")" }
                .joined(separator: ", ")
            if before.allSatisfy({ $0.through == input.last }) {
                printToStderr("\(name): program \(programName) already processed every sealed interval; nothing to do")
            } else {
                let restored = try program.recover()
                recovery = watch.read().wall
                printToStderr("\(name): resumed at the pre-crash progress (\(progressText)); \(restored) stateful "
                              + "vertices restored")
                print("  recovery: caught up with the pre-crash progress in \(fixed(recovery ?? 0, 3)) s "
                      + "(\(restored) stateful vertices restored from snapshots and replay)")
            }
        }
        let reporter = ProgressReporter(program: program, first: input.first, last: input.last, started: watch.wall)
        let summary: Program.PassSummary
        do {
            defer { reporter.stop() }
            summary = try program.runUntilCaughtUp()
        }
        let cpu = watch.read()
        var progress = summary.progress
        for (vertex, through) in before where progress[vertex] == nil { progress[vertex] = through }
        let done = progress.values.min()
        guard done == input.last else {
            throw ValidationError("the program stopped at \(done.map { "interval \($0)" } ?? "no interval"), not at \(input.last)")
        }
        printToStderr("\(name): \(summary.intervals) vertex-intervals in \(fixed(cpu.wall)) s, every vertex through \(input.last)")
        let events = pending.events, intervals = pending.intervals
        if intervals == 0 {
            print("\(name) \(input.descriptor.name) → \(output): nothing to do (every interval was processed before "
                  + "this run), \(fixed(cpu.wall)) s")
        } else {
            print("\(name) \(input.descriptor.name) → \(output): \(events) events, \(intervals) intervals"
                  + (intervals < inputIntervals ? " of \(inputIntervals) (resumed)" : "")
                  + ", \(summary.progress.count) vertices, \(fixed(cpu.wall)) s → \(millions(Double(events) / cpu.wall)) events/s")
        }
        print("  CPU: process \(fixed(cpu.cpu)) s (\(fixed(cpu.cpu / cpu.wall, 2)) cores busy), peak RSS \(fixed(peakRSSMegabytes(), 1)) MiB")
        if let trace, let timeline { try timeline.write(to: trace) }
        return WorkloadRun(events: events, intervals: intervals, inputEvents: inputEvents, inputIntervals: inputIntervals,
                           seconds: cpu.wall, cpu: cpu.cpu,
                           partitions: Int(input.descriptor.partitions), inputKind: input.kind.label, first: input.first,
                           snapshotEvery: snapshotEvery.description, resumed: input.resuming, recoverySeconds: recovery,
                           speculativeLaunches: program.taskStatistics().reduce(0) { $0 + $1.speculativeLaunches })
    }
}

extension WorkloadOptions {
    /// Flushes the store's data file (`fdatasync`), so that a run's clock does not include writing
    /// back pages dirtied before it (about 0.2 s for the 113 MB of a 10 M event store just copied
    /// with `cp`); a file that cannot be opened is left as it is.
    func flushStoreFile() {
        let descriptor = Glibc.open(store + "/data.mdb", O_RDONLY)
        guard descriptor >= 0 else { return }
        _ = fdatasync(descriptor)
        close(descriptor)
    }

    /// The input intervals a run will process — those after the least advanced vertex's progress
    /// (every one for a program that has not run) — and the events in them.
    static func pendingInput(_ input: WorkloadInput, before: [(vertex: String, through: Interval?)]) throws
        -> (intervals: Int, events: Int)
    {
        var from = input.first
        if !before.isEmpty, before.allSatisfy({ $0.through != nil }),
           let least = before.compactMap(\.through).min(), least >= input.first {
            guard least < input.last else { return (0, 0) }
            from = least.next
        }
        let events = try input.store.intervalStats(of: input.descriptor.name, in: from...input.last)
            .reduce(0) { $0 + Int($1.records) }
        return (Int(input.last.rawValue - from.rawValue + 1), events)
    }
}

/// How a workload's program keys each view.
enum KeyReading: String, ExpressibleByArgument, CaseIterable {
    /// Each record decoded, then `map { KeyValue($0.url, 1) }`.
    case decoded
    /// `countByEncodedKey`: the url's encoded bytes read from each stored record.
    case encoded
}

/// An opened workload input.
struct WorkloadInput {
    enum Kind {
        case typed(StoredStream<PageView>)
        case json(StoredStream<JSONPageViewURL>)

        var label: String {
            switch self {
            case .typed: "PageView"
            case .json: "json"
            }
        }

        /// The count of views per url of each interval by `countByEncodedKey`: the url's encoded
        /// bytes read from each stored record, no record decoded.
        func countsPerURL(_ p: ProgramBuilder) -> DStream<KeyValue<String, Int64>> {
            switch self {
            case .typed(let views):
                // PageView encodes ts (Int64), url (String), user, ev.
                p.read(views).countByEncodedKey(as: String.self) { record, key in
                    try record.skip(Int64.self)
                    key.write(raw: try record.encodedBytes(of: String.self))
                }
            case .json(let views):
                p.read(views).countByEncodedKey(as: String.self) { record, key in
                    try JSONPageViewURL.writeURLKey(record.readRemaining(), to: &key)
                }
            }
        }
    }

    let store: Store
    let descriptor: StreamDescriptor
    let kind: Kind
    let first: Interval
    let last: Interval
    /// Whether the output exists: the program resumes from its progress.
    var resuming = false
}

/// What a timed program run measured.
struct WorkloadRun {
    /// The events and intervals this run processed (fewer than the input's when it resumed; zero
    /// when an earlier run had processed everything).
    var events: Int
    var intervals: Int
    /// The events and sealed intervals the input holds.
    var inputEvents: Int
    var inputIntervals: Int
    var seconds: Double
    var cpu: Double
    var partitions: Int
    var inputKind: String
    var first: Interval?
    var snapshotEvery = "never"
    var resumed = false
    var recoverySeconds: Double?
    /// Speculative copies of straggling tasks launched during the run.
    var speculativeLaunches = 0

    func printResult(workload: String, extra: KeyValuePairs<String, String>) {
        var fields: [(String, String)] = [
            ("input", inputKind), ("intervals", String(intervals)), ("partitions", String(partitions)),
            ("process_cpu_s", fixed(cpu)), ("peak_rss_mb", fixed(peakRSSMegabytes(), 1)),
            ("snapshot_every", snapshotEvery), ("resumed", resumed ? "1" : "0"),
        ]
        if let recoverySeconds { fields.append(("recovery_s", fixed(recoverySeconds, 3))) }
        fields.append(("speculative_launches", String(speculativeLaunches)))
        for (key, value) in extra { fields.append((key, value)) }
        // A rate only over what this run processed: a run with nothing to do says so.
        var line = "RESULT workload=\(workload) events=\(events) seconds=\(fixed(seconds, 3))"
        line += " events_per_s=\(eventsPerSecond(events, seconds))"
        line += " status=\(intervals == 0 ? "nothing-to-do" : resumed ? "resumed" : "complete")"
        line += " input_events=\(inputEvents) input_intervals=\(inputIntervals)"
        for (key, value) in fields { line += " \(key)=\(value)" }
        print(line)
        fflush(nil)
    }
}

/// Prints each vertex's progress to stderr about once a second while a program runs.
final class ProgressReporter: Sendable {
    private let stopped = Atomic<Bool>(false)
    /// Signalled by `stop()`, so that the reporter's wait ends at once (the run's clock is read
    /// after `stop()` returns).
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(program: Program, first: Interval, last: Interval, started: Double) {
        let total = last.rawValue - first.rawValue + 1
        // A thread of its own: it waits for the whole run, and must not hold a worker of the pool
        // that runs the program's tasks.
        DedicatedThread.detach(named: "bench-reporter") { [self] in
            while true {
                _ = wake.wait(timeout: .now() + .seconds(1))
                if stopped.load(ordering: .acquiring) { break }
                guard let marks = try? program.progress() else { continue }
                let parts = marks.map { mark in
                    let done = mark.through.map { $0 >= first ? $0.rawValue - first.rawValue + 1 : 0 } ?? 0
                    return "\(mark.vertex) \(min(done, total))/\(total)"
                }
                printToStderr("  \(fixed(now() - started, 1)) s: " + parts.joined(separator: ", "))
            }
            finished.signal()
        }
    }

    /// Stops the reporter and waits until its thread has returned.
    func stop() {
        stopped.store(true, ordering: .releasing)
        wake.signal()
        finished.wait()
    }
}

/// The `url` of one page view of a JSON stream made by `strata ingest`, decoded straight from the
/// stored JSON text: its catalog name is `json`, so a JSON stream reads as this type, and the
/// text is never kept (a `JSONRecord` would allocate an array per record).
///
/// The url is found by a byte scan for `"url":"` as long as the text before it has no backslash
/// and no nested object or array, and the value has no escape: then, in valid JSON (the ingest
/// validated every record), the match is the top-level key. Anything else goes through
/// `JSONLineScanner`, which finds the first top-level `url` key like the ingest does.
struct JSONPageViewURL: RecordCodable {
    static var recordTypeName: String { JSONRecord.recordTypeName }

    var url: String

    init(url: String) { self.url = url }

    /// Encodes as the JSON object `{"url":…}`.
    func encode(to writer: inout BinaryWriter) {
        var text = Array(#"{"url":"#.utf8)
        var url = self.url
        url.withUTF8 { appendJSONStringLiteral(UnsafeRawBufferPointer($0), to: &text) }
        text.append(UInt8(ascii: "}"))
        text.withUnsafeBytes { writer.write(raw: $0) }
    }

    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let text = reader.readRemaining()
        if let url = Self.fastURL(text) {
            self.url = url
        } else {
            url = try Self.scannedURL(text)
        }
    }

    /// The url by the byte scan, or `nil` when the text is not of the simple form.
    @inline(__always)
    static func fastURL(_ text: UnsafeRawBufferPointer) -> String? {
        // The ingest validated the UTF-8; ASCII needs no second look.
        fastURLRange(text).map { String(decoding: UnsafeRawBufferPointer(rebasing: text[$0]), as: UTF8.self) }
    }

    /// Writes the url's encoding as a `String` key (varint length, UTF-8 bytes) without building
    /// the `String` when the text is of the simple form (`countByEncodedKey`).
    @inline(__always)
    static func writeURLKey(_ text: UnsafeRawBufferPointer, to key: inout BinaryWriter) throws(RecordDecodingError) {
        if let range = fastURLRange(text) {
            key.write(lengthPrefixed: UnsafeRawBufferPointer(rebasing: text[range]))
        } else {
            key.write(string: try scannedURL(text))
        }
    }

    /// Where the url's bytes are by the byte scan, or `nil` when the text is not of the simple form:
    /// the first `"url":` at positions 1 … count − 7 with no `\`, `{` or `[` before it, its value
    /// a string without escapes.
    @inline(__always)
    static func fastURLRange(_ text: UnsafeRawBufferPointer) -> Range<Int>? {
        let count = text.count
        guard count > 8, let base = text.baseAddress, text[0] == UInt8(ascii: "{") else { return nil }
        // Positions 1 ... count − 7 are looked at, eight at a time: every quote of a word is tried
        // as the start of `"url":` in order, unless a backslash or an opening brace or bracket (the
        // bytes the byte-wise rule stops at) comes before it.
        let last = count - 7
        var i = 1
        while i <= last {
            guard i + 8 <= count else {
                // The last position alone (i == last, one byte short of a whole word).
                let byte = text[i]
                if byte == UInt8(ascii: "\"") && isURLName(text, at: i) { return urlValue(text, base: base, quoteAt: i) }
                return nil
            }
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            // Only the word's positions up to `last` count.
            let valid = last - i + 1
            let inRange: UInt64 = valid >= 8 ? ~0 : (1 &<< UInt64(valid &* 8)) &- 1
            var quotes = Self.exactZeroBytes(word ^ 0x2222_2222_2222_2222) & inRange
            let stops = (Self.exactZeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C) | Self.exactZeroBytes(word ^ 0x7B7B_7B7B_7B7B_7B7B)
                | Self.exactZeroBytes(word ^ 0x5B5B_5B5B_5B5B_5B5B)) & inRange
            let firstStop = stops == 0 ? 64 : stops.trailingZeroBitCount
            while quotes != 0 {
                let bit = quotes.trailingZeroBitCount
                if bit > firstStop { return nil }
                let q = i + bit >> 3
                if isURLName(text, at: q) { return urlValue(text, base: base, quoteAt: q) }
                quotes &= quotes &- 1
            }
            if stops != 0 { return nil }
            i += 8
        }
        return nil
    }

    /// Whether `"url":` starts at `q` (at most `text.count − 7`).
    @inline(__always)
    static func isURLName(_ text: UnsafeRawBufferPointer, at q: Int) -> Bool {
        text[q + 1] == UInt8(ascii: "u") && text[q + 2] == UInt8(ascii: "r") && text[q + 3] == UInt8(ascii: "l")
            && text[q + 4] == UInt8(ascii: "\"") && text[q + 5] == UInt8(ascii: ":")
    }

    /// The range of the string value after `"url":` at `q`, up to its closing quote; `nil` when the
    /// value is not a string or holds a backslash (an escape), or the text ends first.
    @inline(__always)
    static func urlValue(_ text: UnsafeRawBufferPointer, base: UnsafeRawPointer, quoteAt q: Int) -> Range<Int>? {
        let count = text.count
        guard text[q + 6] == UInt8(ascii: "\"") else { return nil }
        let start = q + 7
        var end = start
        // Eight bytes at a time up to the closing quote or a backslash.
        while end + 8 <= count {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: end, as: UInt64.self))
            let marks = Self.zeroBytes(word ^ 0x2222_2222_2222_2222) | Self.zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C)
            if marks != 0 {
                end += marks.trailingZeroBitCount >> 3
                break
            }
            end += 8
        }
        while end < count {
            let c = text[end]
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") { return nil }
            end += 1
        }
        guard end < count else { return nil }
        return start..<end
    }

    /// The high bit of each zero byte of `x` (exact for the lowest one).
    @inline(__always)
    static func zeroBytes(_ x: UInt64) -> UInt64 { (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080 }

    /// The high bit of each zero byte of `x`, exact for every byte (no borrow between bytes).
    @inline(__always)
    static func exactZeroBytes(_ x: UInt64) -> UInt64 {
        ~(((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | x | 0x7F7F_7F7F_7F7F_7F7F)
    }

    /// The url by the full scanner: a string is unescaped; another JSON value is taken as its text.
    static func scannedURL(_ text: UnsafeRawBufferPointer) throws(RecordDecodingError) -> String {
        let scanner = JSONLineScanner(fields: ["url"])
        let value: JSONFieldValue?
        do throws(JSONLineError) {
            value = try scanner.scan(text).0
        } catch {
            throw .invalidValue(offset: error.offset, what: "JSON (\(error))")
        }
        guard let value else { throw .invalidValue(offset: 0, what: "JSON record without a url field") }
        let raw = UnsafeRawBufferPointer(rebasing: text[value.range])
        guard value.kind == .string, value.hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        var unescaped: [UInt8] = []
        do throws(JSONLineError) {
            try unescapeJSONString(raw, into: &unescaped)
        } catch {
            throw .invalidValue(offset: value.range.lowerBound + error.offset, what: "JSON string escape")
        }
        return String(decoding: unescaped, as: UTF8.self)
    }
}

/// `--snapshot-every`: a number of intervals, or `never`.
struct SnapshotPeriod: ExpressibleByArgument, CustomStringConvertible {
    var intervals: Int?

    init(intervals: Int?) { self.intervals = intervals }

    init?(argument: String) {
        if argument == "never" {
            intervals = nil
        } else if let n = Int(argument), n >= 1 {
            intervals = n
        } else {
            return nil
        }
    }

    var description: String { intervals.map(String.init) ?? "never" }
}

/// The fields of a JSON page view (`strata ingest` of `strata-bench generate`'s lines) that the
/// sessions workload needs: `user` (a non-negative integer) and `ev` (view, click, add or buy, as
/// the index `PageView.ev` uses). Its catalog name is `json`, so it reads JSON streams.
struct JSONPageViewSession: RecordCodable {
    static var recordTypeName: String { JSONRecord.recordTypeName }

    var user: UInt64
    var ev: UInt8

    init(user: UInt64, ev: UInt8) {
        self.user = user
        self.ev = ev
    }

    /// Encodes as the JSON object `{"user":…,"ev":"…"}`.
    func encode(to writer: inout BinaryWriter) {
        let name = PageViewGenerator.eventNames[Int(min(ev, 3))]
        let text = "{\"user\":\(user),\"ev\":\"\(name)\"}"
        Array(text.utf8).withUnsafeBytes { writer.write(raw: $0) }
    }

    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        let text = reader.readRemaining()
        let fields: (JSONFieldValue?, JSONFieldValue?)
        do throws(JSONLineError) {
            fields = try Self.scanner.scan(text)
        } catch {
            throw .invalidValue(offset: error.offset, what: "JSON (\(error))")
        }
        guard let userField = fields.0, userField.kind == .number,
              let user = UInt64(String(decoding: UnsafeRawBufferPointer(rebasing: text[userField.range]), as: UTF8.self))
        else { throw .invalidValue(offset: fields.0?.range.lowerBound ?? 0, what: "a user field holding a non-negative integer") }
        guard let evField = fields.1, evField.kind == .string, !evField.hasEscapes,
              let ev = Self.eventIndex(UnsafeRawBufferPointer(rebasing: text[evField.range]))
        else { throw .invalidValue(offset: fields.1?.range.lowerBound ?? 0, what: "an ev field of view, click, add or buy") }
        self.user = user
        self.ev = ev
    }

    private static let scanner = JSONLineScanner(fields: ["user", "ev"])

    /// The index of an event name in `PageViewGenerator.eventNames`.
    private static func eventIndex(_ name: UnsafeRawBufferPointer) -> UInt8? {
        for (index, known) in PageViewGenerator.eventNames.enumerated() where known.utf8.elementsEqual(name) {
            return UInt8(index)
        }
        return nil
    }
}

/// A batch run's timeline, noted through the program's `IntervalTrace` (observe only): when each
/// vertex found, began, processed and committed each interval, and each task attempt's thread,
/// start, end and CPU time, for finding where a run's wall time goes (`--trace FILE`).
final class RunTimeline: Sendable {
    /// One noted event: a step (`partition` −1) or a task attempt.
    private struct Entry {
        let vertex: String
        let interval: UInt64
        let what: String
        let partition: Int
        let thread: Int32
        let began: UInt64
        let ended: UInt64
        let cpu: UInt64
    }

    private let origin = DispatchTime.now().uptimeNanoseconds
    private let entries = Mutex<[Entry]>([])

    init() { entries.withLock { $0.reserveCapacity(4096) } }

    /// The hook to give the program.
    var trace: IntervalTrace {
        IntervalTrace(record: { [self] vertex, interval, step in
            let now = DispatchTime.now().uptimeNanoseconds
            let entry = Entry(vertex: vertex, interval: interval.rawValue, what: "\(step)", partition: -1,
                              thread: currentThreadID(), began: now, ended: now, cpu: 0)
            entries.withLock { $0.append(entry) }
        }, task: { [self] vertex, interval, run in
            let now = DispatchTime.now().uptimeNanoseconds
            let entry = Entry(vertex: vertex, interval: interval.rawValue, what: run.speculative ? "copy" : "task",
                              partition: Int(run.partition.rawValue),
                              thread: currentThreadID(),
                              began: now &- run.wallNanoseconds, ended: now, cpu: run.cpuNanoseconds)
            entries.withLock { $0.append(entry) }
        })
    }

    /// The calling thread's kernel id (as `perf sched` and `/proc/PID/task` name it), from the
    /// `/proc/thread-self` link; 0 when it cannot be read.
    private func currentThreadID() -> Int32 {
        var link = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/thread-self", &link, link.count - 1)
        guard length > 0 else { return 0 }
        let text = String(decoding: link[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Int32(text.split(separator: "/").last ?? "") ?? 0
    }

    /// Writes the entries in the order noted: vertex, interval, step or task, partition, thread id,
    /// start and end (µs since the program was defined) and CPU µs.
    func write(to path: String) throws {
        var text = "vertex\tinterval\twhat\tpartition\tthread\tbegan_us\tended_us\tcpu_us\n"
        for e in entries.withLock({ $0 }) {
            let began = e.began > origin ? (e.began - origin) / 1000 : 0
            let ended = e.ended > origin ? (e.ended - origin) / 1000 : 0
            text += "\(e.vertex)\t\(e.interval)\t\(e.what)\t\(e.partition)\t\(e.thread)\t\(began)\t\(ended)\t\(e.cpu / 1000)\n"
        }
        guard let file = fopen(path, "w") else { throw ValidationError("cannot write the trace to \(path)") }
        defer { fclose(file) }
        guard fputs(text, file) >= 0 else { throw ValidationError("cannot write the trace to \(path)") }
    }
}
