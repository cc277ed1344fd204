import Dispatch
import Hummingbird
import HummingbirdCore
import Strata

/// The read API under `/api/`: streams, per-interval stats, an interval's records, a live tail,
/// programs with their vertices, and the state of a stateful vertex as of an interval.
///
/// Every answer is JSON (an object), or JSON lines for records. Times in queries use the CLI's
/// grammar (`SliceBound`: an interval index, `HH:MM[:SS]`, ISO 8601 …); every interval in an
/// answer carries its start time (`"time"`, ISO 8601 UTC). The full reference is `docs/http.md`.
///
/// Store reads run on the receiver's reads queue, never on the cooperative pool or an event loop.
struct ReadAPI: Sendable {
    let core: ReceiverCore

    /// The most intervals `/intervals` answers with at once.
    static let maxIntervalsListed: UInt64 = 20_000
    /// How often a tail looks for newly sealed intervals (seals of other processes included).
    static let tailPoll: Duration = .milliseconds(100)

    /// Answers `GET /api/…`; `path` is the request path's components after `api`.
    func respond(to request: Request, path: ArraySlice<Substring>) async -> Response {
        guard request.method == .get || request.method == .head else {
            return ReceiverResponder.methodNotAllowed(allow: "GET")
        }
        let query = Query(request.uri.queryParameters)
        let parts = Array(path)
        do {
            switch (parts.first, parts.count) {
            case ("streams", 1): return try await streams(query)
            case ("streams", 2): return try await stream(String(parts[1]))
            case ("streams", 3) where parts[2] == "intervals": return try await intervals(String(parts[1]), query)
            case ("streams", 3) where parts[2] == "records": return try await records(String(parts[1]), query)
            case ("streams", 3) where parts[2] == "tail": return try await tail(String(parts[1]), query)
            case ("streams", 3) where parts[2] == "resolve": return try await resolve(String(parts[1]), query)
            case ("programs", 1): return try await programs(nil)
            case ("programs", 2): return try await programs(String(parts[1]))
            case ("programs", 3) where parts[2] == "timings": return try await timings(String(parts[1]), query)
            case ("state", 2): return try await state(String(parts[1]), query)
            case ("ingest", 1): return ingest()
            default:
                return ReceiverResponder.error(.notFound, "no resource \(request.uri.path); see docs/http.md")
            }
        } catch let error as APIError {
            return error.response
        } catch {
            return APIError(error).response
        }
    }

    // MARK: Streams

    /// `GET /api/streams[?all=true]`: user streams (with `all`, internal ones too) with totals.
    private func streams(_ query: Query) async throws -> Response {
        let all = try query.bool("all") ?? false
        let store = core.store
        let bytes = try await onReads { () throws -> [UInt8] in
            let infos = try store.streams()
            let stats = try store.stats()
            var byName: [String: StreamStats] = [:]
            for s in stats { byName[s.name] = s }
            var json = JSONText(capacity: 512 * infos.count + 64)
            json.beginObject()
            json.key("streams")
            json.beginArray()
            for info in infos where all || !StreamKinds.isInternal(info.descriptor) {
                let dead = byName[info.descriptor.name + ".dead"]?.records
                Self.write(info, stats: byName[info.descriptor.name], deadLetters: dead, to: &json)
            }
            json.endArray()
            json.key("usedBytes")
            json.integer(store.usedBytes)
            json.endObject()
            return json.bytes
        }
        return ReceiverResponder.json(.ok, bytes)
    }

    /// `GET /api/streams/NAME`: one stream with its totals.
    private func stream(_ name: String) async throws -> Response {
        let store = core.store
        let bytes = try await onReads { () throws -> [UInt8] in
            let info = try store.info(of: name)
            let stats = try store.stats(of: name).first
            let dead = try store.streams().contains { $0.descriptor.name == name + ".dead" }
                ? try store.stats(of: name + ".dead").first?.records : nil
            var json = JSONText()
            Self.write(info, stats: stats, deadLetters: dead, to: &json)
            return json.bytes
        }
        return ReceiverResponder.json(.ok, bytes)
    }

