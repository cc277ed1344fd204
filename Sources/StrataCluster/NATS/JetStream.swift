import CNATS
import Dispatch
import Glibc
import Synchronization

/// The JetStream context of a connection: stream management, publishing and reading back.
///
/// `JetStream` is `Sendable`: the C client's context is thread-safe. Every call blocks until the
/// server answers (at most `NATSConnectionOptions.requestTimeout`); run them on a thread of your
/// own. Publish blocks, not records: each message costs a round trip to a quorum of replicas.
///
/// ```swift
/// let jetStream = try connection.jetStream()
/// _ = try jetStream.addOrUpdateStream(JetStreamConfiguration(name: "EVENTS", subjects: ["events.>"], replicas: 3))
/// let ack = try jetStream.publish(OutgoingMessage(subject: "events.a", payload: bytes, messageID: "a-1"))
/// ```
public final class JetStream: Sendable {
    /// The connection this context uses (kept open while the context lives).
    public let connection: NATSConnection
    // jsCtx is thread-safe (nats.h); the pointer never changes.
    nonisolated(unsafe) let handle: OpaquePointer
    private let acks: AsyncPublishAcks
    nonisolated(unsafe) private let acksClosure: UnsafeMutableRawPointer
    let requestTimeout: Duration

    init(connection: NATSConnection, requestTimeout: Duration? = nil) throws(ClusterError) {
        self.connection = connection
        let requestTimeout = requestTimeout ?? connection.options.requestTimeout
        self.requestTimeout = requestTimeout
        let acks = AsyncPublishAcks()
        let closure = Unmanaged.passRetained(acks).toOpaque()
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = requestTimeout.wholeMilliseconds
        options.PublishAsync.MaxPending = 256
        options.PublishAsync.StallWait = requestTimeout.wholeMilliseconds
        options.PublishAsync.AckHandler = { _, msg, ack, failure, closure in
            guard let closure, let msg else { return }
            Unmanaged<AsyncPublishAcks>.fromOpaque(closure).takeUnretainedValue().complete(msg, ack, failure)
        }
        options.PublishAsync.AckHandlerClosure = closure
        var context: OpaquePointer?
        let status = natsConnection_JetStream(&context, connection.handle, &options)
        guard status == NATS_OK, let context else {
            Unmanaged<AsyncPublishAcks>.fromOpaque(closure).release()
            throw ClusterError.make("natsConnection_JetStream", status)
        }
        handle = context
        self.acks = acks
        acksClosure = closure
    }

    deinit {
        jsCtx_Destroy(handle)
        acks.failAll(.nats(call: "js_PublishMsgAsync", status: .connectionClosed, jetStreamCode: 0,
                           text: "the JetStream context was closed with the publish pending"))
        Unmanaged<AsyncPublishAcks>.fromOpaque(acksClosure).release()
    }

    // MARK: Streams

    /// Creates a stream, or updates it to this configuration when it exists.
    ///
    /// - Returns: the stream's info after the change.
    /// - Throws: `ClusterError.nats` (for example JetStream error 10074 when the cluster has fewer
    ///   servers than `replicas`).
    ///
    /// The corresponding C calls are `js_AddStream` and `js_UpdateStream`.
    @discardableResult
    public func addOrUpdateStream(_ configuration: JetStreamConfiguration) throws(ClusterError) -> JetStreamInfo {
        do {
            return try addStream(configuration)
        } catch let error {
            // 10058: "stream name already in use" (with another configuration).
            guard case let .nats(_, _, code, _) = error, code == 10058 else { throw error }
            return try updateStream(configuration)
        }
    }

    /// Creates a stream. Creating one that exists with the same configuration succeeds.
    ///
    /// The corresponding C call is `js_AddStream`.
    @discardableResult
    public func addStream(_ configuration: JetStreamConfiguration) throws(ClusterError) -> JetStreamInfo {
        try withStreamConfig(configuration) { (config: UnsafeMutablePointer<jsStreamConfig>) throws(ClusterError) -> JetStreamInfo in
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(rawValue: 0)
            let status = js_AddStream(&info, handle, config, nil, &code)
            try check("js_AddStream(\(configuration.name))", status, code)
            defer { jsStreamInfo_Destroy(info) }
            return try Self.convert(info, call: "js_AddStream")
        }
    }

