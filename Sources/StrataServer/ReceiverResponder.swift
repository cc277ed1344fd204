import Dispatch
import Glibc
import Hummingbird
import Prometheus
import Strata
import Synchronization

/// What the receiver's request handlers share.
///
/// `ReceiverCore` is `Sendable`: plain `let`s, atomics and `Sendable` members.
final class ReceiverCore: Sendable {
    let store: Store
    let configuration: ReceiverConfiguration
    let registry: WorkerRegistry
    let counters: MetricsCounters
    /// Numbers requests, for dead letters and responses.
    let requestNumbers = Atomic<UInt64>(0)
    /// Runs store reads (`GET`), off the cooperative pool.
    let reads = DispatchQueue(label: "strata.receiver.reads", attributes: .concurrent)
    /// The directory sources run with the receiver, for their metrics.
    let sources: [DirectorySource]
    /// Set when the receiver shuts down: live tails end.
    let stopping = StopFlag()

    /// Where `GET /metrics` reads the metrics it exports.
    let metricsRegistry: PrometheusCollectorRegistry

    init(store: Store, configuration: ReceiverConfiguration, sources: [DirectorySource],
         metricsRegistry: PrometheusCollectorRegistry) {
        self.store = store
        self.configuration = configuration
        self.sources = sources
        self.metricsRegistry = metricsRegistry
        counters = MetricsCounters(factory: StrataMetrics.prometheusFactory(registry: metricsRegistry))
        var sourceStreams: [String: String] = [:]
        for source in sources { sourceStreams[source.configuration.stream] = source.directory }
        registry = WorkerRegistry(store: store, configuration: configuration, counters: counters,
                                  sourceStreams: sourceStreams)
    }

    /// The counters of the receiver and its sources.
    var metrics: ReceiverMetrics {
        var metrics = counters.snapshot
        for source in sources { metrics.add(source.metrics) }
        return metrics
    }
}

/// Answers the receiver's HTTP requests:
///
/// | request | answer |
/// | --- | --- |
/// | `POST /streams/NAME[?interval=…&partitions=…&time-field=…&key-field=…&time-unit=…]` | appends the body's JSON lines; 200 with a summary once durable |
/// | `GET /streams` | every stream with its settings and frontier |
/// | `GET /streams/NAME` | one stream, with its totals |
/// | `GET /metrics` | the metrics (swift-metrics, exported by swift-prometheus) |
/// | `GET /api/…` | the read API (`ReadAPI`, `docs/http.md`) |
/// | `GET /`, `/console/…` | the web console (`ConsoleAssets`), when `servesConsole` |
///
/// Errors are `{"error":"…"}` with 400, 401, 404, 405, 409, 413, 500, 503 or 507 (see `docs/ingest.md`).
struct ReceiverResponder: HTTPResponder {
    typealias Context = ReceiverRequestContext

    let core: ReceiverCore

    func respond(to request: Request, context: Context) async throws -> Response {
        let response = await handle(request, context: context)
        core.counters.countResponse(Int(response.status.code))
        return response
    }

