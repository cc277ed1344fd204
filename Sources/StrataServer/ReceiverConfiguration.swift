import Strata

/// How an HTTP receiver listens and what it accepts.
///
/// ```swift
/// var configuration = ReceiverConfiguration()
/// configuration.port = 0                  // any free port; see IngestReceiver.listeningPort()
/// configuration.token = "s3cret"          // requests need Authorization: Bearer s3cret
/// let receiver = IngestReceiver(store: store, configuration: configuration)
/// ```
///
/// `ReceiverConfiguration` is `Sendable`; it is a plain value.
public struct ReceiverConfiguration: Sendable {
    /// The address to bind; loopback unless told otherwise.
    public var host: String = "127.0.0.1"
    /// The port to bind; 0 picks a free one.
    public var port: Int = 7070
    /// When set, requests must carry `Authorization: Bearer TOKEN`; others get 401.
    public var token: String?
    /// The largest request body accepted, in bytes; a larger one gets 413 and nothing of it is stored.
    public var maxBodyBytes: Int = 64 << 20
    /// The largest single record (JSON line) accepted, in bytes; a request holding a longer line
    /// gets 413 and nothing of it is stored.
    public var maxRecordBytes: Int = 1 << 20
    /// The most connections served at once; further ones wait in the listen backlog.
    public var maxConnections: Int = 1024
    /// Bytes of request bodies per stream read from sockets and not yet appended. When a stream's
    /// bodies reach it (the store falls behind), its requests stop reading their sockets until
    /// the stream catches up; the oldest request still reading may always go on, so memory per
    /// stream stays below this plus `maxBodyBytes`.
    public var maxQueuedBytesPerStream: Int = 64 << 20
    /// For streams with a time field: how far event time may run behind the largest time seen
    /// before an interval is sealed (as `strata ingest --lateness`).
    public var allowedLateness: Duration = .zero
    /// For streams with a time field: seal every interval holding records once no request has
    /// brought lines for this long (as Flink's idleness; `strata serve --idle-seal`), so that a
    /// quiet stream's last records become readable. `nil`: only the watermark seals.
    public var idleSeal: Duration?
    /// Rejected lines listed with their reasons in a response (all are counted and dead-lettered).
    public var maxRejectionsListed: Int = 10
    /// Whether to serve HTTP at all; `false` runs only the directory sources.
    public var servesHTTP = true
    /// The PEM file of the certificate chain to serve HTTPS with (with `tlsKeyPath`); `nil`: plain HTTP.
    public var tlsCertificatePath: String?
    /// The PEM file of the private key of `tlsCertificatePath`.
    public var tlsKeyPath: String?
    /// Whether to serve the web console at `/` (`docs/console.md`). The read API under `/api/` is
    /// served either way.
    public var servesConsole = false
    /// The Chart.js file the console's charts use (Debian's `libjs-chart.js`), served as
    /// `/console/chart.js`; when it is missing the console works without charts.
    public var chartLibraryPath = "/usr/share/javascript/chart.js/chart.min.js"
    /// How long a graceful shutdown waits for requests still being read (a client sending its body
    /// slowly); then they are cancelled, unanswered, and nothing of them is stored.
    public var shutdownGracePeriod: Duration = .seconds(30)
    /// Whether SIGTERM and SIGINT shut the receiver down gracefully (the process's handling of
    /// those signals is replaced while it runs). For command-line tools.
    public var shutsDownOnTerminationSignals = false
    /// Cluster mode: what a `POST` waits for once its records are durable locally, before it is
    /// answered (`strata serve --nats` waits until JetStream holds the intervals the records went
    /// into). `nil` (the default): a `POST` is answered once its records are durable locally.
    ///
    /// The receiver calls it with the stream's name and what became of the body's lines; its
    /// outcome decides the answer: `.replicated` gives 200 with `"replicated": true`, `.pending`
    /// gives 202 with `"replicated": false` and the reason (the records are stored locally and
    /// must not be sent again). It runs on the cooperative pool: it must not block.
    public var replicationGate: (@Sendable (_ stream: String, _ counts: LineCounts) async -> ReplicationOutcome)?

    /// The largest record a stream's block can hold (16 MiB).
    public static let largestRecordBytes = 16 << 20

    /// Default configuration: 127.0.0.1:7070, no token, 64 MiB bodies, 1 MiB records, 1024
    /// connections, 64 MiB queued per stream.
    public init() {}

    /// Checks every limit; the receiver calls it before it starts.
    ///
    /// - Throws: `ReceiverError.invalidArgument` naming the first setting out of range.
    public func validate() throws(ReceiverError) {
        guard (0...65535).contains(port) else { throw .invalidArgument("port must be 0 to 65535, not \(port)") }
        guard !host.isEmpty else { throw .invalidArgument("host must not be empty") }
        guard (1...Self.largestRecordBytes).contains(maxRecordBytes) else {
            throw .invalidArgument(
                "the record size limit must be 1 to \(Self.largestRecordBytes) bytes, not \(maxRecordBytes)")
        }
        guard maxBodyBytes >= maxRecordBytes else {
            throw .invalidArgument(
                "the body size limit (\(maxBodyBytes) bytes) must be at least the record size limit (\(maxRecordBytes))")
        }
        guard maxConnections >= 1 else {
            throw .invalidArgument("the connection limit must be at least 1, not \(maxConnections)")
        }
        guard maxQueuedBytesPerStream >= 1 else {
            throw .invalidArgument("the queued bytes limit must be at least 1, not \(maxQueuedBytesPerStream)")
        }
        guard maxRejectionsListed >= 0 else {
            throw .invalidArgument("the rejections listed must not be negative, not \(maxRejectionsListed)")
        }
        if let token, token.isEmpty { throw .invalidArgument("the token must not be empty") }
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw .invalidArgument("TLS needs both a certificate chain and its private key (--tls-cert and --tls-key)")
        }
        guard shutdownGracePeriod > .zero else { throw .invalidArgument("the shutdown grace period must be positive") }
    }
}

/// What a `ReceiverConfiguration.replicationGate` reports for one request body.
///
/// `ReplicationOutcome` is `Sendable`; it is a plain value.
public enum ReplicationOutcome: Sendable, Equatable {
    /// The body's records are replicated (stored on a quorum of the cluster's servers); the
    /// answer is 200 with `"replicated": true`.
    case replicated
    /// The body's records are durable locally but not (yet) replicated, for the reason given; the
    /// answer is 202 with `"replicated": false` and `"replication": REASON`. They are replicated
    /// later in the background: a client must not send them again.
    case pending(String)
}
