/// The configuration of a JetStream stream, the part Strata uses.
///
/// `JetStreamConfiguration` is `Sendable`. The corresponding C type is `jsStreamConfig`; storage
/// is always file storage, retention is limits-based, and direct get is off (reads are answered by
/// the stream's leader, never by a replica that may lag).
public struct JetStreamConfiguration: Sendable, Equatable {
    /// The stream's name (no `.`, `*`, `>` or spaces).
    public var name: String
    /// The subjects it captures (wildcards allowed).
    public var subjects: [String]
    /// How many servers hold a copy (1, 3 or 5; at most the cluster's size).
    public var replicas: Int
    /// The window in which a repeated `Nats-Msg-Id` is recognised as a duplicate.
    public var duplicateWindow: Duration
    /// Messages older than this are removed by the server; `nil` keeps them.
    public var maxAge: Duration?
    /// The stream's size limit in bytes (oldest messages go first); `nil` for none.
    public var maxBytes: Int64?
    /// The largest message accepted, in bytes; `nil` for the server's maximum payload.
    public var maxMessageSize: Int32?
    /// How many messages per subject are kept (oldest go first); `nil` for all.
    public var maxMessagesPerSubject: Int64?
    /// A description shown by `nats stream info`.
    public var description: String?

    /// A configuration with a 2-minute duplicate window, no age or size limit.
    public init(name: String, subjects: [String], replicas: Int = 1, duplicateWindow: Duration = .seconds(120),
                maxAge: Duration? = nil, maxBytes: Int64? = nil, description: String? = nil) {
        self.name = name
        self.subjects = subjects
        self.replicas = replicas
        self.duplicateWindow = duplicateWindow
        self.maxAge = maxAge
        self.maxBytes = maxBytes
        maxMessageSize = nil
        maxMessagesPerSubject = nil
        self.description = description
    }
}

/// What the server reports about a stream: its configuration, its state and its replicas.
///
/// `JetStreamInfo` is `Sendable`. The corresponding C type is `jsStreamInfo`.
public struct JetStreamInfo: Sendable, Equatable {
    /// The configuration as the server holds it.
    public var configuration: JetStreamConfiguration
    /// How many messages the stream holds.
    public var messages: UInt64
    /// How many bytes the stream holds.
    public var bytes: UInt64
    /// The first sequence still held (after purges and age limits).
    public var firstSequence: UInt64
    /// The last sequence assigned.
    public var lastSequence: UInt64
    /// How many distinct subjects the stream holds.
    public var subjectCount: Int64
    /// The stream's Raft group leader (server name), if clustered.
    public var leader: String?
    /// The other replicas: server name, whether it is current, and how far it lags.
    public var replicas: [Replica]

    /// One replica of a clustered stream, other than the leader.
    public struct Replica: Sendable, Equatable {
        /// The server's name.
        public var name: String
        /// Whether it has caught up with the leader.
        public var current: Bool
        /// Whether the leader has not heard from it lately.
        public var offline: Bool
        /// How many operations it is behind.
        public var lag: UInt64
    }
}

/// A message to publish to JetStream.
///
/// `OutgoingMessage` is `Sendable`.
public struct OutgoingMessage: Sendable, Equatable {
    /// The subject; must be captured by a stream.
    public var subject: String
    /// The payload bytes.
    public var payload: [UInt8]
    /// The `Nats-Msg-Id` header: a repeat within the stream's duplicate window is acknowledged
    /// as a duplicate and not stored again.
    public var messageID: String?
    /// The `Nats-Expected-Last-Subject-Sequence` header: the stream rejects the message unless the
    /// last message on this subject has this sequence (0: no message on the subject yet).
    public var expectedLastSubjectSequence: UInt64?
    /// Other headers, in order.
    public var headers: [MessageHeader]

    /// A message.
    public init(subject: String, payload: [UInt8], messageID: String? = nil,
                expectedLastSubjectSequence: UInt64? = nil, headers: [MessageHeader] = []) {
        self.subject = subject
        self.payload = payload
        self.messageID = messageID
        self.expectedLastSubjectSequence = expectedLastSubjectSequence
        self.headers = headers
    }
}

/// One message header.
///
/// `MessageHeader` is `Sendable`.
public struct MessageHeader: Sendable, Equatable {
    /// The header's name.
    public var name: String
    /// Its value.
    public var value: String
    /// A header.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The server's acknowledgement of a publish: the message is stored on a quorum of the stream's
/// replicas.
///
/// `PublishAck` is `Sendable`. The corresponding C type is `jsPubAck`.
public struct PublishAck: Sendable, Equatable {
    /// The stream that stored the message.
    public var stream: String
    /// Its sequence in the stream (for a duplicate: the sequence of the first copy).
    public var sequence: UInt64
    /// Whether the message id was seen within the duplicate window, so nothing new was stored.
    public var duplicate: Bool
}

/// A message read back from a stream.
///
/// `StoredMessage` is `Sendable`.
public struct StoredMessage: Sendable, Equatable {
    /// The subject it was published on.
    public var subject: String
    /// The payload bytes.
    public var payload: [UInt8]
    /// Its sequence in the stream.
    public var sequence: UInt64
    /// When the server stored it, nanoseconds since 1970 (server clock; display only).
    public var timestamp: Int64
    /// Its `Nats-Msg-Id`, if it had one.
    public var messageID: String?
    /// Every header, in the order the message carries them.
    public var headers: [MessageHeader]

    /// The value of the first header with this name.
    public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
}
