import ArgumentParser
import Glibc
import Strata

/// `strata-bench stages`: the per-record stages of the append path, timed one by one with the
/// library's public pieces, to show where ingest time goes.
///
/// Each stage runs over the same generated events held in memory, on one thread:
/// - `encode`: `PageView.encode(to:)` into a framed payload (varint length + record), reset
///   every 256 KiB, as `PayloadBuilder` does;
/// - `key-hash`: the partition key's encoding into a scratch `BinaryWriter` plus `XXH64`, as
///   `StreamAppender.partition(for:)` does;
/// - `decode`: `PageView(from:)` over the framed payload (no decompression, no LMDB).
struct Stages: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the append path's per-record stages (encode, key hash, decode) in isolation.")

    @Option(help: "Number of events.")
    var events: Int = 10_000_000

    @OptionGroup var dataSet: DataSetOptions

    func run() throws {
        var generator = dataSet.makeGenerator()
        var all = ContiguousArray<PageView>()
        all.reserveCapacity(events)
        var watch = Stopwatch()
        for _ in 0..<events { all.append(generator.nextPageView()) }
        report("generate", watch.read().threadCPU)

        // Encode into framed payloads, 256 KiB at a time; keep the first payload for decoding.
        var writer = BinaryWriter(capacity: 300 << 10)
        var payloads: [[UInt8]] = []
        var framedBytes = 0
        watch = Stopwatch()
        for view in all {
            let lengthAt = writer.count
            writer.write(byte: 0)
            view.encode(to: &writer)
            writer._bytes[lengthAt] = UInt8(writer.count - lengthAt - 1)  // records are < 128 bytes
            if writer.count >= 256 << 10 {
                framedBytes += writer.count
                if payloads.count < 64 { payloads.append(writer.bytes) }
                writer.removeAll()
            }
        }
        framedBytes += writer.count
        report("encode", watch.read().threadCPU, extra: "framed \(fixed(Double(framedBytes) / Double(events), 2)) B/event")

        var scratch = BinaryWriter(capacity: 64)
        var partitions = [Int](repeating: 0, count: 4)
        watch = Stopwatch()
        for view in all {
            scratch.removeAll()
            view.partitionKey.encode(to: &scratch)
            let hash = scratch.bytes.withUnsafeBytes { XXH64.hash($0) }
            partitions[Int(hash % 4)] += 1
        }
        report("key-hash", watch.read().threadCPU, extra: "partition sizes \(partitions)")

        // Decode the kept payloads repeatedly until `events` records were decoded.
        var decoded = 0
        var checksum: UInt64 = 0
        watch = Stopwatch()
        outer: while decoded < events {
            for payload in payloads {
                try payload.withUnsafeBytes { raw in
                    var frames = BinaryReader(raw)
                    while frames.remaining > 0 {
                        var reader = BinaryReader(try frames.readLengthPrefixed())
                        let view = try PageView(from: &reader)
                        checksum &+= UInt64(bitPattern: view.ts) &+ UInt64(view.url.utf8.count)
                        decoded += 1
                    }
                }
                if decoded >= events { break outer }
            }
        }
        let decodeSeconds = watch.read().threadCPU
        report("decode", decodeSeconds, count: decoded, extra: "checksum \(checksum)")
        printResult(workload: "stages-decode", events: decoded, seconds: decodeSeconds)
    }

    private func report(_ stage: String, _ seconds: Double, count: Int? = nil, extra: String = "") {
        let n = Double(count ?? events)
        print("stage \(stage): \(fixed(seconds)) s CPU, \(fixed(seconds / n * 1e9, 1)) ns/event, "
              + "\(millions(n / seconds)) events/s \(extra)")
    }
}
