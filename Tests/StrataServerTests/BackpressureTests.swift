import Foundation
import Strata
import Synchronization
import StrataTestSupport
import Testing

@testable import StrataServer

@Suite struct IngestBudgetTests {
    @Test func aRequestWaitsWhileTheBudgetIsSpentAndGoesOnWhenItIsReleased() async throws {
        let budget = IngestBudget(capacity: 100, counters: MetricsCounters())
        budget.beginReceiving(1)
        budget.beginReceiving(2)
        try await budget.reserve(80, for: 1)
        let granted = Atomic<Bool>(false)
        let waiting = Task {
            try await budget.reserve(50, for: 2)
            granted.store(true, ordering: .sequentiallyConsistent)
        }
        try #require(try await eventually { budget.waiterCount == 1 })
        let grantedEarly = granted.load(ordering: .sequentiallyConsistent)
        #expect(!grantedEarly)
        budget.release(80)
        try await waiting.value
        let grantedLate = granted.load(ordering: .sequentiallyConsistent)
        #expect(grantedLate)
        #expect(budget.reservedBytes == 50)
    }

    @Test func theOldestRequestStillReceivingMayAlwaysGoOn() async throws {
        let budget = IngestBudget(capacity: 100, counters: MetricsCounters())
        budget.beginReceiving(1)
        budget.beginReceiving(2)
        try await budget.reserve(90, for: 2)  // a younger request holds most of the budget
        try await budget.reserve(500, for: 1)  // the oldest is not held back by it: no deadlock
        #expect(budget.reservedBytes == 590)
        // Once the oldest is complete, the younger one becomes the oldest.
        budget.endReceiving(1)
        try await budget.reserve(500, for: 2)
        #expect(budget.reservedBytes == 1090)
    }

    @Test func aWaitingRequestCanBeCancelled() async throws {
        let budget = IngestBudget(capacity: 10, counters: MetricsCounters())
        budget.beginReceiving(1)
        budget.beginReceiving(2)
        try await budget.reserve(10, for: 1)
        let waiting = Task { try await budget.reserve(5, for: 2) }
        try #require(try await eventually { budget.waiterCount == 1 })
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(budget.waiterCount == 0)
        #expect(budget.reservedBytes == 10)
    }
}

@Suite struct BackpressureTests {
    /// While a stream's queue is full, a request's handler stops taking its body, so the server
    /// stops reading its socket: the client's writes block, nothing is buffered without bound.
    @Test func whenTheQueueIsFullTheServerStopsReadingTheBody() async throws {
        let server = try await ReceiverHarness.start { $0.maxQueuedBytesPerStream = 1024; $0.maxBodyBytes = 64 << 20 }
        // Request A holds the budget: it is the oldest still receiving, with 1500 bytes read.
        let a = try RawHTTPConnection(port: server.port)
        let aBody = Array(numberedLines(100).utf8)
        let aHead = "POST /streams/bp?time-field=ts&time-unit=s HTTP/1.1\r\nHost: x\r\nContent-Length: \(aBody.count)\r\n\r\n"
        try await a.send(Array(aHead.utf8) + aBody[0..<1500])
        try #require(try await eventually { server.receiver.metrics.bodyBytes == 1500 })

        // Request B: 32 MiB, written by a thread of its own until it is all sent.
        let b = try RawHTTPConnection(port: server.port)
        var bBody: [UInt8] = []
        let line = Array("{\"ts\":2000,\"pad\":\"\(String(repeating: "z", count: 100))\"}\n".utf8)
        while bBody.count + line.count <= 32 << 20 { bBody += line }
        let bLines = bBody.count / line.count
        let bHead = "POST /streams/bp HTTP/1.1\r\nHost: x\r\nContent-Length: \(bBody.count)\r\n\r\n"
        let sent = Atomic<Int>(0)
        let writer = Task { [bBody] in
            try await onOwnThread {
                try b.sendNow(Array(bHead.utf8))
                var offset = 0
                while offset < bBody.count {
                    let end = min(offset + 65536, bBody.count)
                    try b.sendNow(Array(bBody[offset..<end]))
                    offset = end
                    sent.store(offset, ordering: .sequentiallyConsistent)
                }
            }
        }
        // B waits for budget: its handler took none of its body.
        try #require(try await eventually { server.receiver.metrics.backpressureWaits >= 1 })
        #expect(server.receiver.metrics.bodyBytes == 1500)
        // The server does not read B's socket meanwhile: what it takes in is bounded by socket
        // and channel buffers, far below the body.
        let sentSoFar = sent.load(ordering: .sequentiallyConsistent)
        #expect(sentSoFar < bBody.count)

        // A completes; its bytes are appended and released, and B goes on.
        try await a.send(Array(aBody[1500...]))
        let aResponse = try await a.readResponse()
        #expect(aResponse.status == 200)
        #expect(try aResponse.json()["accepted"] as? Int == 100)
        try await writer.value
        let bResponse = try await b.readResponse()
        #expect(bResponse.status == 200)
        #expect(try bResponse.json()["accepted"] as? Int == bLines)
        #expect(server.receiver.metrics.queuedBytes == 0)
        try await server.stop()
    }
}
