import Foundation
import Strata
import StrataServer
import StrataTestSupport
import Testing

/// HTTPS with `tlsCertificatePath`/`tlsKeyPath` (`strata serve --tls-cert/--tls-key`): a
/// self-signed certificate made with openssl, and real curl as the client.
@Suite struct TLSTests {
    /// A self-signed certificate for 127.0.0.1 and its key, in `directory`. Waits for openssl:
    /// call it off the cooperative pool (`onOwnThread`).
    static func makeCertificate(in directory: TemporaryDirectory) throws -> (certificate: String, key: String) {
        let certificate = directory.appending("cert.pem"), key = directory.appending("key.pem")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                             "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("openssl req exited \(process.terminationStatus)") }
        return (certificate, key)
    }

    @Test func servesHTTPSWithTheTokenAndRefusesPlainHTTP() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-tls")
        let (certificate, key) = try await onOwnThread { try Self.makeCertificate(in: directory) }
        let server = try await ReceiverHarness.start {
            $0.tlsCertificatePath = certificate
            $0.tlsKeyPath = key
            $0.token = "s3cret"
        }
        let url = "https://127.0.0.1:\(server.port)"
        let posted = try await Curl.run(["--cacert", certificate, "-H", "Authorization: Bearer s3cret",
                                         "--data-binary", "{\"a\":1}\n", url + "/streams/secure"])
        #expect(String(decoding: posted, as: UTF8.self).contains("\"accepted\":1"))
        let streams = try await Curl.run(["--cacert", certificate, "-H", "Authorization: Bearer s3cret",
                                          url + "/api/streams"])
        #expect(String(decoding: streams, as: UTF8.self).contains("\"name\":\"secure\""))
        #expect(try await Curl.status(url + "/api/streams", ["--cacert", certificate]) == 401)
        // Plain HTTP on the TLS port gets no HTTP answer.
        #expect(try await Curl.status("http://127.0.0.1:\(server.port)/api/streams") == 0)
        try await server.stop()
    }

    @Test func anUnreadableCertificateIsAnErrorNamingTheFile() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-tls-bad")
        let (_, key) = try await onOwnThread { try Self.makeCertificate(in: directory) }
        let store = try Store(at: directory.appending("store"))
        var configuration = ReceiverConfiguration()
        configuration.port = 0
        configuration.tlsCertificatePath = directory.appending("missing.pem")
        configuration.tlsKeyPath = key
        let receiver = IngestReceiver(store: store, configuration: configuration)
        await #expect {
            try await receiver.run()
        } throws: { error in
            "\(error)".contains("missing.pem")
        }
        await #expect(throws: (any Error).self) { _ = try await receiver.listeningPort() }
        configuration.tlsKeyPath = nil
        #expect(throws: ReceiverError.self) { try configuration.validate() }
    }
}
