import Foundation
import StrataCluster
import StrataTestSupport
import Synchronization

/// A JetStream cluster of real `nats-server` processes on loopback, for tests.
///
/// Each node gets ephemeral client and route ports, a config file and a JetStream store directory
/// under one temporary directory. `init` returns once the cluster can create a stream with as
/// many replicas as it has nodes. Nodes can be killed (`SIGKILL`), paused (`SIGSTOP`), resumed
/// and restarted with their store. Every process is stopped (`SIGTERM`, then `SIGKILL`) by
/// `stop()` or when the value is released.
///
/// `NATSCluster` is `Sendable`. Its methods block (they start processes and wait for the
/// cluster): call them from a thread of your own (`onOwnThread`), not from the cooperative pool.
///
/// ```swift
/// let cluster = try NATSCluster()                       // 3 nodes, JetStream ready
/// let connection = try NATSConnection(cluster.connectionOptions(name: "test"))
/// cluster.kill(node: 1)
/// try cluster.restart(node: 1)
/// ```
public final class NATSCluster: Sendable {
    /// How clients must authenticate to the cluster.
    public enum Authentication: Sendable, Equatable {
        /// No authentication.
        case none
        /// One user with a password.
        case userPassword(user: String, password: String)
        /// A token.
        case token(String)

        /// The matching client credentials.
        public var credentials: NATSCredentials {
            switch self {
            case .none: return .none
            case let .userPassword(user, password): return .userPassword(user: user, password: password)
            case let .token(token): return .token(token)
            }
        }
    }

    /// One server of the cluster.
    public struct Node: Sendable {
        /// Its server name (`n0`, `n1`, …).
        public let name: String
        /// Its client port on 127.0.0.1.
        public let clientPort: Int
        /// Its route (cluster) port on 127.0.0.1.
        public let routePort: Int
        /// Its config file.
        public let configFile: String
        /// Its log file.
        public let logFile: String
        /// Its client URL.
        public var url: String { "nats://127.0.0.1:\(clientPort)" }
    }

    /// The certificates of a cluster that requires TLS with client certificates: a CA, the
    /// servers' certificate (for IP 127.0.0.1) and a client certificate, PEM files made with openssl.
    public struct TLSFiles: Sendable {
        /// The certificate authority that signed both certificates.
        public let certificateAuthority: String
        /// The servers' certificate and key.
        public let serverCertificate: String, serverKey: String
        /// A client certificate and key the servers accept.
        public let clientCertificate: String, clientKey: String

        /// Client TLS options with the CA and the client certificate.
        public var clientOptions: NATSTLSOptions {
            NATSTLSOptions(certificateAuthorityFile: certificateAuthority, certificateFile: clientCertificate,
                           keyFile: clientKey)
        }
    }

    /// The temporary directory holding configs, logs and JetStream stores.
    public let directory: TemporaryDirectory
    /// The nodes, in order.
    public let nodes: [Node]
    /// The authentication clients need.
    public let authentication: Authentication
    /// The certificates, when the cluster requires TLS with client certificates.
    public let tls: TLSFiles?
    private let processes: Mutex<[Process?]>