    /// `GET /api/streams/NAME/intervals[?from=T1&to=T2]`: records and bytes per interval, empty
    /// intervals included; by default the last 120 sealed intervals.
    private func intervals(_ name: String, _ query: Query) async throws -> Response {
        let store = core.store
        let zone = query["zone"] ?? "UTC", day = query["day"]
        let from = query["from"], to = query["to"]
        let bytes = try await onReads { () throws -> [UInt8] in
            let info = try store.info(of: name)
            let d = info.descriptor
            var json = JSONText(capacity: 4096)
            json.beginObject()
            guard let sealed = info.frontier.sealedThrough, let first = info.frontier.firstReadable else {
                json.key("intervalNanoseconds")
                json.integer(d.intervalLength.rawValue)
                json.key("intervals")
                json.beginArray()
                json.endArray()
                json.key("stream")
                json.string(name)
                json.endObject()
                return json.bytes
            }
            let range: ClosedRange<Interval>
            if from != nil || to != nil {
                let range0 = try SliceRange(from: from ?? String(first.rawValue), to: to ?? String(sealed.rawValue),
                                            zone: zone, on: day)
                range = try range0.intervals(length: d.intervalLength, newestSealed: sealed, stream: name)
            } else {
                let start = sealed.rawValue >= 119 ? Interval(sealed.rawValue - 119) : Interval(0)
                range = max(start, first)...sealed
            }
            // Only what is sealed and retained exists; the rest of the range is clipped.
            let low = max(range.lowerBound, first), high = min(range.upperBound, sealed)
            // `high − low + 1` would pass UInt64.max for the whole index space (a stream from
            // interval 0 sealed through the last index): the difference is compared.
            let span = high >= low ? high.rawValue - low.rawValue : nil
            guard (span ?? 0) < Self.maxIntervalsListed else {
                let held = span.map { $0 < UInt64.max ? "\($0 + 1)" : "18446744073709551616" } ?? "0"
                throw APIError.badRequest("the range holds \(held) intervals; at most \(Self.maxIntervalsListed) "
                                          + "are listed at once: narrow from/to")
            }
            let count = span.map { $0 + 1 } ?? 0
            let seals = count == 0 ? [] : try store.sealRecords(of: name, in: low...high)
            json.key("first")
            json.integer(count == 0 ? nil : low.rawValue)
            json.key("intervalNanoseconds")
            json.integer(d.intervalLength.rawValue)
            json.key("intervals")
            json.beginArray()
            if count > 0 {
                var next = seals.startIndex
                var t = low
                while true {
                    json.beginObject()
                    json.key("interval")
                    json.integer(t.rawValue)
                    var records: UInt64 = 0, raw: UInt64 = 0, stored: UInt64 = 0
                    if next < seals.endIndex, seals[next].0 == t {
                        records = seals[next].1.records
                        raw = seals[next].1.rawBytes
                        stored = seals[next].1.storedBytes
                        next += 1
                    }
                    json.key("rawBytes")
                    json.integer(raw)
                    json.key("records")
                    json.integer(records)
                    json.key("storedBytes")
                    json.integer(stored)
                    json.key("time")
                    json.string(ISOTime.string(d.intervalLength.start(of: t)))
                    json.endObject()
                    if t >= high { break }
                    t = t.next
                }
            }
            json.endArray()
            json.key("last")
            json.integer(count == 0 ? nil : high.rawValue)
            json.key("sealedThrough")
            json.integer(sealed.rawValue)
            json.key("stream")
            json.string(name)
            json.endObject()
            return json.bytes
        }
        return ReceiverResponder.json(.ok, bytes)
    }

