import Dispatch
import Glibc
import Hummingbird
import Strata
import Synchronization

/// The one writer of a stream for the HTTP receiver: takes request bodies from handlers, appends
/// them on a serial queue of its own (never the cooperative pool: appends and commits block),
/// and acknowledges them after the commit that covers them is durable.
///
/// **Group commit.** Each round takes every body queued so far, appends all of them, commits once,
/// then answers all of them. Bodies that arrive during a commit form the next round, appended while
/// that commit is flushed, so one durable commit (one fsync under group commit) acknowledges many
/// requests and appending overlaps flushing.
///
/// **All or nothing per round.** The appenders hold their blocks until the round's commit, so a
/// request answered with an error left nothing in the store. After a failed commit the worker is
/// broken: it fails what it holds, and the registry replaces it on the next request.
///
/// **Placement across restarts.** Every commit keeps, in the same transaction, the partition the
/// stream's next unkeyed record goes to (source row `StreamAppender.receiverRotationRow`), and a
/// new worker (after a restart, a kill, or in place of a broken one) continues the round-robin
/// rotation there: the requests are placed as by one uninterrupted worker.
///
/// `StreamIngestWorker` is `Sendable`: the queue of bodies is behind a `Mutex`; the appenders are
/// touched only on the worker's queue.
final class StreamIngestWorker: Sendable {
    /// One request body handed to the worker.
    private struct Job {
        var body: ByteBuffer
        var reservedBytes: Int
        var origin: String
        var request: UInt64
        var continuation: CheckedContinuation<LineCounts, any Error>
    }

    private struct Jobs {
        var pending: [Job] = []
        var draining = false
        var stopped = false
        var failure: ReceiverError?
    }

    /// The stream's settings.
    let descriptor: StreamDescriptor
    /// The bound on bodies read and not yet appended.
    let budget: IngestBudget
    private let queue: DispatchQueue
    private let jobs = Mutex(Jobs())
    /// Touched only on `queue`; `nil` once the worker stopped or retired, which releases the
    /// stream's writer lock for the next writer.
    private let ingest: QueueConfined<DeadLetteringIngestor?>
    private let counters: MetricsCounters
    private let rejectionsListed: Int
    /// Touched only on `queue` once `init` returns.
    private let timer: QueueConfined<any DispatchSourceTimer>
    /// Seal everything open after this long without lines (`ReceiverConfiguration.idleSeal`).
    private let idleSeal: Duration?
    /// When lines last arrived, and whether the idle seal has run since; touched only on `queue`.
    private let activity = QueueConfined((last: ContinuousClock.now, sealedSince: false))

    /// Opens the stream's ingest (creating its dead-letter stream when absent) and starts the
    /// timer that seals elapsed arrival-time intervals while no request comes.
    ///
    /// Blocks while streams are created: call it from a queue of your own.
    init(stream: StoredStream<JSONRecord>, store: Store, configuration: ReceiverConfiguration,
         counters: MetricsCounters) throws(ReceiverError) {
        descriptor = stream.descriptor
        let ingest = try DeadLetteringIngestor(
            stream: stream, store: store, maxRecordBytes: configuration.maxRecordBytes,
            allowedLateness: configuration.allowedLateness, holdsCommitsUntilFlush: true,
            rotationRow: StreamAppender.receiverRotationRow)
        self.ingest = QueueConfined(Optional(ingest))
        self.counters = counters
        rejectionsListed = configuration.maxRejectionsListed
        idleSeal = configuration.idleSeal
        budget = IngestBudget(capacity: configuration.maxQueuedBytesPerStream, counters: counters)
        queue = DispatchQueue(label: "strata.receiver.stream.\(stream.name)")
        let source = DispatchSource.makeTimerSource(queue: queue)
        timer = QueueConfined(source)
        // Seal checks run at least once per interval length, at most ten times a second.
        let length = stream.descriptor.intervalLength.rawValue
        let period = DispatchTimeInterval.nanoseconds(Int(min(max(length, 100_000_000), 1_000_000_000)))
        source.schedule(deadline: .now() + period, repeating: period, leeway: .milliseconds(50))
        source.setEventHandler { [weak self] in self?.sealElapsedWhileIdle() }
        source.resume()
    }