    /// Changes a stream's configuration (subjects, limits, replicas).
    ///
    /// The corresponding C call is `js_UpdateStream`.
    @discardableResult
    public func updateStream(_ configuration: JetStreamConfiguration) throws(ClusterError) -> JetStreamInfo {
        try withStreamConfig(configuration) { (config: UnsafeMutablePointer<jsStreamConfig>) throws(ClusterError) -> JetStreamInfo in
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(rawValue: 0)
            let status = js_UpdateStream(&info, handle, config, nil, &code)
            try check("js_UpdateStream(\(configuration.name))", status, code)
            defer { jsStreamInfo_Destroy(info) }
            return try Self.convert(info, call: "js_UpdateStream")
        }
    }

    /// The stream's configuration and state, or `nil` when there is no such stream.
    ///
    /// The corresponding C call is `js_GetStreamInfo`.
    public func streamInfo(_ name: String) throws(ClusterError) -> JetStreamInfo? {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        let status = js_GetStreamInfo(&info, handle, name, nil, &code)
        if status == NATS_NOT_FOUND { return nil }
        try check("js_GetStreamInfo(\(name))", status, code)
        defer { jsStreamInfo_Destroy(info) }
        return try Self.convert(info, call: "js_GetStreamInfo")
    }

    /// How many messages each subject matching `filter` holds in the stream, sorted by subject.
    ///
    /// The corresponding C call is `js_GetStreamInfo` with `jsOptions.Stream.Info.SubjectsFilter`.
    public func subjectCounts(stream: String, filter: String) throws(ClusterError) -> [(subject: String, messages: UInt64)] {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = requestTimeout.wholeMilliseconds
        let status = filter.withCString { cFilter in
            options.Stream.Info.SubjectsFilter = cFilter
            return js_GetStreamInfo(&info, handle, stream, &options, &code)
        }
        try check("js_GetStreamInfo(\(stream), subjects \(filter))", status, code)
        defer { jsStreamInfo_Destroy(info) }
        guard let subjects = info?.pointee.State.Subjects?.pointee, let list = subjects.List else { return [] }
        var result: [(subject: String, messages: UInt64)] = []
        result.reserveCapacity(Int(subjects.Count))
        for index in 0..<Int(subjects.Count) {
            let entry = list[index]
            result.append((entry.Subject.map { String(cString: $0) } ?? "", entry.Msgs))
        }
        result.sort { $0.subject < $1.subject }
        return result
    }

    /// The names of every stream, sorted.
    ///
    /// The corresponding C call is `js_StreamNames`.
    public func streamNames() throws(ClusterError) -> [String] {
        var list: UnsafeMutablePointer<jsStreamNamesList>?
        var code = jsErrCode(rawValue: 0)
        let status = js_StreamNames(&list, handle, nil, &code)
        if status == NATS_NOT_FOUND { return [] }
        try check("js_StreamNames", status, code)
        defer { jsStreamNamesList_Destroy(list) }
        guard let names = list?.pointee, let entries = names.List else { return [] }
        return (0..<Int(names.Count)).compactMap { entries[$0].map { String(cString: $0) } }.sorted()
    }

    /// Deletes a stream and its messages.
    ///
    /// - Returns: `false` when there was no such stream.
    ///
    /// The corresponding C call is `js_DeleteStream`.
    @discardableResult
    public func deleteStream(_ name: String) throws(ClusterError) -> Bool {
        var code = jsErrCode(rawValue: 0)
        let status = js_DeleteStream(handle, name, nil, &code)
        if status == NATS_NOT_FOUND { return false }
        try check("js_DeleteStream(\(name))", status, code)
        return true
    }

    /// Removes the messages of a stream whose subject matches `subject` (all when `nil`), only
    /// those with a sequence below `beforeSequence` when it is given.
    ///
    /// The corresponding C call is `js_PurgeStream` with `jsOptions.Stream.Purge`.
    ///
    /// - Warning: nats-server before 2.9.18 (Debian's 2.9.10 among them) replays a purge with a
    ///   subject or a sequence on a replica that restarts as a purge of every message up to the
    ///   stream's last sequence at the time (nats-server issue #4196): a replicated stream can lose
    ///   messages this call was not asked to remove. Strata trims its own streams with
    ///   `deleteMessage(stream:sequence:)` instead (docs/cluster.md, "Trimming JetStream").
    public func purge(stream: String, subject: String? = nil, beforeSequence: UInt64? = nil) throws(ClusterError) {
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = requestTimeout.wholeMilliseconds
        options.Stream.Purge.Sequence = beforeSequence ?? 0
        var code = jsErrCode(rawValue: 0)
        let status: natsStatus
        if let subject {
            status = subject.withCString { cSubject in
                options.Stream.Purge.Subject = cSubject
                return js_PurgeStream(handle, stream, &options, &code)
            }
        } else {
            status = js_PurgeStream(handle, stream, &options, &code)
        }
        let what = [subject, beforeSequence.map { "before \($0)" }].compactMap { $0 }.joined(separator: ", ")
        try check("js_PurgeStream(\(stream)\(what.isEmpty ? "" : ", " + what))", status, code)
    }

