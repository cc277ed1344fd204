import Foundation
import Glibc
import Strata
import StrataServer
import StrataTestSupport
import Testing

@Suite struct LimitsTests {
    @Test func bodyLargerThanTheLimitIs413BeforeItIsRead() async throws {
        let server = try await ReceiverHarness.start { $0.maxBodyBytes = 1000; $0.maxRecordBytes = 100 }
        let connection = try RawHTTPConnection(port: server.port)
        // Only the head is sent: the declared length alone decides.
        try await connection.send("POST /streams/big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        let response = try await connection.readResponse()
        #expect(response.status == 413)
        #expect(response.headers["connection"] == "close")
        #expect(try response.json()["error"] as? String
                == "request body of 5000 bytes exceeds the limit of 1000 bytes; nothing was stored")
        try await server.stop()
        #expect(try server.store.streams().isEmpty)
    }

    @Test func chunkedBodyPassingTheLimitIs413AndNothingIsStored() async throws {
        let server = try await ReceiverHarness.start { $0.maxBodyBytes = 1000; $0.maxRecordBytes = 100 }
        let connection = try RawHTTPConnection(port: server.port)
        var request = "POST /streams/big?time-field=ts&time-unit=s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        let line = "{\"ts\":1000,\"pad\":\"" + String(repeating: "x", count: 50) + "\"}\n"
        for _ in 0..<20 { request += String(line.utf8.count, radix: 16) + "\r\n" + line + "\r\n" }
        request += "0\r\n\r\n"
        try await connection.send(request)
        let response = try await connection.readResponse()
        #expect(response.status == 413)
        #expect(try response.json()["error"] as? String == "request body exceeds the limit of 1000 bytes; nothing was stored")
        try await server.stop()
        #expect(try sealAndRead("big", in: server.store, through: Interval(1000)).isEmpty)
    }

    @Test func aLineLongerThanTheRecordLimitIs413AndNothingOfTheBodyIsStored() async throws {
        let server = try await ReceiverHarness.start { $0.maxRecordBytes = 64 }
        let body = "{\"ts\":1000,\"ok\":1}\n{\"ts\":1000,\"pad\":\"" + String(repeating: "y", count: 100) + "\"}\n{\"ts\":1000}\n"
        let response = try await server.post("long", query: "time-field=ts&time-unit=s", body)
        #expect(response.status == 413)
        let error = try response.json()["error"] as? String
        let message = try #require(error)
        #expect(message.hasPrefix("line 2 is longer than 64 bytes, the limit for one record"))
        #expect(message.hasSuffix("nothing was stored"))
        // A body within the limits still goes through.
        #expect(try await server.post("long", query: "time-field=ts&time-unit=s", "{\"ts\":1000}\n").status == 200)
        try await server.stop()
        #expect(try sealAndRead("long", in: server.store, through: Interval(1000)) == ["{\"ts\":1000}"])
    }

    @Test func connectionsBeyondTheLimitWaitUntilOneCloses() async throws {
        let server = try await ReceiverHarness.start { $0.maxConnections = 2 }
        let first = try RawHTTPConnection(port: server.port)
        let second = try RawHTTPConnection(port: server.port)
        for connection in [first, second] {
            try await connection.send(httpRequest("GET", "/streams"))
            #expect(try await connection.readResponse().status == 200)
        }
        // The third connection is in the listen backlog, not served.
        var third: RawHTTPConnection? = try RawHTTPConnection(port: server.port)
        try await third?.send(httpRequest("GET", "/streams"))
        try await first.send(httpRequest("GET", "/metrics"))
        #expect(try await first.readResponse().status == 200)
        #expect(third?.hasData() == false)
        // Closing one lets it in.
        first.shutdownWrite()
        #expect(try await first.isClosedByServer())
        #expect(try await third?.readResponse().status == 200)
        third = nil
        _ = second
        try await server.stop()
    }

    @Test func malformedHTTPGets400AndTheServerGoesOn() async throws {
        let server = try await ReceiverHarness.start()
        let garbage = try RawHTTPConnection(port: server.port)
        try await garbage.send("THIS IS NOT HTTP\r\n\r\n")
        #expect(try await garbage.readResponse().status == 400)

        let badLength = try RawHTTPConnection(port: server.port)
        try await badLength.send("POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: twelve\r\n\r\n")
        #expect(try await badLength.readResponse().status == 400)

        #expect(try await server.post("x", "{\"a\":1}\n").status == 200)
        try await server.stop()
    }

    @Test func aClientThatGoesAwayMidBodyLeavesNothingAndTheServerGoesOn() async throws {
        let server = try await ReceiverHarness.start()
        let quitter = try RawHTTPConnection(port: server.port)
        try await quitter.send("POST /streams/x?time-field=ts&time-unit=s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                               + "{\"ts\":1000,\"gone\":true}\n")
        try await #require(eventually { server.receiver.metrics.bodyBytes > 0 })
        quitter.shutdownWrite()
        #expect(try await quitter.isClosedByServer())
        let response = try await server.post("x", query: "time-field=ts&time-unit=s", "{\"ts\":1000,\"kept\":true}\n")
        #expect(response.status == 200)
        try await server.stop()
        #expect(try sealAndRead("x", in: server.store, through: Interval(1000)) == ["{\"ts\":1000,\"kept\":true}"])
    }
}

@Suite struct AuthorizationTests {
    @Test func withATokenEveryRequestNeedsTheBearerHeader() async throws {
        let server = try await ReceiverHarness.start { $0.token = "s3cret" }
        let missing = try await server.post("x", "{\"a\":1}\n")
        #expect(missing.status == 401)
        #expect(missing.headers["www-authenticate"] == "Bearer realm=\"strata\"")
        #expect(try await server.post("x", "{\"a\":1}\n", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try await server.post("x", "{\"a\":1}\n", headers: ["Authorization": "Bearer s3cret2"]).status == 401)
        #expect(try await server.post("x", "{\"a\":1}\n", headers: ["Authorization": "Basic s3cret"]).status == 401)
        #expect(try await server.get("/streams").status == 401)
        #expect(try await server.get("/metrics").status == 401)
        #expect(try server.store.streams().isEmpty)

        let allowed = try await server.post("x", "{\"a\":1}\n", headers: ["Authorization": "Bearer s3cret"])
        #expect(allowed.status == 200)
        #expect(try await server.get("/streams", headers: ["Authorization": "Bearer s3cret"]).status == 200)
        #expect(server.receiver.metrics.responses[401] == 6)
        try await server.stop()
    }
}

@Suite struct ConfigurationValidationTests {
    enum Change: String, CaseIterable, Sendable {
        case portOutOfRange, zeroRecordLimit, recordLimitPastBlocks, bodyLimitBelowRecordLimit, noConnections, emptyToken

        func apply(to c: inout ReceiverConfiguration) {
            switch self {
            case .portOutOfRange: c.port = 70000
            case .zeroRecordLimit: c.maxRecordBytes = 0
            case .recordLimitPastBlocks: c.maxRecordBytes = 32 << 20
            case .bodyLimitBelowRecordLimit: c.maxBodyBytes = 10
            case .noConnections: c.maxConnections = 0
            case .emptyToken: c.token = ""
            }
        }

        var words: String {
            switch self {
            case .portOutOfRange: "port must be 0 to 65535"
            case .zeroRecordLimit, .recordLimitPastBlocks: "the record size limit must be 1 to 16777216 bytes"
            case .bodyLimitBelowRecordLimit: "the body size limit (10 bytes) must be at least the record size limit"
            case .noConnections: "the connection limit must be at least 1"
            case .emptyToken: "the token must not be empty"
            }
        }
    }

    @Test(arguments: Change.allCases)
    func invalidSettingsAreRefused(change: Change) async throws {
        var configuration = ReceiverConfiguration()
        change.apply(to: &configuration)
        #expect(throws: ReceiverError.self) { try configuration.validate() }
        do {
            try configuration.validate()
        } catch {
            #expect(error.description.contains(change.words), "\(error)")
        }
        let directory = try TemporaryDirectory()
        let receiver = IngestReceiver(store: try Store(at: directory.appending("s")), configuration: configuration)
        await #expect(throws: ReceiverError.self) { try await receiver.run() }
    }

    @Test func aPortInUseIsAClearError() async throws {
        let server = try await ReceiverHarness.start()
        var configuration = ReceiverConfiguration()
        configuration.port = server.port
        let second = IngestReceiver(store: server.store, configuration: configuration)
        do {
            try await second.run()
            Issue.record("a second receiver on the same port ran")
        } catch let error as ReceiverError {
            guard case .bindFailed(let host, let port, _) = error else { throw error }
            #expect(host == "127.0.0.1" && port == server.port)
            #expect(error.description.hasPrefix("address 127.0.0.1:\(server.port) is already in use"))
        }
        await #expect(throws: ReceiverError.self) { _ = try await second.listeningPort() }
        try await server.stop()
    }
}
