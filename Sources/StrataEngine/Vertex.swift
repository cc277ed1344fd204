import Dispatch
import StrataStorage

/// One deterministic vertex of a program, type-erased once per vertex: a fused chain of narrow
/// operators ending at a durable boundary (a shuffle, a state, a named output or a sink).
///
/// The engine calls `process` for each sealed input interval in order, then commits the returned
/// blocks, the seals of `outputs` and the vertex's progress in one transaction.
protocol VertexRunner: AnyObject, Sendable {
    /// The vertex's name, streams, partitions, settings and fingerprint, in one value.
    var identity: VertexIdentity { get }
    /// Makes the in-memory state reflect the input up to and including `through` (`nil`: no
    /// interval), replaying the input when it does not already; nothing for stateless vertices.
    func restore(through: Interval?) throws
    /// Computes one interval: the output blocks, in (output, partition, chunk) order.
    func process(_ interval: Interval) throws -> [PendingBlock]
    /// The vertex whose state is snapshotted (see `SnapshottingVertex`), `nil` for none.
    var stateVertex: (any SnapshottingVertex)? { get }
    /// The named streams the vertex also writes as block-for-block copies of its outputs
    /// (`MirroringVertex`), in `save` order.
    var copies: [(source: StreamDescriptor, copy: StreamDescriptor)] { get }
}

extension VertexRunner {
    var copies: [(source: StreamDescriptor, copy: StreamDescriptor)] { [] }

    /// The vertex's name, unique in the store: `PROGRAM.vN`.
    var name: String { identity.name }
    /// The durable streams the vertex reads; an interval is ready when all of them sealed it.
    var inputs: [StreamDescriptor] { identity.inputs }
    /// Whether to process every interval, not only those where some input has records.
    var needsEveryInterval: Bool { identity.needsEveryInterval }
    /// The streams sealed with each processed interval.
    var outputs: [StreamDescriptor] { identity.outputs }
    /// A digest of the vertex's definition (kind, streams, settings), to notice a changed program.
    var fingerprint: UInt64 { identity.fingerprint }
    /// Whether the vertex keeps state across intervals (it then sees every input interval).
    var isStateful: Bool { identity.isStateful }
    /// The number of partitions of each interval's batch.
    var partitionCount: UInt32 { identity.partitionCount }
}

/// Per-partition state of a stateful vertex. `@unchecked Sendable`: partition `p`'s state is
/// touched only by the task for partition `p`, and tasks of one vertex never overlap in time.
final class PartitionStates<State>: @unchecked Sendable {
    private var states: [State]
    init(count: Int, initial: State) { states = Array(repeating: initial, count: count) }
    func withState<R>(_ partition: PartitionIndex, _ body: (inout State) throws -> R) rethrows -> R {
        try body(&states[Int(partition.rawValue)])
    }
    func reset(to initial: State) { for index in states.indices { states[index] = initial } }
}

/// Turns a user closure's error into `EngineError.closureFailed` naming where it happened.
@usableFromInline
func userClosure<R>(_ vertex: String, _ interval: Interval, _ partition: PartitionIndex?, _ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as EngineError {
        throw error
    } catch let error as StorageError {
        throw EngineError.storage(error, vertex: vertex, interval: interval)
    } catch {
        throw EngineError.closureFailed(underlying: error, vertex: vertex, interval: interval, partition: partition)
    }
}
