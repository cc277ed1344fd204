import ArgumentParser
import Strata

/// `strata-bench slice`: slices a range of a page-view stream (`StoredStream.slice`) and
/// aggregates it as a batch dataset: count per url (`map` + `reduceByKey`), then the top 10.
struct SliceScan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slice",
        abstract: "Slice a range of a PageView stream and count views per url, then take the top K.",
        discussion: """
            The slice runs one task per partition (all cores), reading, verifying, decompressing and decoding \
            block by block, fused with the map and the per-partition combine of reduceByKey; the combined \
            counts are then merged by key. --aggregate count only counts the sliced records. The store is read \
            as it lies: run right after an ingest, its pages are in the OS page cache (a warm scan).
            """)

    @Option(help: "The store directory.")
    var store: String

    @Option(help: "Stream name.")
    var stream: String = "pageViews"

    @Option(help: ArgumentHelp("Slice only the newest N readable intervals (default: all of them).", valueName: "N"))
    var intervals: UInt64?

    @Option(help: "How many urls to rank.")
    var top = 10

    @Option(help: """
        countPerURL (map + reduceByKey + topK), countPerURLBytes (countByEncodedKey over the url's \
        encoded bytes + topK: no record decoded) or count (records only).
        """)
    var aggregate: Aggregate = .countPerURL

    /// What the workload computes over the slice.
    enum Aggregate: String, ExpressibleByArgument, CaseIterable {
        case countPerURL, countPerURLBytes, count
    }

    func run() throws {
        let strataStore = try Store.open(at: store, durability: .noSync)
        let views = try strataStore.stream(named: stream, of: PageView.self)
        let frontier = try views.frontier()
        guard let first = frontier.firstReadable, let last = frontier.sealedThrough else {
            throw ValidationError("stream \(stream) has no readable sealed interval")
        }
        var from = first
        if let intervals, intervals > 0, last.rawValue - first.rawValue + 1 > intervals {
            from = Interval(last.rawValue - intervals + 1)
        }
        let watch = Stopwatch()
        let events: Int
        var ranking: [KeyValue<String, Int64>] = []
        switch aggregate {
        case .count:
            events = try views.slice(from: from, through: last).count()
        case .countPerURL:
            let counts = try views.slice(from: from, through: last).map { KeyValue($0.url, Int64(1)) }.reduceByKey(+)
            ranking = try counts.topK(top)
            events = Int(try counts.map(\.value).collect().reduce(0, +))
        case .countPerURLBytes:
            // PageView encodes ts (Int64), url (String), user, ev: the url's bytes, nothing decoded.
            let counts = try views.countByEncodedKey(from: from, through: last, as: String.self) { record in
                try record.skip(Int64.self)
                return try record.encodedBytes(of: String.self)
            }
            ranking = try counts.topK(top)
            events = Int(try counts.map(\.value).collect().reduce(0, +))
        }
        let time = watch.read()
        let workload = "slice-" + aggregate.rawValue
        print("\(workload) \(stream): intervals \(from)–\(last), \(events) events, \(fixed(time.wall)) s → "
              + "\(millions(Double(events) / time.wall)) events/s, process CPU \(fixed(time.cpu)) s")
        for (rank, pair) in ranking.enumerated() { print("  \(rank + 1). \(pair.key) \(pair.value)") }
        printResult(workload: workload, events: events, seconds: time.wall, extra: [
            "intervals": String(last.rawValue - from.rawValue + 1),
            "process_cpu_s": fixed(time.cpu),
            "peak_rss_mb": fixed(peakRSSMegabytes(), 1),
            "top1": ranking.first.map { "\($0.key):\($0.value)" } ?? "-",
        ])
    }
}
