import Synchronization
import StrataStorage

/// Collects a program's vertices while its definition closure runs.
///
/// `ProgramBuilder` is `Sendable` so that `DStream` values can be; it is used by one thread,
/// during `Program.init`, and its state sits behind a `Mutex` all the same.
public final class ProgramBuilder: Sendable {
    /// The program's name: the prefix of its vertices' and internal streams' names.
    public let programName: String
    let log: LogStore
    private struct State {
        var vertices: [any VertexRunner] = []
        var firstError: (any Error)?
        /// For each change stream (lookup only), the retention it extends: what streams computed
        /// from it get.
        var baseRetention: [String: Retention] = [:]
        /// Per vertex index, the (output, copy) pairs the vertex also writes, in `save` order.
        var mirrors: [Int: [(source: StreamDescriptor, copy: StreamDescriptor)]] = [:]
        /// With gathered exchanges, each exchange's (written, read) streams, in definition order.
        var exchanges: [GatheredExchange] = []
        /// The longest window of the definition, in intervals: how far back a vertex reads its inputs.
        var lookback: UInt64 = 0
        /// How the definition reads each stream, in registration order (`DecodedAhead`).
        var decoders: [DecodedAhead.Decoder] = []
        /// The vertices that read their inputs' stored frames without decoding them
        /// (`countByEncodedKey`): nothing is decoded ahead for them.
        var readsUndecoded: Set<String> = []
    }
    private let state = Mutex(State())

    /// The program's snapshot period (`nil`: never), for the retention of state change streams.
    let snapshotEvery: Int?

    /// Whether exchange vertices write to a stream of their own, gathered into the one their
    /// readers read by someone else (`ProgramOptions.gathersExchanges`).
    let gathersExchanges: Bool

    init(programName: String, log: LogStore, snapshotEvery: Int? = nil, gathersExchanges: Bool = false) {
        self.programName = programName
        self.log = log
        self.snapshotEvery = snapshotEvery
        self.gathersExchanges = gathersExchanges
    }

    /// A stream of the records of a durable stream, read as `Record` with `decoder` (built by the
    /// `@inlinable` `read(_:)` of `Strata` in the program's module, so that it is specialized).
    ///
    /// - Throws: nothing here; a stream that does not exist or holds another type fails `Program.init`.
    @usableFromInline
    package func read<Record: RecordCodable>(_ descriptor: StreamDescriptor, as type: Record.Type,
                                             decoder: BlockDecoder<Record> = BlockDecoder()) -> DStream<Record> {
        if descriptor.recordType != Record.recordTypeName {
            fail(EngineError.misuse("stream \(descriptor.name) holds \(descriptor.recordType), not \(Record.recordTypeName)"))
        }
        let log = self.log
        registerDecoder(descriptor, decoder: decoder)
        return DStream(builder: self, inputs: [descriptor], partitionCount: descriptor.partitions,
                       chain: "read(\(descriptor.name))", plainRead: descriptor) { interval, partition, codec in
            try PartitionReader.read(log, descriptor, interval, partition, codec: &codec, decoder: decoder)
        }
    }

    /// The name the next vertex gets: `PROGRAM.vN`.
    var nextVertexName: String { state.withLock { "\(programName).v\($0.vertices.count)" } }

    func add(_ vertex: any VertexRunner) {
        var vertex = vertex
        if gathersExchanges, let exchange = vertex as? any SendingExchange, let read = exchange.outputs.first {
            // The exchange writes `NAME.sent`; its readers still read `NAME`, which the transport fills.
            do {
                let sent = try log.createOrOpenStream(LogStore.StreamSpec(
                    name: read.name + ".sent", recordType: read.recordType, intervalLength: read.intervalLength,
                    partitions: read.partitions, retention: read.retention))
                vertex = exchange.sending(to: sent)
                state.withLock { $0.exchanges.append(GatheredExchange(vertex: vertex.name, sent: sent, gathered: read, sources: exchange.partitionCount)) }
            } catch {
                fail(error)
            }
        }
        state.withLock { [vertex] in $0.vertices.append(vertex) }
    }

    /// With gathered exchanges, each exchange's (written, read) streams, in definition order.
    var gatheredExchanges: [GatheredExchange] { state.withLock { $0.exchanges } }

    /// The longest window the definition uses, in intervals (0: none): at interval `t` a vertex
    /// reads its inputs back to `t − lookback` at most.
    var lookback: UInt64 { state.withLock { $0.lookback } }

    /// Records that the program reads `stream` as `Record` (through `PartitionReader`), so that a
    /// vertex reading it can have its next interval's blocks decoded ahead on an idle core
    /// (`DecodedAhead`), with `decoder` (the vertex's own, specialized where it was built so).
    /// The first registration of a stream counts.
    func registerDecoder<Record: RecordCodable>(_ stream: StreamDescriptor, decoder: BlockDecoder<Record>) {
        let log = self.log
        state.withLock { state in
            guard !state.decoders.contains(where: { $0.stream.id == stream.id }) else { return }
            state.decoders.append(.reading(stream, decoder: decoder, log: log))
        }
    }

    /// Records that vertex `vertex` reads its inputs' frames without decoding them.
    func noteReadsUndecoded(vertex: String) { state.withLock { _ = $0.readsUndecoded.insert(vertex) } }

