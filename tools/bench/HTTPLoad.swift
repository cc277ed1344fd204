import ArgumentParser
import Glibc
import Synchronization

/// `strata-bench http-load`: posts JSON lines to a running `strata serve` in batches, over
/// keep-alive connections, and measures events per second and acknowledgement latency.
///
/// The input is a file of JSON lines (`strata-bench generate`), read into memory and cut into
/// request bodies of `--batch` lines before the clock starts. Each connection is a thread with a
/// blocking socket that sends a request, reads its response, and sends the next: a request's
/// latency is from its first byte sent to its response's last byte read, which the server sends
/// only once the records are durable.
struct HTTPLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-load",
        abstract: "Post JSON lines to `strata serve` in batches and measure throughput and latency.")

    @Option(help: "The file of JSON lines to send (the output of `strata-bench generate`).")
    var input: String

    @Option(help: "The server's address (IPv4).")
    var host = "127.0.0.1"

    @Option(help: "The server's port.")
    var port: Int

    @Option(help: "The stream posted to.")
    var stream = "pageViews"

    @Option(help: "The query string of every request, without `?` (stream settings).")
    var query = "time-field=ts&key-field=url&partitions=4"

    @Option(help: "Lines per request.")
    var batch = 1000

    @Option(help: "Concurrent keep-alive connections.")
    var connections = 8

    @Option(help: "A bearer token to send.")
    var token: String?

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        guard connections > 0 else { throw ValidationError("--connections must be positive") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1 to 65535") }
    }

    func run() throws {
        let data = try readFile(input)
        let bodies = cutBatches(data, lines: batch)
        guard !bodies.isEmpty else { throw ValidationError("\(input) holds no lines") }
        let events = bodies.reduce(0) { $0 + $1.lines }
        let bytes = bodies.reduce(0) { $0 + $1.range.count }
        var head = "POST /streams/\(stream)\(query.isEmpty ? "" : "?" + query) HTTP/1.1\r\nHost: \(host)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        let shared = LoadState(data: data, bodies: bodies, head: head)

        let start = now()
        let threads = (0..<connections).map { _ in
            startThread { shared.runConnection(host: host, port: port) }
        }
        for thread in threads { pthread_join(thread, nil) }
        let seconds = now() - start

        let outcome = shared.outcome()
        if let failure = outcome.failure { throw ValidationError(failure) }
        var latencies = outcome.latencies
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let index = min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)
            return Double(latencies[max(0, index)]) / 1e6
        }
        print("posted \(bodies.count) requests of \(batch) lines (\(events) events, \(bytes) bytes) over "
              + "\(connections) connections in \(fixed(seconds)) s: \(millions(Double(events) / seconds)) events/s, "
              + "\(fixed(Double(bytes) / 1_048_576 / seconds, 1)) MiB/s")
        print("acknowledgement latency: p50 \(fixed(percentile(0.5), 2)) ms, p99 \(fixed(percentile(0.99), 2)) ms, "
              + "max \(fixed(percentile(1.0), 2)) ms; accepted \(outcome.accepted), rejected \(outcome.rejected)")
        printResult(workload: "http-ingest", events: events, seconds: seconds, extra: [
            "requests": String(bodies.count), "batch": String(batch), "connections": String(connections),
            "accepted": String(outcome.accepted), "rejected": String(outcome.rejected),
            "p50_ms": fixed(percentile(0.5), 2), "p99_ms": fixed(percentile(0.99), 2),
            "max_ms": fixed(percentile(1.0), 2), "mb_per_s": fixed(Double(bytes) / 1_048_576 / seconds, 1),
        ])
    }
}

/// One request body: a range of the input and its line count.
struct LoadBody: Sendable {
    var range: Range<Int>
    var lines: Int
}

/// What the connection threads share: the input, the next body to send, the results.
final class LoadState: Sendable {
    // The input bytes never change once read; threads only read them.
    nonisolated(unsafe) let data: UnsafeMutableRawBufferPointer
    let bodies: [LoadBody]
    let head: String
    private let next = Atomic<Int>(0)
    private let results = Mutex<(latencies: [UInt64], accepted: Int, rejected: Int, failure: String?)>(([], 0, 0, nil))

    init(data: UnsafeMutableRawBufferPointer, bodies: [LoadBody], head: String) {
        self.data = data
        self.bodies = bodies
        self.head = head
    }

    func outcome() -> (latencies: [UInt64], accepted: Int, rejected: Int, failure: String?) {
        results.withLock { $0 }
    }

    private func fail(_ message: String) {
        results.withLock { if $0.failure == nil { $0.failure = message } }
    }

