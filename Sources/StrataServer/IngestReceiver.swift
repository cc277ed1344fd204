import Dispatch
import Glibc
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Strata
import Synchronization

/// An HTTP receiver that appends JSON lines to a store's streams, and runs directory sources
/// beside it.
///
/// `POST /streams/NAME` with a body of JSON lines appends them to the JSON stream `NAME`
/// (creating it from the query parameters `interval`, `partitions`, `time-field`, `key-field`,
/// `time-unit` when absent) and answers once they are durable under the store's durability
/// setting, with a summary: lines, accepted, rejected (each sent to the dead-letter stream
/// `NAME.dead`), late, blank, and the intervals touched. `GET /streams` and `GET /streams/NAME`
/// describe streams; `GET /metrics` serves counters. The HTTP API is in `docs/ingest.md`.
///
/// ```swift
/// let store = try Store(at: "events.strata")
/// var configuration = ReceiverConfiguration()
/// configuration.port = 0
/// let receiver = IngestReceiver(store: store, configuration: configuration)
/// async let running: Void = receiver.run()
/// let port = try await receiver.listeningPort()
/// // … POST to http://127.0.0.1:\(port)/streams/events …
/// await receiver.shutdown()
/// try await running
/// ```
///
/// **Where work runs.** Hummingbird's event loops read sockets; handlers (on the cooperative
/// pool) collect a request's body and hand it to its stream's worker, which appends and commits
/// on a serial queue of its own and answers many requests with one commit (group commit).
///
/// **Limits and back-pressure.** Bodies over `maxBodyBytes`, and bodies holding a line over
/// `maxRecordBytes`, get 413 and nothing of them is stored. At most `maxConnections` connections
/// are served; more wait in the listen backlog. When a stream's worker falls behind, its
/// requests stop reading their sockets once `maxQueuedBytesPerStream` bytes wait.
///
/// **Shutdown.** `shutdown()` (or SIGTERM/SIGINT with `shutsDownOnTerminationSignals`) stops
/// accepting connections, lets requests being read finish and be acknowledged, commits, stops
/// the directory sources after their last commit, and makes `run()` return.
///
/// `IngestReceiver` is `Sendable`; `shutdown()`, `listeningPort()` and `metrics` may be called
/// from any task.
public final class IngestReceiver: Sendable {
    private enum Phase {
        case idle
        case running
        case finished
    }

    private struct Lifecycle {
        var phase = Phase.idle
        var shutdownRequested = false
        var group: ServiceGroup?
        var port: Int?
        var portFailure: ReceiverError?
        var portWaiters: [CheckedContinuation<Int, any Error>] = []
    }

    /// The store written to.
    public let store: Store
    /// How the receiver listens and what it accepts.
    public let configuration: ReceiverConfiguration
    /// The directory sources run with the receiver.
    public let sources: [DirectorySource]
    private let core: ReceiverCore
    private let lifecycle = Mutex(Lifecycle())
    /// Where the receiver logs (listening, shutdown, source failures, and Hummingbird's warnings).
    private let logger: Logger

    /// A receiver for `store`; nothing listens before `run()`.
    ///
    /// - Parameters:
    ///   - sources: Directory sources to run, and stop, with the receiver. A stream a source
    ///     writes cannot be written over HTTP (409).
    ///   - metricsRegistry: The registry `GET /metrics` exports: the one behind the process's
    ///     swift-metrics backend (`StrataMetrics.bootstrapPrometheus()`), so that storage and
    ///     engine metrics are exported too. `nil`: a registry of the receiver's own metrics only.
    ///   - logger: Where the receiver logs (swift-log); default: warnings and errors on standard error.
    public init(store: Store, configuration: ReceiverConfiguration = ReceiverConfiguration(),
                sources: [DirectorySource] = [], metricsRegistry: PrometheusCollectorRegistry? = nil,
                logger: Logger? = nil) {
        self.logger = logger ?? Self.defaultLogger
        self.store = store
        self.configuration = configuration
        self.sources = sources
        core = ReceiverCore(store: store, configuration: configuration, sources: sources,
                            metricsRegistry: metricsRegistry ?? PrometheusCollectorRegistry())
    }

    /// What the receiver and its sources have done since they started.
    public var metrics: ReceiverMetrics { core.metrics }