    /// `GET /api/streams/NAME/resolve?t=T`: the interval a time names, and its start.
    private func resolve(_ name: String, _ query: Query) async throws -> Response {
        guard let text = query["t"] else { throw APIError.badRequest("give the time to resolve: ?t=T") }
        let store = core.store
        let zone = query["zone"] ?? "UTC", day = query["day"]
        let bytes = try await onReads { () throws -> [UInt8] in
            let info = try store.info(of: name)
            let t = try Self.interval(text, of: info, zone: zone, day: day)
            var json = JSONText()
            json.beginObject()
            json.key("interval")
            json.integer(t.rawValue)
            json.key("sealed")
            json.bool(info.frontier.sealedThrough.map { t <= $0 } ?? false)
            json.key("time")
            json.string(ISOTime.string(info.descriptor.intervalLength.start(of: t)))
            json.endObject()
            return json.bytes
        }
        return ReceiverResponder.json(.ok, bytes)
    }

    // MARK: Records

    /// What a records request asks for.
    struct RecordsRequest: Sendable {
        var range: ClosedRange<Interval>
        var partition: PartitionIndex?
        var key: String?
        var field: String?
        var limit: Int?
    }

    /// `GET /api/streams/NAME/records?interval=T | from=T1&to=T2 [&partition=P][&key=K][&limit=N]`:
    /// JSON lines `{"interval":T,"partition":P,"record":R}`, in log order, streamed an interval at a time.
    private func records(_ name: String, _ query: Query) async throws -> Response {
        let store = core.store
        let zone = query["zone"] ?? "UTC", day = query["day"]
        let single = query["interval"], from = query["from"], to = query["to"]
        let partition = try query.integer("partition")
        let limit = try query.integer("limit")
        if let limit, limit < 0 { throw APIError.badRequest("limit must not be negative, not \(limit)") }
        let key = query["key"], field = query["field"]
        let (info, plan) = try await onReads { () throws -> (StreamInfo, RecordsRequest) in
            let info = try store.info(of: name)
            let d = info.descriptor
            let range: ClosedRange<Interval>
            switch (single, from, to) {
            case (.some(let t), nil, nil):
                let interval = try Self.interval(t, of: info, zone: zone, day: day)
                range = interval...interval
            case (nil, .some, _), (nil, _, .some):
                guard let sealed = info.frontier.sealedThrough, let first = info.frontier.firstReadable else {
                    throw APIError.notFound("stream \(name) has no sealed interval yet")
                }
                range = try SliceRange(from: from ?? String(first.rawValue), to: to ?? String(sealed.rawValue),
                                       zone: zone, on: day)
                    .intervals(length: d.intervalLength, newestSealed: sealed, stream: name)
            case (nil, nil, nil):
                throw APIError.badRequest("give the intervals: ?interval=T, or ?from=T1&to=T2")
            default:
                throw APIError.badRequest("give either interval or from/to, not both")
            }
            var p: PartitionIndex?
            if let partition {
                guard partition >= 0, partition < Int(d.partitions) else {
                    throw APIError.badRequest("partition \(partition) is out of range: stream \(name) has "
                                              + "\(d.partitions) partitions (0–\(d.partitions - 1))")
                }
                p = PartitionIndex(UInt32(partition))
            }
            if key != nil, d.recordType == JSONRecord.recordTypeName, (field ?? d.keyField) == nil {
                throw APIError.badRequest("stream \(name) has no key field: give the field the key is in with "
                                          + "?field=NAME")
            }
            try Self.checkReadable(range, of: info)
            return (info, RecordsRequest(range: range, partition: p, key: key, field: field ?? d.keyField, limit: limit))
        }
        guard let type = ServableRecordTypes.type(named: info.descriptor.recordType) else {
            throw APIError.badRequest("stream \(name) holds records of type \(info.descriptor.recordType), which the "
                                      + "API cannot serve; it serves \(ServableRecordTypes.summary)")
        }
        if key != nil, type != JSONRecord.self, !(type is any KeyedJSONServable.Type) {
            throw APIError.badRequest("stream \(name) holds \(info.descriptor.recordType) records, which have no key")
        }
        return recordsResponse(type, stream: name, plan: plan)
    }