    private func handle(_ request: Request, context: Context) async -> Response {
        // The console's page and scripts hold no data: they load without the token, and the page
        // sends the token (asked of the user) with its API requests.
        if core.configuration.servesConsole, let asset = ConsoleAssets.response(for: request, configuration: core.configuration) {
            return asset
        }
        if let token = core.configuration.token, !Self.isAuthorized(request.headers[.authorization], token: token) {
            var response = Self.error(.unauthorized, "missing or wrong bearer token: send Authorization: Bearer TOKEN")
            response.headers[.wwwAuthenticate] = "Bearer realm=\"strata\""
            return response
        }
        let path = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        switch (path.first, path.count) {
        case ("streams", 2):
            let name = String(path[1])
            switch request.method {
            case .post: return await ingest(request, into: name, context: context)
            case .get: return await describe(name)
            default: return Self.methodNotAllowed(allow: "GET, POST")
            }
        case ("streams", 1):
            return request.method == .get ? await listStreams() : Self.methodNotAllowed(allow: "GET")
        case ("api", _):
            return await ReadAPI(core: core).respond(to: request, path: path.dropFirst())
        case ("metrics", 1):
            guard request.method == .get else { return Self.methodNotAllowed(allow: "GET") }
            var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: core.metricsRegistry.emitToBuffer())))
            response.headers[.contentType] = "text/plain; version=0.0.4"
            return response
        default:
            return Self.error(.notFound, "no resource \(request.uri.path): use POST /streams/NAME, GET /streams, "
                              + "GET /streams/NAME, GET /api/… (docs/http.md) or GET /metrics")
        }
    }

    // MARK: POST /streams/NAME

    private func ingest(_ request: Request, into name: String, context: Context) async -> Response {
        let configuration = core.configuration
        let settings: JSONStreamSettings
        do {
            settings = try JSONStreamSettings(query: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            return Self.error(for: error)
        }
        if let declared = request.headers[.contentLength], let length = Int(declared), length > configuration.maxBodyBytes {
            return Self.tooLarge("request body of \(length) bytes exceeds the limit of \(configuration.maxBodyBytes) bytes; "
                                 + "nothing was stored")
        }
        let worker: StreamIngestWorker
        do {
            worker = try await core.registry.worker(for: name, settings: settings)
        } catch {
            return Self.error(for: error)
        }
        let number = core.requestNumbers.add(1, ordering: .relaxed).newValue
        let budget = worker.budget
        budget.beginReceiving(number)
        var reserved = 0
        var body = ByteBuffer()
        var lines = LineLengthCheck(limit: configuration.maxRecordBytes)
        var refusal: Response?
        do {
            for try await chunk in request.body {
                let size = chunk.readableBytes
                if body.readableBytes + size > configuration.maxBodyBytes {
                    refusal = Self.tooLarge("request body exceeds the limit of \(configuration.maxBodyBytes) bytes; "
                                            + "nothing was stored")
                    break
                }
                if let long = chunk.withUnsafeReadableBytes({ lines.scan($0) }) {
                    refusal = Self.tooLarge("line \(long.line) is longer than \(configuration.maxRecordBytes) bytes, the "
                                            + "limit for one record (\(long.length)+ bytes); nothing was stored")
                    break
                }
                // Back-pressure: wait for room before taking more of the body from the socket.
                try await budget.reserve(size, for: number)
                reserved += size
                if body.readableBytes == 0, let declared = request.headers[.contentLength].flatMap({ Int($0) }) {
                    body.reserveCapacity(min(declared, configuration.maxBodyBytes))
                }
                body.writeImmutableBuffer(chunk)
                core.counters.bodyBytes.add(size, ordering: .relaxed)
            }
        } catch {
            refusal = Self.error(.badRequest, "the request body could not be read: \(error)")
        }
        budget.endReceiving(number)
        if let refusal {
            budget.release(reserved)
            return refusal
        }
        do {
            let counts = try await worker.ingest(body: body, reservedBytes: reserved, origin: "http \(context.peer)",
                                                 request: number)
            guard let gate = configuration.replicationGate else {
                return Self.json(.ok, Self.summary(counts, stream: name, request: number))
            }
            // Cluster mode: an acknowledgement means replicated; otherwise say it is stored locally only.
            let outcome = await gate(name, counts)
            return Self.json(outcome == .replicated ? .ok : .accepted,
                             Self.summary(counts, stream: name, request: number, replication: outcome))
        } catch {
            return Self.error(for: error)
        }
    }

    /// The response to a successful `POST`: what became of the body's lines.
    /// With `replication` (cluster mode), the keys `replicated` and, when pending, `replication`.
    static func summary(_ counts: LineCounts, stream: String, request: UInt64,
                        replication: ReplicationOutcome? = nil) -> [UInt8] {
        var json = JSONText()
        json.beginObject()
        json.key("accepted")
        json.integer(counts.accepted)
        json.key("blank")
        json.integer(counts.blank)
        json.key("intervals")
        if let range = counts.intervals {
            json.beginObject()
            json.key("first")
            json.integer(range.lowerBound.rawValue)
            json.key("last")
            json.integer(range.upperBound.rawValue)
            json.endObject()
        } else {
            json.null()
        }
        json.key("late")
        json.integer(counts.late)
        json.key("lines")
        json.integer(counts.lines)
        json.key("rejected")
        json.integer(counts.rejected)
        json.key("rejections")
        json.beginArray()
        for rejection in counts.rejections {
            json.beginObject()
            json.key("line")
            json.integer(rejection.line)
            json.key("reason")
            json.string(rejection.reason)
            json.endObject()
        }
        json.endArray()
        if let replication {
            json.key("replicated")
            json.bool(replication == .replicated)
            if case .pending(let reason) = replication {
                json.key("replication")
                json.string(reason)
            }
        }
        json.key("request")
        json.integer(request)
        json.key("stream")
        json.string(stream)
        json.endObject()
        return json.bytes
    }

    // MARK: GET

    private func listStreams() async -> Response {
        let store = core.store
        let result = await onReads { () throws(StorageError) -> [UInt8] in
            let infos = try store.streams()
            var json = JSONText(capacity: 256 * infos.count + 16)
            json.beginObject()
            json.key("streams")
            json.beginArray()
            for info in infos { Self.write(info, to: &json) }
            json.endArray()
            json.endObject()
            return json.bytes
        }
        switch result {
        case .success(let bytes): return Self.json(.ok, bytes)
        case .failure(let error): return Self.error(for: ReceiverError.storage(error, context: "list streams"))
        }
    }

    private func describe(_ name: String) async -> Response {
        let store = core.store
        let result = await onReads { () throws(StorageError) -> [UInt8] in
            let info = try store.info(of: name)
            let stats = try store.stats(of: name).first
            var json = JSONText()
            Self.write(info, stats: stats, to: &json)
            return json.bytes
        }
        switch result {
        case .success(let bytes): return Self.json(.ok, bytes)
        case .failure(.unknownStream): return Self.error(.notFound, "unknown stream \(name)")
        case .failure(let error): return Self.error(for: ReceiverError.storage(error, context: "stream \(name): describe"))
        }
    }

    /// Runs a store read on the reads queue and returns its result.
    private func onReads<R: Sendable>(_ work: @escaping @Sendable () throws(StorageError) -> R) async
        -> Result<R, StorageError>
    {
        await withCheckedContinuation { continuation in
            core.reads.async { continuation.resume(returning: Result { () throws(StorageError) in try work() }) }
        }
    }

    /// A stream as JSON: settings and frontier, and with `stats` its totals.
    static func write(_ info: StreamInfo, stats: StreamStats? = nil, to json: inout JSONText) {
        let d = info.descriptor, f = info.frontier
        json.beginObject()
        json.key("firstReadable")
        json.integer(f.firstReadable?.rawValue)
        json.key("interval")
        json.string(d.intervalLength.description)
        json.key("intervalNanoseconds")
        json.integer(d.intervalLength.rawValue)
        json.key("keyField")
        json.string(d.keyField)
        json.key("keyPlacement")
        json.string(d.keyPlacement?.description)
        json.key("lateRecords")
        json.integer(f.lateRecords)
        json.key("lateRecordsOf")
        json.string(d.lateRecordsOf)
        json.key("name")
        json.string(d.name)
        json.key("partitions")
        json.integer(d.partitions)
        json.key("retention")
        json.beginObject()
        switch d.retention {
        case .forever:
            json.key("kind")
            json.string("forever")
        case .intervals(let n):
            json.key("intervals")
            json.integer(n)
            json.key("kind")
            json.string("intervals")
        case .nanoseconds(let n):
            json.key("kind")
            json.string("duration")
            json.key("nanoseconds")
            json.integer(n)
        }
        json.endObject()
        json.key("sealedThrough")
        json.integer(f.sealedThrough?.rawValue)
        if let stats {
            json.key("stats")
            json.beginObject()
            json.key("intervals")
            json.integer(stats.intervals)
            json.key("nonEmptyIntervals")
            json.integer(stats.nonEmptyIntervals)
            json.key("rawBytes")
            json.integer(stats.rawBytes)
            json.key("records")
            json.integer(stats.records)
            json.key("storedBytes")
            json.integer(stats.storedBytes)
            json.endObject()
        }
        json.key("timeField")
        json.string(d.timeField)
        json.key("timeUnit")
        json.string(d.timeUnit?.rawValue)
        json.key("type")
        json.string(d.recordType)
        json.endObject()
    }

    // MARK: Responses

    /// Whether an `Authorization` header carries the token, compared in constant time.
    static func isAuthorized(_ header: String?, token: String) -> Bool {
        guard let header else { return false }
        let expected = Array(("Bearer " + token).utf8), given = Array(header.utf8)
        var difference = expected.count ^ given.count
        for index in expected.indices {
            difference |= Int(expected[index] ^ (index < given.count ? given[index] : 0))
        }
        return difference == 0
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        var response = Response(status: status, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        response.headers[.contentType] = "application/json"
        return response
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var json = JSONText()
        json.beginObject()
        json.key("error")
        json.string(message)
        json.endObject()
        return Self.json(status, json.bytes)
    }

    /// 413, asking the client to close: the rest of its body is not wanted.
    static func tooLarge(_ message: String) -> Response {
        var response = error(.contentTooLarge, message)
        response.headers[.connection] = "close"
        return response
    }

    static func methodNotAllowed(allow: String) -> Response {
        var response = error(.methodNotAllowed, "method not allowed; allowed: \(allow)")
        response.headers[.allow] = allow
        return response
    }

    /// The response for an error: 400, 404, 409, 500, 503 or 507 with its description.
    static func error(for error: any Error) -> Response {
        guard let error = error as? ReceiverError else { return Self.error(.internalServerError, "\(error)") }
        switch error {
        case .invalidArgument: return Self.error(.badRequest, error.description)
        case .streamConflict: return Self.error(.conflict, error.description)
        case .notRunnable: return Self.error(.serviceUnavailable, error.description)
        case .storage(.storeFull, _): return Self.error(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), error.description)
        case .storage(.unknownStream, _): return Self.error(.notFound, error.description)
        case .storage(.streamBusy, _): return Self.error(.conflict, error.description)
        default: return Self.error(.internalServerError, error.description)
        }
    }
}

/// Finds a line longer than the record limit while a body arrives in chunks, before all of it is read.
struct LineLengthCheck {
    /// The longest line allowed, in bytes, without its newline.
    let limit: Int
    /// The 1-based number of the line being read.
    private var line = 1
    /// Its bytes so far.
    private var length = 0

    init(limit: Int) { self.limit = limit }

    /// Scans the next chunk; returns the first line (number, bytes seen) longer than the limit.
    mutating func scan(_ chunk: UnsafeRawBufferPointer) -> (line: Int, length: Int)? {
        guard let base = chunk.baseAddress else { return nil }
        var start = 0
        while start < chunk.count {
            guard let newline = memchr(base + start, 0x0A, chunk.count - start) else {
                length += chunk.count - start
                return length > limit ? (line, length) : nil
            }
            let end = base.distance(to: UnsafeRawPointer(newline))
            length += end - start
            if length > limit { return (line, length) }
            line += 1
            length = 0
            start = end + 1
        }
        return nil
    }
}

/// A flag set once, read from any thread.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    /// Whether the flag is set.
    var isSet: Bool { value.load(ordering: .acquiring) }
    /// Sets the flag.
    func set() { value.store(true, ordering: .releasing) }
}