    /// Sends bodies until none is left, one request at a time on one connection.
    func runConnection(host: String, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return fail("socket: errno \(errno)") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return fail("connect to \(host):\(port): errno \(errno)") }
        var latencies: [UInt64] = []
        var accepted = 0, rejected = 0
        var reader = ResponseReader(fd: fd)
        while true {
            let index = next.add(1, ordering: .relaxed).oldValue
            guard index < bodies.count else { break }
            let body = bodies[index]
            let requestHead = Array((head + "Content-Length: \(body.range.count)\r\n\r\n").utf8)
            let started = monotonicNanoseconds()
            guard sendAll(fd, requestHead, body: UnsafeRawBufferPointer(rebasing: data[body.range])) else {
                return fail("send: errno \(errno)")
            }
            guard let response = reader.read() else { return fail("no response: errno \(errno)") }
            latencies.append(monotonicNanoseconds() - started)
            guard response.status == 200 else {
                return fail("status \(response.status): \(String(decoding: response.body, as: UTF8.self))")
            }
            accepted += jsonInteger("accepted", in: response.body)
            rejected += jsonInteger("rejected", in: response.body)
        }
        results.withLock {
            $0.latencies += latencies
            $0.accepted += accepted
            $0.rejected += rejected
        }
    }
}

/// Reads HTTP/1.1 responses with a `Content-Length` off a blocking socket.
struct ResponseReader {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    mutating func read() -> (status: Int, body: [UInt8])? {
        var headerEnd: Int?
        while true {
            if buffer.count >= 4 {
                for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13
                    && buffer[i + 3] == 10 {
                    headerEnd = i
                    break
                }
            }
            if headerEnd != nil { break }
            guard fill() else { return nil }
        }
        guard let end = headerEnd else { return nil }
        let head = String(decoding: buffer[0..<end], as: UTF8.self).lowercased()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var length = 0
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingSpaces()) ?? 0
        }
        buffer.removeFirst(end + 4)
        while buffer.count < length { guard fill() else { return nil } }
        let body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return (status, body)
    }

    private mutating func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16384)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}

/// The integer value of `"key":N` in a JSON body, 0 when absent.
func jsonInteger(_ key: String, in body: [UInt8]) -> Int {
    let needle = Array("\"\(key)\":".utf8)
    guard body.count >= needle.count else { return 0 }
    for start in 0...(body.count - needle.count) where body[start] == needle[0] {
        guard Array(body[start..<start + needle.count]) == needle else { continue }
        var value = 0, index = start + needle.count
        while index < body.count, body[index] >= 48, body[index] <= 57 {
            value = value * 10 + Int(body[index] - 48)
            index += 1
        }
        return value
    }
    return 0
}

/// Sends a request head and body with one `writev` where possible, retrying short writes.
func sendAll(_ fd: Int32, _ head: [UInt8], body: UnsafeRawBufferPointer) -> Bool {
    var headSent = 0, bodySent = 0
    return head.withUnsafeBytes { headBytes in
        while headSent < headBytes.count || bodySent < body.count {
            var vectors = [
                iovec(iov_base: UnsafeMutableRawPointer(mutating: headBytes.baseAddress.map { $0 + headSent }),
                      iov_len: headBytes.count - headSent),
                iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress.map { $0 + bodySent }),
                      iov_len: body.count - bodySent),
            ]
            let n = writev(fd, &vectors, 2)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            let intoHead = min(n, headBytes.count - headSent)
            headSent += intoHead
            bodySent += n - intoHead
        }
        return true
    }
}

/// The whole file, in memory allocated for the run (never freed: the process ends with the run).
func readFile(_ path: String) throws -> UnsafeMutableRawBufferPointer {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw ValidationError("cannot stat \(path)") }
    let size = Int(info.st_size)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
    var offset = 0
    while offset < size {
        let n = read(fd, buffer.baseAddress! + offset, size - offset)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw ValidationError("cannot read \(path)") }
        offset += n
    }
    return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
}

/// Cuts the data into bodies of `lines` lines (the last may be shorter), each ending with its newline.
func cutBatches(_ data: UnsafeMutableRawBufferPointer, lines: Int) -> [LoadBody] {
    var bodies: [LoadBody] = []
    var start = 0, index = 0, count = 0
    while index < data.count {
        guard let newline = memchr(data.baseAddress! + index, 0x0A, data.count - index) else { break }
        index = data.baseAddress!.distance(to: newline) + 1
        count += 1
        if count == lines {
            bodies.append(LoadBody(range: start..<index, lines: count))
            start = index
            count = 0
        }
    }
    if index < data.count { count += 1 }  // a last line without a newline
    if count > 0 { bodies.append(LoadBody(range: start..<data.count, lines: count)) }
    return bodies
}

/// Monotonic nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Starts a POSIX thread running `body`.
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    pthread_create(&thread, nil, { context in
        guard let context else { return nil }
        let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
        box.body()
        return nil
    }, context)
    return thread
}
