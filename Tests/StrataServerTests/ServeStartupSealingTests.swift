import Foundation
import Glibc
import Strata
import StrataServer
import StrataTestSupport
import Testing

/// Issue 10, item 3: records acknowledged before a SIGTERM of `strata serve` become readable when
/// the server starts again, without new data.
@Suite struct ServeStartupSealingTests {
    @Test func acknowledgedRecordsOfTheOpenIntervalAreSealedAtTheNextStart() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-serve")
        let store = directory.appending("store")
        let first = try ServeProcess(["serve", "--store", store, "--port", "0"], in: directory)
        let port = try await first.listeningPort()
        var lines = ""
        for seq in 0..<100 { lines += "{\"seq\":\(seq)}\n" }
        let response = try await exchange(port: port, "POST", "/streams/a?interval=500ms&partitions=2", body: lines)
        #expect(response.status == 200)
        #expect(try response.json()["accepted"] as? Int == 100)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == .exited(0))
        let readableBefore = try readSealed("a", in: try Store.open(at: store)).count

        // The arrival interval of the records ends (a condition on the wall clock, at most 500 ms away).
        let length: Int64 = 500_000_000
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let boundary = (Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)) / length * length + length
        _ = try await eventually(within: 60) {
            var spec = timespec()
            clock_gettime(CLOCK_REALTIME, &spec)
            return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec) >= boundary
        }

        let second = try ServeProcess(["serve", "--store", store, "--port", "0"], in: directory)
        _ = try await second.listeningPort()
        let readableAfter = try readSealed("a", in: try Store.open(at: store))
        #expect(readableAfter.count == 100)
        #expect(Set(readableAfter).count == 100)
        let messages = try second.standardError()
        if readableBefore < 100 { #expect(messages.contains("sealed a through"), "\(messages)") }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == .exited(0))
    }

    /// `--idle-seal`: a quiet event-time stream's open intervals are sealed without new data.
    @Test func idleSealSealsAQuietEventTimeStream() async throws {
        let server = try await ReceiverHarness.start { configuration in
            configuration.allowedLateness = .seconds(3600)  // the watermark alone would seal nothing
            configuration.idleSeal = .milliseconds(200)
        }
        let response = try await server.post("q", query: "time-field=ts&time-unit=s&partitions=2", numberedLines(250))
        #expect(response.status == 200)
        let store = server.store
        let sealed = try await eventually(within: 60) { try readSealed("q", in: store).count == 250 }
        #expect(sealed)
        try await server.stop()
    }
}