    /// Removes one message of a stream by its sequence, without erasing its bytes on disk.
    ///
    /// Unlike a purge filtered by subject or sequence, a deletion is replayed exactly on a server
    /// that restarts: nats-server before 2.9.18 replays a filtered purge on a recovering replica
    /// as "remove everything through the stream's last sequence when the purge was proposed"
    /// (nats-server #4196), whatever the subject, which deletes kept messages (docs/cluster.md,
    /// "Trimming JetStream").
    ///
    /// - Returns: `false` when the stream holds no message at `sequence` (never stored, or
    ///   removed before).
    /// - Throws: `ClusterError.nats` with JetStream error 10059 (`ClusterError.isStreamNotFound`)
    ///   when the stream itself does not exist (deleted): never taken for a message already gone.
    ///
    /// What nats-server 2.9.10 and libnats 3.4.1 answer (`NATSLayerTests.deletingFromAMissingStreamIsAnErrorAndAMissingMessageIsNot`):
    /// a stream that does not exist, `NATS_NOT_FOUND` with JetStream error 10059; a message that
    /// is not there, JetStream error 10057 with the text "no message found" (older and newer
    /// servers: 10037 or 10043, also taken as gone).
    ///
    /// The corresponding C call is `js_DeleteMsg` (`$JS.API.STREAM.MSG.DELETE.<stream>`,
    /// `no_erase`).
    @discardableResult
    public func deleteMessage(stream: String, sequence: UInt64) throws(ClusterError) -> Bool {
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = requestTimeout.wholeMilliseconds
        var code = jsErrCode(rawValue: 0)
        let status = js_DeleteMsg(handle, stream, sequence, &options, &code)
        let call = "js_DeleteMsg(\(stream), \(sequence))"
        // Before anything is taken for "gone": the client answers NATS_NOT_FOUND for a missing
        // stream too.
        if code == JSStreamNotFoundErr { throw ClusterError.make(call, status, code) }
        if code == JSNoMessageFoundErr || code == JSSequenceNotFoundErr { return false }
        // Any other "not found" once the stream is known to exist: the message is gone (as before
        // the stream's case was told apart), never a failure a trimmer would retry for ever.
        if status == NATS_NOT_FOUND { return false }
        do {
            try check(call, status, code)
        } catch .nats(_, _, let jetStreamCode, let text)
            where jetStreamCode == Int(JSStreamMsgDeleteFailed.rawValue) && text.contains("no message found") {
            return false  // nats-server 2.9.10 answers a deletion of a message already gone so (10057)
        }
        return true
    }

    // MARK: Publishing

    /// Publishes one message and waits until the stream has stored it on a quorum of replicas.
    ///
    /// - Returns: the acknowledgement; `duplicate` is set when the message id was seen within the
    ///   duplicate window (nothing new stored).
    /// - Throws: `ClusterError.wrongLastSequence` when `expectedLastSubjectSequence` does not
    ///   hold, `ClusterError.payloadTooLarge`, `ClusterError.nats` (no stream captures the
    ///   subject: `NATSStatus.noResponders`; no quorum: `NATSStatus.timeout`).
    ///
    /// The corresponding C call is `js_PublishMsg`.
    @discardableResult
    public func publish(_ message: OutgoingMessage, timeout: Duration? = nil) throws(ClusterError) -> PublishAck {
        let msg = try makeMessage(message)
        defer { natsMsg_Destroy(msg) }
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = (timeout ?? requestTimeout).wholeMilliseconds
        var ack: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(rawValue: 0)
        let status = js_PublishMsg(&ack, handle, msg, &options, &code)
        if status != NATS_OK {
            throw Self.publishError(message, ClusterError.make("js_PublishMsg(\(message.subject))", status, code))
        }
        defer { jsPubAck_Destroy(ack) }
        guard let ack else { throw .corrupt("js_PublishMsg(\(message.subject)) returned no acknowledgement") }
        return PublishAck(ack.pointee)
    }

