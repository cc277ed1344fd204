import Dispatch
import Strata
import Synchronization

/// The receiver's stream workers, one per stream, opened on the first request for a stream.
///
/// Opening a stream may create it (a blocking commit), so it runs on a serial queue of the
/// registry's own, never on the cooperative pool; finding an open worker is a dictionary lookup.
///
/// `WorkerRegistry` is `Sendable`: the workers are behind a `Mutex`.
final class WorkerRegistry: Sendable {
    private struct Workers {
        var byName: [String: StreamIngestWorker] = [:]  // lookup only
        var stopped = false
    }

    private let store: Store
    private let configuration: ReceiverConfiguration
    private let counters: MetricsCounters
    /// Streams a directory source writes: not writable over HTTP (one writer per stream).
    private let sourceStreams: [String: String]  // stream → directory; lookup only
    private let workers = Mutex(Workers())
    private let opening = DispatchQueue(label: "strata.receiver.streams")

    init(store: Store, configuration: ReceiverConfiguration, counters: MetricsCounters, sourceStreams: [String: String]) {
        self.store = store
        self.configuration = configuration
        self.counters = counters
        self.sourceStreams = sourceStreams
    }

    /// The worker of stream `name`, opening the stream (created with `settings` when absent).
    ///
    /// - Throws: `ReceiverError.invalidArgument` for a name the receiver does not write;
    ///   `.streamConflict` when the stream has other settings or a directory source writes it;
    ///   `.notRunnable` when shutting down; `.storage` when the store fails.
    func worker(for name: String, settings: JSONStreamSettings) async throws(ReceiverError) -> StreamIngestWorker {
        try SideStreams.checkWritable(name)
        if let directory = sourceStreams[name] {
            throw .streamConflict(stream: name, reason: "is written by the directory source of \(directory), not over HTTP")
        }
        let found = workers.withLock { $0.byName[name] }
        if let found, !found.isBroken {
            if let reason = settings.conflict(with: found.descriptor) { throw .streamConflict(stream: name, reason: reason) }
            return found
        }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<StreamIngestWorker, ReceiverError>, Never>) in
            opening.async { continuation.resume(returning: Result { () throws(ReceiverError) in try self.open(name, settings) }) }
        }
        return try result.get()
    }

    /// Opens the worker of `name` on the registry's queue, replacing a broken one.
    private func open(_ name: String, _ settings: JSONStreamSettings) throws(ReceiverError) -> StreamIngestWorker {
        let (existing, stopped) = workers.withLock { ($0.byName[name], $0.stopped) }
        if stopped { throw .notRunnable("the receiver is shutting down") }
        if let existing, !existing.isBroken {
            if let reason = settings.conflict(with: existing.descriptor) { throw .streamConflict(stream: name, reason: reason) }
            return existing
        }
        existing?.retire()
        let stream = try settings.openStream(name, in: store)
        let worker = try StreamIngestWorker(stream: stream, store: store, configuration: configuration, counters: counters)
        let replaced = workers.withLock { workers -> Bool in
            guard !workers.stopped else { return false }
            workers.byName[name] = worker
            return true
        }
        guard replaced else {
            worker.retire()
            throw .notRunnable("the receiver is shutting down")
        }
        return worker
    }

    /// Stops every worker after its last commit; later requests are refused.
    func stopAll() async {
        let all = await withCheckedContinuation { (continuation: CheckedContinuation<[StreamIngestWorker], Never>) in
            // On the opening queue, so that no worker is being opened meanwhile.
            opening.async {
                let all = self.workers.withLock { workers -> [StreamIngestWorker] in
                    workers.stopped = true
                    return workers.byName.keys.sorted().compactMap { workers.byName[$0] }
                }
                continuation.resume(returning: all)
            }
        }
        for worker in all { await worker.stop() }
    }
}
