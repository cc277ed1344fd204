import ArgumentParser
import Dispatch
import Glibc
import Strata
import StrataEngine
import Synchronization

/// `strata-bench pipeline`: a JSON lines file to the running count's output stream, end to end,
/// with the ingest and the program overlapping.
struct Pipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest a JSON lines file and keep the running count per url while it is ingested.",
        discussion: """
            Creates a new store with the JSON stream pageViews (event time from ts in ms, allowed \
            lateness 0, partitioned by url as the engine routes a String key), starts the program \
            (url, 1) → runningReduce(+) → save(as: OUTPUT), declared partitioned by key so that it \
            has no shuffle (--shuffle keeps it), with Program.run(), which processes each interval as soon as the \
            ingest seals it, and ingests the file on this thread (strata ingest's path: \
            JSONLinesIngestor). Timed: from before the store opens until the output holds every \
            sealed interval. Then it checks that the final counts of all urls sum to the events \
            accepted. The RESULT line gives events/s end to end, the ingest's own time, process CPU \
            and peak RSS (VmHWM, /proc/self/status), and the peak of anonymous and file-backed RSS \
            sampled every 20 ms.
            """)

    @Option(help: "The JSON lines file (strata-bench generate).")
    var input: String

    @Option(help: "The store directory; must not exist unless --overwrite.")
    var store: String

    @Option(help: "Partitions of the input stream (and of the running count).")
    var partitions: Int = 4

    @Option(help: "Interval length: 500ms, 1s, 1m, …")
    var interval: IntervalOption = IntervalOption(argument: "1s")!

    @Option(help: "Durability of every commit: none, group or fsync.")
    var durability: DurabilityOption = .group

    @Option(help: "The output stream.")
    var output: String = "urlCounts"

    @Option(name: .customLong("snapshot-every"), help: "Snapshot the running count every N intervals, or never.")
    var snapshotEvery: SnapshotPeriod = SnapshotPeriod(intervals: Program.defaultSnapshotEvery)

    @Flag(help: "Delete the store directory first when it exists.")
    var overwrite = false

    @Flag(name: .customLong("ingest-only"), help: "Ingest only, with no program: the JSON ingest's own rate.")
    var ingestOnly = false

    @Option(help: "How the program keys each view: decoded (each record decoded to its url, then map { KeyValue($0.url, 1) }) or encoded (countByEncodedKey: the url's bytes read from the stored JSON, nothing decoded; the same output blocks).")
    var keys: KeyReading = .decoded

    @Flag(help: "Keep the shuffle: the program does not declare the input partitioned by its key field (the plan before the input's placement matched the engine's; the same output blocks).")
    var shuffle = false

    @Option(name: .customLong("compression-parallelism"),
            help: """
                Threads compressing one commit batch's blocks of the ingest \
                (StreamAppender.Limits.compressionParallelism); default: the online processors - 1, 1 to 8.
                """)
    var compressionParallelism: Int = StreamAppender.Limits.defaultCompressionParallelism

    @Option(name: .customLong("commit-mib"),
            help: """
                Raw payload MiB per commit batch of the ingest (StreamAppender.Limits.commitBytes; default 4); \
                the bytes waiting for commit before the ingest waits (maxPendingBytes) are kept at four batches, \
                at least the default 16 MiB. Fewer, larger commits: fewer flushes, more memory. Same stored bytes.
                """)
    var commitMiB: Int = StreamAppender.Limits().commitBytes >> 20

    func validate() throws {
        guard (1...4096).contains(partitions) else { throw ValidationError("--partitions must be 1 to 4096") }
        guard (1...256).contains(commitMiB) else { throw ValidationError("--commit-mib must be 1 to 256") }
    }

    func run() throws {
        let fd = open(input, O_RDONLY)
        guard fd >= 0 else { throw ValidationError("cannot open \(input): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if access(store, F_OK) == 0 {
            guard overwrite else { throw ValidationError("\(store) exists; pass --overwrite to replace it") }
            guard system("rm -rf '\(store)'") == 0 else { throw ValidationError("cannot remove \(store)") }
        }
        let sampler = RSSSampler()
        defer { sampler.stop() }
        let watch = Stopwatch()
        let strataStore = try Store(at: store, options: StoreOptions(durability: durability.durability))
        let stream = try strataStore.jsonStream("pageViews", interval: interval.length, partitions: partitions,
                                                timeField: "ts", keyField: "url")
        let views = try strataStore.stream(named: "pageViews", of: JSONPageViewURL.self)
        let output = self.output, keys = self.keys
        let program = try Program(name: output + ".program", store: strataStore, snapshotEvery: snapshotEvery.intervals) { p in
            // The stream is new, so its key field places each line as the engine routes the url
            // as a String key: the program declares it (checked) and needs no shuffle.
            switch (keys, shuffle) {
            case (.encoded, true):
                WorkloadInput.Kind.json(views).countsPerURL(p).runningReduce(+).save(as: output)
            case (.encoded, false):
                p.read(views).assumingPartitionedByKeyField().countByEncodedKey(as: String.self) { record, key in
                    try JSONPageViewURL.writeURLKey(record.readRemaining(), to: &key)
                }.runningReduce(+).save(as: output)
            case (.decoded, true):
                p.read(views).map { KeyValue($0.url, Int64(1)) }.runningReduce(+).save(as: output)
            case (.decoded, false):
                p.read(views).map { KeyValue($0.url, Int64(1)) }.assumingPartitionedByKey().runningReduce(+).save(as: output)
            }
        }
        let outcome = ProgramOutcome()
        if ingestOnly {
            outcome.finish(nil)
        } else {
            startProgram(program, outcome)
        }

        var ingestOptions = JSONIngestOptions()
        ingestOptions.appenderLimits.compressionParallelism = compressionParallelism
        ingestOptions.appenderLimits.commitBytes = commitMiB << 20
        ingestOptions.appenderLimits.maxPendingBytes = max(ingestOptions.appenderLimits.maxPendingBytes, 4 * (commitMiB << 20))
        let ingestor = try JSONLinesIngestor(stream: stream, options: ingestOptions)
        try ingestor.ingest(fileDescriptor: fd)
        let summary = try ingestor.finish()
        let ingestSeconds = watch.read().wall
        if ingestOnly {
            let time = watch.read()
            print("ingest \(input): \(summary.accepted) events in \(fixed(time.wall)) s → "
                  + "\(millions(Double(summary.accepted) / time.wall)) events/s; CPU \(fixed(time.cpu)) s; peak RSS "
                  + "\(fixed(peakRSSFromStatus(), 1)) MiB")
            printResult(workload: "json-ingest", events: summary.accepted, seconds: time.wall, extra: [
                "rejected": String(summary.rejected), "durability": durability.rawValue, "process_cpu_s": fixed(time.cpu),
                "compression_parallelism": String(compressionParallelism), "commit_mib": String(commitMiB),
                "peak_rss_mb": fixed(peakRSSFromStatus(), 1), "peak_anon_mb": fixed(sampler.peakAnon, 1),
                "peak_file_mb": fixed(sampler.peakFile, 1),
            ])
            return
        }
        try finishPipeline(program: program, outcome: outcome, stream: stream, store: strataStore, summary: summary,
                           watch: watch, ingestSeconds: ingestSeconds, sampler: sampler)
    }

    /// Runs the program on a task of its own until stopped.
    private func startProgram(_ program: Program, _ outcome: ProgramOutcome) {
        Task.detached {
            do {
                try await program.run(pollInterval: .milliseconds(20))
                outcome.finish(nil)
            } catch {
                outcome.finish(error)
            }
        }
    }

    /// Waits until the program has processed every sealed interval, checks its output, reports.
    private func finishPipeline(program: Program, outcome: ProgramOutcome, stream: StoredStream<JSONRecord>,
                                store strataStore: Store, summary: IngestSummary, watch: Stopwatch,
                                ingestSeconds: Double, sampler: RSSSampler) throws {
        printToStderr("pipeline: ingested \(summary.accepted) events (\(summary.rejected) rejected, \(summary.late) late) "
                      + "in \(fixed(ingestSeconds)) s; waiting for the program")

        // The program is done when every vertex has committed the newest sealed input interval.
        guard let last = try stream.newestSealedInterval() else { throw ValidationError("the input sealed no interval") }
        while outcome.error == nil {
            let marks = try program.progress()
            if marks.allSatisfy({ ($0.through.map { $0 >= last }) ?? false }) { break }
            usleep(2_000)
        }
        let time = watch.read()
        // The peaks while the clock ran, before the check below reads the output back.
        let clockPeaks = (rss: peakRSSFromStatus(), anon: sampler.peakAnon, file: sampler.peakFile)
        program.stop()
        try outcome.wait()

        // After the clock: every url's last count, summed, is the number of events accepted.
        let counts = try strataStore.stream(named: output, of: KeyValue<String, Int64>.self)
        var latest: [String: Int64] = [:]  // lookup and a sum only; never printed in its order
        var outputRecords = 0
        if let first = try strataStore.info(of: output).frontier.firstReadable, first <= last {
            try counts.forEach(in: first...last) { _, _, pair in
                latest[pair.key] = pair.value
                outputRecords += 1
            }
        }
        let total = latest.values.reduce(0, +)
        guard total == Int64(summary.accepted) else {
            throw ValidationError("the final counts sum to \(total), but \(summary.accepted) events were accepted")
        }
        let events = summary.accepted
        print("pipeline \(input) → \(output): \(events) events in \(fixed(time.wall)) s → "
              + "\(millions(Double(events) / time.wall)) events/s end to end (ingest alone \(fixed(ingestSeconds)) s)")
        print("  output: \(outputRecords) records; \(latest.count) urls whose final counts sum to \(total) events (checked)")
        print("  CPU: process \(fixed(time.cpu)) s (\(fixed(time.cpu / time.wall, 2)) cores busy); peak RSS "
              + "\(fixed(peakRSSFromStatus(), 1)) MiB (sampled peaks: anonymous \(fixed(sampler.peakAnon, 1)) MiB, "
              + "file-backed \(fixed(sampler.peakFile, 1)) MiB)")
        printResult(workload: "pipeline", events: events, seconds: time.wall, extra: [
            "ingest_seconds": fixed(ingestSeconds), "intervals": String(summary.intervals.map { $0.upperBound.rawValue - $0.lowerBound.rawValue + 1 } ?? 0),
            "partitions": String(partitions), "durability": durability.rawValue,
            "compression_parallelism": String(compressionParallelism), "process_cpu_s": fixed(time.cpu), "peak_rss_mb": fixed(peakRSSFromStatus(), 1),
            "peak_anon_mb": fixed(sampler.peakAnon, 1), "peak_file_mb": fixed(sampler.peakFile, 1),
            "output_records": String(outputRecords), "urls": String(latest.count), "keys": keys.rawValue,
            "shuffle": shuffle ? "yes" : "elided",
            "speculative_launches": String(program.taskStatistics().reduce(0) { $0 + $1.speculativeLaunches }),
            "clock_peak_rss_mb": fixed(clockPeaks.rss, 1), "clock_peak_anon_mb": fixed(clockPeaks.anon, 1),
            "clock_peak_file_mb": fixed(clockPeaks.file, 1),
        ])
    }
}

