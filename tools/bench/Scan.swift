import ArgumentParser
import Glibc
import Strata

/// `strata-bench scan`: a full scan through `StoredStream.forEach`, reading, verifying,
/// decompressing and decoding every record.
struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scan every sealed interval of a stream with StoredStream.forEach.",
        discussion: """
            Typed (PageView) by default; --json scans a JSON stream made by `strata ingest` as \
            StoredStream<JSONRecord>. The store is read as it lies: run right after an ingest, its \
            pages are in the OS page cache (a warm scan).
            """)

    @Option(help: "The store directory.")
    var store: String

    @Option(help: "Stream name.")
    var stream: String = "pageViews"

    @Flag(help: "Read the stream as JSON records (the default for a stream made by `strata ingest`).")
    var json = false

    @Flag(help: "Read with StoredStream.forEachInterval: each interval's partitions decoded in parallel on all cores.")
    var parallel = false

    func run() throws {
        let strataStore = try Store.open(at: store, durability: .noSync)
        let info = try strataStore.info(of: stream)
        // A stream made by `strata ingest` holds JSON records, whether or not --json was given.
        let json = json || info.descriptor.recordType == JSONRecord.recordTypeName
        guard let first = info.frontier.firstReadable, let last = info.frontier.sealedThrough else {
            throw ValidationError("stream \(stream) has no readable sealed interval")
        }
        let stats = try strataStore.stats(of: stream).first
        let rawBytes = stats?.rawBytes ?? 0
        var count = 0
        var checksum: UInt64 = 0
        let watch = Stopwatch()
        if parallel && json {
            let records = try strataStore.stream(named: stream, of: JSONRecord.self)
            try records.forEachInterval(in: first...last) { batch in
                for partition in batch.partitions {
                    for record in partition {
                        count &+= 1
                        checksum &+= UInt64(record.bytes.count)
                    }
                }
            }
        } else if parallel {
            let records = try strataStore.stream(named: stream, of: PageView.self)
            try records.forEachInterval(in: first...last) { batch in
                for partition in batch.partitions {
                    for view in partition {
                        count &+= 1
                        checksum &+= UInt64(bitPattern: view.ts) ^ view.user &+ UInt64(view.url.utf8.count) &+ UInt64(view.ev)
                    }
                }
            }
        } else if json {
            let records = try strataStore.stream(named: stream, of: JSONRecord.self)
            try records.forEach(in: first...last) { _, _, record in
                count &+= 1
                checksum &+= UInt64(record.bytes.count)
            }
        } else {
            let records = try strataStore.stream(named: stream, of: PageView.self)
            try records.forEach(in: first...last) { _, _, view in
                count &+= 1
                checksum &+= UInt64(bitPattern: view.ts) ^ view.user &+ UInt64(view.url.utf8.count) &+ UInt64(view.ev)
            }
        }
        let cpu = watch.read()
        let seconds = cpu.wall
        let workload = (json ? "scan-json" : "scan") + (parallel ? "-parallel" : "")
        print("\(workload) \(stream): \(count) records in \(last.rawValue - first.rawValue + 1) intervals, "
              + "\(fixed(seconds)) s → \(millions(Double(count) / seconds)) events/s, "
              + "\(fixed(Double(rawBytes) / 1_048_576 / seconds, 1)) MiB/s of raw payload")
        let stored = Double(stats?.storedBytes ?? 0)
        printResult(workload: workload, events: count, seconds: seconds, extra: [
            "bytes_per_event": fixed(count > 0 ? stored / Double(count) : 0, 2),
            "raw_bytes_per_event": fixed(count > 0 ? Double(rawBytes) / Double(count) : 0, 2),
            "ratio": fixed(stats?.compressionRatio ?? 1, 3),
            "process_cpu_s": fixed(cpu.cpu),
            "raw_mb_per_s": fixed(Double(rawBytes) / 1_048_576 / seconds, 1),
            "peak_rss_mb": fixed(peakRSSMegabytes(), 1),
            "checksum": String(checksum),
        ])
    }
}
