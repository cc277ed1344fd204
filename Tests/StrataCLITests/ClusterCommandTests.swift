import Foundation
import StrataClusterTestSupport
import StrataTestSupport
import Testing

/// `strata … --nats URL` and `strata cluster …` with the built binary against real NATS servers.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"))
struct ClusterCommandTests {
    /// Ingest in cluster mode, delete the store, restore it, and compare what `cat` prints; `verify` is clean.
    @Test func ingestReplicatesAndRestoreRebuildsTheStore() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread {
            let directory = try TemporaryDirectory()
            let source = directory.appending("a.strata"), rebuilt = directory.appending("b.strata")
            let nats = cluster.urls.joined(separator: ",")
            let namespace = uniqueName("cli")
            let cluster = ["--nats", nats, "--namespace", namespace]
            let lines = (0..<300).map { #"{"ts":\#(1_000 + $0 / 20),"url":"/p\#($0 % 7)","n":\#($0)}"# }.joined(separator: "\n") + "\n"
            let ingest = try strata(["--store", source] + cluster + ["--node", "a", "ingest", "views", "--time-field", "ts",
                                                                     "--time-unit", "s", "--key-field", "url", "--partitions", "3"],
                                    stdin: lines)
            #expect(ingest.status == 0, "\(ingest.stderr)")
            #expect(ingest.stderr.contains("replicated views through 1014 (3 replicas)"), "\(ingest.stderr)")

            let status = try strata(cluster + ["cluster", "status", "--store", source])
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("Replicated streams"))
            let row = status.stdout.split(separator: "\n").first { $0.hasPrefix("  views ") }
            #expect(row?.split(separator: " ", omittingEmptySubsequences: true).suffix(3) == ["1014", "1014", "0"],
                    "\(status.stdout)")
            let json = try strata(cluster + ["cluster", "status", "--json"])
            #expect(json.stdout.contains(#""replicated_through":"1014","section":"replicated_streams","stream":"views""#),
                    "\(json.stdout)")

            let restore = try strata(cluster + ["cluster", "restore", "--store", rebuilt])
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(restore.stdout.contains("views: sealed through 1014 (15 intervals"), "\(restore.stdout)")
            let verify = try strata(["--store", rebuilt, "verify"])
            #expect(verify.status == 0 && verify.stdout.contains("no problems"), "\(verify.stdout)\(verify.stderr)")
            let original = try strata(["--store", source, "cat", "views", "--json"])
            let copy = try strata(["--store", rebuilt, "cat", "views", "--json"])
            #expect(original.status == 0 && !original.stdout.isEmpty)
            #expect(copy.stdout == original.stdout)
            // Straight from the cluster, without a store.
            let remote = try strata(cluster + ["cat", "views", "--json"])
            #expect(remote.status == 0, "\(remote.stderr)")
            #expect(remote.stdout == original.stdout)
            let slice = try strata(["--nats", nats, "--namespace", namespace, "slice", "views", "--from", "1002", "--to", "1003"])
            let localSlice = try strata(["--store", source, "slice", "views", "--from", "1002", "--to", "1003"])
            #expect(slice.status == 0 && slice.stdout == localSlice.stdout && !slice.stdout.isEmpty, "\(slice.stderr)")
        }
    }

    @Test func ingestWithoutCredentialsIsRefusedAndWritesNothing() async throws {
        try await onOwnThread {
            let cluster = try NATSCluster(nodeCount: 1, authentication: .userPassword(user: "strata", password: "pw"))
            let directory = try TemporaryDirectory()
            let store = directory.appending("a.strata")
            let refused = try strata(["--store", store, "--nats", cluster.urls[0], "ingest", "views"],
                                     stdin: #"{"a":1}"# + "\n")
            #expect(refused.status == 1, "\(refused.stderr)")
            #expect(refused.stderr.contains("not authorized"), "\(refused.stderr)")
            #expect(!refused.crashed)
            #expect(!FileManager.default.fileExists(atPath: store))
            let allowed = try strata(["--store", store, "--nats", cluster.urls[0], "--nats-user", "strata", "--replicas", "1",
                                      "ingest", "views"],
                                     stdin: #"{"a":1}"# + "\n", environment: ["STRATA_NATS_PASSWORD": "pw"])
            #expect(allowed.status == 0, "\(allowed.stderr)")
            let usage = try strata(["--nats", cluster.urls[0], "--nats-password", "x", "cluster", "status"])
            #expect(usage.status == 64, "\(usage.stderr)")
            cluster.stop()
        }
    }

    @Test func tlsFlagsReachAClusterRequiringClientCertificates() async throws {
        try await onOwnThread {
            let cluster = try NATSCluster(nodeCount: 1, requireTLS: true)
            let tls = try #require(cluster.tls)
            let plain = try strata(["--nats", cluster.urls[0], "cluster", "status"])
            #expect(plain.status == 1 && plain.stderr.hasPrefix("Error: "), "\(plain.stderr)")
            let secured = try strata(["--nats", cluster.urls[0], "--nats-tls-ca", tls.certificateAuthority,
                                      "--nats-tls-cert", tls.clientCertificate, "--nats-tls-key", tls.clientKey,
                                      "cluster", "status"])
            #expect(secured.status == 0, "\(secured.stderr)")
            #expect(secured.stdout.hasPrefix("Nodes\n"))
            let half = try strata(["--nats", cluster.urls[0], "--nats-tls-cert", tls.clientCertificate, "cluster", "status"])
            #expect(half.status == 64, "\(half.stderr)")
            cluster.stop()
        }
    }

    /// Issue 15, item 1: `strata serve --nats` answers a POST 200 only once its records are in
    /// JetStream (a store restored from the cluster then holds them, byte for byte the server's),
    /// and 202 ("replicated": false) when its interval cannot be sealed in time. The 200 is asked
    /// of a server with a replication timeout no loaded machine reaches; the 202 (an interval
    /// nothing seals) of a second server on the same store with a short one.
    @Test func serveInClusterModeAcknowledgesOnlyWhatIsReplicated() async throws {
        let cluster = try await SharedNATSCluster.get()
        try await onOwnThread(within: .seconds(900), "strata serve --nats") {
            let directory = try TemporaryDirectory()
            let source = directory.appending("a.strata"), rebuilt = directory.appending("b.strata")
            let nats = ["--nats", cluster.urls.joined(separator: ","), "--namespace", uniqueName("serve")]
            let server = try ServeInBackground(["serve", "--store", source, "--port", "0", "--node", "a",
                                               "--replication-timeout", "300s"] + nats, in: directory)
            let port = try server.listeningPort()

            // Arrival time, 200 ms intervals: sealed by the server's clock, then replicated.
            let lines = (0..<300).map { #"{"url":"/p\#($0 % 7)","n":\#($0)}"# }.joined(separator: "\n") + "\n"
            let posted = try curlPost(port: port, path: "/streams/views?interval=200ms&partitions=2", body: lines,
                                      in: directory)
            #expect(posted.status == 200, "\(posted.body)\n\(server.standardError)")
            #expect(posted.body.contains(#""accepted":300"#) && posted.body.contains(#""replicated":true"#), "\(posted.body)")

            // Whatever a 200 covered is in JetStream: a store restored from the cluster holds it.
            let restore = try strata(nats + ["cluster", "restore", "--store", rebuilt, "views"])
            #expect(restore.status == 0, "\(restore.stderr)")
            let copy = try strata(["--store", rebuilt, "cat", "views", "--json"])
            #expect(copy.stdout.split(separator: "\n").count == 300, "\(copy.stdout.prefix(500))\(copy.stderr)")

            server.signal(SIGTERM)
            #expect(server.waitForExit() == 0, "\(server.standardError)")
            #expect(server.standardError.contains("replicated views through"), "\(server.standardError)")

            // Event time without --idle-seal: nothing seals the interval, so no 200 within the timeout.
            let second = try ServeInBackground(["serve", "--store", source, "--port", "0", "--node", "a",
                                                "--replication-timeout", "2s"] + nats, in: directory)
            let pending = try curlPost(port: try second.listeningPort(), path: "/streams/events?time-field=ts&time-unit=s",
                                       body: #"{"ts":1000,"n":1}"# + "\n", in: directory)
            #expect(pending.status == 202, "\(pending.body)")
            #expect(pending.body.contains(#""replicated":false"#) && pending.body.contains("not replicated"), "\(pending.body)")
            second.signal(SIGTERM)
            #expect(second.waitForExit() == 0, "\(second.standardError)")

            let original = try strata(["--store", source, "cat", "views", "--json"])
            #expect(original.status == 0 && copy.stdout == original.stdout)
        }
    }
}

/// The built `strata` binary running in the background, its output going to files.
final class ServeInBackground: @unchecked Sendable {
    // @unchecked: `Process` is not Sendable; it is only started here, then signalled and polled.
    let process = Process()
    let errorPath: String

    init(_ arguments: [String], in directory: TemporaryDirectory) throws {
        errorPath = directory.appending("background-\(UUID().uuidString).stderr")
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["STRATA_STORE"] = nil
        environment["STRATA_TOKEN"] = nil
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        try process.run()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    var standardError: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// The port of the `listening on http://127.0.0.1:PORT` line, once printed.
    func listeningPort() throws -> Int {
        let marker = "listening on http://127.0.0.1:"
        waitUntil(within: .seconds(120)) { standardError.contains(marker) || !process.isRunning }
        let text = standardError
        guard let range = text.range(of: marker), let port = Int(text[range.upperBound...].prefix { $0.isNumber }) else {
            throw NATSClusterError.timedOut("strata serve did not listen", lastError: text)
        }
        return port
    }

    func signal(_ number: Int32) { if process.isRunning { kill(process.processIdentifier, number) } }

    /// The exit status once the process ended (within `deadline`), else `nil`.
    func waitForExit(within deadline: Duration = .seconds(120)) -> Int32? {
        waitUntil(within: deadline) { !process.isRunning } ? process.terminationStatus : nil
    }
}

/// POSTs `body` to the server on `port` with curl; the status and the response body.
func curlPost(port: Int, path: String, body: String, in directory: TemporaryDirectory) throws -> (status: Int, body: String) {
    let name = UUID().uuidString
    let input = directory.appending("\(name).body"), output = directory.appending("\(name).response")
    try Data(body.utf8).write(to: URL(fileURLWithPath: input))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["curl", "-s", "-o", output, "-w", "%{http_code}", "--max-time", "600", "--data-binary", "@" + input,
                         "http://127.0.0.1:\(port)\(path)"]
    let status = Pipe()
    process.standardOutput = status
    try process.run()
    let code = String(decoding: status.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (Int(code) ?? -1, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}
