/// How a node proves who it is to the NATS servers.
///
/// `NATSCredentials` is `Sendable`. Secrets are never printed by `description`.
public enum NATSCredentials: Sendable, Equatable, CustomStringConvertible {
    /// No credentials (a server without authorization).
    case none
    /// A user name and password (`natsOptions_SetUserInfo`).
    case userPassword(user: String, password: String)
    /// A token (`natsOptions_SetToken`).
    case token(String)
    /// A `.creds` file holding a user JWT and its NKey seed
    /// (`natsOptions_SetUserCredentialsFromFiles`).
    case credentialsFile(path: String)

    /// What kind of credentials, without the secret.
    public var description: String {
        switch self {
        case .none: return "none"
        case let .userPassword(user, _): return "user \(user)"
        case .token: return "token"
        case let .credentialsFile(path): return "creds file \(path)"
        }
    }
}

/// TLS settings of a connection to NATS.
///
/// `NATSTLSOptions` is `Sendable`. Any non-nil file turns TLS on (`natsOptions_SetSecure`).
public struct NATSTLSOptions: Sendable, Equatable {
    /// A PEM file of the certificate authorities to trust (`natsOptions_LoadCATrustedCertificates`).
    public var certificateAuthorityFile: String?
    /// The client certificate chain, PEM (`natsOptions_LoadCertificatesChain`), with `keyFile`.
    public var certificateFile: String?
    /// The client certificate's private key, PEM.
    public var keyFile: String?
    /// The host name expected in the server certificate, when it differs from the URL's.
    public var expectedHostname: String?

    /// TLS settings; every field optional.
    public init(certificateAuthorityFile: String? = nil, certificateFile: String? = nil,
                keyFile: String? = nil, expectedHostname: String? = nil) {
        self.certificateAuthorityFile = certificateAuthorityFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.expectedHostname = expectedHostname
    }
}

/// Everything needed to open a `NATSConnection`.
///
/// `NATSConnectionOptions` is `Sendable`.
///
/// ```swift
/// var options = NATSConnectionOptions(urls: ["nats://127.0.0.1:4222"], name: "node-a")
/// options.credentials = .userPassword(user: "strata", password: "secret")
/// let connection = try NATSConnection(options)
/// ```
public struct NATSConnectionOptions: Sendable, Equatable {
    /// The servers to connect to (`nats://host:port`, `tls://host:port`); the client also learns
    /// the rest of the cluster from the first server it reaches.
    public var urls: [String]
    /// The connection's name as servers show it (`natsOptions_SetName`); Strata uses the node name.
    public var name: String?
    /// The credentials.
    public var credentials: NATSCredentials
    /// TLS, or `nil` for plain TCP (unless a URL says `tls://`).
    public var tls: NATSTLSOptions?
    /// How long one connection attempt may take (`natsOptions_SetTimeout`).
    public var connectTimeout: Duration
    /// How long a JetStream API request or a synchronous publish waits for its answer
    /// (`jsOptions.Wait`).
    public var requestTimeout: Duration
    /// Whether a lost connection is re-established (`natsOptions_SetAllowReconnect`).
    public var reconnects: Bool
    /// How many reconnect attempts per server, `nil` for no limit (`natsOptions_SetMaxReconnect`).
    public var maxReconnectAttempts: Int?
    /// The pause between reconnect attempts to one server (`natsOptions_SetReconnectWait`).
    public var reconnectWait: Duration
    /// Whether the first connect keeps retrying in the background when no server answers
    /// (`natsOptions_SetRetryOnFailedConnect`); otherwise the initializer throws at once.
    public var retryOnFailedConnect: Bool

    /// Options with defaults: 2 s connect timeout, 10 s requests, reconnect forever every 250 ms.
    public init(urls: [String], name: String? = nil, credentials: NATSCredentials = .none,
                tls: NATSTLSOptions? = nil) {
        self.urls = urls
        self.name = name
        self.credentials = credentials
        self.tls = tls
        connectTimeout = .seconds(2)
        requestTimeout = .seconds(10)
        reconnects = true
        maxReconnectAttempts = nil
        reconnectWait = .milliseconds(250)
        retryOnFailedConnect = false
    }
}

extension Duration {
    /// Whole milliseconds, rounded up, at least 1.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let millis = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return max(1, millis)
    }

    /// Whole nanoseconds (saturating).
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product &+ attoseconds / 1_000_000_000
    }
}