    private func recordsResponse<Record: JSONServable>(_ type: Record.Type, stream name: String,
                                                       plan: RecordsRequest) -> Response {
        let store = core.store
        let reads = core.reads
        let body = ResponseBody { writer in
            var t = plan.range.lowerBound
            var remaining = plan.limit ?? Int.max
            while remaining > 0 {
                let current = t
                let budget = remaining
                let chunk: Result<([UInt8], Int), any Error> = await withCheckedContinuation { continuation in
                    reads.async {
                        continuation.resume(returning: Result {
                            let stored = try store.stream(named: name, of: Record.self)
                            return try RecordLines.encode(stored, interval: current, plan: plan, limit: budget)
                        })
                    }
                }
                switch chunk {
                case .success(let (bytes, count)):
                    remaining -= count
                    if !bytes.isEmpty { try await writer.write(ByteBuffer(bytes: bytes)) }
                case .failure(let error):
                    // The status went out with the first interval: the error ends the lines.
                    var json = JSONText()
                    json.beginObject()
                    json.key("error")
                    json.string(APIError(error).message)
                    json.endObject()
                    try await writer.write(ByteBuffer(bytes: json.bytes + [0x0A]))
                    remaining = 0
                }
                if current >= plan.range.upperBound { break }
                t = current.next
            }
            try await writer.finish(nil)
        }
        var response = Response(status: .ok, body: body)
        response.headers[.contentType] = "application/x-ndjson"
        return response
    }

    /// `GET /api/streams/NAME/tail[?from=T][&intervals=N][&partition=P][&key=K]`: the records of each
    /// interval as it is sealed, as JSON lines, until the client goes, `intervals` intervals were
    /// sent, or the server stops.
    private func tail(_ name: String, _ query: Query) async throws -> Response {
        let store = core.store
        let zone = query["zone"] ?? "UTC", day = query["day"]
        let from = query["from"]
        let maxIntervals = try query.integer("intervals")
        let partition = try query.integer("partition")
        let key = query["key"], field = query["field"]
        let info = try await onReads { () throws -> StreamInfo in try store.info(of: name) }
        let d = info.descriptor
        guard let type = ServableRecordTypes.type(named: d.recordType) else {
            throw APIError.badRequest("stream \(name) holds records of type \(d.recordType), which the API cannot "
                                      + "serve; it serves \(ServableRecordTypes.summary)")
        }
        var p: PartitionIndex?
        if let partition {
            guard partition >= 0, partition < Int(d.partitions) else {
                throw APIError.badRequest("partition \(partition) is out of range: stream \(name) has \(d.partitions) "
                                          + "partitions")
            }
            p = PartitionIndex(UInt32(partition))
        }
        let start: Interval
        var intervalsLeft = maxIntervals
        if let from {
            start = try await onReads { () throws -> Interval in try Self.interval(from, of: info, zone: zone, day: day) }
        } else if let sealed = info.frontier.sealedThrough, sealed.rawValue == UInt64.max {
            // Sealed through the last interval index: no interval follows it, the tail ends at once.
            start = sealed
            intervalsLeft = 0
        } else {
            start = info.frontier.sealedThrough?.next ?? info.frontier.firstReadable ?? Interval(0)
        }
        let plan = RecordsRequest(range: start...start, partition: p, key: key, field: field ?? d.keyField, limit: nil)
        return tailResponse(type, stream: name, plan: plan, maxIntervals: intervalsLeft)
    }

