import Foundation
import Strata

/// One page view, the demo's record type: encodes itself in a few lines.
struct PageView: KeyedRecord {
    var time: Int64  // milliseconds since the Unix epoch
    var url: String
    var user: UInt64
    var kind: UInt8  // 0 view, 1 click, 2 add, 3 buy

    var partitionKey: String { url }

    func encode(to writer: inout BinaryWriter) {
        writer.write(time)
        writer.write(url)
        writer.write(user)
        writer.write(kind)
    }

    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        time = try reader.read()
        url = try reader.read()
        user = try reader.read()
        kind = try reader.read()
    }

    init(time: Int64, url: String, user: UInt64, kind: UInt8) {
        self.time = time
        self.url = url
        self.user = user
        self.kind = kind
    }
}

/// SplitMix64: a small seeded generator, so every run of the demo makes the same events.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@main
struct StrataDemo {
    static func main() throws {
        let path = CommandLine.arguments.dropFirst().first ?? ProcessInfo.processInfo.environment["STRATA_STORE"]
            ?? "strata-demo.store"
        let store = try Store(at: path)
        let views = try store.stream("pageViews", of: PageView.self, interval: .seconds(1), partitions: 4)
        let appender = try views.eventTimeAppender(allowedLateness: .zero) { $0.url }

        // Continue the timeline after what earlier runs sealed: the store keeps everything.
        let firstSecond: Int64 = try views.newestSealedInterval().map { Int64($0.rawValue) + 1 } ?? 1_795_435_200
        let seconds = 10, perSecond = 100_000
        var random = SplitMix64(state: UInt64(firstSecond))
        let urls = (0..<2_000).map { "/products/\($0)" }
        print("store \(path): appending \(seconds * perSecond) page views, \(seconds) intervals of 1 s, 4 partitions")
        let started = Date()
        for second in 0..<Int64(seconds) {
            for i in 0..<Int64(perSecond) {
                let r = random.next()
                // Skewed popularity: small url indexes are far more common.
                let rank = Int(((r & 0xFFFF) * ((r >> 48) & 0xFFFF)) >> 21) % urls.count
                let time = (firstSecond + second) * 1000 + i * 1000 / Int64(perSecond)
                try appender.append(PageView(time: time, url: urls[rank], user: r >> 40, kind: UInt8(r >> 8 & 3)),
                                    eventTime: Timestamp(milliseconds: time))
            }
        }
        try appender.sealAll()
        let elapsed = Date().timeIntervalSince(started)
        print(String(format: "appended and sealed in %.2f s (%.1f M events/s)", elapsed,
                     Double(seconds * perSecond) / elapsed / 1e6))

        let frontier = try views.frontier()
        guard let last = frontier.sealedThrough else { return }
        let first = Interval(last.rawValue + 1 - UInt64(seconds))
        print("\ninterval     records  stored bytes  ratio")
        for seal in try store.intervalStats(of: "pageViews", in: first...last) {
            print(String(format: "%-10llu %9llu %13llu  %.2f", seal.interval.rawValue, seal.records, seal.storedBytes,
                         seal.compressionRatio))
        }
        if let stats = try store.stats(of: "pageViews").first {
            print(String(format: "\nstream pageViews: %llu intervals, %llu records, %.1f stored bytes/record, ratio %.2f",
                         stats.intervals, stats.records, Double(stats.storedBytes) / Double(max(stats.records, 1)),
                         stats.compressionRatio))
        }

        // The running url count: a program over the sealed intervals. Its state and progress are
        // durable, so each run of the demo processes only the intervals it has not seen yet.
        print("\nrunning url count (program urlCounts), top 5 urls after each new interval:")
        let countsStarted = Date()
        let program = try Program(name: "urlCounts", store: store) { p in
            let counts = p.read(views).map { KeyValue($0.url, Int64(1)) }.runningReduce(+)
            counts.save(as: "urlCounts")
            counts.foreach { interval, partitions in
                // The urls counted in this interval with their totals; ties broken by url.
                let top = partitions.joined().sorted { a, b in
                    a.value != b.value ? a.value > b.value : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
                }.prefix(5)
                print("  \(interval):", top.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        try program.runUntilCaughtUp()
        print(String(format: "counted in %.2f s; the counts per interval are stream urlCounts", Date().timeIntervalSince(countsStarted)))

        let batch = try views.read(last)
        print("\nread back interval \(last): \(batch.count) records; per partition:",
              batch.partitions.map(\.count).map(String.init).joined(separator: " "))
        for view in batch.partitions[0].prefix(3) {
            print("  partition 0: time \(view.time) url \(view.url) user \(view.user) kind \(view.kind)")
        }
        print("\nrun again to append 10 more intervals to the same store; inspect it with:\n  swift run strata --store \(path) streams")
    }
}