    /// Serves HTTP (unless `servesHTTP` is off) and runs the directory sources until
    /// `shutdown()`, a termination signal (with `shutsDownOnTerminationSignals`), or the end of
    /// every source when there is no HTTP; then commits and returns.
    ///
    /// - Throws: `ReceiverError.invalidArgument` for a bad configuration, `.bindFailed` when the
    ///   address cannot be bound, `.notRunnable` when called twice, or the first error of a
    ///   source (the others are then shut down too).
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await runUntilStopped()
        } onGracefulShutdown: { [self] in
            Task { await self.shutdown() }
        }
    }

    /// Warnings and errors on standard error.
    private static var defaultLogger: Logger {
        var logger = Logger(label: "strata.receiver", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        return logger
    }

    private func runUntilStopped() async throws {
        try configuration.validate()
        let started = lifecycle.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            state.phase = .running
            return true
        }
        guard started else { throw ReceiverError.notRunnable("a receiver runs only once") }
        let signals = configuration.shutsDownOnTerminationSignals ? installSignalHandlers() : []
        let logger = self.logger
        var group: ServiceGroup?
        if configuration.servesHTTP {
            let maxBodyBytes = configuration.maxBodyBytes
            let app = Application(
                responder: ReceiverResponder(core: core),
                server: .http1(configuration: HTTP1Channel.Configuration(
                    additionalChannelHandlers: [ExpectContinueHandler(maxBodyBytes: maxBodyBytes)])),
                configuration: ApplicationConfiguration(
                    address: .hostname(configuration.host, port: configuration.port),
                    serverName: nil,
                    availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections, logger: logger)),
                onServerRunning: { [self] channel in self.listening(port: channel.localAddress?.port) },
                logger: logger)
            group = ServiceGroup(services: [app], logger: logger)
        }
        let requested = lifecycle.withLock { state -> Bool in
            state.group = group
            return state.shutdownRequested
        }
        if requested { await shutdown() }

        var firstError: (any Error)?
        await withTaskGroup(of: (any Error)?.self) { tasks in
            if let group {
                tasks.addTask { [self] in
                    do {
                        try await group.run()
                        return nil
                    } catch {
                        let bound = lifecycle.withLock { $0.port != nil }
                        if bound { return ReceiverError.notRunnable("the HTTP server stopped: \(error)") }
                        return ReceiverError.bindFailed(host: configuration.host, port: configuration.port,
                                                        reason: Self.bindFailureReason(error))
                    }
                }
            }
            for source in sources {
                tasks.addTask {
                    do {
                        try await source.run()
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            for await error in tasks {
                guard let error, firstError == nil else { continue }
                logger.notice("stopping: \(error)")
                firstError = error
                await shutdown()
            }
        }
        await core.registry.stopAll()
        for source in signals { source.cancel() }
        if !signals.isEmpty { for number in [SIGTERM, SIGINT] { signal(number, SIG_DFL) } }
        let waiters = lifecycle.withLock { state -> [CheckedContinuation<Int, any Error>] in
            state.phase = .finished
            state.group = nil
            if state.port == nil && state.portFailure == nil {
                state.portFailure = (firstError as? ReceiverError) ?? .notRunnable("the receiver stopped before it listened")
            }
            defer { state.portWaiters = [] }
            return state.portWaiters
        }
        let failure = lifecycle.withLock { $0.portFailure ?? .notRunnable("the receiver stopped") }
        for waiter in waiters { waiter.resume(throwing: failure) }
        if let firstError { throw firstError }
    }

    /// The port the receiver listens on, once it does (useful with port 0).
    ///
    /// - Throws: `ReceiverError.bindFailed` or `.notRunnable` when the receiver stopped (or
    ///   failed) before it listened, or does not serve HTTP.
    public func listeningPort() async throws -> Int {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            let known = lifecycle.withLock { state -> Result<Int, ReceiverError>? in
                if let port = state.port { return .success(port) }
                if !configuration.servesHTTP { return .failure(.notRunnable("the receiver does not serve HTTP")) }
                if let failure = state.portFailure { return .failure(failure) }
                if state.phase == .finished { return .failure(.notRunnable("the receiver stopped")) }
                state.portWaiters.append(continuation)
                return nil
            }
            if let known { continuation.resume(with: known.mapError { $0 as any Error }) }
        }
    }

    /// Stops gracefully: no new connections; requests being read are finished and acknowledged;
    /// directory sources commit what they read; then `run()` returns. Returns once the stop is
    /// under way; calling it again, or before `run()`, is harmless.
    public func shutdown() async {
        let group = lifecycle.withLock { state -> ServiceGroup? in
            state.shutdownRequested = true
            return state.group
        }
        core.stopping.set()
        for source in sources { source.shutdown() }
        await group?.triggerGracefulShutdown()
    }

    private func listening(port: Int?) {
        logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(port ?? configuration.port)"])
        let waiters = lifecycle.withLock { state -> [CheckedContinuation<Int, any Error>] in
            state.port = port ?? configuration.port
            defer { state.portWaiters = [] }
            return state.portWaiters
        }
        for waiter in waiters { waiter.resume(returning: port ?? configuration.port) }
    }

    /// Why binding failed, in plain words for the common system errors instead of NIO's text.
    static func bindFailureReason(_ error: any Error) -> String {
        var code: Int32?
        if let error = error as? IOError {
            code = error.errnoCode
        } else {
            // Wrapped (a service group's error): find the errno NIO's text names.
            let text = String(describing: error)
            for (needle, value) in [("errno: 98", EADDRINUSE), ("errno: 13", EACCES), ("errno: 99", EADDRNOTAVAIL)]
            where text.contains(needle) {
                code = value
            }
        }
        switch code {
        case EADDRINUSE?: return "the address is already in use (another server listens there; pick another --port)"
        case EACCES?: return "permission denied (ports below 1024 need privileges)"
        case EADDRNOTAVAIL?: return "the address is not one of this machine's"
        case let code?: return "\(String(cString: strerror(code))) (errno \(code))"
        case nil: return String(describing: error)
        }
    }

    /// Makes SIGTERM and SIGINT shut the receiver down instead of ending the process.
    private func installSignalHandlers() -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "strata.receiver.signals")
        return [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in Task { await self.shutdown() } }
            source.resume()
            return source
        }
    }
}

/// A receiver is a swift-service-lifecycle `Service`: run it in a `ServiceGroup` beside the
/// program's other services; the group's graceful shutdown (or a signal it handles) stops it as
/// `shutdown()` does.
extension IngestReceiver: Service {}
