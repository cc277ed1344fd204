import Synchronization

/// What a receiver, or a directory source, has done since it started: counters, read with
/// `IngestReceiver.metrics` or `DirectorySource.metrics`, and served as `GET /metrics`.
///
/// `ReceiverMetrics` is `Sendable`; it is a snapshot, a plain value.
public struct ReceiverMetrics: Sendable, Equatable {
    /// HTTP responses sent, by status code (lookup only; `prometheusText` lists them in order).
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

    /// The counters in the Prometheus text exposition format (version 0.0.4), names prefixed `strata_`.
    public var prometheusText: String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Int)]) {
            out += "# HELP strata_\(name) \(help)\n# TYPE strata_\(name) \(type)\n"
            for (labels, value) in samples { out += "strata_\(name)\(labels) \(value)\n" }
        }
        metric("http_responses_total", "counter", "HTTP responses sent, by status code.",
               responses.keys.sorted().map { ("{code=\"\($0)\"}", responses[$0] ?? 0) })
        metric("http_body_bytes_total", "counter", "Request body bytes read.", [("", bodyBytes)])
        metric("backpressure_waits_total", "counter", "Times a request stopped reading because its stream's queue was full.",
               [("", backpressureWaits)])
        metric("queued_bytes", "gauge", "Body bytes read and not yet appended.", [("", queuedBytes)])
        metric("records_total", "counter", "Records by outcome: accepted (late included), late, rejected.",
               [("{outcome=\"accepted\"}", recordsAccepted), ("{outcome=\"late\"}", recordsLate),
                ("{outcome=\"rejected\"}", recordsRejected)])
        metric("blank_lines_total", "counter", "Blank lines skipped.", [("", blankLines)])
        metric("dead_letters_total", "counter", "Records written to dead-letter streams.", [("", deadLetters)])
        metric("commits_total", "counter", "Commits that acknowledged records.", [("", commits)])
        metric("source_files_read_total", "counter", "Directory sources: files whose lines were read.", [("", filesRead)])
        metric("source_bytes_total", "counter", "Directory sources: file bytes read.", [("", fileBytes)])
        metric("source_files_shrunk_total", "counter", "Directory sources: files shorter than their recorded position.",
               [("", filesShrunk)])
        return out
    }

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

/// The live counters behind `ReceiverMetrics`: updated once per request, commit or file, never per record.
final class MetricsCounters: Sendable {
    private let responses = Mutex<[Int: Int]>([:])
    let bodyBytes = Atomic<Int>(0)
    let backpressureWaits = Atomic<Int>(0)
    let queuedBytes = Atomic<Int>(0)
    let recordsAccepted = Atomic<Int>(0)
    let recordsLate = Atomic<Int>(0)
    let recordsRejected = Atomic<Int>(0)
    let blankLines = Atomic<Int>(0)
    let deadLetters = Atomic<Int>(0)
    let commits = Atomic<Int>(0)
    let filesRead = Atomic<Int>(0)
    let fileBytes = Atomic<Int>(0)
    let filesShrunk = Atomic<Int>(0)

    /// Counts one response with `status`.
    func countResponse(_ status: Int) {
        responses.withLock { $0[status, default: 0] += 1 }
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
