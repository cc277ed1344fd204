// libFuzzer target: the catalog, frontier, seal, progress, vertex-stats and state row decoders, the
// key decoders, and snapshot rows (blocks). Built by tools/fuzz.sh.
//
// The first input byte picks a row kind (and, for seal rows, a partition count); the rest is the
// row. Each row is decoded as it is (checksum path) and with its checksum recomputed, so that the
// fuzzer reaches the field decoding behind it. Only `Corruption` may come out; a decoded row must
// encode to a row that decodes to the same value.
import StrataStorage

nonisolated(unsafe) var codec = BlockCodec()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRows(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    guard let selector = input.first else { return 0 }
    let row = UnsafeRawBufferPointer(rebasing: input.dropFirst())
    decodeRow(selector, row)
    // The same bytes as a row body with a valid checksum.
    RowChecksum.seal(Array(row)).withUnsafeBytes { decodeRow(selector, $0) }
    return 0
}

func decodeRow(_ selector: UInt8, _ row: UnsafeRawBufferPointer) {
    switch selector % 10 {
    case 0:
        if let d = try? StreamDescriptor(row: row) { precondition(d.encodedRow().withUnsafeBytes { try? StreamDescriptor(row: $0) } == d, "catalog row round trip") }
    case 1:
        if let f = try? StreamFrontier(row: row) { precondition(f.encodedRow().withUnsafeBytes { try? StreamFrontier(row: $0) } == f, "frontier row round trip") }
    case 2:
        let partitions = UInt32(selector / 10)
        if let s = try? SealRecord(row: row, partitions: partitions) {
            precondition(s.chunks.count == Int(partitions), "seal row partition count")
            precondition(s.encodedRow().withUnsafeBytes { try? SealRecord(row: $0, partitions: partitions) } == s, "seal row round trip")
        }
    case 3:
        if let p = try? ProgressMark(row: row) { precondition(p.encodedRow().withUnsafeBytes { try? ProgressMark(row: $0) } == p, "progress row round trip") }
    case 4:
        if let v = try? VertexStats(row: row) { precondition(v.encodedRow().withUnsafeBytes { try? VertexStats(row: $0) } == v, "vertex stats row round trip") }
    case 5:
        if let s = try? StateDescriptor(stream: "s", row: row) {
            precondition(s.encodedRow().withUnsafeBytes { try? StateDescriptor(stream: "s", row: $0) } == s, "state row round trip")
        }
    case 6:
        if let k = BlockKey(decoding: row) { precondition(k.withEncodedBytes { $0.elementsEqual(row) }, "block key round trip") }
    case 7:
        if let k = SealKey(decoding: row) { precondition(k.withEncodedBytes { $0.elementsEqual(row) }, "seal key round trip") }
    case 8:
        if let k = SnapshotKey(decoding: row, vertex: "v") { precondition(k.encoded.elementsEqual(row), "snapshot key round trip") }
    default:
        // A snapshot row is a block whose records are the state's entries.
        do {
            try codec.verify(row)
        } catch {}
    }
}

/// Seed rows: one valid row of each kind, prefixed by its selector byte.
func seeds() -> [(String, [UInt8])] {
    func seed(_ selector: UInt8, _ row: [UInt8]) -> [UInt8] { [selector] + row }
    let descriptor = StreamDescriptor(id: StreamID(rawValue: 3), name: "pageViews", recordType: "json",
                                      intervalLength: IntervalLength(rawValue: 1_000_000_000), partitions: 4,
                                      retention: .intervals(100), timeField: "ts", keyField: "url", timeUnit: .milliseconds)
    var frontier = StreamFrontier()
    frontier.sealedThrough = Interval(41)
    frontier.firstInterval = Interval(7)
    frontier.lateRecords = 12
    var stats = VertexStats()
    stats.inputs = ["pageViews", "clicks"]
    stats.recoveries = 2
    let state = StateDescriptor(stream: "s", vertex: "urlCounts", kind: .runningReduce, keyType: "Swift.String",
                                valueType: "Swift.Int64", changes: "urlCounts")
    var snapshot = BlockCodec()
    let snapshotRow = [UInt8]([2, 1, 0x61, 5, 2, 1, 0x62, 9]).withUnsafeBytes { snapshot.encode(payload: $0, recordCount: 2) }
    return [
        ("catalog", seed(0, descriptor.encodedRow())),
        ("frontier", seed(1, frontier.encodedRow())),
        ("seal-4-partitions", seed(42, SealRecord(chunks: [1, 0, 2, 1], records: 90, rawBytes: 4000, storedBytes: 1500).encodedRow())),
        ("progress", seed(3, ProgressMark(interval: Interval(9), fingerprint: 0xfeed).encodedRow())),
        ("vertex-stats", seed(4, stats.encodedRow())),
        ("state", seed(5, state.encodedRow())),
        ("block-key", seed(6, BlockKey(stream: StreamID(rawValue: 1), interval: Interval(5), partition: PartitionIndex(2),
                                       chunk: ChunkIndex(rawValue: 0)).withEncodedBytes { Array($0) })),
        ("seal-key", seed(7, SealKey(stream: StreamID(rawValue: 1), interval: Interval(5)).withEncodedBytes { Array($0) })),
        ("snapshot-key", seed(8, SnapshotKey(vertex: "v", interval: Interval(3), partition: PartitionIndex(1)).encoded)),
        ("snapshot-row", seed(9, snapshotRow)),
    ]
}
