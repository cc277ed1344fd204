import Glibc
import Dispatch
import Synchronization

/// The store's only writer: runs write requests in LMDB write transactions on one serial queue.
///
/// Encoding and compression happen before a request is submitted, off the committer's thread; a
/// request only puts ready bytes. With `.groupCommit` and `.noSync`, every request waiting when
/// the queue gets to them shares one transaction (and so one flush); each runs in a nested
/// transaction so that one failing request does not undo the others. With `.fsyncEveryCommit`
/// each request commits alone.
///
/// `Committer` is `Sendable`; submit from any thread.
package final class Committer: Sendable {
    /// One unit of work for the write transaction.
    package typealias Work = @Sendable (borrowing Transaction) throws -> Void

    private struct Request {
        let work: Work
        let defersMetaSync: Bool
        let ticket: CommitTicket
        let chain: CommitChain?
        let bytes: Int
        let afterCommit: (@Sendable () -> Void)?
    }

    private let environment: Environment
    private let durability: Durability
    private let queue = DispatchQueue(label: "strata.committer")
    private let pending = Mutex<[Request]>([])
    /// Follows each write transaction, for the seal counts (`SealTally`).
    private let tally: SealTally?
    /// Bytes submitted and not yet committed, for backpressure.
    package let pendingBytes = Atomic<Int>(0)
    /// Commits, their latency and bytes, for swift-metrics.
    package let metrics = StorageMetrics()
    /// Transactions committed with the meta-page flush deferred (`defersMetaSync`), and all
    /// transactions committed; for tests and benchmarks.
    package let deferredMetaSyncCommits = Atomic<Int>(0)
    package let transactionsCommitted = Atomic<Int>(0)
    /// Whether the newest transaction committed deferred its meta-page flush; for tests that
    /// kill a process right after such a commit.
    package let newestCommitDeferredMetaSync = Atomic<Bool>(false)

    /// Written after every commit, so that waiters in other processes wake (see `CommitNotice`).
    private let notice: CommitNotice?

    init(environment: Environment, durability: Durability, tally: SealTally? = nil, noticeFile: String? = nil) {
        self.environment = environment
        self.durability = durability
        self.tally = tally
        notice = noticeFile.flatMap(CommitNotice.init(path:))
    }

    /// Queues `work`; the ticket is acknowledged once it is committed under the durability setting.
    ///
    /// - Parameters:
    ///   - bytes: How many bytes the request writes, counted for backpressure until it commits.
    ///   - chain: Requests that must land in order; after one fails, later ones fail unrun.
    ///   - afterCommit: Runs on the committer's queue once the request is committed.
    ///   - defersMetaSync: Whether the commit may skip flushing LMDB's meta page (`MDB_NOMETASYNC`),
    ///     because a later synced commit orders after it; honoured when every request of the
    ///     transaction allows it.
    ///   - ticket: The ticket to acknowledge (a new one when `nil`).
    package func submit(bytes: Int = 0, chain: CommitChain? = nil, defersMetaSync: Bool = false,
                        ticket: CommitTicket? = nil, afterCommit: (@Sendable () -> Void)? = nil,
                        _ work: @escaping Work) -> CommitTicket {
        let ticket = ticket ?? CommitTicket()
        pendingBytes.add(bytes, ordering: .relaxed)
        let request = Request(work: work, defersMetaSync: defersMetaSync, ticket: ticket, chain: chain, bytes: bytes,
                              afterCommit: afterCommit)
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
            var batch = pending.withLock { queue -> [Request] in
                let batch = queue
                queue.removeAll()
                return batch
            }
            if batch.isEmpty { return }
            if durability == .fsyncEveryCommit {
                var remaining = batch
                batch = []
                remaining.reverse()
                while !remaining.isEmpty {
                    var one = [remaining.removeLast()]
                    commit(&one)
                }
            } else {
                commit(&batch)
            }
        }
    }

    /// Commits `batch`, then acknowledges each request after releasing its closures (emptying
    /// `batch`): the closures may hold the last references to a store, and a caller that drops
    /// its own reference after its ticket is acknowledged must find the store closed then, not a
    /// moment later when this thread lets go.
    private func commit(_ batch: inout [Request]) {
        let began = DispatchTime.now().uptimeNanoseconds
        var outcomes = [Result<Void, StorageError>?](repeating: nil, count: batch.count)
        var works = [Work?](repeating: nil, count: batch.count)
        for (index, request) in batch.enumerated() {
            if let failure = request.chain?.firstFailure {
                outcomes[index] = .failure(failure)
            } else {
                works[index] = request.work
            }
        }
        let runnable = works.lazy.filter { $0 != nil }.count
        let tally = self.tally
        // Flush the meta page later only when every request of the transaction allows it.
        let defersMetaSync = durability != .noSync && runnable > 0
            && batch.indices.allSatisfy { works[$0] == nil || batch[$0].defersMetaSync }
        if defersMetaSync { environment.setMetaSyncDeferred(true) }
        defer { if defersMetaSync { environment.setMetaSyncDeferred(false) } }
        do {
            try environment.write { txn in
                tally?.transactionBegan(id: txn.id)
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
                        tally?.nestedTransactionFailed()
                        let storageError = StorageError(wrapping: error)
                        request.chain?.fail(storageError)
                        outcomes[index] = .failure(storageError)
                    }
                }
            }
            tally?.transactionEnded(committed: true)
            if defersMetaSync { deferredMetaSyncCommits.add(1, ordering: .relaxed) }
            newestCommitDeferredMetaSync.store(defersMetaSync, ordering: .relaxed)
            transactionsCommitted.add(1, ordering: .releasing)
        } catch {
            tally?.transactionEnded(committed: false)
            let storageError = StorageError(wrapping: error)
            for index in outcomes.indices where works[index] != nil {
                outcomes[index] = .failure(storageError)
                batch[index].chain?.fail(storageError)
            }
        }
        if outcomes.contains(where: { if case .success = $0 { true } else { false } }) { notice?.post() }
        recordMetrics(batch, outcomes, began: began)
        var finished = zip(batch, outcomes).map { request, outcome in
            (ticket: request.ticket, bytes: request.bytes, afterCommit: request.afterCommit,
             outcome: outcome ?? .failure(.misuse("commit produced no outcome")))
        }
        works.removeAll()
        batch.removeAll()
        finished.reverse()
        while var done = finished.popLast() {
            pendingBytes.subtract(done.bytes, ordering: .relaxed)
            if case .success = done.outcome { done.afterCommit?() }
            done.afterCommit = nil
            done.ticket.complete(done.outcome)
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

/// A small file in the store directory that the committer writes to after every commit that
/// committed something, once `mdb_txn_commit` has returned.
///
/// Other processes wait for seals by watching the store directory with inotify (`SealSignal`).
/// A write to `data.mdb` alone is not a safe wake-up: LMDB publishes a commit to readers by
/// updating the transaction id in the shared `lock.mdb` map *after* writing the meta page, and
/// writes to a shared map raise no inotify event. A reader woken by the meta page's write can so
/// look before the commit is visible and then sleep through it. This file's write comes after
/// the commit is visible, so a reader woken by it always finds the commit.
///
/// The file holds the process's commit count (8 bytes, little-endian); only its changes matter.
/// A failed write only delays readers in other processes until their poll interval; it never
/// affects the commit.
final class CommitNotice: Sendable {
    /// The file's name in the store directory.
    static let fileName = "commits"

    private let descriptor: Int32
    private let count = Atomic<UInt64>(0)

    /// Opens (creating) `path`; `nil` when it cannot be opened (a read-only directory).
    init?(path: String) {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Records one more commit.
    func post() {
        var value = count.wrappingAdd(1, ordering: .relaxed).newValue.littleEndian
        _ = withUnsafeBytes(of: &value) { pwrite(descriptor, $0.baseAddress, 8, 0) }
    }
}
