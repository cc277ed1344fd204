import CoreMetrics
import Synchronization

/// What a receiver, or a directory source, has done since it started: counters, read with
/// `IngestReceiver.metrics` or `DirectorySource.metrics`; `GET /metrics` exports them through
/// swift-metrics and swift-prometheus (`docs/metrics.md`).
///
/// `ReceiverMetrics` is `Sendable`; it is a snapshot, a plain value.
public struct ReceiverMetrics: Sendable, Equatable {
    /// HTTP responses sent, by status code (lookup only).
    public var responses: [Int: Int] = [:]
    /// Request body bytes read from sockets.
    public var bodyBytes = 0
    /// Times a request stopped reading its socket because its stream's queue was full.
    public var backpressureWaits = 0
    /// Body bytes read and not yet appended, now (a gauge).
    public var queuedBytes = 0
    /// Records appended (late ones included).
    public var recordsAccepted = 0
    /// Accepted records that were late and went to the late side stream.
    public var recordsLate = 0
    /// Malformed records rejected; each went to the dead-letter stream.
    public var recordsRejected = 0
    /// Blank lines skipped.
    public var blankLines = 0
    /// Dead-letter records written (`NAME.dead`).
    public var deadLetters = 0
    /// Commits that acknowledged records (one per group of requests, or per source position).
    public var commits = 0
    /// Directory sources: files whose lines were read.
    public var filesRead = 0
    /// Directory sources: bytes of files read.
    public var fileBytes = 0
    /// Directory sources: files skipped because they are shorter than the position recorded.
    public var filesShrunk = 0

    /// An empty snapshot.
    public init() {}

    /// Adds another snapshot's counters to this one.
    mutating func add(_ other: ReceiverMetrics) {
        for (status, count) in other.responses { responses[status, default: 0] += count }
        bodyBytes += other.bodyBytes
        backpressureWaits += other.backpressureWaits
        queuedBytes += other.queuedBytes
        recordsAccepted += other.recordsAccepted
        recordsLate += other.recordsLate
        recordsRejected += other.recordsRejected
        blankLines += other.blankLines
        deadLetters += other.deadLetters
        commits += other.commits
        filesRead += other.filesRead
        fileBytes += other.fileBytes
        filesShrunk += other.filesShrunk
    }
}

/// The live counters behind `ReceiverMetrics`: updated once per request, commit or file, never per
/// record. Each is also reported through swift-metrics (to `factory`), which `GET /metrics`
/// exports in the Prometheus format; names in `docs/metrics.md`.
final class MetricsCounters: Sendable {
    private let factory: any MetricsFactory
    let bodyBytes: MirroredCounter
    let backpressureWaits: MirroredCounter
    let queuedBytes: MirroredGauge
    let recordsAccepted: MirroredCounter
    let recordsLate: MirroredCounter
    let recordsRejected: MirroredCounter
    let blankLines: MirroredCounter
    let deadLetters: MirroredCounter
    let commits: MirroredCounter
    let filesRead: MirroredCounter
    let fileBytes: MirroredCounter
    let filesShrunk: MirroredCounter
    private let responses = Mutex<[Int: Int]>([:])

    /// Counters reporting to `factory` (by default the process's bootstrapped backend).
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        func counter(_ label: String, _ dimensions: [(String, String)] = []) -> MirroredCounter {
            MirroredCounter(Counter(label: label, dimensions: dimensions, factory: factory))
        }
        bodyBytes = counter("strata_http_body_bytes_total")
        backpressureWaits = counter("strata_backpressure_waits_total")
        queuedBytes = MirroredGauge(Gauge(label: "strata_queued_bytes", factory: factory))
        recordsAccepted = counter("strata_records_total", [("outcome", "accepted")])
        recordsLate = counter("strata_records_total", [("outcome", "late")])
        recordsRejected = counter("strata_records_total", [("outcome", "rejected")])
        blankLines = counter("strata_blank_lines_total")
        deadLetters = counter("strata_dead_letters_total")
        commits = counter("strata_commits_total")
        filesRead = counter("strata_source_files_read_total")
        fileBytes = counter("strata_source_bytes_total")
        filesShrunk = counter("strata_source_files_shrunk_total")
    }

    /// Counts one response with `status`.
    func countResponse(_ status: Int) {
        responses.withLock { $0[status, default: 0] += 1 }
        Counter(label: "strata_http_responses_total", dimensions: [("code", String(status))], factory: factory)
            .increment()
    }

    /// Counts the lines of one request or one stretch of a file.
    func count(_ lines: LineCounts) {
        recordsAccepted.add(lines.accepted, ordering: .relaxed)
        recordsLate.add(lines.late, ordering: .relaxed)
        recordsRejected.add(lines.rejected, ordering: .relaxed)
        deadLetters.add(lines.rejected, ordering: .relaxed)
        blankLines.add(lines.blank, ordering: .relaxed)
    }

    /// A snapshot.
    var snapshot: ReceiverMetrics {
        var m = ReceiverMetrics()
        m.responses = responses.withLock { $0 }
        m.bodyBytes = bodyBytes.load(ordering: .relaxed)
        m.backpressureWaits = backpressureWaits.load(ordering: .relaxed)
        m.queuedBytes = queuedBytes.load(ordering: .relaxed)
        m.recordsAccepted = recordsAccepted.load(ordering: .relaxed)
        m.recordsLate = recordsLate.load(ordering: .relaxed)
        m.recordsRejected = recordsRejected.load(ordering: .relaxed)
        m.blankLines = blankLines.load(ordering: .relaxed)
        m.deadLetters = deadLetters.load(ordering: .relaxed)
        m.commits = commits.load(ordering: .relaxed)
        m.filesRead = filesRead.load(ordering: .relaxed)
        m.fileBytes = fileBytes.load(ordering: .relaxed)
        m.filesShrunk = filesShrunk.load(ordering: .relaxed)
        return m
    }
}

/// A count kept in an atomic (for `ReceiverMetrics`) and reported to a swift-metrics counter.
/// The atomic is relaxed: a count orders nothing (`ordering` is taken for `Atomic`'s call shape).
final class MirroredCounter: Sendable {
    private let value = Atomic<Int>(0)
    private let counter: Counter

    init(_ counter: Counter) { self.counter = counter }

    /// Adds `amount` (not negative).
    func add(_ amount: Int, ordering: AtomicUpdateOrdering) {
        guard amount > 0 else { return }
        value.add(amount, ordering: .relaxed)
        counter.increment(by: amount)
    }

    /// The count.
    func load(ordering: AtomicLoadOrdering) -> Int { value.load(ordering: .relaxed) }
}

/// A level kept in an atomic and reported to a swift-metrics gauge after each change (relaxed).
final class MirroredGauge: Sendable {
    private let value = Atomic<Int>(0)
    private let gauge: Gauge

    init(_ gauge: Gauge) { self.gauge = gauge }

    /// Raises the level by `amount`.
    func add(_ amount: Int, ordering: AtomicUpdateOrdering) {
        gauge.record(value.add(amount, ordering: .relaxed).newValue)
    }

    /// Lowers the level by `amount`.
    func subtract(_ amount: Int, ordering: AtomicUpdateOrdering) {
        gauge.record(value.subtract(amount, ordering: .relaxed).newValue)
    }

    /// The level.
    func load(ordering: AtomicLoadOrdering) -> Int { value.load(ordering: .relaxed) }
}