    /// Starts a cluster and waits (up to `readyWithin`) until JetStream can create a stream
    /// replicated on every node.
    ///
    /// - Parameters:
    ///   - nodeCount: How many servers (1 gives a single JetStream server without routes).
    ///   - authentication: What clients must present.
    ///   - readyWithin: The longest wait for the cluster to form.
    ///   - requireTLS: Whether clients must connect with TLS and a client certificate signed by
    ///     the cluster's CA (`tls` holds the files).
    ///   - maxPayload: The servers' `max_payload` in bytes (`nil`: the server's default, 1 MiB), the
    ///     largest message a client may publish: a small one makes blocks travel in pieces.
    ///   - debugLogging: Whether the servers log at debug level (Raft elections and catch-ups), for
    ///     tests that need to tell why a group had no leader.
    public init(nodeCount: Int = 3, authentication: Authentication = .none, requireTLS: Bool = false,
                maxPayload: Int? = nil, debugLogging: Bool = false, readyWithin: Duration = .seconds(180)) throws {
        directory = try TemporaryDirectory(prefix: "strata-nats")
        self.authentication = authentication
        tls = requireTLS ? try Self.makeCertificates(in: directory) : nil
        _ = try Self.serverBinary()
        let started = try Self.startListening(nodeCount: nodeCount, directory: directory, authentication: authentication,
                                              tls: tls, maxPayload: maxPayload, debugLogging: debugLogging)
        self.nodes = started.nodes
        processes = Mutex(started.processes.map { Optional($0) })
        do {
            try waitUntilReady(within: readyWithin)
        } catch NATSClusterError.timedOut(let what, let last) {
            // What the servers said (a port they could not listen on, a crash) names the cause.
            let exited = nodes.indices.filter { !isRunning(node: $0) }.map { nodes[$0].name }
            let logs = logTails(lines: 15)
            stop()
            throw NATSClusterError.timedOut(what, lastError: last + (exited.isEmpty ? "" : "; exited: \(exited)")
                                                + "\nserver logs:\n" + logs)
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// The client URLs of every node.
    public var urls: [String] { nodes.map(\.url) }

    /// Connection options for this cluster, with its credentials; `nodes` picks which URLs (all by default).
    public func connectionOptions(name: String, nodes picked: [Int]? = nil) -> NATSConnectionOptions {
        let urls = (picked ?? Array(nodes.indices)).map { nodes[$0].url }
        var options = NATSConnectionOptions(urls: urls, name: name, credentials: authentication.credentials,
                                            tls: tls?.clientOptions)
        options.requestTimeout = .seconds(20)
        return options
    }

    /// Starts one node's process (it must not be running).
    public func start(node index: Int) throws {
        let process = try Self.launch(nodes[index])
        processes.withLock { $0[index] = process }
    }

    /// Runs `nats-server` with `node`'s config, its output appended to the node's log.
    static func launch(_ node: Node) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.serverBinary())
        process.arguments = ["-c", node.configFile]
        let log = FileHandle(forWritingAtPath: node.logFile) ?? {
            _ = FileManager.default.createFile(atPath: node.logFile, contents: nil)
            return FileHandle(forWritingAtPath: node.logFile)
        }()
        log?.seekToEndOfFile()
        process.standardOutput = log ?? FileHandle.nullDevice
        process.standardError = log ?? FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Launches every node with `launch`, in order; when launching one throws, the servers already
    /// launched are killed (and waited for) before the error goes on, so that no server outlives
    /// a cluster that never started.
    ///
    /// - Throws: what `launch` throws.
    static func launchAll(_ nodes: [Node], launch: (Node) throws -> Process) throws -> [Process] {
        var launched: [Process] = []
        do {
            for node in nodes { launched.append(try launch(node)) }
        } catch {
            for process in launched where process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            for process in launched { process.waitUntilExit() }
            throw error
        }
        return launched
    }

    /// Starts `nodeCount` servers on ports checked free, until every one listens: a port checked
    /// free can be taken (by any connection of the test run) before its server binds it; that
    /// server then exits ("address already in use") and the cluster never forms, so such a start
    /// is tried again with new ports, 5 times at most.
    ///
    /// - Throws: `NATSClusterError.timedOut` with the last attempt's log tails when no attempt
    ///   listened; what writing a config file or launching a server throws.
    private static func startListening(nodeCount: Int, directory: TemporaryDirectory, authentication: Authentication,
                                       tls: TLSFiles?, maxPayload: Int?,
                                       debugLogging: Bool) throws -> (nodes: [Node], processes: [Process]) {
        var lastLogTails = ""
        for attempt in 1...5 {
            let ports = try Self.freePorts(nodeCount * 2)
            var nodes: [Node] = []
            for index in 0..<nodeCount {
                let name = "n\(index)"
                nodes.append(Node(name: name, clientPort: ports[index * 2], routePort: ports[index * 2 + 1],
                                  configFile: directory.appending("\(name).conf"),
                                  logFile: directory.appending("\(name).log")))
            }
            for node in nodes {
                let routes = nodes.filter { $0.name != node.name }.map { "nats-route://127.0.0.1:\($0.routePort)" }
                var config = """
                    server_name: \(node.name)
                    listen: 127.0.0.1:\(node.clientPort)
                    debug: \(debugLogging)
                    jetstream {
                        store_dir: "\(directory.appending(node.name))"
                        max_memory_store: 64MB
                        max_file_store: 2GB
                    }

                    """
                if let maxPayload { config += "max_payload: \(maxPayload)\n" }
                if nodeCount > 1 {
                    config += """
                        cluster {
                            name: strata-test
                            listen: 127.0.0.1:\(node.routePort)
                            routes: [\(routes.joined(separator: ", "))]
                        }

                        """
                }
                switch authentication {
                case .none: break
                case let .userPassword(user, password):
                    config += "authorization { user: \"\(user)\", password: \"\(password)\" }\n"
                case let .token(token):
                    config += "authorization { token: \"\(token)\" }\n"
                }
                if let tls {
                    config += """
                        tls {
                            cert_file: "\(tls.serverCertificate)"
                            key_file: "\(tls.serverKey)"
                            ca_file: "\(tls.certificateAuthority)"
                            verify: true
                            timeout: 5
                        }

                        """
                }
                try config.write(toFile: node.configFile, atomically: true, encoding: .utf8)
            }
            if attempt > 1 {
                // The last attempt's logs (their "Listening" lines) and stores go.
                for node in nodes {
                    try? FileManager.default.removeItem(atPath: node.logFile)
                    try? FileManager.default.removeItem(atPath: directory.appending(node.name))
                }
            }
            let processes = try Self.launchAll(nodes, launch: Self.launch)
            if Self.waitUntilListening(nodes, processes, routes: nodeCount > 1) { return (nodes, processes) }
            for process in processes where process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            for process in processes { process.waitUntilExit() }
            lastLogTails = nodes.map(\.logFile).map { (try? String(contentsOfFile: $0, encoding: .utf8))?
                .split(separator: "\n").suffix(3).joined(separator: "\n") ?? "" }.joined(separator: "\n")
        }
        throw NATSClusterError.timedOut("nats-server to listen on its ports (5 attempts with new ports)", lastError: lastLogTails)
    }

    /// Whether every server of a fresh start listens for clients (and routes): `false` as soon as
    /// one has exited (it could not bind a port), or after 60 s.
    static func waitUntilListening(_ nodes: [Node], _ processes: [Process], routes: Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if processes.contains(where: { !$0.isRunning }) { return false }
            let listening = nodes.allSatisfy { node in
                let log = (try? String(contentsOfFile: node.logFile, encoding: .utf8)) ?? ""
                return log.contains("Listening for client connections on")
                    && (!routes || log.contains("Listening for route connections on"))
            }
            if listening { return !processes.contains(where: { !$0.isRunning }) }
            usleep(20_000)
        }
        return false
    }

