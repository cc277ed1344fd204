import ArgumentParser
import Dispatch
import Foundation
import Strata
import StrataCluster
import StrataServer
import Synchronization

/// `strata serve`: receives JSON lines over HTTP, and from a watched directory, into the store.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive JSON lines over HTTP and from a watched directory.",
        discussion: """
            POST /streams/NAME with a body of JSON lines appends them to the JSON stream NAME (created from the \
            query parameters interval, partitions, time-field, key-field, time-unit when absent) and answers \
            with a JSON summary once they are durable. GET /streams and GET /streams/NAME describe streams; \
            GET /metrics serves metrics (Prometheus); GET /api/… is the read API (docs/http.md) and / the web \
            console (docs/console.md), on by default on loopback. Malformed lines go to the stream NAME.dead. With --watch DIR, files of \
            JSON lines in DIR are ingested into --watch-stream exactly once, across restarts. SIGTERM or SIGINT \
            stops accepting, acknowledges what was read, and exits. Creates the store when it does not exist. \
            With --nats (cluster mode) every stream is replicated to JetStream as its intervals seal, and a POST is \
            answered 200 only once the intervals its records went into are replicated ("replicated": true); when \
            that takes longer than --replication-timeout it is answered 202 ("replicated": false): stored locally, \
            replicated later, not to be sent again (docs/cluster.md).
            """)

    @OptionGroup var options: StoreArguments

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "The port to listen on; 0 picks a free one (printed on standard error).")
    var port = 7070

    @Option(help: ArgumentHelp(
        "Require Authorization: Bearer TOKEN on every request (default: $STRATA_TOKEN).", valueName: "token"))
    var token: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The largest request body accepted, in bytes.", valueName: "bytes"))
    var maxBodyBytes = 64 << 20

    @Option(parsing: .unconditional, help: ArgumentHelp("The longest line (record) accepted, in bytes.", valueName: "bytes"))
    var maxRecordBytes = 1 << 20

    @Option(parsing: .unconditional, help: ArgumentHelp("The most connections served at once.", valueName: "n"))
    var maxConnections = 1024

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Body bytes per stream read and not yet appended before requests stop reading.", valueName: "bytes"))
    var maxQueuedBytes = 64 << 20

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "For streams with a time field: how far event time may run behind the largest time seen before an "
            + "interval is sealed: 0, 500ms, 2s …", valueName: "duration"))
    var lateness = DurationArgument.zero

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Event-time streams: seal every open interval once no lines have arrived for this long (like Flink's "
            + "idleness): 30s, 5m …", valueName: "duration"))
    var idleSeal: DurationArgument?

    @Option(help: "What each commit survives (see docs/durability.md).")
    var durability: DurabilityArgument = .group

    @Option(help: ArgumentHelp("Ingest the files of JSON lines in this directory.", valueName: "directory"))
    var watch: String?

    @Option(help: ArgumentHelp("The JSON stream the watched directory's lines go to.", valueName: "stream"))
    var watchStream: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Interval length of a new watched stream: 100ms, 1s, 1m … (default 1s).",
                               valueName: "length"))
    var interval: IntervalLengthArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Partitions of a new watched stream, 1–4096 (default 4).", valueName: "n"))
    var partitions: Int?

    @Option(help: ArgumentHelp("The watched stream's event-time field (default: arrival time).", valueName: "field"))
    var timeField: String?

    @Option(help: ArgumentHelp("The watched stream's partition key field (default: round-robin).", valueName: "field"))
    var keyField: String?

    @Option(help: "The unit of a numeric time field (default ms).")
    var timeUnit: TimeUnitArgument?

    @Option(help: ArgumentHelp("Read only the files whose names end with this, such as .jsonl.", valueName: "suffix"))
    var suffix: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("File bytes read between commits of the watched directory.", valueName: "bytes"))
    var commitBytes = 8 << 20

    @Flag(help: "Ingest what the watched directory holds, seal it, and exit (no HTTP).")
    var once = false

    @Flag(name: .customLong("no-http"), help: "Only watch the directory; do not listen.")
    var noHTTP = false

    @Flag(help: "Print each commit of the watched directory on standard error.")
    var progress = false

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp(
        "Serve HTTPS with this PEM certificate chain (with --tls-key).", valueName: "file"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Serve the web console at / (default: on when listening on loopback only)."))
    var console: Bool?

    @Option(name: .customLong("program"), help: ArgumentHelp(
        "Run the continuous SQL query in this file beside ingest; its rows go to the JSON stream named after the "
            + "file (urlCounts.sql → urlCounts). Its input stream must exist. Repeatable.", valueName: "file.sql"))
    var programs: [String] = []

    @OptionGroup(title: "Cluster (replicate to NATS JetStream)") var cluster: NATSArguments

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Cluster mode: how long a POST waits for its intervals to be sealed and replicated before it is answered "
            + "202 instead of 200 (default 30s).", valueName: "duration"))
    var replicationTimeout: DurationArgument?

    /// Throws a usage error naming `path` when it is not an existing directory.
    static func checkWatchedDirectory(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValidationError("--watch \(path): " + (errno == ENOENT ? "no such directory" : String(cString: strerror(errno))))
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw ValidationError("--watch \(path): not a directory") }
    }

    mutating func validate() throws {
        if replicationTimeout != nil && !cluster.isEnabled {
            throw ValidationError("--replication-timeout needs --nats URL (cluster mode)")
        }
        if let replicationTimeout, replicationTimeout.duration <= .zero {
            throw ValidationError("--replication-timeout must be positive")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, not \(port)") }
        if watch != nil && watchStream == nil { throw ValidationError("--watch needs --watch-stream STREAM") }
        if watch == nil {
            if watchStream != nil { throw ValidationError("--watch-stream needs --watch DIRECTORY") }
            if once || noHTTP { throw ValidationError("--once and --no-http need --watch DIRECTORY") }
            if interval != nil || partitions != nil || timeField != nil || keyField != nil || timeUnit != nil
                || suffix != nil {
                throw ValidationError("--interval, --partitions, --time-field, --key-field, --time-unit and --suffix "
                                      + "apply to the watched stream and need --watch; over HTTP they are query "
                                      + "parameters")
            }
        }
        if let partitions, !(1...4096).contains(partitions) {
            throw ValidationError("--partitions must be 1 to 4096, not \(partitions)")
        }
        // An empty field name is in no record: every line would be rejected, by a stream that keeps the setting.
        if timeField == "" { throw ValidationError("--time-field needs a field name, not an empty one") }
        if keyField == "" { throw ValidationError("--key-field needs a field name, not an empty one") }
        if timeUnit != nil && timeField == nil { throw ValidationError("--time-unit needs --time-field") }
        if let token, token.isEmpty { throw ValidationError("--token must not be empty") }
        if (tlsCertificate == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        try DurationArgument.validateIdleSeal(idleSeal)
        // The receiver's limits, checked before the store is opened (or created): a value out of
        // range is a usage error that leaves no store behind.
        if host.isEmpty { throw ValidationError("--host must not be empty") }
        guard (1...ReceiverConfiguration.largestRecordBytes).contains(maxRecordBytes) else {
            throw ValidationError("--max-record-bytes must be 1 to \(ReceiverConfiguration.largestRecordBytes), "
                                  + "not \(maxRecordBytes)")
        }
        guard maxBodyBytes >= maxRecordBytes else {
            throw ValidationError("--max-body-bytes (\(maxBodyBytes)) must be at least --max-record-bytes "
                                  + "(\(maxRecordBytes))")
        }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1, not \(maxConnections)") }
        guard maxQueuedBytes >= 1 else { throw ValidationError("--max-queued-bytes must be at least 1, not \(maxQueuedBytes)") }
        guard commitBytes >= 1 else { throw ValidationError("--commit-bytes must be at least 1, not \(commitBytes)") }
    }

    func run() throws {
        // The watched directory is checked before anything is created: a mistyped path is a usage
        // error naming it, not a new store and "realpath failed".
        if let watch { try Self.checkWatchedDirectory(watch) }
        // Before the store opens: storage and engine metrics are made with the store.
        let registry = StrataMetrics.bootstrapPrometheus()
        // Cluster mode: connect first, so that a refused node writes nothing, not even locally.
        let clusterOptions = cluster.isEnabled ? try cluster.clusterOptions() : nil
        let jetStream = try clusterOptions.map { try NATSConnection($0.connectionOptions).jetStream() }
        let store = try options.createOrOpenStore(durability: durability.durability)
        let replicator = try clusterOptions.flatMap { options in
            try jetStream.map { try ClusterReplicator(store: store, jetStream: $0, options: options) }
        }
        // What an earlier writer (a stopped or killed server) left open and the clock has passed
        // becomes readable now, not with the next record.
        for sealed in try store.sealElapsedArrivalIntervals() {
            printError("sealed \(sealed.stream) through \(sealed.sealedAfter.map(\.description) ?? "none") "
                + "(intervals left open by an earlier writer)")
        }
        var configuration = ReceiverConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.token = token ?? ProcessInfo.processInfo.environment["STRATA_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxRecordBytes = maxRecordBytes
        configuration.maxConnections = maxConnections
        configuration.maxQueuedBytesPerStream = maxQueuedBytes
        configuration.allowedLateness = lateness.duration
        configuration.idleSeal = idleSeal?.duration
        configuration.servesHTTP = !(once || noHTTP)
        configuration.servesConsole = console ?? Self.isLoopback(host)
        configuration.tlsCertificatePath = tlsCertificate
        configuration.tlsKeyPath = tlsKey
        configuration.shutsDownOnTerminationSignals = true
        if let replicator {
            // Every stream, at once and after every local seal; a POST waits for its intervals.
            replicator.start()
            configuration.replicationGate = Self.replicationGate(replicator, timeout: replicationTimeout?.duration ?? .seconds(30))
        }
        try configuration.validate()

        var sources: [DirectorySource] = []
        if let watch, let watchStream {
            var watching = DirectorySourceConfiguration(directory: watch, stream: watchStream)
            watching.settings = JSONStreamSettings(interval: interval?.length, partitions: partitions,
                                                   timeField: timeField, keyField: keyField, timeUnit: timeUnit?.unit)
            watching.allowedLateness = lateness.duration
            watching.idleSeal = idleSeal?.duration
            watching.fileSuffix = suffix
            watching.commitBytes = commitBytes
            watching.maxRecordBytes = maxRecordBytes
            watching.stopsWhenDrained = once
            let report: (@Sendable (SourceCommit) -> Void)? = progress ? { @Sendable commit in printError(Self.describe(commit)) } : nil
            sources.append(try DirectorySource(store: store, configuration: watching, onCommit: report))
        }

        let continuous = try continuousPrograms(files: programs, store: store)
        let receiver = IngestReceiver(store: store, configuration: configuration, sources: sources,
                                      metricsRegistry: registry)
        if configuration.servesHTTP && !Self.isLoopback(host) && (configuration.token == nil || tlsCertificate == nil) {
            let missing = configuration.token == nil ? (tlsCertificate == nil ? "TLS or a token" : "a token") : "TLS"
            printError("warning: serving \(host) beyond loopback without \(missing): anyone on the network can "
                       + (configuration.token == nil ? "read and write every stream" : "read the token and the data")
                       + "; give --token and --tls-cert/--tls-key")
        }
        if configuration.servesHTTP {
            Task { [host, scheme = tlsCertificate == nil ? "http" : "https"] in
                if let port = try? await receiver.listeningPort() { printError("listening on \(scheme)://\(host):\(port)") }
            }
        }
        try runToEnd { try await runBeside(continuous, catchUp: once) { try await receiver.run() } }
        if let replicator { try replicateAtExit(replicator) }

        let metrics = receiver.metrics
        var counts = "\(metrics.recordsAccepted) accepted, \(metrics.recordsRejected) rejected, \(metrics.recordsLate) late"
        if metrics.blankLines > 0 { counts += ", \(metrics.blankLines) blank" }
        let commits = plural(metrics.commits, "commit")
        if configuration.servesHTTP {
            let requests = plural(metrics.responses.values.reduce(0, +), "request")
            printError("stopped after \(requests) and \(commits): \(counts)")
        } else {
            printError("ingested \(watch ?? "") into \(watchStream ?? ""): \(counts) in \(commits)")
        }
        if once {
            let totals = sources.first?.totals ?? LineCounts()
            for rejection in totals.rejections { printError(rejection.description) }
            if totals.rejected > 0 { throw ExitCode.failure }
        }
    }

    /// Cluster mode: a `POST` is answered once JetStream holds the last interval its on-time
    /// records went into (late records and dead letters are replicated in the background).
    static func replicationGate(_ replicator: ClusterReplicator, timeout: Duration)
        -> @Sendable (String, LineCounts) async -> ReplicationOutcome
    {
        { stream, counts in
            guard let last = counts.intervals?.upperBound else { return .replicated }
            if await replicator.awaitReplication(of: stream, through: last, timeout: timeout) { return .replicated }
            let problem = replicator.lastError.map { "; last error: \($0)" } ?? ""
            return .pending("stored locally; \(stream) interval \(last) is not replicated after \(timeout) (it is "
                            + "published once sealed; an event-time stream seals with later records or --idle-seal)"
                            + problem)
        }
    }

    /// Cluster mode, at exit: publishes what the shutdown sealed, and waits for the acknowledgements.
    private func replicateAtExit(_ replicator: ClusterReplicator) throws {
        replicator.stop()
        do {
            for report in try replicator.replicateAll() {
                printError("replicated \(report.stream) through \(report.replicatedThrough.map(\.description) ?? "none") "
                           + "(\(replicator.options.replicas) replicas)")
            }
        } catch {
            printError("Error: \(error)")
            printError("the records are committed in the local store; to publish them: strata cluster replicate --store "
                       + "\(options.path) --nats \(replicator.options.urls.joined(separator: ","))")
            throw ExitCode.failure
        }
    }

    /// Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// One line about a commit of the watched directory.
    static func describe(_ commit: SourceCommit) -> String {
        let c = commit.counts
        let what = "\(c.lines) lines: \(c.accepted) accepted, \(c.rejected) rejected, \(c.late) late"
        guard let position = commit.position else { return c.lines == 0 ? "committed seals" : "committed \(what)" }
        return "committed \(position.file) through byte \(position.offset) of \(commit.fileSize ?? position.offset) "
            + "(line \(position.line)); \(what)"
    }
}

/// `1 commit`, `2 commits`.
private func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

/// Runs `operation` on the cooperative pool while the calling thread (the command's main thread,
/// never a pool thread) waits for it: the command line is synchronous, the receiver is not.
private func runToEnd(_ operation: @escaping @Sendable () async throws -> Void) throws {
    let outcome = Mutex<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            try await operation()
        } catch {
            outcome.withLock { $0 = error }
        }
        done.signal()
    }
    done.wait()
    if let error = outcome.withLock({ $0 }) { throw error }
}
