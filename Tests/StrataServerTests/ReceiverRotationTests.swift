import Foundation
import Glibc
import Strata
@testable import StrataServer
import StrataStorage
import StrataTestSupport
import Testing

/// The HTTP receiver places unkeyed records round-robin; a restarted receiver (or a new worker
/// in place of a broken one) continues the rotation where the last commit left it, kept in the
/// stream's source row `http receiver` with every commit, so it stores the bytes an
/// uninterrupted receiver stores. Before, every new worker started again at partition 0.
@Suite struct ReceiverRotationTests {
    /// Request `index` of four: 7 lines each (7 is not a multiple of the 3 partitions, so every
    /// request starts the rotation somewhere else), event times spread over a few intervals.
    private static func body(_ index: Int) -> String {
        (0..<7).map { line in
            let seq = index * 7 + line
            return "{\"ts\":\(1000 + seq / 5),\"seq\":\(seq)}\n"
        }.joined()
    }

    private static let target = "/streams/ev?time-field=ts&time-unit=s&partitions=3"

    /// Posts the requests one after the other, each acknowledged (200: committed) before the next.
    private static func post(_ requests: Range<Int>, to port: Int) async throws {
        for index in requests {
            let response = try await exchange(port: port, "POST", target, body: body(index))
            #expect(response.status == 200, "request \(index): \(response.status)")
            #expect(try response.json()["accepted"] as? Int == 7, "request \(index)")
        }
    }

    @Test func aReceiverKilledAfterAnAcknowledgedCommitStoresTheBytesOfAnUninterruptedOne() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-serve-rotation")
        let whole = directory.appending("whole"), restarted = directory.appending("restarted")

        let uninterrupted = try ServeProcess(["serve", "--store", whole, "--port", "0"], in: directory)
        try await Self.post(0..<4, to: try await uninterrupted.listeningPort())
        uninterrupted.signal(SIGTERM)
        let uninterruptedEnd = try await uninterrupted.waitForExit()
        #expect(uninterruptedEnd == .exited(0), "\((try? uninterrupted.standardError()) ?? "")")

        let first = try ServeProcess(["serve", "--store", restarted, "--port", "0"], in: directory)
        try await Self.post(0..<2, to: try await first.listeningPort())
        first.signal(SIGKILL)  // both requests were answered: their commits are durable
        #expect(try await first.waitForExit() == .signaled(SIGKILL))
        let second = try ServeProcess(["serve", "--store", restarted, "--port", "0"], in: directory)
        try await Self.post(2..<4, to: try await second.listeningPort())
        second.signal(SIGTERM)
        let secondEnd = try await second.waitForExit()
        #expect(secondEnd == .exited(0), "\((try? second.standardError()) ?? "")")

