import ArgumentParser
import Glibc
import Strata

/// `strata-bench ingest`: the library path — typed `PageView` appends by event time, then `sealAll()`.
struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append generated page views to a new store through the library, and seal them.",
        discussion: """
            With --mode memory (the default) every event is generated into memory first and only \
            append + sealAll is timed; the peak RSS then includes that array (rss_before_mb says how \
            much). With --mode inline events are generated inside the timed loop, and the generator's \
            own cost over the same events is timed separately (gen_seconds).
            """)

    enum Mode: String, ExpressibleByArgument, CaseIterable { case memory, inline }

    @Option(help: "The store directory; must not exist unless --overwrite.")
    var store: String

    @Option(help: "Number of events.")
    var events: Int = 10_000_000

    @Option(help: "none, group or fsync.")
    var durability: DurabilityOption = .none

    @Option(help: "Partitions of the stream.")
    var partitions: Int = 4

    @Option(help: "Interval length: 500ms, 1s, 1m, …")
    var interval: IntervalOption = IntervalOption(argument: "1s")!

    @Option(help: "Stream name.")
    var stream: String = "pageViews"

    @Option(help: "memory: pre-generate, time append+seal only; inline: generate inside the timed loop.")
    var mode: Mode = .memory

    @Flag(help: "Delete the store directory first when it exists.")
    var overwrite = false

    @OptionGroup var dataSet: DataSetOptions

    func validate() throws {
        guard events > 0 else { throw ValidationError("--events must be positive") }
        guard (1...4096).contains(partitions) else { throw ValidationError("--partitions must be 1 to 4096") }
    }

    func run() throws {
        try prepareDirectory()
        let strataStore = try Store(at: store, options: StoreOptions(durability: durability.durability))
        let views = try strataStore.stream(stream, of: PageView.self, interval: interval.length, partitions: partitions)
        let appender = try views.eventTimeAppender(allowedLateness: .zero) { $0.url }
        var generator = dataSet.makeGenerator()

        var genSeconds = 0.0
        let rssBefore: Double
        let seconds: Double
        var cpu = (wall: 0.0, cpu: 0.0, threadCPU: 0.0)
        switch mode {
        case .memory:
            let genStart = now()
            var all = ContiguousArray<PageView>()
            all.reserveCapacity(events)
            for _ in 0..<events { all.append(generator.nextPageView()) }
            genSeconds = now() - genStart
            rssBefore = currentRSSMegabytes()
            let watch = Stopwatch()
            for view in all { try appender.append(view, eventTime: Timestamp(milliseconds: view.ts)) }
            try appender.sealAll()
            cpu = watch.read()
            seconds = cpu.wall
            withExtendedLifetime(all) {}
        case .inline:
            rssBefore = currentRSSMegabytes()
            let watch = Stopwatch()
            for _ in 0..<events {
                let view = generator.nextPageView()
                try appender.append(view, eventTime: Timestamp(milliseconds: view.ts))
            }
            try appender.sealAll()
            cpu = watch.read()
            seconds = cpu.wall
            // The generator alone over the same events, for subtraction.
            var again = dataSet.makeGenerator()
            var sink: UInt64 = 0
            let genStart = now()
            for _ in 0..<events {
                let view = again.nextPageView()
                sink &+= UInt64(bitPattern: view.ts) &+ view.user &+ UInt64(view.url.utf8.count)
            }
            genSeconds = now() - genStart
            blackHole(sink)
        }
        let peak = peakRSSMegabytes()

        guard let stats = try strataStore.stats(of: stream).first else { throw ValidationError("no stats") }
        guard stats.records == UInt64(events) else {
            throw ValidationError("stored \(stats.records) records, appended \(events) (late: \(appender.lateRecords))")
        }
        let bytesPerEvent = Double(stats.storedBytes) / Double(events)
        let rawPerEvent = Double(stats.rawBytes) / Double(events)
        let fileBytes = strataStore.usedBytes
        print("ingest \(events) events, durability \(durability.rawValue), \(partitions) partitions, interval \(interval), mode \(mode.rawValue)")
        print("  append+seal \(fixed(seconds)) s → \(millions(Double(events) / seconds)) events/s"
              + (mode == .inline ? " (generation included; generator alone \(fixed(genSeconds)) s)" : "")
              + (mode == .memory ? " (generation beforehand: \(fixed(genSeconds)) s, not timed)" : ""))
        print("  \(stats.nonEmptyIntervals) intervals, raw \(fixed(rawPerEvent, 2)) B/event, stored \(fixed(bytesPerEvent, 2)) B/event,"
              + " ratio \(fixed(stats.compressionRatio, 3)), data file \(fixed(Double(fileBytes) / Double(events), 2)) B/event")
        print("  CPU: appending thread \(fixed(cpu.threadCPU)) s, whole process \(fixed(cpu.cpu)) s"
              + " (the committer thread writes to LMDB beside it)")
        print("  RSS before timing \(fixed(rssBefore, 1)) MiB, peak \(fixed(peak, 1)) MiB")
        printResult(
            workload: "ingest-\(durability.rawValue)-\(mode.rawValue)", events: events, seconds: seconds,
            extra: [
                "bytes_per_event": fixed(bytesPerEvent, 2),
                "raw_bytes_per_event": fixed(rawPerEvent, 2),
                "ratio": fixed(stats.compressionRatio, 3),
                "file_bytes_per_event": fixed(Double(fileBytes) / Double(events), 2),
                "gen_seconds": fixed(genSeconds),
                "thread_cpu_s": fixed(cpu.threadCPU),
                "process_cpu_s": fixed(cpu.cpu),
                "peak_rss_mb": fixed(peak, 1),
                "rss_before_mb": fixed(rssBefore, 1),
                "partitions": String(partitions),
                "intervals": String(stats.nonEmptyIntervals),
            ])
    }

    /// Removes the store directory (with the per-stream writer-lock directory inside it) when asked;
    /// refuses to append to an existing one.
    private func prepareDirectory() throws {
        guard access(store, F_OK) == 0 else { return }
        guard overwrite else {
            throw ValidationError("\(store) exists; pass --overwrite to delete it first")
        }
        guard system("rm -rf '\(store)'") == 0 else { throw ValidationError("cannot remove \(store)") }
    }
}