    /// Sends `SIGKILL` to a node and waits for it to exit.
    public func kill(node index: Int) {
        guard let process = processes.withLock({ $0[index] }) else { return }
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGCONT)
            Glibc.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        processes.withLock { $0[index] = nil }
    }

    /// Sends `SIGSTOP` to a node: it stops answering, its sockets stay open.
    public func pause(node index: Int) {
        guard let process = processes.withLock({ $0[index] }), process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGSTOP)
    }

    /// Sends `SIGCONT` to a paused node.
    public func resume(node index: Int) {
        guard let process = processes.withLock({ $0[index] }), process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGCONT)
    }

    /// Kills a node if it runs, then starts it again with its config and JetStream store.
    public func restart(node index: Int) throws {
        kill(node: index)
        try start(node: index)
    }

    /// Whether a node's process is running.
    public func isRunning(node index: Int) -> Bool {
        processes.withLock { $0[index]?.isRunning ?? false }
    }

    /// Stops every node: `SIGTERM`, then `SIGKILL` for any still running after 10 s.
    public func stop() {
        let running = processes.withLock { processes -> [Process] in
            defer { processes = processes.map { _ in nil } }
            return processes.compactMap { $0 }
        }
        for process in running where process.isRunning {
            Glibc.kill(process.processIdentifier, SIGCONT)
            Glibc.kill(process.processIdentifier, SIGTERM)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        for process in running {
            while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// Waits until a stream replicated on every node can be created and written through the
    /// first node, then removes it.
    public func waitUntilReady(within deadline: Duration = .seconds(180)) throws {
        let replicas = nodes.count
        try poll(within: deadline, what: "a JetStream stream with \(replicas) replicas to be created") {
            // Short requests: while no meta leader is elected, a request waits out its whole timeout.
            var options = connectionOptions(name: "readiness")
            options.requestTimeout = .seconds(2)
            options.connectTimeout = .seconds(2)
            let connection = try NATSConnection(options)
            defer { connection.close() }
            let jetStream = try connection.jetStream()
            let name = "READY_\(UInt32.random(in: 0...UInt32.max))"
            try jetStream.addStream(JetStreamConfiguration(name: name, subjects: ["ready.\(name)"], replicas: replicas))
            try jetStream.publish(OutgoingMessage(subject: "ready.\(name)", payload: [1]))
            try jetStream.deleteStream(name)
        }
    }

    /// How many lines of each node's log contain `text` (e.g. a Raft message of debug logging).
    public func logLineCounts(containing text: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for node in nodes {
            let log = (try? String(contentsOfFile: node.logFile, encoding: .utf8)) ?? ""
            counts[node.name] = log.split(separator: "\n").lazy.filter { $0.contains(text) }.count
        }
        return counts
    }

    /// The last lines of every node's log, for a failure message.
    public func logTails(lines: Int = 20) -> String {
        nodes.map { node in
            let text = (try? String(contentsOfFile: node.logFile, encoding: .utf8)) ?? ""
            return "--- \(node.name)\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
    static func makeCertificates(in directory: TemporaryDirectory) throws -> TLSFiles {
        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw NATSClusterError.timedOut("openssl \(arguments.prefix(2).joined(separator: " "))",
                                                lastError: "exit \(process.terminationStatus)")
            }
        }
        let path = directory.appending
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.pem"),
                     "-days", "2", "-subj", "/CN=strata-test-ca"])
        for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
            try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=\(usage)\n"
                .write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(name).key"), "-out", path("\(name).csr"),
                         "-subj", "/CN=127.0.0.1"])
            try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                         "-CAcreateserial", "-out", path("\(name).pem"), "-days", "2", "-extfile", path("\(name).ext")])
        }
        return TLSFiles(certificateAuthority: path("ca.pem"), serverCertificate: path("server.pem"),
                        serverKey: path("server.key"), clientCertificate: path("client.pem"), clientKey: path("client.key"))
    }

    /// The `nats-server` executable: on `PATH` or in `/usr/sbin` (Debian's package puts it there).
    public static func serverBinary() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") + ["/usr/sbin", "/usr/local/bin", "/usr/bin"] {
            let candidate = "\(directory)/nats-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw NATSClusterError.serverMissing
    }

    /// Whether `nats-server` is installed (tests of the cluster need it; `tools/setup.sh` installs it).
    public static var isAvailable: Bool { (try? serverBinary()) != nil }

    /// `count` distinct free TCP ports on 127.0.0.1 (bound, read and released).
    static func freePorts(_ count: Int) throws -> [Int] {
        var ports: [Int] = []
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        while ports.count < count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw NATSClusterError.noPort(errno) }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw NATSClusterError.noPort(errno) }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else { throw NATSClusterError.noPort(errno) }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}

