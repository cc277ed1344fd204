import Dispatch
import Synchronization

/// The store's only writer: runs write requests in LMDB write transactions on one serial queue.
///
/// Encoding and compression happen before a request is submitted; a request only puts ready
/// bytes. With `.groupCommit` and `.noSync`, every request waiting when the queue gets to them
/// shares one transaction (and so one flush); each runs in a nested transaction so that one
/// failing request does not undo the others. With `.fsyncEveryCommit` each request commits alone.
///
/// `Committer` is `Sendable`; submit from any thread.
package final class Committer: Sendable {
    /// One unit of work for the write transaction.
    package typealias Work = @Sendable (borrowing Transaction) throws -> Void

    /// Work done on the committer's thread before the write transaction begins (compression);
    /// it returns what runs inside the transaction.
    package typealias Prepare = @Sendable () throws -> Work

    private struct Request {
        let prepare: Prepare
        let ticket: CommitTicket
        let chain: CommitChain?
        let bytes: Int
        let afterCommit: (@Sendable () -> Void)?
    }

    private let environment: Environment
    private let durability: Durability
    private let queue = DispatchQueue(label: "strata.committer")
    private let pending = Mutex<[Request]>([])
    /// Bytes submitted and not yet committed, for backpressure.
    package let pendingBytes = Atomic<Int>(0)
    /// Commits, their latency and bytes, for swift-metrics.
    package let metrics = StorageMetrics()

    init(environment: Environment, durability: Durability) {
        self.environment = environment
        self.durability = durability
    }

    /// Queues `work`; the ticket is acknowledged once it is committed under the durability setting.
    ///
    /// - Parameters:
    ///   - bytes: How many bytes the request writes, counted for backpressure until it commits.
    ///   - chain: Requests that must land in order; after one fails, later ones fail unrun.
    ///   - afterCommit: Runs on the committer's queue once the request is committed.
    package func submit(bytes: Int = 0, chain: CommitChain? = nil, afterCommit: (@Sendable () -> Void)? = nil,
                        _ work: @escaping Work) -> CommitTicket {
        submit(bytes: bytes, chain: chain, afterCommit: afterCommit, preparing: { work })
    }

    /// Queues a request whose `prepare` step runs on the committer's thread outside the write
    /// transaction (so a second core compresses while the caller goes on encoding), and whose
    /// returned work runs inside it.
    package func submit(bytes: Int = 0, chain: CommitChain? = nil, afterCommit: (@Sendable () -> Void)? = nil,
                        preparing prepare: @escaping Prepare) -> CommitTicket {
        let ticket = CommitTicket()
        pendingBytes.add(bytes, ordering: .relaxed)
        let request = Request(prepare: prepare, ticket: ticket, chain: chain, bytes: bytes, afterCommit: afterCommit)
        let first = pending.withLock { queue -> Bool in
            queue.append(request)
            return queue.count == 1
        }
        if first { queue.async { self.drain() } }
        return ticket
    }

    /// Runs `work` in the write transaction and waits for it, returning its result.
    ///
    /// Blocks the calling thread: never call it on the cooperative pool.
    package func write<R: Sendable>(_ work: @escaping @Sendable (borrowing Transaction) throws -> R) throws(StorageError) -> R {
        let box = Mutex<R?>(nil)
        let ticket = submit { txn in
            let value = try work(txn)
            box.withLock { $0 = value }
        }
        try ticket.wait()
        guard let value = box.withLock({ $0 }) else { throw .misuse("write produced no result") }
        return value
    }

    private func drain() {
        while true {
            let batch = pending.withLock { queue -> [Request] in
                let batch = queue
                queue.removeAll()
                return batch
            }
            if batch.isEmpty { return }
            if durability == .fsyncEveryCommit {
                for request in batch { commit([request]) }
            } else {
                commit(batch)
            }
        }
    }

    private func commit(_ batch: [Request]) {
        let began = DispatchTime.now().uptimeNanoseconds
        var outcomes = [Result<Void, StorageError>?](repeating: nil, count: batch.count)
        // Prepare outside the transaction: the writer lock is held only for puts.
        var works = [Work?](repeating: nil, count: batch.count)
        for (index, request) in batch.enumerated() {
            if let failure = request.chain?.firstFailure {
                outcomes[index] = .failure(failure)
                continue
            }
            do {
                works[index] = try request.prepare()
            } catch {
                let storageError = StorageError(wrapping: error)
                request.chain?.fail(storageError)
                outcomes[index] = .failure(storageError)
            }
        }
        let runnable = works.lazy.filter { $0 != nil }.count
        do {
            try environment.write { txn in
                for (index, request) in batch.enumerated() {
                    guard let work = works[index] else { continue }
                    if let failure = request.chain?.firstFailure {
                        outcomes[index] = .failure(failure)
                        continue
                    }
                    if runnable == 1 {
                        // Alone in its transaction: an error aborts the whole transaction.
                        try work(txn)
                        outcomes[index] = .success(())
                        continue
                    }
                    do {
                        try txn.nested { try work($0) }
                        outcomes[index] = .success(())
                    } catch let signal as Environment.MapFullSignal {
                        throw signal
                    } catch {
                        let storageError = StorageError(wrapping: error)
                        request.chain?.fail(storageError)
                        outcomes[index] = .failure(storageError)
                    }
                }
            }
        } catch {
            let storageError = StorageError(wrapping: error)
            for index in outcomes.indices where works[index] != nil {
                outcomes[index] = .failure(storageError)
                batch[index].chain?.fail(storageError)
            }
        }
        recordMetrics(batch, outcomes, began: began)
        for (request, outcome) in zip(batch, outcomes) {
            pendingBytes.subtract(request.bytes, ordering: .relaxed)
            if case .success = outcome { request.afterCommit?() }
            request.ticket.complete(outcome ?? .failure(.misuse("commit produced no outcome")))
        }
    }
}

extension Committer {
    /// One commit's metrics: count, latency, requests, bytes, map size.
    private func recordMetrics(_ batch: [Request], _ outcomes: [Result<Void, StorageError>?], began: UInt64) {
        var committed = 0
        var bytes = 0
        for (request, outcome) in zip(batch, outcomes) {
            guard case .success = outcome else { continue }
            committed += 1
            bytes += request.bytes
        }
        if committed == 0 {
            metrics.failures.increment()
            return
        }
        metrics.commits.increment()
        metrics.commitDuration.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- began))
        metrics.requestsPerCommit.record(committed)
        metrics.bytesWritten.increment(by: bytes)
        metrics.mapSize.record(environment.currentMapSize)
    }
}

extension StorageError {
    /// Any error as a storage error: storage errors as they are, corruption without a location,
    /// anything else as `.misuse` with its description.
    @usableFromInline
    package init(wrapping error: any Error) {
        switch error {
        case let error as StorageError: self = error
        case let corruption as Corruption: self = .corrupt(StoreLocation(stream: "?"), corruption)
        default: self = .misuse(String(describing: error))
        }
    }
}
