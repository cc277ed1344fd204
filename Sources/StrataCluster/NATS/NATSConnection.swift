import CNATS
import Glibc
import Synchronization

/// A connection to a NATS server or cluster, through the NATS C client (`natsConnection`).
///
/// `NATSConnection` is `Sendable`: the C client's connection is thread-safe, and every method may
/// be called from any thread. Calls block (they wait for the server); call them from a thread of
/// your own or a serial queue, not from the cooperative pool in a loop. The connection reconnects
/// by itself when `NATSConnectionOptions.reconnects` is set; it is closed by `close()` or when the
/// last reference goes.
///
/// ```swift
/// let connection = try NATSConnection(NATSConnectionOptions(urls: ["nats://127.0.0.1:4222"]))
/// let jetStream = try connection.jetStream()
/// ```
public final class NATSConnection: Sendable {
    // natsConnection is thread-safe once connected (nats.h); the pointer never changes.
    nonisolated(unsafe) let handle: OpaquePointer
    /// The options the connection was opened with.
    public let options: NATSConnectionOptions
    private let closed = Atomic<Bool>(false)

    /// Connects.
    ///
    /// - Throws: `ClusterError.notAuthorized` when the server refuses the credentials,
    ///   `ClusterError.nats` with `NATSStatus.noServer` when no server answers (unless
    ///   `retryOnFailedConnect`), `ClusterError.invalidArgument` for an empty URL list.
    ///
    /// The corresponding C call is `natsConnection_Connect`.
    public init(_ options: NATSConnectionOptions) throws(ClusterError) {
        guard !options.urls.isEmpty, options.urls.allSatisfy({ !$0.isEmpty }) else {
            throw .invalidArgument("no NATS server URL given")
        }
        self.options = options
        var optionsHandle: OpaquePointer?
        try check("natsOptions_Create", natsOptions_Create(&optionsHandle))
        guard let opts = optionsHandle else { throw .invalidArgument("natsOptions_Create gave no options") }
        defer { natsOptions_Destroy(opts) }
        try Self.configure(opts, options)
        var connection: OpaquePointer?
        let status = natsConnection_Connect(&connection, opts)
        if status != NATS_OK && !(status == NATS_NOT_YET_CONNECTED && options.retryOnFailedConnect) {
            let error = ClusterError.make("natsConnection_Connect", status)
            if let connection { natsConnection_Destroy(connection) }
            throw error
        }
        guard let connection else { throw .invalidArgument("natsConnection_Connect gave no connection") }
        handle = connection
    }

    private static func configure(_ opts: OpaquePointer, _ options: NATSConnectionOptions) throws(ClusterError) {
        let servers = CStringArray(options.urls)
        try check("natsOptions_SetServers", natsOptions_SetServers(opts, servers.pointers, Int32(servers.count)))
        withExtendedLifetime(servers) {}
        // Servers in the given order: tests and operators can tell which node a client uses first.
        try check("natsOptions_SetNoRandomize", natsOptions_SetNoRandomize(opts, true))
        if let name = options.name { try check("natsOptions_SetName", natsOptions_SetName(opts, name)) }
        switch options.credentials {
        case .none: break
        case let .userPassword(user, password):
            try check("natsOptions_SetUserInfo", natsOptions_SetUserInfo(opts, user, password))
        case let .token(token):
            try check("natsOptions_SetToken", natsOptions_SetToken(opts, token))
        case let .credentialsFile(path):
            try check("natsOptions_SetUserCredentialsFromFiles",
                      natsOptions_SetUserCredentialsFromFiles(opts, path, nil))
        }
        if let tls = options.tls {
            try check("natsOptions_SetSecure", natsOptions_SetSecure(opts, true))
            if let ca = tls.certificateAuthorityFile {
                try check("natsOptions_LoadCATrustedCertificates", natsOptions_LoadCATrustedCertificates(opts, ca))
            }
            if tls.certificateFile != nil || tls.keyFile != nil {
                guard let cert = tls.certificateFile, let key = tls.keyFile else {
                    throw .invalidArgument("a TLS client certificate needs both a certificate file and a key file")
                }
                try check("natsOptions_LoadCertificatesChain", natsOptions_LoadCertificatesChain(opts, cert, key))
            }
            if let host = tls.expectedHostname {
                try check("natsOptions_SetExpectedHostname", natsOptions_SetExpectedHostname(opts, host))
            }
        }
        try check("natsOptions_SetTimeout", natsOptions_SetTimeout(opts, options.connectTimeout.wholeMilliseconds))
        try check("natsOptions_SetAllowReconnect", natsOptions_SetAllowReconnect(opts, options.reconnects))
        let attempts = options.maxReconnectAttempts.map { Int32(clamping: $0) } ?? -1
        try check("natsOptions_SetMaxReconnect", natsOptions_SetMaxReconnect(opts, attempts))
        try check("natsOptions_SetReconnectWait",
                  natsOptions_SetReconnectWait(opts, options.reconnectWait.wholeMilliseconds))
        // Block-sized messages: buffer up to 64 MiB of publishes while reconnecting.
        try check("natsOptions_SetReconnectBufSize", natsOptions_SetReconnectBufSize(opts, 64 << 20))
        if options.retryOnFailedConnect {
            try check("natsOptions_SetRetryOnFailedConnect", natsOptions_SetRetryOnFailedConnect(opts, true, nil, nil))
        }
    }

