import Foundation
import Glibc
import Strata
import StrataServer
import StrataTestSupport
import Testing

@Suite struct ShutdownTests {
    /// Shutdown stops accepting, lets the request being read finish, acknowledges it once durable,
    /// and only then returns from `run()`.
    @Test func shutdownFinishesAndAcknowledgesTheRequestBeingRead() async throws {
        let server = try await ReceiverHarness.start()
        let body = Array(numberedLines(100).utf8)
        let inFlight = try RawHTTPConnection(port: server.port)
        let head = "POST /streams/s?time-field=ts&time-unit=s HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n"
        try await inFlight.send(Array(head.utf8) + body[0..<500])
        try #require(try await eventually { server.receiver.metrics.bodyBytes == 500 })

        await server.receiver.shutdown()
        // No new connections once the listening socket is closed.
        #expect(try await eventually { (try? RawHTTPConnection(port: server.port)) == nil })
        #expect(!server.running.isCancelled)

        try await inFlight.send(Array(body[500...]))
        let response = try await inFlight.readResponse()
        #expect(response.status == 200)
        #expect(try response.json()["accepted"] as? Int == 100)
        try await server.running.value
        #expect(try sealAndRead("s", in: server.store, through: Interval(1000)).count == 100)
    }

    @Test func shutdownBeforeRunMakesRunReturnAtOnce() async throws {
        let directory = try TemporaryDirectory()
        let store = try Store(at: directory.appending("store"))
        var configuration = ReceiverConfiguration()
        configuration.port = 0
        let receiver = IngestReceiver(store: store, configuration: configuration)
        await receiver.shutdown()
        try await receiver.run()
        await #expect(throws: ReceiverError.self) { try await receiver.run() }
    }

    /// `strata serve` exits 0 on SIGTERM after acknowledging the request it was reading.
    @Test(arguments: [SIGTERM, SIGINT])
    func serveExitsCleanlyOnSignalAfterAcknowledgingWhatItRead(signal number: Int32) async throws {
        let directory = try TemporaryDirectory(prefix: "strata-serve")
        let store = directory.appending("store")
        let child = try ServeProcess(["serve", "--store", store, "--port", "0"], in: directory)
        let port = try await child.listeningPort()

        let body = Array(numberedLines(50).utf8)
        let inFlight = try RawHTTPConnection(port: port)
        let head = "POST /streams/s?time-field=ts&time-unit=s HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n"
        try await inFlight.send(Array(head.utf8) + body[0..<100])
        // A completed request first, so the in-flight one is surely being read.
        #expect(try await exchange(port: port, "GET", "/streams").status == 200)

        child.signal(number)
        try await inFlight.send(Array(body[100...]))
        let response = try await inFlight.readResponse()
        #expect(response.status == 200)
        #expect(try response.json()["accepted"] as? Int == 50)

        let status = try await child.waitForExit()
        #expect(status == .exited(0))
        let stderr = try child.standardError()
        #expect(stderr.contains("listening on http://127.0.0.1:\(port)"))
        #expect(stderr.contains("stopped after 2 requests and 1 commit: 50 accepted, 0 rejected, 0 late"))
        #expect(!stderr.contains("Fatal error"))
        let reopened = try Store.open(at: store)
        #expect(try sealAndRead("s", in: reopened, through: Interval(1000)).count == 50)
    }
}