        let expected = try storedBlocks(at: whole, ["ev"])
        let actual = try storedBlocks(at: restarted, ["ev"])
        #expect(expected.count >= 6, "\(expected.map(\.key))")
        #expect(actual.map(\.key) == expected.map(\.key))
        #expect(actual.map(\.bytes) == expected.map(\.bytes), "the restarted receiver placed records elsewhere")
        let store = try Store.open(at: restarted)
        let descriptor = try #require(try store.logStore.descriptor(named: "ev"))
        let row = try #require(try store.logStore.sourceRecord(of: descriptor, source: StreamAppender.receiverRotationRow))
        #expect(row.nextRoundRobinPartition == 28 % 3)
        #expect(try store.verify().isClean)
    }

    /// The rotation row survives a salvage: `Store.salvage` copies the stream's source rows (the
    /// rotation is one) with the unsealed blocks the killed receiver committed, so a receiver
    /// started on the salvaged store stores the bytes of an uninterrupted one.
    @Test func aReceiverStartedOnASalvagedStoreContinuesTheRotation() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-serve-rotation-salvage")
        let whole = directory.appending("whole"), killed = directory.appending("killed")
        let salvaged = directory.appending("salvaged")

        let uninterrupted = try ServeProcess(["serve", "--store", whole, "--port", "0"], in: directory)
        try await Self.post(0..<4, to: try await uninterrupted.listeningPort())
        uninterrupted.signal(SIGTERM)
        let uninterruptedEnd = try await uninterrupted.waitForExit()
        #expect(uninterruptedEnd == .exited(0), "\((try? uninterrupted.standardError()) ?? "")")

        let first = try ServeProcess(["serve", "--store", killed, "--port", "0"], in: directory)
        try await Self.post(0..<2, to: try await first.listeningPort())
        first.signal(SIGKILL)  // both requests were answered: their commits are durable
        #expect(try await first.waitForExit() == .signaled(SIGKILL))
        let losses = try await onOwnThread(within: .seconds(300), "a salvage") { () throws -> [SalvageEvent] in
            let source = try Store.openForReading(at: killed)
            let destination = try Store(at: salvaged)
            var losses: [SalvageEvent] = []
            try source.salvage(into: destination, skipping: []) { event in
                switch event {
                case .note, .intervalLost: losses.append(event)
                case .copied(_, _, _, _, let lostBlocks, _, let lostRecords) where lostBlocks > 0 || lostRecords > 0:
                    losses.append(event)
                case .copiedUnsealed(_, _, _, _, let lostBlocks, _) where lostBlocks > 0: losses.append(event)
                default: break
                }
            }
            return losses
        }
        #expect(losses.isEmpty, "\(losses)")
        let second = try ServeProcess(["serve", "--store", salvaged, "--port", "0"], in: directory)
        try await Self.post(2..<4, to: try await second.listeningPort())
        second.signal(SIGTERM)
        let secondEnd = try await second.waitForExit()
        #expect(secondEnd == .exited(0), "\((try? second.standardError()) ?? "")")

        let expected = try storedBlocks(at: whole, ["ev"])
        let actual = try storedBlocks(at: salvaged, ["ev"])
        #expect(expected.count >= 6, "\(expected.map(\.key))")
        #expect(actual.map(\.key) == expected.map(\.key))
        #expect(actual.map(\.bytes) == expected.map(\.bytes), "the receiver on the salvaged store placed records elsewhere")
        let store = try Store.open(at: salvaged)
        let descriptor = try #require(try store.logStore.descriptor(named: "ev"))
        let row = try #require(try store.logStore.sourceRecord(of: descriptor, source: StreamAppender.receiverRotationRow))
        #expect(row.nextRoundRobinPartition == 28 % 3)
        #expect(try store.verify().isClean)
    }

    /// A kept rotation naming a partition the stream does not have is a typed error naming the
    /// stream and the row, not a crash or a silent restart at partition 0.
    @Test func aKeptRotationPastThePartitionsIsNamed() throws {
        let directory = try TemporaryDirectory(prefix: "strata-serve-rotation-bad")
        let store = try Store(at: directory.appending("store"))
        let stream = try store.jsonStream("ev", interval: .seconds(1), partitions: 3)
        var batch = AppendBatch()
        batch.sources = [(stream.descriptor.id, StreamAppender.receiverRotationRow,
                          SourceRecord(position: InputPosition(), maxEventTime: nil, finished: false, processID: 1,
                                       nextRoundRobinPartition: 3))]
        try store.logStore.submit(batch, chain: nil).wait()
        let error = #expect(throws: ReceiverError.self) {
            _ = try DeadLetteringIngestor(stream: stream, store: store, maxRecordBytes: 1 << 20, allowedLateness: .zero,
                                          holdsCommitsUntilFlush: true, rotationRow: StreamAppender.receiverRotationRow)
        }
        guard case .storage(let storage, _) = error else {
            Issue.record("expected a storage error, got \(String(describing: error))")
            return
        }
        #expect(storage == .corrupt(StoreLocation(stream: "ev (source http receiver)"),
                                    .badRow("source row (round-robin partition 3 of 3)")))
    }
}
