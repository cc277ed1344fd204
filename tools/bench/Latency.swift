import ArgumentParser
import Dispatch
import Glibc
import Histogram
import Strata
import Synchronization

/// `strata-bench latency`: a program running live while page views are appended at a fixed rate,
/// measuring for each input interval the time from its seal being durable to the program's
/// output for it being committed and readable.
struct Latency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Measure seal-to-output latency of a program running live at a fixed input rate.",
        discussion: """
            A generator thread appends PageView records to a new stream (keyed by url) at --rate \
            events per second of wall time, in intervals of --interval-ms, and seals each interval \
            as soon as the clock leaves it (the seal returns once durable). Meanwhile the program \
            (--workload) runs with Program.run(), woken by each seal, and a reader follows the \
            program's output stream with sealedIntervals(). For each input interval after the \
            warm-up, latency = (output interval yielded to the reader) − (input seal durable), \
            recorded in an HdrHistogram (µs, 3 significant digits). The store must be new \
            (--overwrite removes it).
            """)

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case runningCount = "running-count", windowCount = "window-count", sessions
    }

    @Option(help: "The store directory (created; must not exist unless --overwrite).")
    var store: String

    @Flag(help: "Remove the store first if it exists.")
    var overwrite = false

    @Option(help: "The program: running-count, window-count (length 5, slide 1, with inverse) or sessions (timeout 30).")
    var workload: Workload = .runningCount

    @Option(name: .customLong("interval-ms"), help: "Interval length, milliseconds.")
    var intervalMs: Int = 100

    @Option(help: "Events appended per second of wall time.")
    var rate: Int = 500_000

    @Option(help: "Seconds of measured load (after the warm-up).")
    var seconds: Double = 20

    @Option(help: "Seconds of load before measuring.")
    var warmup: Double = 3

    @Option(help: "Partitions of the input stream.")
    var partitions: Int = 4

    @Option(help: "Durability: none, group or fsync.")
    var durability: DurabilityOption = .group

    @Option(name: .customLong("slow-every"), help: "Slow one task of every Nth interval (0: none): partition 0 of the first vertex sleeps --slow-ms on its first attempt.")
    var slowEvery: Int = 0

    @Option(name: .customLong("slow-ms"), help: "How long a slowed task sleeps, ms.")
    var slowMs: Int = 20

    @Flag(name: .customLong("no-speculation"), help: "Turn speculative copies of straggling tasks off.")
    var noSpeculation = false

    @Flag(name: .customLong("partitioned-by-url"),
          help: "Append the page views partitioned by url (not round-robin) and declare it (assumingPartitionedByKey()): the running count then does no shuffle.")
    var partitionedByURL = false

    @Option(name: .customLong("burst-seconds"), help: "After the warm-up, append at --burst-factor × --rate for this many seconds (0: no burst).")
    var burstSeconds: Double = 0

    @Option(name: .customLong("burst-factor"), help: "The burst's rate, as a multiple of --rate.")
    var burstFactor: Double = 10

    @Flag(help: "Break the latency down along the critical path: per vertex, when its pass found the interval ready, began it, started its first task, finished its tasks and had its commit visible (ProgramOptions.trace).")
    var breakdown = false

    @Option(name: .customLong("snapshot-every"), parsing: .unconditional,
            help: "Stateful vertices snapshot their state every this many intervals (0: never; default the program's, 30).")
    var snapshotEvery: Int = Program.defaultSnapshotEvery

    @OptionGroup var dataSet: DataSetOptions

    func validate() throws {
        guard intervalMs >= 1 else { throw ValidationError("--interval-ms must be at least 1") }
        guard rate >= 1 else { throw ValidationError("--rate must be positive") }
        guard seconds > 0, warmup >= 0 else { throw ValidationError("--seconds must be positive, --warmup not negative") }
        guard (1...4096).contains(partitions) else { throw ValidationError("--partitions must be 1 to 4096") }
        guard slowEvery >= 0, slowMs >= 0 else { throw ValidationError("--slow-every and --slow-ms must not be negative") }
        guard snapshotEvery >= 0 else { throw ValidationError("--snapshot-every must not be negative") }
        guard burstSeconds >= 0, burstFactor >= 1 else { throw ValidationError("--burst-seconds must not be negative, --burst-factor at least 1") }
    }

    func run() throws {
        if access(store, F_OK) == 0 {
            guard overwrite else { throw ValidationError("\(store) exists: choose a new path or pass --overwrite") }
            guard system("rm -rf '\(store)'") == 0 else { throw ValidationError("could not remove \(store)") }
        }
        let opened = try Store(at: store, options: StoreOptions(durability: durability.durability))
        let views = try opened.stream("pageViews", of: PageView.self,
                                      interval: .milliseconds(UInt64(intervalMs)), partitions: partitions)
        switch workload {
        case .runningCount:
            let program = try Program(name: "latency", store: opened, options: programOptions) { p in
                let pairs = p.read(views).map { KeyValue($0.url, Int64(1)) }
                (partitionedByURL ? pairs.assumingPartitionedByKey() : pairs).runningReduce(+).save(as: "urlCounts")
            }
            try measure(program, views, try opened.stream(named: "urlCounts", of: KeyValue<String, Int64>.self))
        case .windowCount:
            let program = try Program(name: "latency", store: opened, options: programOptions) { p in
                p.read(views).map { KeyValue($0.url, Int64(1)) }
                    .reduceByKeyAndWindow(+, inverse: -, length: 5, slide: 1).save(as: "urlWindowCounts")
            }
            try measure(program, views, try opened.stream(named: "urlWindowCounts", of: KeyValue<String, Int64>.self))
        case .sessions:
            let program = try Program(name: "latency", store: opened, options: programOptions) { p in
                p.read(views).map { KeyValue($0.user, $0.ev) }
                    .track(initialize: { _, _ in Int64(1) },
                           update: { _, count, ev in ev == 3 ? nil : count + 1 }, timeout: 30)
                    .activeCount.save(as: "activeSessions")
            }
            try measure(program, views, try opened.stream(named: "activeSessions", of: Int64.self))
        }
    }

    /// The steps noted with `--breakdown` (one run's, shared with the program's threads).
    private static let steps = StepTimes()

    /// Speculation on or off, the slowed tasks, and with `--breakdown` the trace.
    private var programOptions: ProgramOptions {
        var options = ProgramOptions()
        options.snapshotEvery = snapshotEvery > 0 ? snapshotEvery : nil
        if noSpeculation { options.tasks.speculationMultiplier = nil }
        let every = UInt64(max(slowEvery, 0)), delay = Duration.milliseconds(slowMs)
        let noteTaskStart = breakdown
        if slowEvery > 0 || breakdown {
            let steps = Self.steps
            options.faults = TaskFaults(delay: { vertex, interval, partition, attempt in
                // The hook runs as each task attempt starts: the first is the interval's first task start.
                if noteTaskStart { steps.note(vertex, interval, StepTimes.firstTask) }
                return every > 0 && vertex == "latency.v0" && interval.rawValue % every == 0
                    && partition == PartitionIndex(0) && attempt == 0 ? delay : nil
            })
        }
        if breakdown {
            let steps = Self.steps
            options.trace = IntervalTrace(record: { vertex, interval, step in steps.note(vertex, interval, step.rawValue) },
                                          task: { vertex, interval, run in steps.noteTask(vertex, interval, run) })
        }
        return options
    }

    private func measure<Output: RecordCodable>(_ program: Program, _ views: StoredStream<PageView>,
                                                _ output: StoredStream<Output>) throws {
        let lengthNanos = UInt64(intervalMs) * 1_000_000
        // One reading of both clocks: wall time = wallStart + (monotonic − start).
        let start = monotonicNanos()
        let wallStart = UInt64(realtimeNanos())
        let firstInterval = Interval(wallStart / lengthNanos + 1)
        let measuredFrom = Interval(firstInterval.rawValue + UInt64((warmup * 1e9) / Double(lengthNanos)))
        let measuredIntervals = UInt64(max(1, (seconds * 1e9) / Double(lengthNanos)))
        let lastInterval = Interval(measuredFrom.rawValue + measuredIntervals - 1)
        let sealedAt = IntervalTimes(first: firstInterval, last: lastInterval)
        let outputAt = IntervalTimes(first: firstInterval, last: lastInterval)
        func interval(atMonotonic t: UInt64) -> Interval { Interval((wallStart + (t - start)) / lengthNanos) }

        printToStderr("latency: \(workload.rawValue), \(rate) events/s in \(intervalMs) ms intervals, "
                      + "\(partitions) partitions, warm-up \(warmup) s, then \(measuredIntervals) intervals measured")

        // The program, live, and a reader of its output noting when each interval is readable.
        let programTask = Task { try await program.run(pollInterval: .milliseconds(50)) }
        let readerTask = Task { () throws -> Void in
            for try await batch in output.sealedIntervals(from: firstInterval) {
                outputAt.set(batch.interval, monotonicNanos())
                if batch.interval >= lastInterval { return }
            }
        }

        // The generator, on this thread: `rate` events per second, each interval sealed as soon as
        // the clock has left it.
        var generator = dataSet.makeGenerator()
        let appender = partitionedByURL ? try views.explicitAppender { $0.url } : try views.explicitAppender()
        sleepUntil(monotonic: start + (firstInterval.rawValue * lengthNanos - wallStart))
        let loadStart = monotonicNanos()
        var appended = 0
        var mostBehind = 0
        // The burst's first and last-plus-one intervals, events appended and clock when they began.
        var burstStart: (interval: Interval, appended: Int, at: UInt64)?
        var burstEnd: (interval: Interval, appended: Int, at: UInt64)?
        var sealedThrough = Interval(firstInterval.rawValue - 1)
        while sealedThrough < lastInterval {
            let t = monotonicNanos()
            let current = interval(atMonotonic: t)
            if current > sealedThrough.next {
                let through = Interval(min(current.rawValue - 1, lastInterval.rawValue))
                try appender.seal(through: through)
                let durable = monotonicNanos()
                var sealed = sealedThrough.next
                while sealed <= through {
                    sealedAt.set(sealed, durable)
                    sealed = sealed.next
                }
                sealedThrough = through
                continue
            }
            let elapsed = Double(t - loadStart) / 1e9
            let inBurst = max(0, min(elapsed, warmup + burstSeconds) - warmup)
            let due = Int((elapsed + inBurst * (burstFactor - 1)) * Double(rate))
            if burstSeconds > 0 {
                if elapsed >= warmup && burstStart == nil { burstStart = (current, appended, t) }
                if elapsed >= warmup + burstSeconds && burstEnd == nil { burstEnd = (current, appended, t) }
            }
            if due > appended {
                mostBehind = max(mostBehind, due - appended)
                let count = min(due - appended, 2048)
                for _ in 0..<count { try appender.append(generator.nextPageView(), interval: current) }
                appended += count
            } else {
                usleep(100)
            }
        }
        let loadSeconds = Double(monotonicNanos() - loadStart) / 1e9

        // Until the output has the last interval (at most a minute), then a graceful stop.
        let deadline = monotonicNanos() + 60_000_000_000
        while outputAt.get(lastInterval) == nil && monotonicNanos() < deadline { usleep(1000) }
        program.stop()
        readerTask.cancel()
        let failure = waitForTask(programTask)
        if let failure { throw ValidationError("the program failed: \(failure)") }

        var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var slowed = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var missing = 0
        var measured = measuredFrom
        while measured <= lastInterval {
            if let sealed = sealedAt.get(measured), let out = outputAt.get(measured) {
                let micros = out > sealed ? (out - sealed) / 1000 : 0
                _ = histogram.record(micros)
                if slowEvery > 0 && measured.rawValue % UInt64(slowEvery) == 0 { _ = slowed.record(micros) }
            } else {
                missing += 1
            }
            measured = measured.next
        }
        guard missing == 0 else { throw ValidationError("\(missing) measured intervals got no output within 60 s") }
        func ms(_ percentile: Double) -> String { fixed(Double(histogram.valueAtPercentile(percentile)) / 1000, 2) }
        let maxMs = fixed(Double(histogram.max) / 1000, 2)
        let achieved = Double(appended) / loadSeconds
        print("latency \(workload.rawValue): \(histogram.totalCount) intervals of \(intervalMs) ms at "
              + "\(millions(achieved)) events/s (asked \(millions(Double(rate)))); input seal durable → output "
              + "readable: p50 \(ms(50)) ms, p90 \(ms(90)) ms, p99 \(ms(99)) ms, max \(maxMs) ms")
        if slowEvery > 0 {
            let speculative = program.taskStatistics().reduce(0) { $0 + $1.speculativeLaunches }
            print("  intervals with a task slowed by \(slowMs) ms (\(slowed.totalCount)): p50 "
                  + "\(fixed(Double(slowed.valueAtPercentile(50)) / 1000, 2)) ms, max \(fixed(Double(slowed.max) / 1000, 2)) ms; "
                  + "speculation \(noSpeculation ? "off" : "on"), \(speculative) speculative launches")
        }
        var burstFields = ""
        if let burstStart, let burstEnd, burstEnd.interval > burstStart.interval,
           let lastOutput = outputAt.get(Interval(burstEnd.interval.rawValue - 1)) {
            let events = burstEnd.appended - burstStart.appended
            let seconds = Double(burstEnd.at - burstStart.at) / 1e9
            let caughtUp = Double(lastOutput > burstEnd.at ? lastOutput - burstEnd.at : 0) / 1e9
            let catchUpRate = Double(events) / (Double(lastOutput - burstStart.at) / 1e9)
            print("  burst: \(events) events in \(fixed(seconds, 2)) s (\(millions(Double(events) / seconds)) events/s, "
                  + "asked \(millions(burstFactor * Double(rate)))); its last interval's output came \(fixed(caughtUp, 2)) s "
                  + "after the burst ended: \(millions(catchUpRate)) events/s from its start to then")
            burstFields = " burst_events=\(events) burst_events_per_s=\(Int(Double(events) / seconds)) "
                + "burst_caught_up_s=\(fixed(caughtUp)) burst_processed_per_s=\(Int(catchUpRate))"
        }
        if breakdown {
            printBreakdown(from: measuredFrom, through: lastInterval, sealedAt: sealedAt, outputAt: outputAt)
            // The slowest intervals, and when their seals came (s after the first measured one's):
            // whether the tail is a few moments of the run (a stall) or spread over it.
            var slowest: [(Interval, UInt64, UInt64)] = []
            var interval = measuredFrom
            let origin = sealedAt.get(measuredFrom) ?? 0
            while interval <= lastInterval {
                if let sealed = sealedAt.get(interval), let out = outputAt.get(interval) {
                    slowest.append((interval, out > sealed ? out - sealed : 0, sealed > origin ? sealed - origin : 0))
                }
                interval = interval.next
            }
            slowest.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            print("  slowest intervals (ms, at s after the first measured seal): "
                  + slowest.prefix(5).map { "\(fixed(Double($0.1) / 1e6, 1)) at \(fixed(Double($0.2) / 1e9, 1))" }
                      .joined(separator: ", "))
        }
        print("  the generator was at most \(mostBehind) events behind; peak RSS \(fixed(peakRSSMegabytes(), 1)) MiB")
        print("RESULT workload=latency-\(workload.rawValue) events=\(appended) seconds=\(fixed(loadSeconds)) "
              + "events_per_s=\(Int(achieved)) interval_ms=\(intervalMs) intervals=\(histogram.totalCount) "
              + "p50_ms=\(ms(50)) p90_ms=\(ms(90)) p99_ms=\(ms(99)) max_ms=\(maxMs) "
              + "peak_rss_mb=\(fixed(peakRSSMegabytes(), 1))" + burstFields
              + (partitionedByURL ? " input=partitioned-by-url" : "")
              + (snapshotEvery != Program.defaultSnapshotEvery ? " snapshot_every=\(snapshotEvery)" : "")
              + (slowEvery > 0 ? " slowed_p50_ms=\(fixed(Double(slowed.valueAtPercentile(50)) / 1000, 2)) "
                 + "slowed_max_ms=\(fixed(Double(slowed.max) / 1000, 2)) slow_ms=\(slowMs) "
                 + "speculation=\(noSpeculation ? "off" : "on")" : ""))
    }
}