    private func tailResponse<Record: JSONServable>(_ type: Record.Type, stream name: String, plan: RecordsRequest,
                                                    maxIntervals: Int?) -> Response {
        let store = core.store
        let reads = core.reads
        let stopping = core.stopping
        let body = ResponseBody { writer in
            var next = plan.range.lowerBound
            var sent = 0
            intervals: while !stopping.isSet, sent < (maxIntervals ?? Int.max) {
                let current = next
                let outcome: Result<(bytes: [UInt8], sealed: Bool, skipTo: Interval?), any Error> =
                    await withCheckedContinuation { continuation in
                        reads.async {
                            continuation.resume(returning: Result {
                                let stored = try store.stream(named: name, of: Record.self)
                                let frontier = try stored.frontier()
                                guard let sealed = frontier.sealedThrough, current <= sealed else {
                                    return ([], false, nil)
                                }
                                if let first = frontier.firstReadable, current < first { return ([], false, first) }
                                return (try RecordLines.encode(stored, interval: current, plan: plan, limit: .max).0,
                                        true, nil)
                            })
                        }
                    }
                switch outcome {
                case .success(let result):
                    if let skip = result.skipTo {
                        next = skip
                    } else if result.sealed {
                        if !result.bytes.isEmpty { try await writer.write(ByteBuffer(bytes: result.bytes)) }
                        sent += 1
                        // No interval follows the last index: `next` would wrap to 0 and send the stream again.
                        if current.rawValue == UInt64.max { break intervals }
                        next = current.next
                    } else {
                        try? await Task.sleep(for: Self.tailPoll)
                    }
                case .failure(let error):
                    var json = JSONText()
                    json.beginObject()
                    json.key("error")
                    json.string(APIError(error).message)
                    json.endObject()
                    try await writer.write(ByteBuffer(bytes: json.bytes + [0x0A]))
                    try await writer.finish(nil)
                    return
                }
            }
            try await writer.finish(nil)
        }
        var response = Response(status: .ok, body: body)
        response.headers[.contentType] = "application/x-ndjson"
        response.headers[.cacheControl] = "no-store"
        return response
    }

    // MARK: Programs

    /// `GET /api/programs` and `GET /api/programs/NAME`: every program (or one) with its vertices:
    /// progress, lag, snapshots, recoveries, retries, speculative copies, inputs, outputs, state.
    private func programs(_ name: String?) async throws -> Response {
        let store = core.store
        let bytes = try await onReads { () throws -> [UInt8] in
            let statuses = try store.programStatus(program: name)
            if let name, statuses.isEmpty { throw APIError.notFound("no program \(name) has committed anything") }
            // Which streams hold a stateful vertex's state (its output, or a saved copy of it).
            var stateStreams: [String: [String]] = [:]
            var lengths: [String: IntervalLength] = [:]
            for info in try store.streams() {
                lengths[info.descriptor.name] = info.descriptor.intervalLength
                if let state = try store.stateDescriptor(of: info.descriptor.name) {
                    stateStreams[state.vertex, default: []].append(info.descriptor.name)
                }
            }
            var json = JSONText(capacity: 4096)
            json.beginObject()
            json.key("programs")
            json.beginArray()
            var index = statuses.startIndex
            while index < statuses.endIndex {
                let program = statuses[index].program
                json.beginObject()
                json.key("name")
                json.string(program)
                json.key("vertices")
                json.beginArray()
                while index < statuses.endIndex, statuses[index].program == program {
                    let status = statuses[index]
                    let stats = try store.vertexStats(of: status.vertex)
                    let states = stateStreams[status.vertex] ?? []
                    let inputs = stats?.inputs ?? []
                    json.beginObject()
                    json.key("inputs")
                    json.beginArray()
                    for input in inputs { json.string(input) }
                    json.endArray()
                    json.key("lag")
                    json.integer(status.lag)
                    json.key("lastSnapshot")
                    json.integer(status.lastSnapshot?.rawValue)
                    json.key("name")
                    json.string(status.vertex)
                    json.key("outputs")
                    json.beginArray()
                    for output in stats?.outputs ?? [] { json.string(output) }
                    json.endArray()
                    json.key("progress")
                    json.integer(status.progress.rawValue)
                    json.key("progressTime")
                    if let length = inputs.lazy.compactMap({ lengths[$0] }).first {
                        json.string(ISOTime.string(length.start(of: status.progress)))
                    } else {
                        json.null()
                    }
                    json.key("lastStart")
                    json.string(Self.startName(status.lastStart))
                    json.key("lastStartProgress")
                    json.integer(status.lastStartProgress?.rawValue)
                    json.key("recoveries")
                    json.integer(status.recoveries)
                    json.key("restartsAfterFailure")
                    json.integer(status.restartsAfterFailure)
                    json.key("resumes")
                    json.integer(status.resumes)
                    json.key("retries")
                    json.integer(status.retries)
                    json.key("runState")
                    json.string(Self.runStateName(status.runState))
                    json.key("snapshots")
                    json.integer(status.snapshotsWritten)
                    json.key("speculativeLaunches")
                    json.integer(status.speculativeLaunches)
                    json.key("speculativePer100Intervals")
                    if let rate = status.speculativePer100Intervals { json.number(rate) } else { json.null() }
                    json.key("speculativeWins")
                    json.integer(status.speculativeWins)
                    json.key("stateStreams")
                    json.beginArray()
                    for stream in states { json.string(stream) }
                    json.endArray()
                    json.key("stateRestores")
                    json.integer(status.stateRestores)
                    json.key("stateful")
                    json.bool(!states.isEmpty || status.lastSnapshot != nil)
                    json.endObject()
                    index += 1
                }
                json.endArray()
                json.endObject()
            }
            json.endArray()
            json.endObject()
            return json.bytes
        }
        return ReceiverResponder.json(.ok, bytes)
    }

