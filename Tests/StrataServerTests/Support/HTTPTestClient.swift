import Dispatch
import Foundation
import Glibc
import StrataTestSupport

/// A response read off a socket.
struct HTTPResult: Sendable {
    var status: Int
    /// Header fields, names lowercased.
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object.
    func json() throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(body))
        guard let object = value as? [String: Any] else { throw TestFailure("not a JSON object: \(text)") }
        return object
    }
}

/// A test failure with a message.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A minimal HTTP/1.1 client on one TCP connection to 127.0.0.1: enough to send any bytes, well
/// formed or not, and read responses with a `Content-Length`.
///
/// Every blocking call runs on a thread of its own, never on the cooperative pool, which the server
/// under test needs for its handlers. Reads time out after 60 s so a broken server fails a test
/// instead of hanging it. `@unchecked Sendable`: the descriptor is used by one caller at a time.
final class RawHTTPConnection: @unchecked Sendable {
    let fd: Int32
    private var pending: [UInt8] = []

    /// Connects to `port` on 127.0.0.1.
    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestFailure("connect to port \(port): errno \(code)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends every byte.
    func send(_ bytes: [UInt8]) async throws {
        try await onOwnThread { try self.sendNow(bytes) }
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    /// Sends every byte, blocking the calling thread (not for the cooperative pool).
    func sendNow(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("send: errno \(errno)")
            }
            sent += n
        }
    }

    /// Reads one response.
    func readResponse() async throws -> HTTPResult {
        try await onOwnThread { try self.readResponseNow() }
    }

    /// Reads one response, blocking the calling thread (not for the cooperative pool).
    func readResponseBlocking() throws -> HTTPResult { try readResponseNow() }

    /// Whether the server has sent anything (or closed), without waiting.
    func hasData() -> Bool {
        if !pending.isEmpty { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    /// Whether the server closed the connection (reads end of file), waiting up to the read timeout.
    func isClosedByServer() async throws -> Bool {
        try await onOwnThread {
            var byte: UInt8 = 0
            while true {
                let n = recv(self.fd, &byte, 1, 0)
                if n == 0 { return true }
                if n < 0 { return errno == ECONNRESET }
            }
        }
    }

    /// Half-closes the connection: the server reads end of file.
    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    private func readResponseNow() throws -> HTTPResult {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if let range = findSubsequence(separator, in: pending) {
                headerEnd = range
            } else {
                try fill()
            }
        }
        guard let end = headerEnd else { throw TestFailure("no header") }
        let head = String(decoding: pending[0..<end], as: UTF8.self)
        pending.removeFirst(end + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestFailure("bad status line: \(head)") }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        while pending.count < length { try fill() }
        let body = Array(pending[0..<length])
        pending.removeFirst(length)
        return HTTPResult(status: status, headers: headers, body: body)
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { return }
        guard n > 0 else { throw TestFailure(n == 0 ? "connection closed by the server" : "recv: errno \(errno)") }
        pending.append(contentsOf: chunk[0..<n])
    }
}

/// The index where `needle` starts in `haystack`.
private func findSubsequence(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if Array(haystack[start..<start + needle.count]) == needle { return start }
    }
    return nil
}


/// A request as bytes: method, target, headers, and a body with its `Content-Length`.
func httpRequest(_ method: String, _ target: String, body: [UInt8]? = nil, headers: [String: String] = [:]) -> [UInt8] {
    var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
    if let body { text += "Content-Length: \(body.count)\r\n" }
    text += "\r\n"
    return Array(text.utf8) + (body ?? [])
}

/// One request on a new connection; returns the response.
func exchange(port: Int, _ method: String, _ target: String, body: String? = nil,
              headers: [String: String] = [:]) async throws -> HTTPResult {
    let connection = try RawHTTPConnection(port: port)
    try await connection.send(httpRequest(method, target, body: body.map { Array($0.utf8) }, headers: headers))
    return try await connection.readResponse()
}

/// Polls `condition` until it holds or `seconds` pass; for waiting on other processes and threads.
func eventually(within seconds: Double = 120, _ condition: @Sendable () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}