/// Why the test cluster could not start.
public enum NATSClusterError: Error, CustomStringConvertible {
    /// `nats-server` is not installed.
    case serverMissing
    /// No free port could be found.
    case noPort(Int32)
    /// A condition did not hold within its deadline.
    case timedOut(String, lastError: String)

    public var description: String {
        switch self {
        case .serverMissing: return "nats-server is not installed (run tools/setup.sh)"
        case let .noPort(code): return "no free TCP port on 127.0.0.1 (errno \(code))"
        case let .timedOut(what, last): return "timed out waiting for \(what); last error: \(last)"
        }
    }
}

/// Runs `attempt` until it does not throw, pausing 50–500 ms between tries, for at most `deadline`.
///
/// - Throws: `NATSClusterError.timedOut` with the last error when the deadline passes.
public func poll(within deadline: Duration, what: String, _ attempt: () throws -> Void) throws {
    let end = ContinuousClock.now + deadline
    var pause: UInt32 = 50_000
    while true {
        do {
            try attempt()
            return
        } catch {
            if ContinuousClock.now >= end { throw NATSClusterError.timedOut(what, lastError: "\(error)") }
        }
        usleep(pause)
        pause = min(pause * 2, 500_000)
    }
}

/// Waits until `condition` holds, checking every 20–200 ms, for at most `deadline`.
///
/// - Returns: whether it held in time.
@discardableResult
public func waitUntil(within deadline: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
    let end = ContinuousClock.now + deadline
    var pause: UInt32 = 20_000
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= end { return false }
        usleep(pause)
        pause = min(pause * 2, 200_000)
    }
}

/// One 3-node cluster without authentication shared by the tests of a process that do not kill,
/// pause or restart its nodes (each test uses stream and bucket names of its own). Started on
/// first use, stopped when the process exits.
public enum SharedNATSCluster {
    private static let state = Mutex<(cluster: NATSCluster?, starting: Bool)>((nil, false))

    /// The shared cluster, started (on a thread of its own) on first use.
    public static func get() async throws -> NATSCluster {
        while true {
            let claim = state.withLock { state -> (NATSCluster?, Bool) in
                if let cluster = state.cluster { return (cluster, false) }
                if state.starting { return (nil, false) }
                state.starting = true
                return (nil, true)
            }
            if let cluster = claim.0 { return cluster }
            if claim.1 {
                do {
                    let cluster = try await onOwnThread(within: .seconds(300), "the shared NATS cluster") {
                        try NATSCluster()
                    }
                    state.withLock { $0 = (cluster, false) }
                    atexit { SharedNATSCluster.stopAtExit() }
                    return cluster
                } catch {
                    state.withLock { $0.starting = false }
                    throw error
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private static func stopAtExit() {
        let cluster = state.withLock { state -> NATSCluster? in
            defer { state.cluster = nil }
            return state.cluster
        }
        cluster?.stop()
    }
}

/// A name unique in this process and across runs, for streams and buckets of one test:
/// `prefix` plus a counter and the process id.
public func uniqueName(_ prefix: String) -> String {
    let number = uniqueNameCounter.add(1, ordering: .relaxed).newValue
    return "\(prefix)_\(getpid())_\(number)"
}

private let uniqueNameCounter = Atomic<Int>(0)
