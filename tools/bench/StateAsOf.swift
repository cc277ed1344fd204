import ArgumentParser
import Foundation
import Histogram
import Strata

/// `strata-bench state-as-of`: the state of a stateful vertex as of past intervals, one key and
/// whole (see `Store.state(of:asOf:key:as:_:)` and docs/state-as-of.md).
struct StateAsOfBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state-as-of",
        abstract: "Time the state of a runningReduce (or track) as of past intervals: one-key lookups and whole states.",
        discussion: """
            Builds a new store in --store: stream `updates` (KeyValue<String, Int64>, --partitions \
            partitions) whose interval 0 holds every one of --keys keys and whose later intervals \
            each hold --updates-per-interval updates of random keys, then runs a program keeping \
            the state (runningReduce(+), or track with a sum) with a snapshot every --snapshot-every \
            intervals, saved as `totals`. Timed after that: --lookups one-key lookups at random \
            (interval, key) over every interval, recorded in an HdrHistogram (µs, 3 significant \
            digits), and the same at the worst intervals (the last before a snapshot, the most \
            changes to replay); then the whole state as of the worst interval and the last one, \
            --repeats times each. Each lookup is checked against the whole state.
            """)

    @Option(help: "The store's directory; must not exist.")
    var store: String

    @Option(help: "Distinct keys in the state.")
    var keys = 100_000

    @Option(help: "Sealed intervals in the input.")
    var intervals = 90

    @Option(name: .customLong("updates-per-interval"), help: "Key updates in each interval after the first.")
    var updatesPerInterval = 2_000

    @Option(help: "Partitions of the input and the state.")
    var partitions = 4

    @Option(name: .customLong("snapshot-every"), help: "Snapshot period, intervals.")
    var snapshotEvery = 30

    @Option(help: "One-key lookups per measurement.")
    var lookups = 2_000

    @Option(help: "Whole-state measurements per interval.")
    var repeats = 5

    @Option(help: "The stateful operator: running (runningReduce) or track.")
    var `operator`: Operator = .running

    @Option(help: "PRNG seed.")
    var seed: UInt64 = 1

    enum Operator: String, ExpressibleByArgument { case running, track }

    func validate() throws {
        guard keys > 0, intervals > 1, updatesPerInterval >= 0, lookups > 0, repeats > 0 else {
            throw ValidationError("--keys, --lookups, --repeats must be positive and --intervals at least 2")
        }
        guard (1...4096).contains(partitions), snapshotEvery >= 1 else {
            throw ValidationError("--partitions must be 1 to 4096 and --snapshot-every at least 1")
        }
        guard !FileManager.default.fileExists(atPath: store) else { throw ValidationError("\(store) exists") }
    }

    func key(_ index: Int) -> String { "/page/\(index)" }

    func run() throws {
        var rng = SplitMixRNG(seed: seed)
        let db = try Store(at: store, options: StoreOptions(durability: .noSync))
        let input = try db.stream("updates", of: KeyValue<String, Int64>.self, interval: .seconds(1),
                                  partitions: partitions)
        let build = Stopwatch()
        let appender = try input.explicitAppender()  // partitioned by key
        for k in 0..<keys { try appender.append(KeyValue(key(k), 1), interval: Interval(0)) }
        for t in 1..<intervals {
            for _ in 0..<updatesPerInterval {
                try appender.append(KeyValue(key(Int(rng.next() % UInt64(keys))), 1), interval: Interval(UInt64(t)))
            }
        }
        try appender.seal(through: Interval(UInt64(intervals - 1)))
        try appender.flush()
        let ingested = build.read().wall
        let op = self.operator
        let program = try Program(name: "asof", store: db, snapshotEvery: snapshotEvery) { p in
            let pairs = p.read(input)
            switch op {
            case .running: pairs.runningReduce(+).save(as: "totals")
            case .track:
                pairs.track(initialize: { _, v in v }, update: { _, s, v in s + v }, timeout: nil).updates
                    .save(as: "totals")
            }
        }
        try program.runUntilCaughtUp()
        let built = build.read().wall
        print("state-as-of: \(op.rawValue), \(keys) keys, \(intervals) intervals, \(updatesPerInterval) updates per "
              + "interval, \(partitions) partitions, snapshot every \(snapshotEvery)")
        print("  built in \(fixed(built, 1)) s (ingest \(fixed(ingested, 1)) s)")

        // The worst intervals: the last before each snapshot (the most change intervals to replay).
        let worst = (0..<intervals).filter { t in t >= snapshotEvery && (t + 2) % snapshotEvery == 0 }
        let last = intervals - 1
        // Whole states, which also check the lookups.
        var wholes: [Int: [String: Int64]] = [:]
        func measureWhole(_ t: Int) throws -> [Double] {
            var seconds: [Double] = []
            for _ in 0..<repeats {
                let clock = Stopwatch()
                let state = try db.state(of: "totals", asOf: Interval(UInt64(t)), as: String.self, Int64.self)
                seconds.append(clock.read().wall)
                guard state.entries.count == keys else {
                    throw ValidationError("as of \(t): \(state.entries.count) keys, expected \(keys)")
                }
                if wholes[t] == nil {
                    print("  whole state as of \(t): from the snapshot at \(state.snapshot.map(\.description) ?? "-") "
                          + "plus \(state.replayedIntervals) intervals of changes")
                    wholes[t] = Dictionary(uniqueKeysWithValues: state.entries.map { ($0.key, $0.value) })
                }
            }
            return seconds.sorted()
        }
        let wholeT = worst.last ?? last
        let wholeWorst = try measureWhole(wholeT)
        let wholeLast = try measureWhole(last)

        func measureLookups(_ choose: (inout SplitMixRNG) -> Int) throws -> Histogram<UInt64> {
            var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for _ in 0..<lookups {
                let t = choose(&rng)
                let k = key(Int(rng.next() % UInt64(keys)))
                let clock = Stopwatch()
                let found = try db.state(of: "totals", asOf: Interval(UInt64(t)), key: k, as: String.self, Int64.self)
                _ = histogram.record(UInt64(clock.read().wall * 1e6))
                if let whole = wholes[t], found.entries.first?.value != whole[k] {
                    throw ValidationError("as of \(t), key \(k): \(found.entries) but the whole state has \(whole[k] ?? 0)")
                }
            }
            return histogram
        }
        let uniform = try measureLookups { rng in Int(rng.next() % UInt64(intervals)) }
        let worstLookups = try measureLookups { rng in worst.isEmpty ? last : worst[Int(rng.next() % UInt64(worst.count))] }

        func ms(_ h: Histogram<UInt64>, _ p: Double) -> String { fixed(Double(h.valueAtPercentile(p)) / 1000, 3) }
        print("  one key, any interval (\(lookups)): p50 \(ms(uniform, 50)) ms, p99 \(ms(uniform, 99)) ms, "
              + "max \(fixed(Double(uniform.max) / 1000, 3)) ms")
        print("  one key, worst intervals \(worst) (\(lookups)): p50 \(ms(worstLookups, 50)) ms, "
              + "p99 \(ms(worstLookups, 99)) ms, max \(fixed(Double(worstLookups.max) / 1000, 3)) ms")
        print("  whole state as of \(wholeT): median \(fixed(wholeWorst[wholeWorst.count / 2] * 1000, 1)) ms, "
              + "max \(fixed(wholeWorst.last! * 1000, 1)) ms; as of \(last): median "
              + "\(fixed(wholeLast[wholeLast.count / 2] * 1000, 1)) ms, max \(fixed(wholeLast.last! * 1000, 1)) ms")
        print("RESULT workload=state-as-of operator=\(op.rawValue) keys=\(keys) intervals=\(intervals) "
              + "lookup_p50_ms=\(ms(uniform, 50)) lookup_p99_ms=\(ms(uniform, 99)) "
              + "worst_lookup_p99_ms=\(ms(worstLookups, 99)) whole_max_ms=\(fixed(max(wholeWorst.last!, wholeLast.last!) * 1000, 1))")
    }
}

/// SplitMix64: a small deterministic PRNG for the benchmark's keys.
struct SplitMixRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
