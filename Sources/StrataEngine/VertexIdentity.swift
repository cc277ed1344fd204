import StrataStorage

/// What identifies one vertex of a program and what it reads and writes, in one value: its name
/// in the store, the durable streams it reads and writes, its partition count, whether it
/// processes every interval and keeps state, and the fingerprint of its definition. Every vertex
/// holds one (`VertexRunner.identity`) instead of repeating the fields.
///
/// The fingerprint is XXH64 of the vertex's definition text (its kind, the chain of operators
/// before it, its streams and settings). It is persisted with every progress mark, and a program
/// whose vertex was defined differently is refused (`ProgramOptions.changedDefinition`), so each
/// vertex kind keeps the text it always digested: programs that ran before continue
/// (`VertexFingerprintTests` pins the values).
///
/// `VertexIdentity` is a `Sendable` value.
struct VertexIdentity: Sendable {
    /// The vertex's name, unique in the store: `PROGRAM.vN`.
    let name: String
    /// The durable streams the vertex reads; an interval is ready when all of them sealed it.
    let inputs: [StreamDescriptor]
    /// The streams sealed with each processed interval.
    let outputs: [StreamDescriptor]
    /// The number of partitions of each interval's batch (of its tasks).
    let partitionCount: UInt32
    /// Whether to process every interval, not only those where some input has records.
    let needsEveryInterval: Bool
    /// Whether the vertex keeps state across intervals (it then sees every input interval).
    let isStateful: Bool
    /// A digest of the vertex's definition, to notice a changed program.
    let fingerprint: UInt64

    /// An identity whose fingerprint digests `definition`.
    init(name: String, inputs: [StreamDescriptor], outputs: [StreamDescriptor], partitionCount: UInt32,
         needsEveryInterval: Bool, isStateful: Bool, definition: String) {
        self.init(name: name, inputs: inputs, outputs: outputs, partitionCount: partitionCount,
                  needsEveryInterval: needsEveryInterval, isStateful: isStateful,
                  fingerprint: XXH64.hash(Array(definition.utf8)))
    }

    /// An identity with a fingerprint computed elsewhere.
    init(name: String, inputs: [StreamDescriptor], outputs: [StreamDescriptor], partitionCount: UInt32,
         needsEveryInterval: Bool, isStateful: Bool, fingerprint: UInt64) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.partitionCount = partitionCount
        self.needsEveryInterval = needsEveryInterval
        self.isStateful = isStateful
        self.fingerprint = fingerprint
    }

    /// The identity of vertex `name` computing `stream` (its inputs and partitions) into
    /// `outputs`; it processes every interval when the stream needs it or `everyInterval`.
    init<Record: RecordCodable>(name: String, computing stream: DStream<Record>, outputs: [StreamDescriptor],
                                everyInterval: Bool = false, isStateful: Bool, definition: String) {
        self.init(name: name, inputs: stream.inputs, outputs: outputs, partitionCount: stream.partitionCount,
                  needsEveryInterval: stream.needsEveryInterval || everyInterval, isStateful: isStateful,
                  definition: definition)
    }

    /// This identity writing `copies` too, block for block (`MirroringVertex`): the outputs grow
    /// and the fingerprint digests the copies.
    func mirroring(_ copies: [(source: StreamDescriptor, copy: StreamDescriptor)]) -> VertexIdentity {
        var description = "mirror|\(fingerprint)"
        for (source, copy) in copies { description += "|\(source.name)>\(copy.name)|\(copy.recordType)" }
        return VertexIdentity(name: name, inputs: inputs, outputs: outputs + copies.map(\.copy),
                              partitionCount: partitionCount, needsEveryInterval: needsEveryInterval,
                              isStateful: isStateful, definition: description)
    }
}
