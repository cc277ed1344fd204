import StrataStorage

/// One message of a partition task's traffic to another task (or to whoever reads its output):
/// a block of one interval of a stream, from source partition `source` to target partition
/// `target`, or the mark that the source has sent everything of that stream through an interval.
///
/// Messages are deterministic: a task re-executed from the same sealed input sends the same
/// messages with the same `messageID`, so a transport that de-duplicates by id (JetStream's
/// `Nats-Msg-Id`) stores each once, and a receiver that sees one twice gets identical bytes.
///
/// `ExchangeMessage` is a `Sendable` value.
package struct ExchangeMessage: Sendable, Equatable {
    /// What a message carries.
    package enum Body: Sendable, Equatable {
        /// Chunk `chunk` of the blocks the source sends the target for `interval`: an encoded
        /// block (header and LZ4 payload, as stored), verified by the receiver.
        case block(interval: Interval, chunk: UInt32, bytes: [UInt8])
        /// The source has sent every block of the stream for the target through `through`.
        case sealed(through: Interval)
    }

    /// The name of the stream the receiver gathers the blocks into (for an exchange, the stream
    /// its downstream vertices read, `PROGRAM.vN.shuffle`; for an input or output, its name).
    package var stream: String
    /// The partition of the task that sent it.
    package var source: UInt32
    /// The partition of the stream the blocks belong to.
    package var target: UInt32
    package var body: Body

    package init(stream: String, source: UInt32, target: UInt32, body: Body) {
        self.stream = stream
        self.source = source
        self.target = target
        self.body = body
    }

    /// The message's id, a function of what it is: `STREAM/INTERVAL/SOURCE/TARGET/CHUNK` for a
    /// block, `STREAM/SOURCE/TARGET/sealed/THROUGH` for a seal mark.
    package var messageID: String {
        switch body {
        case .block(let interval, let chunk, _): "\(stream)/\(interval.rawValue)/\(source)/\(target)/\(chunk)"
        case .sealed(let through): "\(stream)/\(source)/\(target)/sealed/\(through.rawValue)"
        }
    }
}

/// Every error of the exchange between partition tasks.
package enum ClusterExchangeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A block received for a stream the receiver does not gather, or from a source or for a
    /// target out of range.
    case unexpected(stream: String, source: UInt32, target: UInt32, reason: String)
    /// Two copies of one block differ: the program is not deterministic, or a block was damaged
    /// on the way (its checksum held, so it was sent that way).
    case divergentBlock(stream: String, interval: Interval, source: UInt32, target: UInt32, chunk: UInt32)
    /// A block failed verification (header, checksum or LZ4).
    case corruptBlock(stream: String, interval: Interval, source: UInt32, target: UInt32, chunk: UInt32, reason: String)
    /// A source marked a stream sealed through an interval with a chunk of it missing.
    case missingChunk(stream: String, interval: Interval, source: UInt32, target: UInt32, chunk: UInt32)
    /// The local store failed.
    case storage(StorageError, stream: String)

    package var description: String {
        switch self {
        case .unexpected(let stream, let source, let target, let reason):
            "exchange \(stream) from partition \(source) to \(target): \(reason)"
        case .divergentBlock(let stream, let interval, let source, let target, let chunk):
            "exchange \(stream), interval \(interval.rawValue), from partition \(source) to \(target), chunk \(chunk): "
                + "two copies differ (a non-deterministic program?)"
        case .corruptBlock(let stream, let interval, let source, let target, let chunk, let reason):
            "exchange \(stream), interval \(interval.rawValue), from partition \(source) to \(target), chunk \(chunk): "
                + "corrupt block (\(reason))"
        case .missingChunk(let stream, let interval, let source, let target, let chunk):
            "exchange \(stream), interval \(interval.rawValue), from partition \(source) to \(target): "
                + "sealed without chunk \(chunk)"
        case .storage(let error, let stream): "exchange \(stream): \(error)"
        }
    }
}
