import CNATS

/// Reads the messages of a stream on the subjects matching a filter, in stream order, from a
/// start sequence on, through an ordered consumer (served by the stream's leader, so it sees
/// every acknowledged message).
///
/// Where "the end" is comes from the stream, not the consumer: at open, the reader asks the
/// stream's leader for the last message matching the filter (`endAtOpen`), and `readToEnd` reads
/// until it has delivered that sequence. (A new consumer's own count of pending messages can read
/// 0 before the server has counted anything, which made a reader stop before its first message.)
///
/// `SubjectReader` is not `Sendable`: use one from one thread at a time. It unsubscribes when
/// released.
///
/// ```swift
/// let reader = try jetStream.reader(stream: "EVENTS", subject: "events.a", startSequence: 1)
/// try reader.readToEnd(timeout: .seconds(10)) { message in handle(message.payload) }
/// ```
///
/// The corresponding C call is `js_SubscribeSync` with `jsSubOptions.Ordered`.
public final class SubjectReader {
    private let subscription: OpaquePointer
    private let jetStream: JetStream
    /// The stream read.
    public let stream: String
    /// The subject filter.
    public let subject: String
    /// The stream sequence of the last message matching the filter when the reader opened (0 when
    /// none did): `readToEnd` reads through it. Below the start sequence, there is nothing to read.
    public let endAtOpen: UInt64
    /// The stream sequence of the last message returned, or `startSequence - 1`.
    public private(set) var lastSequence: UInt64
    /// How many matching messages followed the last message returned, when it was delivered (0
    /// before the first).
    public private(set) var pending: UInt64 = 0

    init(jetStream: JetStream, stream: String, subject: String, startSequence: UInt64, headersOnly: Bool = false) throws(ClusterError) {
        self.jetStream = jetStream
        self.stream = stream
        self.subject = subject
        // The end first, from the stream's leader: every matching message stored before the
        // consumer exists is at or below it.
        endAtOpen = try jetStream.lastMessage(stream: stream, subject: subject)?.sequence ?? 0
        var options = jsSubOptions()
        jsSubOptions_Init(&options)
        options.Ordered = true
        options.Config.DeliverPolicy = startSequence <= 1 ? js_DeliverAll : js_DeliverByStartSequence
        options.Config.OptStartSeq = startSequence <= 1 ? 0 : startSequence
        options.Config.HeadersOnly = headersOnly
        var sub: OpaquePointer?
        var code = jsErrCode(rawValue: 0)
        let status = stream.withCString { cStream in
            options.Stream = cStream
            return js_SubscribeSync(&sub, jetStream.handle, subject, nil, &options, &code)
        }
        try check("js_SubscribeSync(\(stream), \(subject), from \(startSequence))", status, code)
        guard let sub else { throw .invalidArgument("js_SubscribeSync gave no subscription for \(subject)") }
        subscription = sub
        lastSequence = startSequence == 0 ? 0 : startSequence - 1
    }

    deinit {
        natsSubscription_Unsubscribe(subscription)
        natsSubscription_Destroy(subscription)
    }

    /// Whether every matching message stored when the reader opened has been returned, and none
    /// was pending when the last one returned was delivered.
    public var isCaughtUp: Bool { lastSequence >= endAtOpen && pending == 0 }

    /// The next message, waiting at most `timeout` for one; `nil` when none came in time.
    ///
    /// The corresponding C call is `natsSubscription_NextMsg`.
    public func next(timeout: Duration) throws(ClusterError) -> StoredMessage? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var msg: OpaquePointer?
            let status = natsSubscription_NextMsg(&msg, subscription, left.wholeMilliseconds)
            if status == NATS_TIMEOUT { return nil }
            try check("natsSubscription_NextMsg(\(stream), \(subject))", status)
            guard let msg else { return nil }
            defer { natsMsg_Destroy(msg) }
            var meta: UnsafeMutablePointer<jsMsgMetaData>?
            try check("natsMsg_GetMetaData(\(subject))", natsMsg_GetMetaData(&meta, msg))
            guard let meta else { throw .corrupt("a message on \(subject) of \(stream) has no JetStream metadata") }
            defer { jsMsgMetaData_Destroy(meta) }
            let sequence = meta.pointee.Sequence.Stream
            pending = meta.pointee.NumPending
            // The C client recreates an ordered consumer after a gap or a missed heartbeat from the
            // last delivered sequence, or from sequence 1 when none was delivered yet: skip what
            // comes before the start or was already returned.
            if sequence <= lastSequence { continue }
            lastSequence = sequence
            return StoredMessage(msg, sequence: sequence, timestamp: meta.pointee.Timestamp)
        }
    }

    /// Returns every matching message from the start sequence through `endAtOpen` (the last one
    /// stored when the reader opened), in order; nothing when that is below the start.
    ///
    /// - Parameters:
    ///   - timeout: The longest wait for one message while some are known to be stored.
    ///   - body: Called with each message, in stream order.
    /// - Throws: `ClusterError.timedOut` when a stored message does not arrive within `timeout`,
    ///   or what `body` throws.
    public func readToEnd(timeout: Duration, _ body: (StoredMessage) throws(ClusterError) -> Void) throws(ClusterError) {
        while lastSequence < endAtOpen {
            guard let message = try next(timeout: timeout) else {
                throw .timedOut("messages on \(subject) of \(stream) after sequence \(lastSequence) through \(endAtOpen)")
            }
            try body(message)
        }
    }
}