extension Latency {
    /// Prints, per step of the critical path, the time from the step before it (p50, p90, p99,
    /// max over the measured intervals): input seal durable → the first vertex's pass found the
    /// interval → began it → its first task started → its tasks finished → the next vertex found
    /// it (measured from the tasks' end, so it includes the commit) → … → the last
    /// vertex's commit visible → output yielded to the reader. The commits of the vertices before
    /// the last are printed beside the path, from their tasks' end.
    private func printBreakdown(from first: Interval, through last: Interval, sealedAt: IntervalTimes,
                                outputAt: IntervalTimes) {
        let vertices = Self.steps.vertices()
        typealias Time = (Interval) -> UInt64?
        func step(_ vertex: String, _ step: Int) -> Time { { Self.steps.time(vertex, $0, step) } }
        let found = IntervalTrace.Step.found.rawValue, began = IntervalTrace.Step.began.rawValue
        let done = IntervalTrace.Step.processed.rawValue, committed = IntervalTrace.Step.committed.rawValue
        // (label, from, to)
        var rows: [(String, Time, Time)] = []
        var before: Time = { sealedAt.get($0) }
        for (index, vertex) in vertices.enumerated() {
            rows.append(("\(vertex) found ready", before, step(vertex, found)))
            rows.append(("\(vertex) began", step(vertex, found), step(vertex, began)))
            rows.append(("\(vertex) first task started", step(vertex, began), step(vertex, StepTimes.firstTask)))
            rows.append(("\(vertex) tasks done", step(vertex, StepTimes.firstTask), step(vertex, done)))
            let tasks = { (interval: Interval) in Self.steps.tasks(vertex, interval) }
            rows.append(("  \(vertex)'s tasks: sum of their wall times", { _ in 0 }, { tasks($0)?.wall }))
            rows.append(("  \(vertex)'s tasks: sum of their CPU times", { _ in 0 }, { tasks($0)?.cpu }))
            rows.append(("  \(vertex)'s tasks: the longest's wall time", { _ in 0 }, { tasks($0)?.longest }))
            rows.append(("  \(vertex)'s tasks: the longest wait for a thread", { _ in 0 }, { tasks($0)?.queued }))
            let last = index == vertices.count - 1
            rows.append((last ? "\(vertex) commit visible" : "  (beside the path) \(vertex) commit visible, from its tasks done",
                         step(vertex, done), step(vertex, committed)))
            before = last ? step(vertex, committed) : step(vertex, done)
        }
        rows.append(("output yielded to the reader", before, { outputAt.get($0) }))
        // Every interval has input here, so a stateful vertex snapshots at t when (t + 1) % every == 0.
        if snapshotEvery > 0 {
            let every = UInt64(snapshotEvery)
            func path(_ snapshots: Bool) -> Time {
                { interval in ((interval.rawValue + 1) % every == 0) == snapshots ? outputAt.get(interval) : nil }
            }
            rows.append(("whole path, intervals whose commits write a snapshot", { sealedAt.get($0) }, path(true)))
            rows.append(("whole path, the other intervals", { sealedAt.get($0) }, path(false)))
        }
        print("  breakdown (ms from the step before; p50 / p90 / p99 / max over the measured intervals):")
        for (label, from, to) in rows {
            var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
            var interval = first
            while interval <= last {
                if let start = from(interval), let end = to(interval) {
                    _ = histogram.record(end > start ? (end - start) / 1000 : 0)
                }
                interval = interval.next
            }
            guard histogram.totalCount > 0 else { continue }
            func ms(_ p: Double) -> String { fixed(Double(histogram.valueAtPercentile(p)) / 1000, 2) }
            var line = "    \(label): \(ms(50)) / \(ms(90)) / \(ms(99)) / \(fixed(Double(histogram.max) / 1000, 2))"
                + " (\(histogram.totalCount) intervals)"
            if snapshotEvery > 0 && !label.hasPrefix("whole path") {
                // The same step over the intervals whose commits write a snapshot: where they differ.
                var values: [UInt64] = []
                var interval = first
                while interval <= last {
                    if (interval.rawValue + 1) % UInt64(snapshotEvery) == 0, let start = from(interval), let end = to(interval) {
                        values.append(end > start ? end - start : 0)
                    }
                    interval = interval.next
                }
                if !values.isEmpty { line += "; snapshot intervals: " + values.map { fixed(Double($0) / 1e6, 2) }.joined(separator: ", ") }
            }
            print(line)
        }
    }
}

