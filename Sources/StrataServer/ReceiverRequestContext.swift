import Hummingbird

/// The request context of the receiver: Hummingbird's core context plus the peer's address,
/// which dead letters name as their origin.
///
/// `ReceiverRequestContext` is `Sendable`; it is a plain value.
struct ReceiverRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The client's address, `127.0.0.1:52114`, or `unknown`.
    let peer: String

    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        if let address = source.channel.remoteAddress {
            peer = "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        } else {
            peer = "unknown"
        }
    }
}
