import StrataStorage

/// A vertex that also writes some of its outputs, block for block, to other named streams: the
/// `save(as:)` of a vertex's output with nothing in between. The copies commit and seal in the
/// same transaction as the output they copy, so they are exactly as durable, at no extra read.
final class MirroringVertex: VertexRunner {
    private let inner: any VertexRunner
    private let mirrors: [(source: StreamDescriptor, copy: StreamDescriptor)]
    let identity: VertexIdentity

    init(_ inner: any VertexRunner, mirrors: [(source: StreamDescriptor, copy: StreamDescriptor)]) {
        self.inner = inner
        self.mirrors = mirrors
        identity = inner.identity.mirroring(mirrors)
    }

    var stateVertex: (any SnapshottingVertex)? { inner.stateVertex }

    var copies: [(source: StreamDescriptor, copy: StreamDescriptor)] { mirrors }

    func restore(through: Interval?) throws { try inner.restore(through: through) }

    func process(_ interval: Interval) throws -> [PendingBlock] {
        var blocks = try inner.process(interval)
        let count = blocks.count
        for (source, copy) in mirrors {
            for index in 0..<count where blocks[index].stream.id == source.id {
                var block = blocks[index]
                block.stream = copy
                blocks.append(block)
            }
        }
        return blocks
    }
}