/// The monotonic time (ns) at which each (vertex, interval, step) was first noted: the steps of
/// `IntervalTrace` and `firstTask`.
final class StepTimes: Sendable {
    /// The step number of "the interval's first task started" (after `IntervalTrace.Step`'s).
    static let firstTask = IntervalTrace.Step.allCases.count
    private struct Key: Hashable { let vertex: String, interval: UInt64, step: Int }
    private let times = Mutex<[Key: UInt64]>([:])  // lookup only

    /// Notes `step` of `vertex` for `interval` now, unless already noted.
    func note(_ vertex: String, _ interval: Interval, _ step: Int) {
        let now = monotonicNanos()
        let key = Key(vertex: vertex, interval: interval.rawValue, step: step)
        times.withLock { times in if times[key] == nil { times[key] = now } }
    }

    /// When `step` of `vertex` was noted for `interval`.
    func time(_ vertex: String, _ interval: Interval, _ step: Int) -> UInt64? {
        times.withLock { $0[Key(vertex: vertex, interval: interval.rawValue, step: step)] }
    }

    /// Per (vertex, interval), its task attempts summed: count, wall and CPU time, the longest
    /// attempt's wall time and the longest wait for a thread (ns).
    struct TaskSums { var count = 0, wall: UInt64 = 0, cpu: UInt64 = 0, longest: UInt64 = 0, queued: UInt64 = 0 }
    private let taskSums = Mutex<[Key: TaskSums]>([:])  // lookup only