    /// Publishes one message without waiting; `completion` runs (on a NATS client thread, so it
    /// must be short and must not block) when the stream acknowledges or rejects it.
    ///
    /// At most 256 publishes are in flight per context; beyond that this call waits for room.
    ///
    /// The corresponding C call is `js_PublishMsgAsync`.
    public func publishAsync(_ message: OutgoingMessage, timeout: Duration? = nil,
                             completion: @escaping @Sendable (Result<PublishAck, ClusterError>) -> Void)
        throws(ClusterError)
    {
        var msg: OpaquePointer? = try makeMessage(message)
        guard let key = msg else { return }
        acks.register(key, message: message, completion: completion)
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = (timeout ?? requestTimeout).wholeMilliseconds
        let status = js_PublishMsgAsync(handle, &msg, &options)
        if status != NATS_OK {
            let error = ClusterError.make("js_PublishMsgAsync(\(message.subject))", status)
            // The library did not take the message: no acknowledgement will come for it.
            if let msg {
                acks.unregister(msg)
                natsMsg_Destroy(msg)
            }
            throw Self.publishError(message, error)
        }
    }

    /// Waits until every asynchronous publish of this context has been acknowledged or failed.
    ///
    /// The corresponding C call is `js_PublishAsyncComplete`.
    public func waitForAsyncPublishes(timeout: Duration) throws(ClusterError) {
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = timeout.wholeMilliseconds
        try check("js_PublishAsyncComplete", js_PublishAsyncComplete(handle, &options))
    }

    /// Publishes messages pipelined (asynchronously, all in flight together) and waits for every
    /// acknowledgement.
    ///
    /// - Returns: the acknowledgements in the order of `messages`.
    /// - Throws: the first failure in the order of `messages`; messages before it are stored, later
    ///   ones may or may not be (republishing them with the same ids is safe).
    public func publish(_ messages: [OutgoingMessage], timeout: Duration? = nil) throws(ClusterError) -> [PublishAck] {
        if messages.isEmpty { return [] }
        if messages.count == 1 { return [try publish(messages[0], timeout: timeout)] }
        let results = PipelinedResults(count: messages.count)
        let group = DispatchGroup()
        var submitError: ClusterError?
        for (index, message) in messages.enumerated() {
            group.enter()
            do {
                try publishAsync(message, timeout: timeout) { result in
                    results.slots.withLock { $0[index] = result }
                    group.leave()
                }
            } catch {
                group.leave()
                submitError = error
                break
            }
        }
        let wait = (timeout ?? requestTimeout) + .seconds(5)
        if group.wait(timeout: .now() + .nanoseconds(Int(clamping: wait.wholeNanoseconds))) == .timedOut {
            throw .timedOut("acknowledgements of \(messages.count) pipelined publishes (first subject \(messages[0].subject))")
        }
        let collected = results.slots.withLock { $0 }
        var acks: [PublishAck] = []
        acks.reserveCapacity(messages.count)
        for result in collected {
            switch result {
            case let .success(ack)?: acks.append(ack)
            case let .failure(error)?: throw error
            case nil: throw submitError ?? .timedOut("pipelined publish")
            }
        }
        return acks
    }

    private func makeMessage(_ message: OutgoingMessage) throws(ClusterError) -> OpaquePointer {
        let maximum = connection.maxPayload
        if maximum > 0 && message.payload.count > maximum {
            throw .payloadTooLarge(subject: message.subject, bytes: message.payload.count, maximum: maximum)
        }
        var msg: OpaquePointer?
        let status = message.payload.withUnsafeBytes { bytes in
            natsMsg_Create(&msg, message.subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                           Int32(bytes.count))
        }
        try check("natsMsg_Create(\(message.subject))", status)
        guard let msg else { throw .invalidArgument("natsMsg_Create gave no message for \(message.subject)") }
        do {
            if let id = message.messageID {
                try check("natsMsgHeader_Set(Nats-Msg-Id)", natsMsgHeader_Set(msg, "Nats-Msg-Id", id))
            }
            if let expected = message.expectedLastSubjectSequence {
                try check("natsMsgHeader_Set(Nats-Expected-Last-Subject-Sequence)",
                          natsMsgHeader_Set(msg, "Nats-Expected-Last-Subject-Sequence", String(expected)))
            }
            for header in message.headers {
                try check("natsMsgHeader_Add(\(header.name))", natsMsgHeader_Add(msg, header.name, header.value))
            }
        } catch {
            natsMsg_Destroy(msg)
            throw error
        }
        return msg
    }

