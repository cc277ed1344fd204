import StrataStorage
import Synchronization

/// Input blocks of a vertex's next interval, decoded ahead on a core that the current interval's
/// tasks leave idle.
///
/// A vertex's tasks of one interval end together: with skewed partitions the heaviest one
/// finishes last and the other cores wait for it. Once every task of interval t has started, a
/// core with nothing left to start decodes blocks of the vertex's next ready interval t + 1 (one
/// block at a time, while some task of t still runs), and the tasks of t + 1 take those records
/// instead of decoding the blocks again (`PartitionReader.read`). Decoding is a pure function of
/// the sealed block, so the records, and everything computed from them, are the same either way:
/// only *which thread* decodes a block depends on timing. Nothing is decoded further ahead than
/// the next interval, and blocks never taken (a task that read another way) are dropped when the
/// interval after is planned, so the memory held is at most two intervals' decoded input per
/// vertex, usually part of one.
///
/// Each vertex has its own (`Program` makes one for every vertex reading a stream that the
/// definition registered a decoder for, `ProgramBuilder.registerDecoder`); the tasks of a vertex
/// find it through `DecodedAhead.current`.
final class DecodedAhead: Sendable {
    /// One stored block of an input stream.
    struct BlockID: Hashable, Sendable {
        let stream: StreamID
        let interval: Interval
        let partition: PartitionIndex
        let chunk: ChunkIndex
    }

    /// Decodes the blocks of one input stream as the record type the program reads it as.
    struct Decoder: Sendable {
        /// The stream.
        let stream: StreamDescriptor
        /// Decodes chunk `chunk` of (interval, partition) and keeps its records in `ahead`.
        let decode: @Sendable (_ interval: Interval, _ partition: PartitionIndex, _ chunk: UInt32,
                               _ codec: inout BlockCodec, _ ahead: DecodedAhead) throws -> Void
    }

    /// The blocks of one interval to decode ahead, claimed one at a time.
    private final class Plan: Sendable {
        let interval: Interval
        /// (decoder, partition, chunk), heaviest partition first.
        let units: [(decoder: Int, partition: PartitionIndex, chunk: UInt32)]
        let claimed = Atomic<Int>(0)

        init(interval: Interval, units: [(decoder: Int, partition: PartitionIndex, chunk: UInt32)]) {
            self.interval = interval
            self.units = units
        }
    }

    private struct Entry: Sendable {
        let records: any Sendable
    }

    private let log: LogStore
    private let decoders: [Decoder]
    /// Decoded blocks by id (lookup only: never iterated into an output).
    private let blocks = Mutex<[BlockID: Entry]>([:])
    private let stored = Atomic<Int>(0)
    private let plan = Mutex<Plan?>(nil)

    /// The decoded blocks of the vertex whose task runs on this thread (`nil`: none).
    @TaskLocal static var current: DecodedAhead?

    init(log: LogStore, decoders: [Decoder]) {
        self.log = log
        self.decoders = decoders
    }

    private let takenBlocks = Atomic<Int>(0)

    /// Blocks decoded ahead and not taken yet.
    var count: Int { stored.load(ordering: .relaxed) }

    /// Blocks decoded ahead that a task took (since the program was made).
    var taken: Int { takenBlocks.load(ordering: .relaxed) }

    /// Takes the records of a block decoded ahead as `Record`, `nil` when it was not.
    func take<Record: RecordCodable>(_ id: BlockID) -> ContiguousArray<Record>? {
        guard stored.load(ordering: .relaxed) > 0 else { return nil }
        guard let entry = blocks.withLock({ $0.removeValue(forKey: id) }) else { return nil }
        stored.subtract(1, ordering: .relaxed)
        guard let records = entry.records as? ContiguousArray<Record> else { return nil }
        takenBlocks.add(1, ordering: .relaxed)
        return records
    }

    /// Keeps the records of a block decoded ahead.
    func keep<Record: RecordCodable>(_ id: BlockID, _ records: ContiguousArray<Record>) {
        let added = blocks.withLock { blocks in blocks.updateValue(Entry(records: records), forKey: id) == nil }
        if added { stored.add(1, ordering: .relaxed) }
    }

    /// Decodes one more block of `interval` ahead; returns whether there may be more.
    ///
    /// Errors are not reported here: a block that does not decode is left to the task that reads
    /// it, which reports the error where it belongs.
    func decodeNext(of interval: Interval, codec: inout BlockCodec) -> Bool {
        guard let plan = currentPlan(interval) else { return false }
        let index = plan.claimed.wrappingAdd(1, ordering: .relaxed).oldValue
        guard index < plan.units.count else { return false }
        let unit = plan.units[index]
        let id = BlockID(stream: decoders[unit.decoder].stream.id, interval: interval, partition: unit.partition,
                         chunk: ChunkIndex(rawValue: unit.chunk))
        if blocks.withLock({ $0[id] != nil }) { return true }
        try? decoders[unit.decoder].decode(interval, unit.partition, unit.chunk, &codec, self)
        return true
    }

    /// The plan for `interval`, made on first use from the inputs' seal rows; entries of
    /// intervals before the previous one (decoded for a pass that stopped) are dropped then.
    private func currentPlan(_ interval: Interval) -> Plan? {
        plan.withLock { plan -> Plan? in
            if let plan, plan.interval == interval { return plan }
            var units: [(decoder: Int, partition: PartitionIndex, chunk: UInt32)] = []
            for (index, decoder) in decoders.enumerated() {
                guard let seal = try? log.sealRecords(of: decoder.stream, in: interval...interval).first?.1 else { continue }
                let order = launchOrder(seal.chunks.count, weights: seal.chunks.map { UInt64($0) })
                for p in order {
                    for chunk in 0..<seal.chunks[p] { units.append((index, PartitionIndex(UInt32(p)), chunk)) }
                }
            }
            let fresh = Plan(interval: interval, units: units)
            plan = fresh
            let previous = interval.rawValue > 0 ? Interval(interval.rawValue - 1) : interval
            let dropped = blocks.withLock { blocks -> Int in
                let before = blocks.count
                blocks = blocks.filter { $0.key.interval >= previous }
                return before - blocks.count
            }
            if dropped > 0 { stored.subtract(dropped, ordering: .relaxed) }
            return fresh
        }
    }
}

extension DecodedAhead.Decoder {
    /// A decoder of `stream`'s blocks as `Record`, with `decoder` (the same records as the
    /// vertex's own read).
    static func reading<Record: RecordCodable>(_ stream: StreamDescriptor, decoder: BlockDecoder<Record>,
                                               log: LogStore) -> Self {
        Self(stream: stream) { interval, partition, chunk, codec, ahead in
            let location = StoreLocation(stream: stream.name, interval: interval, partition: partition)
            try log.withSealedBlocks(of: stream, interval: interval, partition: partition, chunks: chunk..<chunk + 1) {
                _, index, block in
                let records = try decoder.decode(block, &codec, location, 0)
                ahead.keep(DecodedAhead.BlockID(stream: stream.id, interval: interval, partition: partition, chunk: index),
                           records)
            }
        }
    }
}
