import ArgumentParser
import Glibc
import Strata

/// `strata-bench`: throughput figures for Strata's storage paths (see `docs/benchmarks.md`).
///
/// Every subcommand prints human-readable lines, then as its last stdout line
/// `RESULT workload=NAME events=N seconds=S events_per_s=R key=value…`, which `tools/bench.sh` collects.
@main
struct StrataBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata-bench",
        abstract: "Benchmarks for Strata: generate page views, ingest, scan, LZ4 reference.",
        subcommands: [Generate.self, Ingest.self, Scan.self, LZ4Reference.self, Stages.self,
                      RunningCount.self, WindowCount.self, Sessions.self, Pipeline.self, Latency.self, HTTPLoad.self, SliceScan.self,
                      StateAsOfBench.self, KeyedAppend.self])
}

// MARK: Shared options

/// Options that define the data set; the same values give the same events on every path.
struct DataSetOptions: ParsableArguments {
    @Option(help: "PRNG seed.")
    var seed: UInt64 = 1

    @Option(name: .customLong("start-ms"), help: "Event time of the first event, ms since the Unix epoch.")
    var startMs: Int64 = PageViewGenerator.defaultStartMs

    @Option(help: "Events per second of event time.")
    var rate: UInt64 = 100_000

    @Option(help: "Number of distinct urls (Zipf-distributed, s = 1).")
    var urls: Int = 10_000

    func validate() throws {
        guard rate > 0 else { throw ValidationError("--rate must be positive") }
        guard urls > 0 else { throw ValidationError("--urls must be positive") }
    }

    func makeGenerator() -> PageViewGenerator {
        PageViewGenerator(seed: seed, startMs: startMs, rate: rate, urlCount: urls)
    }
}

/// `none`, `group` or `fsync`, as `StoreOptions.durability`.
enum DurabilityOption: String, ExpressibleByArgument, CaseIterable {
    case none, group, fsync

    var durability: Durability {
        switch self {
        case .none: .noSync
        case .group: .groupCommit
        case .fsync: .fsyncEveryCommit
        }
    }
}

/// An interval length written `500ms`, `1s`, `5m` or `1h`.
struct IntervalOption: ExpressibleByArgument, CustomStringConvertible {
    var length: IntervalLength
    var description: String

    init?(argument: String) {
        let units: [(String, UInt64)] = [("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000),
                                         ("h", 3_600_000_000_000)]
        for (suffix, nanos) in units where argument.hasSuffix(suffix) {
            guard let n = UInt64(argument.dropLast(suffix.count)), n > 0 else { return nil }
            let (total, overflow) = n.multipliedReportingOverflow(by: nanos)
            guard !overflow else { return nil }
            length = IntervalLength(rawValue: total)
            description = argument
            return
        }
        return nil
    }
}

// MARK: Measuring

/// Monotonic seconds.
func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// CPU seconds (user + system) of the whole process, every thread.
func processCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// CPU seconds of the calling thread: on a shared, noisy machine, steadier than wall time.
func threadCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Wall time and CPU time of a timed region.
struct Stopwatch {
    let wall = now()
    let process = processCPUSeconds()
    let thread = threadCPUSeconds()

    /// (wall seconds, process CPU seconds, this thread's CPU seconds) since `init`.
    func read() -> (wall: Double, cpu: Double, threadCPU: Double) {
        (now() - wall, processCPUSeconds() - process, threadCPUSeconds() - thread)
    }
}

/// The process's peak resident set, MiB (`getrusage` `ru_maxrss`).
func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024  // KiB on Linux
}

/// The process's current resident set, MiB (`/proc/self/statm`), or 0 when unreadable.
func currentRSSMegabytes() -> Double {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0, resident = 0
    guard withUnsafeMutablePointer(to: &size, { s in
        withUnsafeMutablePointer(to: &resident) { r in
            withVaList([s, r]) { vfscanf(file, "%ld %ld", $0) }
        }
    }) == 2 else { return 0 }
    return Double(resident) * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

/// `x` with `places` decimals, without Foundation.
func fixed(_ x: Double, _ places: Int = 3) -> String {
    guard x.isFinite else { return "nan" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let negative = x < 0
    let scaled = (abs(x) * scale).rounded()
    guard scaled < 9e18 else { return "\(x)" }
    let n = UInt64(scaled)
    let whole = n / UInt64(scale), frac = n % UInt64(scale)
    var fracText = places > 0 ? String(frac) : ""
    while fracText.count < places { fracText = "0" + fracText }
    return (negative ? "-" : "") + String(whole) + (places > 0 ? "." + fracText : "")
}

/// Prints the `RESULT` line.
func printResult(workload: String, events: Int, seconds: Double, extra: KeyValuePairs<String, String> = [:]) {
    var line = "RESULT workload=\(workload) events=\(events) seconds=\(fixed(seconds, 3))"
    line += " events_per_s=\(eventsPerSecond(events, seconds))"
    for (key, value) in extra { line += " \(key)=\(value)" }
    print(line)
    fflush(nil)
}

/// Events per second as an integer; 0 when nothing was processed (never a rate over no work),
/// `inf` only for work measured at zero seconds.
func eventsPerSecond(_ events: Int, _ seconds: Double) -> String {
    guard events > 0 else { return "0" }
    return seconds > 0 ? String(Int((Double(events) / seconds).rounded())) : "inf"
}

/// The process's peak resident set, MiB, from `VmHWM` in `/proc/self/status` (the kernel's
/// high-water mark of RSS: anonymous, file-backed and shared pages); `getrusage` when unreadable.
func peakRSSFromStatus() -> Double { procStatusMegabytes("VmHWM:") ?? peakRSSMegabytes() }

/// A `kB` field of `/proc/self/status` (`VmHWM:`, `RssAnon:`, `RssFile:` …), MiB.
func procStatusMegabytes(_ field: String) -> Double? {
    guard let file = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard text.hasPrefix(field) else { continue }
        let digits = text.dropFirst(field.count).filter { $0.isNumber }
        return Double(digits).map { $0 / 1024 }
    }
    return nil
}

/// Keeps a computed value alive, so that the loop producing it is not optimized away.
@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// A human-readable count: `12.35 M`.
func millions(_ x: Double) -> String { "\(fixed(x / 1e6, 2)) M" }

/// Writes a line to stderr (stdout may be carrying data).
func printToStderr(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { utf8 in _ = write(STDERR_FILENO, utf8.baseAddress, utf8.count) }
}