    static func publishError(_ message: OutgoingMessage, _ error: ClusterError) -> ClusterError {
        if case let .nats(_, _, code, text) = error, code == 10071 || text.contains("wrong last sequence") {
            return .wrongLastSequence(subject: message.subject, expected: message.expectedLastSubjectSequence ?? 0,
                                      text: text)
        }
        return error
    }

    // MARK: Reading

    /// The message at a sequence of a stream, or `nil` when there is none (never stored, purged
    /// or deleted). Served by the stream's leader.
    ///
    /// The corresponding C call is `js_GetMsg`.
    public func message(stream: String, sequence: UInt64) throws(ClusterError) -> StoredMessage? {
        var msg: OpaquePointer?
        var code = jsErrCode(rawValue: 0)
        let status = js_GetMsg(&msg, handle, stream, sequence, nil, &code)
        if status == NATS_NOT_FOUND { return nil }
        try check("js_GetMsg(\(stream), \(sequence))", status, code)
        guard let msg else { return nil }
        defer { natsMsg_Destroy(msg) }
        return StoredMessage(msg, sequence: natsMsg_GetSequence(msg), timestamp: natsMsg_GetTime(msg))
    }

    /// The last message on a subject of a stream, or `nil` when the subject has none. Served by
    /// the stream's leader.
    ///
    /// The corresponding C call is `js_GetLastMsg`.
    public func lastMessage(stream: String, subject: String) throws(ClusterError) -> StoredMessage? {
        var msg: OpaquePointer?
        var code = jsErrCode(rawValue: 0)
        let status = js_GetLastMsg(&msg, handle, stream, subject, nil, &code)
        if status == NATS_NOT_FOUND { return nil }
        try check("js_GetLastMsg(\(stream), \(subject))", status, code)
        guard let msg else { return nil }
        defer { natsMsg_Destroy(msg) }
        return StoredMessage(msg, sequence: natsMsg_GetSequence(msg), timestamp: natsMsg_GetTime(msg))
    }

    /// Opens an ordered reader of the messages of `stream` whose subject matches `subject`, from
    /// `startSequence` on, in stream order.
    ///
    /// The corresponding C call is `js_SubscribeSync` with an ordered consumer.
    /// With `headersOnly`, the messages come without their payloads (their subjects, sequences
    /// and headers only: a cheap way to learn which sequences a subject holds).
    public func reader(stream: String, subject: String, startSequence: UInt64 = 1,
                       headersOnly: Bool = false) throws(ClusterError) -> SubjectReader {
        try SubjectReader(jetStream: self, stream: stream, subject: subject, startSequence: startSequence,
                          headersOnly: headersOnly)
    }

    /// Reads every message of `stream` on subjects matching `subject` from `startSequence` up to
    /// the last one stored when the call began, in stream order, and returns them.
    ///
    /// Bounded by memory: use `reader(stream:subject:startSequence:)` for long ranges.
    public func messages(stream: String, subject: String, startSequence: UInt64 = 1) throws(ClusterError) -> [StoredMessage] {
        let reader = try reader(stream: stream, subject: subject, startSequence: startSequence)
        var result: [StoredMessage] = []
        try reader.readToEnd(timeout: requestTimeout) { result.append($0) }
        return result
    }

    // MARK: Key-value buckets

    /// Creates a KV bucket, or binds to it when it exists with the same configuration.
    ///
    /// The corresponding C call is `js_CreateKeyValue`.
    public func createKeyValue(_ configuration: KeyValueConfiguration) throws(ClusterError) -> KeyValueBucket {
        try KeyValueBucket(creating: configuration, in: self)
    }

    /// Binds to an existing KV bucket, or returns `nil` when there is none.
    ///
    /// The corresponding C call is `js_KeyValue`.
    public func keyValue(_ bucket: String) throws(ClusterError) -> KeyValueBucket? {
        try KeyValueBucket(binding: bucket, in: self)
    }

