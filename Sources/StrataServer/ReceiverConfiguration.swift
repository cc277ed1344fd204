import Strata

/// How an HTTP receiver listens and what it accepts.
///
/// `ReceiverConfiguration` is `Sendable`; it is a plain value.
public struct ReceiverConfiguration: Sendable {
    /// The address to bind; loopback unless told otherwise.
    public var host: String = "127.0.0.1"
    /// The port to bind; 0 picks a free one.
    public var port: Int = 7070
    /// When set, requests must carry `Authorization: Bearer TOKEN`.
    public var token: String?
    /// The largest request body accepted, in bytes.
    public var maxBodyBytes: Int = 64 << 20
    /// The largest single record (JSON line) accepted, in bytes.
    public var maxRecordBytes: Int = 1 << 20
    /// The most connections served at once.
    public var maxConnections: Int = 1024

    /// Default configuration: 127.0.0.1:7070, no token, 64 MiB bodies, 1 MiB records.
    public init() {}
}