/// The end of a `Program.run()` started on a task: its error, if any, and a wait for it.
final class ProgramOutcome: Sendable {
    private let state = Mutex<(done: Bool, error: (any Error)?)>((false, nil))
    private let finished = DispatchSemaphore(value: 0)

    func finish(_ error: (any Error)?) {
        state.withLock { $0 = (true, error) }
        finished.signal()
    }

    /// The run's error, once it failed.
    var error: (any Error)? { state.withLock { $0.error } }

    /// Blocks until the run returned; rethrows its error.
    func wait() throws {
        finished.wait()
        finished.signal()
        if let error = state.withLock({ $0.error }) { throw error }
    }
}

/// Samples the process's anonymous and file-backed RSS (`/proc/self/status`) every 20 ms and keeps
/// the peaks, to tell heap growth from mapped store pages.
final class RSSSampler: Sendable {
    private let peaks = Mutex<(anon: Double, file: Double)>((0, 0))
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init() {
        DedicatedThread.detach(named: "bench-sampler") { [self] in  // not on Dispatch's pool, which runs the program's tasks
            while !stopped.load(ordering: .acquiring) {
                sample()
                usleep(20_000)
            }
            sample()
            finished.signal()
        }
    }

    private func sample() {
        let anon = procStatusMegabytes("RssAnon:") ?? 0
        let file = procStatusMegabytes("RssFile:") ?? 0
        peaks.withLock { $0 = (max($0.anon, anon), max($0.file, file)) }
    }

    var peakAnon: Double { peaks.withLock { $0.anon } }
    var peakFile: Double { peaks.withLock { $0.file } }

    /// Stops sampling (once); waits for the sampler's last sample.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }
}