    /// Deletes a KV bucket and every key in it.
    ///
    /// - Returns: `false` when there was no such bucket.
    ///
    /// The corresponding C call is `js_DeleteKeyValue`.
    @discardableResult
    public func deleteKeyValue(_ bucket: String) throws(ClusterError) -> Bool {
        let status = js_DeleteKeyValue(handle, bucket)
        if status == NATS_NOT_FOUND { return false }
        try check("js_DeleteKeyValue(\(bucket))", status)
        return true
    }

    // MARK: Conversions

    private func withStreamConfig<R>(_ configuration: JetStreamConfiguration,
                                     _ body: (UnsafeMutablePointer<jsStreamConfig>) throws(ClusterError) -> R)
        throws(ClusterError) -> R
    {
        guard !configuration.name.isEmpty,
              !configuration.name.contains(where: { $0 == "." || $0 == "*" || $0 == ">" || $0 == " " })
        else { throw .invalidArgument("stream name \"\(configuration.name)\" (no '.', '*', '>' or spaces)") }
        guard !configuration.subjects.isEmpty else {
            throw .invalidArgument("stream \(configuration.name) captures no subject")
        }
        let name = strdup(configuration.name)
        let description = configuration.description.map { strdup($0) }
        let subjects = CStringArray(configuration.subjects)
        defer {
            free(name)
            if let description { free(description) }
        }
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        config.Name = UnsafePointer(name)
        config.Description = description.map { UnsafePointer($0) } ?? nil
        config.Storage = js_FileStorage
        config.Retention = js_LimitsPolicy
        config.Replicas = Int64(configuration.replicas)
        config.Duplicates = configuration.duplicateWindow.wholeNanoseconds
        config.MaxAge = configuration.maxAge?.wholeNanoseconds ?? 0
        config.MaxBytes = configuration.maxBytes ?? -1
        config.MaxMsgSize = configuration.maxMessageSize ?? -1
        config.MaxMsgsPerSubject = configuration.maxMessagesPerSubject ?? -1
        // Reads go to the stream's leader: a direct get may be answered by a replica that has not
        // applied the latest acknowledged write yet.
        config.AllowDirect = false
        config.Subjects = subjects.pointers
        config.SubjectsLen = Int32(subjects.count)
        defer { withExtendedLifetime(subjects) {} }
        return try body(&config)
    }

    private static func convert(_ info: UnsafeMutablePointer<jsStreamInfo>?, call: String) throws(ClusterError) -> JetStreamInfo {
        guard let info, let config = info.pointee.Config?.pointee else {
            throw .corrupt("\(call) returned no stream info")
        }
        var subjects: [String] = []
        if let list = config.Subjects {
            for index in 0..<Int(config.SubjectsLen) { if let s = list[index] { subjects.append(String(cString: s)) } }
        }
        var configuration = JetStreamConfiguration(
            name: config.Name.map { String(cString: $0) } ?? "", subjects: subjects, replicas: Int(config.Replicas),
            duplicateWindow: .nanoseconds(config.Duplicates),
            maxAge: config.MaxAge > 0 ? .nanoseconds(config.MaxAge) : nil,
            maxBytes: config.MaxBytes > 0 ? config.MaxBytes : nil,
            description: config.Description.map { String(cString: $0) })
        configuration.maxMessageSize = config.MaxMsgSize > 0 ? config.MaxMsgSize : nil
        configuration.maxMessagesPerSubject = config.MaxMsgsPerSubject > 0 ? config.MaxMsgsPerSubject : nil
        let state = info.pointee.State
        var leader: String?
        var replicas: [JetStreamInfo.Replica] = []
        if let cluster = info.pointee.Cluster?.pointee {
            leader = cluster.Leader.map { String(cString: $0) }
            if let list = cluster.Replicas {
                for index in 0..<Int(cluster.ReplicasLen) {
                    guard let peer = list[index]?.pointee else { continue }
                    replicas.append(.init(name: peer.Name.map { String(cString: $0) } ?? "", current: peer.Current,
                                          offline: peer.Offline, lag: peer.Lag))
                }
            }
        }
        replicas.sort { $0.name < $1.name }
        return JetStreamInfo(configuration: configuration, messages: state.Msgs, bytes: state.Bytes,
                             firstSequence: state.FirstSeq, lastSequence: state.LastSeq,
                             subjectCount: state.NumSubjects, leader: leader, replicas: replicas)
    }
}