    /// The decoders of the streams vertex `vertex` reads, in the order of its inputs (none for a
    /// vertex that reads them undecoded).
    func decoders(of vertex: String, reading inputs: [StreamDescriptor]) -> [DecodedAhead.Decoder] {
        state.withLock { state in
            if state.readsUndecoded.contains(vertex) { return [] }
            return inputs.compactMap { input in state.decoders.first { $0.stream.id == input.id } }
        }
    }

    /// Records that a vertex reads `length` intervals back (a window of that length).
    func noteLookback(_ length: UInt64) { state.withLock { $0.lookback = max($0.lookback, length) } }

    /// Makes the vertex that writes `source` also write every block of it to `copy`; `false` when
    /// no vertex of this program writes `source` (it is an input of the program).
    func mirror(_ source: StreamDescriptor, to copy: StreamDescriptor) -> Bool {
        state.withLock { state in
            guard let index = state.vertices.firstIndex(where: { $0.outputs.contains { $0.id == source.id } }) else {
                return false
            }
            state.mirrors[index, default: []].append((source, copy))
            return true
        }
    }

    /// Records the first definition error; `Program.init` throws it.
    func fail(_ error: any Error) { state.withLock { if $0.firstError == nil { $0.firstError = error } } }

    /// Creates (or opens) an output stream of the program, with the input's retention or, for a
    /// stream of state changes (`keepsChanges`), that retention plus one snapshot period: the
    /// state as of the first retained interval is the newest snapshot before it plus the changes
    /// after that snapshot, which must still be there.
    func outputStream<Record: RecordCodable>(_ name: String, of type: Record.Type, partitions: UInt32,
                                             like input: StreamDescriptor, keepsChanges: Bool = false)
        -> StreamDescriptor?
    {
        // A stream computed from a change stream keeps the retention the change stream extends.
        let base = state.withLock { $0.baseRetention[input.name] } ?? input.retention
        let retention = keepsChanges ? Self.changeRetention(base, intervalLength: input.intervalLength, snapshotEvery: snapshotEvery) : base
        if keepsChanges { state.withLock { $0.baseRetention[name] = base } }
        do {
            let stream = try log.createOrOpenStream(LogStore.StreamSpec(
                name: name, recordType: Record.recordTypeName, intervalLength: input.intervalLength,
                partitions: partitions, retention: retention))
            // An internal change stream follows the program's settings (a named output keeps the
            // retention its owner gave it).
            if keepsChanges && stream.retention != retention { return try log.setRetention(retention, of: name) }
            return stream
        } catch {
            fail(error)
            return nil
        }
    }

    /// A retention extended by one snapshot period; one that would pass `UInt64.max` intervals or
    /// nanoseconds saturates there (keeps everything), as `Retention.duration` does, rather than
    /// wrapping round to a short one that drops what it should keep.
    static func changeRetention(_ base: Retention, intervalLength: IntervalLength, snapshotEvery: Int?) -> Retention {
        guard let every = snapshotEvery.map({ UInt64(clamping: $0) }) else { return base }
        func saturated(_ result: (partialValue: UInt64, overflow: Bool)) -> UInt64 { result.overflow ? .max : result.partialValue }
        switch base {
        case .forever: return .forever
        case .intervals(let n): return .intervals(saturated(n.addingReportingOverflow(every)))
        case .nanoseconds(let d):
            let period = saturated(every.multipliedReportingOverflow(by: intervalLength.rawValue))
            return .nanoseconds(saturated(d.addingReportingOverflow(period)))
        }
    }

    func finish() throws -> [any VertexRunner] {
        try state.withLock { state in
            if let error = state.firstError { throw error }
            let vertices = state.vertices.enumerated().map { index, vertex -> any VertexRunner in
                guard let mirrors = state.mirrors[index] else { return vertex }
                return MirroringVertex(vertex, mirrors: mirrors)
            }
            // Every stream has one writer, and a vertex reads only streams written before it
            // (vertices are added upstream first): otherwise the program is a cycle.
            var writer: [String: Int] = [:]  // lookup only
            for (index, vertex) in vertices.enumerated() {
                for output in vertex.outputs {
                    if let other = writer[output.name] {
                        throw EngineError.misuse("stream \(output.name) is written by both \(vertices[other].name) and "
                                                 + "\(vertex.name): save each output once")
                    }
                    writer[output.name] = index
                }
            }
            for (position, vertex) in vertices.enumerated() {
                for input in vertex.inputs {
                    if let index = writer[input.name], index >= position {
                        throw EngineError.misuse("vertex \(vertex.name) reads \(input.name), which the program itself "
                                                 + "writes later: a program cannot read its own output")
                    }
                }
            }
            return vertices
        }
    }
}

/// An exchange of a program run with gathered exchanges (`ProgramOptions.gathersExchanges`): its
/// vertex writes `sent`, its readers read `gathered`, and a transport moves the blocks between.
package struct GatheredExchange: Sendable {
    /// The exchange vertex, `PROGRAM.vN`.
    package var vertex: String
    /// The stream the vertex writes and seals: `PROGRAM.vN.shuffle.sent` (or `.exchange.sent`).
    package var sent: StreamDescriptor
    /// The stream the downstream vertices read: `PROGRAM.vN.shuffle` (or `.exchange`).
    package var gathered: StreamDescriptor
    /// The partitions of the vertex's input: task `p` sends partition `q`'s blocks from source `p`.
    package var sources: UInt32
}