    /// The JSON name of how a vertex's latest run began (as `strata status --json`).
    static func startName(_ start: VertexStart) -> String? {
        switch start {
        case .first: "first"
        case .resumed: "resumed"
        case .afterCrash: "crash-recovery"
        case .afterFailure: "restart-after-failure"
        case .afterUnknown: "not-recorded"
        case .unknown: nil
        }
    }

    /// The JSON name of a vertex's recorded run state.
    static func runStateName(_ state: VertexRunState) -> String? {
        switch state {
        case .unknown: nil
        case .running: "running"
        case .stoppedCleanly: "stopped"
        case .failed: "failed"
        }
    }

    /// `GET /api/programs/NAME/timings[?last=N]`: per vertex, the timings of its newest processed
    /// intervals (at most `N`, default and maximum 256), oldest first, from the rows the engine
    /// keeps in the store: so they are there for a program another process runs.
    private func timings(_ name: String, _ query: Query) async throws -> Response {
        let store = core.store
        let last = try query.integer("last") ?? Int(VertexTiming.slots)
        guard (1...Int(VertexTiming.slots)).contains(last) else {
            throw APIError.badRequest("last must be from 1 to \(VertexTiming.slots), not \(last)")
        }
        let bytes = try await onReads { () throws -> [UInt8] in
            let statuses = try store.programStatus(program: name)
            if statuses.isEmpty { throw APIError.notFound("no program \(name) has committed anything") }
            var json = JSONText(capacity: 16384)
            json.beginObject()
            json.key("program")
            json.string(name)
            json.key("vertices")
            json.beginArray()
            for status in statuses {
                json.beginObject()
                json.key("name")
                json.string(status.vertex)
                json.key("timings")
                json.beginArray()
                for timing in try store.vertexTimings(of: status.vertex).suffix(last) {
                    json.beginObject()
                    json.key("interval")
                    json.integer(timing.interval.rawValue)
                    json.key("processingMs")
                    json.number(Double(timing.processingNanoseconds) / 1e6)
                    json.key("recordsIn")
                    json.integer(timing.recordsIn)
                    json.key("recordsOut")
                    json.integer(timing.recordsOut)
                    json.key("retries")
                    json.integer(timing.retries)
                    json.key("schedulingDelayMs")
                    json.number(Double(timing.schedulingDelayNanoseconds) / 1e6)
                    json.key("speculativeLaunches")
                    json.integer(timing.speculativeLaunches)
                    json.key("speculativeWins")
                    json.integer(timing.speculativeWins)
                    json.key("time")
                    if let length = status.intervalLength {
                        json.string(ISOTime.string(length.start(of: timing.interval)))
                    } else {
                        json.null()
                    }
                    json.endObject()
                }
                json.endArray()
                json.endObject()
            }
            json.endArray()
            json.endObject()
            return json.bytes
        }
        return ReceiverResponder.json(.ok, bytes)
    }

    // MARK: State