extension PublishAck {
    init(_ ack: jsPubAck) {
        self.init(stream: ack.Stream.map { String(cString: $0) } ?? "", sequence: ack.Sequence,
                  duplicate: ack.Duplicate)
    }
}

extension StoredMessage {
    /// Copies a `natsMsg` (the caller destroys it).
    init(_ msg: OpaquePointer, sequence: UInt64, timestamp: Int64) {
        var headers: [MessageHeader] = []
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var keyCount: Int32 = 0
        if natsMsgHeader_Keys(msg, &keys, &keyCount) == NATS_OK, let keys {
            for index in 0..<Int(keyCount) {
                guard let key = keys[index] else { continue }
                var values: UnsafeMutablePointer<UnsafePointer<CChar>?>?
                var valueCount: Int32 = 0
                if natsMsgHeader_Values(msg, key, &values, &valueCount) == NATS_OK, let values {
                    let name = String(cString: key)
                    for valueIndex in 0..<Int(valueCount) {
                        if let value = values[valueIndex] { headers.append(MessageHeader(name, String(cString: value))) }
                    }
                    free(values)
                }
            }
            free(keys)
        }
        // natsMsgHeader_Keys gives no defined order; a canonical one keeps comparisons stable.
        headers.sort { ($0.name, $0.value) < ($1.name, $1.value) }
        self.init(subject: NATSMessageBytes.subject(of: msg), payload: NATSMessageBytes.payload(of: msg),
                  sequence: sequence, timestamp: timestamp,
                  messageID: headers.first { $0.name == "Nats-Msg-Id" }?.value, headers: headers)
    }
}

/// C strings (`const char **`) for the duration of a call; freed with the value.
final class CStringArray {
    let pointers: UnsafeMutablePointer<UnsafePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: max(1, strings.count))
        for (index, string) in strings.enumerated() { pointers[index] = UnsafePointer(strdup(string)) }
    }

    deinit {
        for index in 0..<count { free(UnsafeMutablePointer(mutating: pointers[index])) }
        pointers.deallocate()
    }
}

/// The results of one pipelined publish, filled in by the acknowledgement callbacks.
private final class PipelinedResults: Sendable {
    let slots: Mutex<[Result<PublishAck, ClusterError>?]>
    init(count: Int) { slots = Mutex([Result<PublishAck, ClusterError>?](repeating: nil, count: count)) }
}

/// The completions of asynchronous publishes of one JetStream context, keyed by the message.
final class AsyncPublishAcks: Sendable {
    private struct Pending {
        var message: OutgoingMessage
        var completion: @Sendable (Result<PublishAck, ClusterError>) -> Void
    }
    private let pending = Mutex<[UInt: Pending]>([:])

    func register(_ msg: OpaquePointer, message: OutgoingMessage,
                  completion: @escaping @Sendable (Result<PublishAck, ClusterError>) -> Void) {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(msg)))
        pending.withLock { $0[key] = Pending(message: message, completion: completion) }
    }

    func unregister(_ msg: OpaquePointer) {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(msg)))
        _ = pending.withLock { $0.removeValue(forKey: key) }
    }

    /// Called by the C client for each acknowledged or failed message; destroys the message.
    func complete(_ msg: OpaquePointer, _ ack: UnsafeMutablePointer<jsPubAck>?,
                  _ failure: UnsafeMutablePointer<jsPubAckErr>?) {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(msg)))
        // The AckHandler owns the message (nats.h: "The user is responsible for destroying the message").
        let entry = pending.withLock { $0.removeValue(forKey: key) }
        natsMsg_Destroy(msg)
        guard let entry else { return }
        if let ack {
            entry.completion(.success(PublishAck(ack.pointee)))
        } else {
            let status = failure?.pointee.Err ?? NATS_ERR
            let code = failure?.pointee.ErrCode ?? jsErrCode(rawValue: 0)
            let text = failure?.pointee.ErrText.map { String(cString: $0) } ?? ""
            let error = ClusterError.nats(call: "js_PublishMsgAsync(\(entry.message.subject))",
                                          status: NATSStatus(status), jetStreamCode: Int(code.rawValue), text: text)
            entry.completion(.failure(JetStream.publishError(entry.message, error)))
        }
    }

    func failAll(_ error: ClusterError) {
        let all = pending.withLock { pending -> [Pending] in
            defer { pending.removeAll() }
            return Array(pending.values)
        }
        for entry in all { entry.completion(.failure(error)) }
    }
}