    /// Whether a commit failed; the registry then opens a new worker for the stream.
    var isBroken: Bool { jobs.withLock { $0.failure != nil } }

    /// Appends a request body and returns what became of its lines, once they are durable.
    ///
    /// - Parameters:
    ///   - reservedBytes: The bytes reserved in `budget` for the body; released once appended.
    ///   - origin: Where the body came from, for dead letters (`http 127.0.0.1:52114`).
    ///   - request: The request's number, for dead letters and the response.
    /// - Throws: `ReceiverError.storage` when the store failed (nothing of the body is stored);
    ///   `.notRunnable` when the receiver is shutting down.
    func ingest(body: ByteBuffer, reservedBytes: Int, origin: String, request: UInt64) async throws -> LineCounts {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LineCounts, any Error>) in
            let job = Job(body: body, reservedBytes: reservedBytes, origin: origin, request: request,
                          continuation: continuation)
            let (start, refusal) = jobs.withLock { jobs -> (Bool, ReceiverError?) in
                if jobs.stopped { return (false, .notRunnable("the receiver is shutting down")) }
                if let failure = jobs.failure { return (false, failure) }
                jobs.pending.append(job)
                if jobs.draining { return (false, nil) }
                jobs.draining = true
                return (true, nil)
            }
            if let refusal {
                budget.release(reservedBytes)
                continuation.resume(throwing: refusal)
            } else if start {
                queue.async { self.drain() }
            }
        }
    }

    /// Stops taking bodies, seals elapsed arrival-time intervals and commits; returns when done.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.timer.value.cancel()
                let broken = self.jobs.withLock { jobs -> Bool in
                    jobs.stopped = true
                    return jobs.failure != nil
                }
                if !broken, let ingest = self.ingest.value {
                    _ = try? ingest.sealElapsed()
                    try? ingest.commit()
                }
                self.ingest.value = nil
                continuation.resume()
            }
        }
    }

    /// Stops the timer of a broken worker that is being replaced, and releases its appenders (and
    /// with them the stream's writer lock) before returning. Never call it on the worker's queue.
    func retire() {
        queue.sync {
            self.timer.value.cancel()
            self.ingest.value = nil
        }
    }

    // MARK: On the worker's queue

    /// A round whose commit was handed to the committer.
    private struct Round {
        var jobs: [Job]
        var results: [LineCounts]
        var acknowledgement: CommitAcknowledgement
    }

    /// Runs rounds until no body is queued. Rounds overlap: while round k's commit is written and
    /// flushed, round k+1's bodies are appended; round k is answered once durable, then round
    /// k+1 is handed to the committer (at most one commit in flight).
    private func drain() {
        var inFlight: Round?
        while true {
            let idle = inFlight == nil
            let batch = jobs.withLock { jobs -> [Job] in
                let batch = jobs.pending
                jobs.pending.removeAll()
                if batch.isEmpty && idle { jobs.draining = false }
                return batch
            }
            if batch.isEmpty {
                guard let round = inFlight else { return }
                answer(round)
                inFlight = nil
                continue
            }
            let appended = append(batch)
            if let round = inFlight {
                answer(round)
                inFlight = nil
            }
            switch appended {
            case .success(let results): inFlight = startCommit(batch, results)
            case .failure(let failure): fail(batch, failure)
            }
        }
    }

    /// Appends every body of a round (held until its commit), and releases their budget.
    private func append(_ batch: [Job]) -> Result<[LineCounts], ReceiverError> {
        defer { budget.release(batch.reduce(0) { $0 + $1.reservedBytes }) }
        if let failure = jobs.withLock({ $0.failure }) { return .failure(failure) }
        guard let ingest = ingest.value else { return .failure(.notRunnable("the receiver is shutting down")) }
        activity.value = (ContinuousClock.now, false)
        var results: [LineCounts] = []
        results.reserveCapacity(batch.count)
        for job in batch {
            var counts = LineCounts()
            do {
                try job.body.withUnsafeReadableBytes { raw in
                    try forEachLine(in: raw) { (line, number) throws(ReceiverError) in
                        try ingest.ingest(line: line, number: number, offset: nil, origin: job.origin,
                                          request: job.request, into: &counts, listing: rejectionsListed)
                    }
                }
            } catch {
                // The appenders now hold part of a round: they must never commit again.
                return .failure(error as? ReceiverError ?? .invalidArgument(String(describing: error)))
            }
            results.append(counts)
        }
        return .success(results)
    }

    /// Hands a round's commit to the committer.
    private func startCommit(_ batch: [Job], _ results: [LineCounts]) -> Round? {
        guard let ingest = ingest.value else {
            fail(batch, .notRunnable("the receiver is shutting down"))
            return nil
        }
        do {
            try ingest.sealElapsed()
            let acknowledgement = try ingest.startCommit()
            counters.commits.add(1, ordering: .relaxed)
            return Round(jobs: batch, results: results, acknowledgement: acknowledgement)
        } catch {
            fail(batch, error)
            return nil
        }
    }

    /// Waits until a round is durable, then answers its requests.
    private func answer(_ round: Round) {
        do {
            try round.acknowledgement.wait()
        } catch {
            fail(round.jobs, .storage(error, context: "stream \(descriptor.name): commit"))
            return
        }
        for (job, counts) in zip(round.jobs, round.results) {
            counters.count(counts)
            job.continuation.resume(returning: counts)
        }
    }

    /// Breaks the worker and fails the requests of a round: nothing of them is stored.
    private func fail(_ batch: [Job], _ failure: ReceiverError) {
        jobs.withLock { if $0.failure == nil { $0.failure = failure } }
        for job in batch { job.continuation.resume(throwing: failure) }
    }

    /// Seals arrival-time intervals the clock has left behind, when no round is running.
    private func sealElapsedWhileIdle() {
        guard jobs.withLock({ $0.failure == nil && !$0.stopped }), let ingest = ingest.value else { return }
        do {
            if let idleSeal, !activity.value.sealedSince, ContinuousClock.now - activity.value.last >= idleSeal,
               ingest.hasUnsealedRecords {
                try ingest.sealAll()
                try ingest.commit()
                activity.value.sealedSince = true
                return
            }
            if try ingest.sealElapsed() { try ingest.commit() }
        } catch {
            jobs.withLock { if $0.failure == nil { $0.failure = error } }
        }
    }
}

/// Calls `body` with each line of `bytes` (without its newline) and its 1-based number. A last
/// line without a newline is a line; a final newline does not start another.
@inline(__always)
func forEachLine(in bytes: UnsafeRawBufferPointer,
                 _ body: (UnsafeRawBufferPointer, Int) throws(ReceiverError) -> Void) throws(ReceiverError) {
    guard let base = bytes.baseAddress else { return }
    var start = 0
    var number = 0
    while start < bytes.count {
        let end: Int
        if let newline = memchr(base + start, 0x0A, bytes.count - start) {
            end = base.distance(to: UnsafeRawPointer(newline))
        } else {
            end = bytes.count
        }
        number += 1
        try body(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), number)
        start = end + 1
    }
}

/// A value touched only on one serial queue (or one thread).
///
/// `@unchecked Sendable` because the wrapped value is not `Sendable`: every access happens on the
/// owner's serial queue, one at a time, which is what makes sharing the reference safe.
final class QueueConfined<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
