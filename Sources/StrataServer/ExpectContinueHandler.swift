import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request's head arrives, so
/// that clients which wait for it before sending a large body (curl does, for bodies over 1 MiB,
/// for up to a second) send it at once.
///
/// A request whose declared `Content-Length` exceeds the body limit gets no `100 Continue`: the
/// receiver answers 413 without reading the body, and the client need not send it (RFC 9110 §10.1.1).
/// Sits in each connection's pipeline after the HTTP/1 codec, before Hummingbird's handlers.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// The largest body the receiver reads.
    let maxBodyBytes: Int

    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data),
           let expect = head.headerFields[.expect], expect.lowercased() == "100-continue" {
            let declared = head.headerFields[.contentLength].flatMap { Int($0) }
            if declared.map({ $0 <= maxBodyBytes }) ?? true {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        }
        context.fireChannelRead(data)
    }
}