    /// `GET /api/state/NAME?as-of=T[&key=K | &top=N]`: the state behind a stateful output as of an
    /// interval: one key, the top `N` keys by value (numeric values; else the first `N` in key
    /// order), or the whole state (at most 10 000 entries).
    private func state(_ name: String, _ query: Query) async throws -> Response {
        let store = core.store
        let zone = query["zone"] ?? "UTC", day = query["day"]
        let asOf = query["as-of"]
        let key = query["key"]
        let top = try query.integer("top")
        if let top, top < 1 { throw APIError.badRequest("top must be at least 1, not \(top)") }
        let bytes = try await onReads { () throws -> [UInt8] in
            guard let descriptor = try store.stateDescriptor(of: name) else {
                _ = try store.info(of: name)
                throw APIError.notFound("stream \(name) is not written by a stateful vertex: it has no state")
            }
            let info = try store.info(of: name)
            guard let sealed = info.frontier.sealedThrough else {
                throw APIError.notFound("stream \(name) has no sealed interval yet")
            }
            let t = try asOf.map { try Self.interval($0, of: info, zone: zone, day: day) } ?? sealed
            guard let keyType = ServableRecordTypes.keyTypes.first(where: { $0.recordTypeName == descriptor.keyType })
                    as? any StateKey.Type,
                  let valueType = ServableRecordTypes.valueTypes.first(where: {
                      $0.recordTypeName == descriptor.valueType })
            else {
                throw APIError.badRequest("the state of \(name) maps \(descriptor.keyType) to \(descriptor.valueType), "
                                          + "which the API cannot serve")
            }
            return try StateLookup.run(keyType, valueType, store: store, stream: name, asOf: t,
                                       length: info.descriptor.intervalLength, key: key, top: top)
        }
        return ReceiverResponder.json(.ok, bytes)
    }

    // MARK: Ingest

