import Foundation
import Strata
import StrataCluster
import StrataClusterTestSupport
import StrataStorage
import StrataTestSupport
import Testing

/// Fills `stream` (KeyValue<String, Int64>, `partitions` partitions) with deterministic records in
/// `intervals`, sealing through the last one.
func fillCounts(_ store: Store, _ name: String, intervals: Range<UInt64>, partitions: Int = 3,
                recordsPerInterval: Int = 40, retention: Retention = .forever) throws {
    let stream = try store.stream(name, of: KeyValue<String, Int64>.self, interval: .seconds(1), partitions: partitions,
                                  retention: retention)
    let appender = try stream.explicitAppender()
    for t in intervals {
        // Leave some intervals empty: seals must carry them too.
        if t % 5 == 4 { continue }
        for index in 0..<recordsPerInterval {
            try appender.append(KeyValue("key-\((Int(t) * 7 + index) % 23)", Int64(t) * 1000 + Int64(index)),
                                interval: Interval(t))
        }
    }
    if let last = intervals.last { try appender.seal(through: Interval(last)) }
}

/// Fills `stream` with one interval whose single partition holds a block of about 3 MiB of
/// incompressible bytes: more than NATS's 1 MiB maximum payload, so it travels in pieces.
func fillBigBlock(_ store: Store, _ name: String, interval: UInt64) throws {
    let stream = try store.stream(name, of: Bytes.self, interval: .seconds(1), partitions: 1)
    var limits = StreamAppender.Limits()
    limits.blockBytes = 4 << 20
    let appender = try stream.explicitAppender(limits: limits)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0..<30 {
        var bytes = [UInt8](repeating: 0, count: 100_000)
        for index in bytes.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes[index] = UInt8(truncatingIfNeeded: state >> 33)
        }
        try appender.append(Bytes(bytes), interval: Interval(interval))
    }
    try appender.seal(through: Interval(interval))
}

/// Every block (bytes) and seal record of every retained interval of `name`, with its frontier's
/// sealed-through interval: two stores hold the same stream iff these are equal.
struct StreamImage: Equatable {
    var sealedThrough: Interval?
    var seals: [Interval: SealRecord]
    var blocks: [String: [UInt8]]
}

func image(of store: Store, _ name: String) throws -> StreamImage {
    let log = store.logStore
    guard let descriptor = try log.descriptor(named: name) else { throw StorageError.unknownStream(name) }
    let frontier = try log.frontier(of: descriptor)
    var image = StreamImage(sealedThrough: frontier.sealedThrough, seals: [:], blocks: [:])
    guard let first = frontier.firstReadable, let last = frontier.sealedThrough else { return image }
    for (interval, seal) in try log.sealRecords(of: descriptor, in: first...last) {
        image.seals[interval] = seal
        try log.withSealedBlocks(of: descriptor, interval: interval) { partition, chunk, block in
            image.blocks["\(interval)/\(partition.rawValue)/\(chunk.rawValue)"] = Array(block)
        }
    }
    return image
}

/// Options for a node of `cluster`.
func clusterOptions(_ cluster: NATSCluster, node: String, namespace: String, replicas: Int = 3) -> ClusterOptions {
    var options = ClusterOptions(urls: cluster.urls, node: node, replicas: replicas,
                                 credentials: cluster.authentication.credentials, namespace: namespace)
    options.requestTimeout = .seconds(20)
    return options
}
