import Foundation
import Strata
import StrataServer
import StrataTestSupport

/// A receiver running on 127.0.0.1 with an ephemeral port, over a store in a fresh directory.
struct ReceiverHarness: Sendable {
    let directory: TemporaryDirectory
    let store: Store
    let receiver: IngestReceiver
    let port: Int
    let running: Task<Void, any Error>

    /// Starts a receiver; `configure` adjusts its configuration (the port is always 0); `prepare`
    /// runs first with the store's path (to have another process write the store).
    static func start(durability: Durability = .groupCommit, _ configure: (inout ReceiverConfiguration) -> Void = { _ in },
                      sources: (Store, TemporaryDirectory) throws -> [DirectorySource] = { _, _ in [] },
                      prepare: @escaping @Sendable (String) throws -> Void = { _ in }) async throws
        -> ReceiverHarness
    {
        let directory = try TemporaryDirectory(prefix: "strata-server")
        let path = directory.appending("store")
        try await onOwnThread { try prepare(path) }
        let store = try Store(at: directory.appending("store"), options: StoreOptions(durability: durability))
        var configuration = ReceiverConfiguration()
        configure(&configuration)
        configuration.port = 0
        let receiver = IngestReceiver(store: store, configuration: configuration, sources: try sources(store, directory))
        // The server's tasks (Hummingbird's connection handlers are child tasks) run on threads of
        // their own: on the cooperative pool they would wait behind the synchronous tests that
        // fill it under the whole suite, minutes per request on two cores. Hummingbird's graceful
        // shutdown starts an unstructured task, which does run on the pool: at a high priority it
        // goes before the tests queued there.
        let running = Task(executorPreference: OwnThreadExecutor(), priority: .high) { try await receiver.run() }
        let port = try await receiver.listeningPort()
        return ReceiverHarness(directory: directory, store: store, receiver: receiver, port: port, running: running)
    }

    /// Shuts the receiver down gracefully and waits for `run()` to return.
    func stop() async throws {
        await receiver.shutdown()
        try await running.value
    }

    /// Posts `body` to `/streams/NAME?QUERY` on a new connection.
    func post(_ stream: String, query: String = "", _ body: String, headers: [String: String] = [:]) async throws -> HTTPResult {
        try await exchange(port: port, "POST", "/streams/\(stream)" + (query.isEmpty ? "" : "?" + query), body: body,
                           headers: headers)
    }

    func get(_ target: String, headers: [String: String] = [:]) async throws -> HTTPResult {
        try await exchange(port: port, "GET", target, headers: headers)
    }
}

/// Seals every interval of `stream` up to `through` (with an appender of its own, once its
/// writers are done) and returns every record's text, in log order.
func sealAndRead(_ stream: String, in store: Store, through: Interval) throws -> [String] {
    let handle = try store.stream(named: stream, of: JSONRecord.self)
    try handle.explicitAppender().seal(through: through)
    return try readSealed(stream, in: store)
}

/// Every record of `stream`'s readable sealed intervals, in log order.
func readSealed(_ stream: String, in store: Store) throws -> [String] {
    let handle = try store.stream(named: stream, of: JSONRecord.self)
    let frontier = try handle.frontier()
    guard let first = frontier.firstReadable, let last = frontier.sealedThrough else { return [] }
    var records: [String] = []
    try handle.forEach(in: first...last) { _, _, record in records.append(record.text) }
    return records
}

/// The interval of `stream` that contains now: arrival-time records are at or before it.
func currentInterval(of stream: String, in store: Store) throws -> Interval {
    let descriptor = try store.info(of: stream).descriptor
    return descriptor.intervalLength.interval(containing: ArrivalClock.system.now()) ?? Interval(0)
}

/// Dead letters of `stream` (sealing through now first), decoded.
func deadLetters(of stream: String, in store: Store) throws -> [[String: Any]] {
    let name = SideStreams.deadLetters(of: stream)
    return try sealAndRead(name, in: store, through: currentInterval(of: name, in: store)).map { text in
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestFailure("dead letter is not an object: \(text)")
        }
        return object
    }
}

/// JSON lines `{"ts":T,"seq":N}` with `T` in seconds: `count` records from `first`, `perInterval` per second.
func numberedLines(_ count: Int, from first: Int = 0, startSecond: Int = 1_000, perInterval: Int = 100) -> String {
    var text = ""
    for seq in first..<first + count { text += "{\"ts\":\(startSecond + seq / perInterval),\"seq\":\(seq)}\n" }
    return text
}