    /// The largest message payload the connected server accepts, in bytes (1 MiB by default).
    ///
    /// The corresponding C call is `natsConnection_GetMaxPayload`.
    public var maxPayload: Int { Int(natsConnection_GetMaxPayload(handle)) }

    /// The payload of one piece of something cut to fit the maximum payload, leaving `headroom`
    /// bytes for the message's headers (which count against the maximum too): `maxPayload -
    /// headroom`, or half the maximum payload when that leaves less than `headroom` (a server
    /// configured with a small `max_payload`).
    public func pieceBytes(headroom: Int) -> Int {
        let maximum = maxPayload
        return maximum > 2 * headroom ? maximum - headroom : max(256, maximum / 2)
    }

    /// Whether the connection is up now (not connecting, reconnecting or closed).
    public var isConnected: Bool { natsConnection_Status(handle) == NATS_CONN_STATUS_CONNECTED }

    /// Whether the connection was closed for good (`close()`, or reconnects exhausted).
    public var isClosed: Bool { natsConnection_Status(handle) == NATS_CONN_STATUS_CLOSED }

    /// The URL of the server the connection is using, if connected.
    public var connectedURL: String? {
        var buffer = [CChar](repeating: 0, count: 512)
        guard natsConnection_GetConnectedUrl(handle, &buffer, buffer.count) == NATS_OK else { return nil }
        let url = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return url.isEmpty ? nil : url
    }

    /// Waits until the server has processed everything sent so far.
    ///
    /// The corresponding C call is `natsConnection_FlushTimeout`.
    public func flush(timeout: Duration = .seconds(10)) throws(ClusterError) {
        try check("natsConnection_FlushTimeout", natsConnection_FlushTimeout(handle, timeout.wholeMilliseconds))
    }

    /// Sends a request and waits for one reply (core NATS request/reply).
    ///
    /// - Returns: the reply's payload.
    /// - Throws: `ClusterError.nats` with `NATSStatus.timeout` or `.noResponders`.
    ///
    /// The corresponding C call is `natsConnection_Request`.
    public func request(_ subject: String, _ payload: [UInt8], timeout: Duration) throws(ClusterError) -> [UInt8] {
        var reply: OpaquePointer?
        let status = payload.withUnsafeBytes { bytes in
            natsConnection_Request(&reply, handle, subject, bytes.baseAddress, Int32(bytes.count),
                                   timeout.wholeMilliseconds)
        }
        try check("natsConnection_Request(\(subject))", status)
        guard let reply else { return [] }
        defer { natsMsg_Destroy(reply) }
        return NATSMessageBytes.payload(of: reply)
    }

    /// Opens the JetStream context of this connection.
    ///
    /// The corresponding C call is `natsConnection_JetStream`.
    public func jetStream() throws(ClusterError) -> JetStream {
        try JetStream(connection: self)
    }

    /// A JetStream context whose requests (stream and KV calls, publish acknowledgements) wait at
    /// most `requestTimeout` instead of the connection's: for calls that had better fail fast and
    /// be retried than wait long (a lease's renewal is worth nothing after its TTL).
    public func jetStream(requestTimeout: Duration) throws(ClusterError) -> JetStream {
        try JetStream(connection: self, requestTimeout: requestTimeout)
    }

    /// Closes the connection; pending publishes are abandoned. Safe to call more than once.
    ///
    /// The corresponding C call is `natsConnection_Close`.
    public func close() {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return }
        natsConnection_Close(handle)
    }

    deinit {
        if !closed.load(ordering: .acquiring) { natsConnection_Close(handle) }
        natsConnection_Destroy(handle)
    }
}

/// Copies out of `natsMsg` objects.
enum NATSMessageBytes {
    static func payload(of msg: OpaquePointer) -> [UInt8] {
        let count = Int(natsMsg_GetDataLength(msg))
        guard count > 0, let data = natsMsg_GetData(msg) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: count))
    }

    static func header(_ msg: OpaquePointer, _ name: String) -> String? {
        var value: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(msg, name, &value) == NATS_OK, let value else { return nil }
        return String(cString: value)
    }

    static func subject(of msg: OpaquePointer) -> String {
        natsMsg_GetSubject(msg).map { String(cString: $0) } ?? ""
    }
}