    /// `GET /api/ingest`: the receiver's and directory sources' counters, as JSON.
    private func ingest() -> Response {
        let m = core.metrics
        var json = JSONText()
        json.beginObject()
        json.key("backpressureWaits")
        json.integer(m.backpressureWaits)
        json.key("blankLines")
        json.integer(m.blankLines)
        json.key("bodyBytes")
        json.integer(m.bodyBytes)
        json.key("commits")
        json.integer(m.commits)
        json.key("deadLetters")
        json.integer(m.deadLetters)
        json.key("fileBytes")
        json.integer(m.fileBytes)
        json.key("filesRead")
        json.integer(m.filesRead)
        json.key("filesShrunk")
        json.integer(m.filesShrunk)
        json.key("queuedBytes")
        json.integer(m.queuedBytes)
        json.key("recordsAccepted")
        json.integer(m.recordsAccepted)
        json.key("recordsLate")
        json.integer(m.recordsLate)
        json.key("recordsRejected")
        json.integer(m.recordsRejected)
        json.key("responses")
        json.beginObject()
        for code in m.responses.keys.sorted() {
            json.key(String(code))
            json.integer(m.responses[code] ?? 0)
        }
        json.endObject()
        json.key("sources")
        json.beginArray()
        for source in core.sources {
            let s = source.metrics
            json.beginObject()
            json.key("directory")
            json.string(source.directory)
            json.key("fileBytes")
            json.integer(s.fileBytes)
            json.key("filesRead")
            json.integer(s.filesRead)
            json.key("recordsAccepted")
            json.integer(s.recordsAccepted)
            json.key("recordsRejected")
            json.integer(s.recordsRejected)
            json.key("stream")
            json.string(source.configuration.stream)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        var response = ReceiverResponder.json(.ok, json.bytes)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    // MARK: Helpers

    /// Runs a store read on the reads queue and returns its result.
    private func onReads<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            core.reads.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// The interval `text` names in the stream of `info` (the CLI's time grammar). A time is the
    /// interval holding it.
    static func interval(_ text: String, of info: StreamInfo, zone: String, day: String?) throws -> Interval {
        if case .interval(let t) = try SliceBound(parsing: text) { return t }
        let d = info.descriptor
        guard let sealed = info.frontier.sealedThrough else {
            throw APIError.notFound("stream \(d.name) has no sealed interval yet, so \(text) names none of its intervals")
        }
        do {
            let range = try SliceRange(from: text, to: String(sealed.rawValue), zone: zone, on: day)
            return try range.intervals(length: d.intervalLength, newestSealed: sealed, stream: d.name).lowerBound
        } catch .emptyRange {
            throw APIError.notFound("\(text) is after stream \(d.name)'s newest sealed interval, \(sealed) "
                                    + "(\(ISOTime.string(d.intervalLength.start(of: sealed))))")
        }
    }

    /// Throws when part of `range` is not sealed, retained, or is before the stream began.
    static func checkReadable(_ range: ClosedRange<Interval>, of info: StreamInfo) throws {
        let d = info.descriptor, f = info.frontier
        guard let sealed = f.sealedThrough, range.upperBound <= sealed else {
            let newest = f.sealedThrough.map { "\($0)" } ?? "none"
            throw APIError.notFound("stream \(d.name): interval \(range.upperBound) is not sealed yet "
                                    + "(newest sealed: \(newest))")
        }
        if let first = f.firstReadable, range.lowerBound < first {
            throw APIError.notFound("stream \(d.name): interval \(range.lowerBound) is before the first readable "
                                    + "interval, \(first) (not retained, or before the stream began)")
        }
    }

    /// A stream as JSON: settings, frontier, totals.
    static func write(_ info: StreamInfo, stats: StreamStats?, deadLetters: UInt64?, to json: inout JSONText) {
        let d = info.descriptor, f = info.frontier
        json.beginObject()
        json.key("deadLetters")
        json.integer(deadLetters ?? 0)
        json.key("firstReadable")
        json.integer(f.firstReadable?.rawValue)
        json.key("firstReadableTime")
        json.string(f.firstReadable.map { ISOTime.string(d.intervalLength.start(of: $0)) })
        json.key("internal")
        json.bool(StreamKinds.isInternal(d))
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
        json.key("name")
        json.string(d.name)
        json.key("partitions")
        json.integer(d.partitions)
        json.key("retention")
        json.string(d.retention.description)
        json.key("sealedThrough")
        json.integer(f.sealedThrough?.rawValue)
        json.key("sealedThroughTime")
        json.string(f.sealedThrough.map { ISOTime.string(d.intervalLength.start(of: $0)) })
        if let stats {
            json.key("stats")
            json.beginObject()
            json.key("compressionRatio")
            json.number(stats.compressionRatio)
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
        json.key("type")
        json.string(d.recordType)
        json.endObject()
    }
}

/// Which streams are the store's own rather than a user's.
enum StreamKinds {
    /// Late side streams, dead letters, and streams a program's vertices write under their
    /// internal names (`PROGRAM.vN.…`).
    static func isInternal(_ d: StreamDescriptor) -> Bool {
        if d.lateRecordsOf != nil || d.name.hasSuffix(".dead") { return true }
        for part in d.name.split(separator: ".").dropFirst() {
            if part.count > 1, part.first == "v", part.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) {
                return true
            }
        }
        return false
    }
}

/// Query parameters, checked.
struct Query: Sendable {
    private var values: [String: String] = [:]

    init(_ parameters: FlatDictionary<Substring, Substring>) {
        for (key, value) in parameters where values[String(key)] == nil { values[String(key)] = String(value) }
    }

    subscript(name: String) -> String? { values[name].flatMap { $0.isEmpty ? nil : $0 } }

    /// A whole number, or `nil` when absent.
    func integer(_ name: String) throws(APIError) -> Int? {
        guard let text = self[name] else { return nil }
        guard let value = Int(text) else { throw .badRequest("\(name) must be a whole number, not \(text)") }
        return value
    }

    /// `true`/`false`/`1`/`0`, or `nil` when absent.
    func bool(_ name: String) throws(APIError) -> Bool? {
        guard let text = self[name] else { return nil }
        switch text {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw .badRequest("\(name) must be true or false, not \(text)")
        }
    }
}