    /// Adds one task attempt of `vertex` for `interval`.
    func noteTask(_ vertex: String, _ interval: Interval, _ run: IntervalTrace.TaskRun) {
        let key = Key(vertex: vertex, interval: interval.rawValue, step: 0)
        taskSums.withLock { sums in
            var sum = sums[key] ?? TaskSums()
            sum.count += 1
            sum.wall &+= run.wallNanoseconds
            sum.cpu &+= run.cpuNanoseconds
            sum.longest = max(sum.longest, run.wallNanoseconds)
            sum.queued = max(sum.queued, run.queuedNanoseconds)
            sums[key] = sum
        }
    }

    /// The task attempts of `vertex` for `interval`, summed.
    func tasks(_ vertex: String, _ interval: Interval) -> TaskSums? {
        taskSums.withLock { $0[Key(vertex: vertex, interval: interval.rawValue, step: 0)] }
    }

    /// The vertices noted, in name order.
    func vertices() -> [String] { Array(Set(times.withLock { $0.keys.map(\.vertex) })).sorted() }
}

/// Waits on this thread for a task to end; its error, described, or `nil`.
func waitForTask(_ task: Task<Void, any Error>) -> String? {
    let done = DispatchSemaphore(value: 0)
    let failure = Mutex<String?>(nil)
    Task {
        do { try await task.value } catch is CancellationError {} catch { failure.withLock { $0 = "\(error)" } }
        done.signal()
    }
    done.wait()
    return failure.withLock { $0 }
}

/// A time (monotonic ns) per interval in a fixed range, written by one thread and read by another.
final class IntervalTimes: Sendable {
    private let first: UInt64
    private let times: Mutex<[UInt64?]>

    init(first: Interval, last: Interval) {
        self.first = first.rawValue
        times = Mutex(Array(repeating: nil, count: Int(last.rawValue - first.rawValue + 1)))
    }

    func set(_ interval: Interval, _ nanos: UInt64) {
        guard interval.rawValue >= first else { return }
        let index = Int(interval.rawValue - first)
        times.withLock { times in if index < times.count, times[index] == nil { times[index] = nanos } }
    }

    func get(_ interval: Interval) -> UInt64? {
        guard interval.rawValue >= first else { return nil }
        let index = Int(interval.rawValue - first)
        return times.withLock { index < $0.count ? $0[index] : nil }
    }
}

/// Monotonic nanoseconds.
func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Wall-clock nanoseconds since the Unix epoch.
func realtimeNanos() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}

/// Sleeps until the monotonic clock reads `nanos`.
func sleepUntil(monotonic nanos: UInt64) {
    while true {
        let t = monotonicNanos()
        if t >= nanos { return }
        usleep(useconds_t(min((nanos - t) / 1000, 100_000)))
    }
}
