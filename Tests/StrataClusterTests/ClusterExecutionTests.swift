import Foundation
import Strata
import StrataCluster
import StrataClusterTestSupport
import StrataTestSupport
import Synchronization
import Testing

/// A failed step of a cluster run, with the processes' logs.
struct RunFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Real processes: a 3-node NATS cluster and `strata-node` processes running the example program
/// (running count, window count, sessions) over a generated stream. Whatever happens to the nodes,
/// the outputs in JetStream are block for block those of a single-node run, every interval of
/// every partition once, and no fenced node wrote after its fence.
@Suite(.enabled(if: NATSCluster.isAvailable, "nats-server is not installed (tools/setup.sh installs it)"), .serialized)
struct ClusterExecutionTests {
    static let intervals = 30
    static let partitions = 4

    /// A `strata-node` child process.
    final class NodeProcess: @unchecked Sendable {
        let process = Process()
        let name: String
        let log: String

        /// Where standard output goes when it is kept apart from the log (`nil`: into the log).
        let results: String?

        init(_ arguments: [String], name: String, log: String, results: String? = nil) throws {
            self.name = name
            self.log = log
            self.results = results
            process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata-node")
            process.arguments = arguments
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = handle
            if let results {
                _ = FileManager.default.createFile(atPath: results, contents: nil)
                process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: results))
            } else {
                process.standardOutput = handle
            }
            try process.run()
        }

        /// The lines the process printed to standard output (`results`).
        var resultLines: [String] {
            guard let results else { return [] }
            return ((try? String(contentsOfFile: results, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        /// Sends a signal while the process lives (`SIGCONT` always: Foundation may count a stopped
        /// process as not running).
        func signal(_ number: Int32) {
            if process.isRunning || number == SIGCONT { kill(process.processIdentifier, number) }
        }

        /// Waits (polling) for the process to end, at most `deadline`.
        func waitForExit(within deadline: Duration = .seconds(120)) -> Int32? {
            waitUntil(within: deadline) { !process.isRunning } ? process.terminationStatus : nil
        }

        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    /// A run of the program on `cluster` in namespace `namespace`, with its processes and files.
    final class Run: @unchecked Sendable {
        let cluster: NATSCluster
        let namespace: String
        let directory: TemporaryDirectory
        var nodes: [String: NodeProcess] = [:]
        var feed: NodeProcess?
        /// Records per interval, as a multiple of the tests' (`strata-node feed --scale`).
        let scale: Int

        init(cluster: NATSCluster, namespace: String, scale: Int = 1) throws {
            self.cluster = cluster
            self.namespace = namespace
            self.scale = scale
            directory = try TemporaryDirectory(prefix: "strata-cluster-exec")
        }

        var common: [String] {
            cluster.urls.flatMap { ["--nats", $0] } + ["--namespace", namespace, "--partitions", "\(ClusterExecutionTests.partitions)"]
        }

        func start(node: String, leaseTTLMs: Int = 4000, extra: [String] = []) throws {
            nodes[node] = try NodeProcess(["run"] + common + ["--node", node, "--store", directory.appending(node),
                                                              "--lease-ttl-ms", "\(leaseTTLMs)"] + extra,
                                          name: node, log: directory.appending("\(node)-\(nodes.count).log"))
        }

        func startFeed(pauseMs: Int) throws {
            feed = try NodeProcess(["feed"] + common + ["--store", directory.appending("input"),
                                                        "--intervals", "\(ClusterExecutionTests.intervals)",
                                                        "--pause-ms", "\(pauseMs)", "--scale", "\(scale)"],
                                   name: "feed", log: directory.appending("feed.log"))
        }

        /// Waits until the nodes `nodes` hold every partition's lease between them (a node starts a
        /// partition's task as it takes the lease), so that what follows happens mid-run.
        func waitForOwners(_ nodes: Set<String>) throws {
            let connection = try NATSConnection(cluster.connectionOptions(name: "watch"))
            let jetStream = try connection.jetStream()
            let names = ExecutionNames(namespace: namespace, program: "demo")
            var last = "nothing read"
            let settled = waitUntil(within: .seconds(240)) {
                guard let status = try? ExecutionStatus.read(jetStream: jetStream, names: names),
                      status.partitions.count == ClusterExecutionTests.partitions else { return false }
                last = "\(status.partitions.map { "\($0.partition): \($0.owner ?? "-")" })"
                return Set(status.partitions.compactMap(\.owner)) == nodes
                    && status.partitions.allSatisfy { $0.owner.map(nodes.contains) ?? false }
            }
            guard settled else { throw RunFailure("the partitions were not spread over \(nodes.sorted()): \(last)\n\(logs)") }
        }

        /// Waits until the progress bucket shows some partition sent through `interval`.
        func waitForProgress(_ interval: Int) throws {
            guard try progressReached(interval, within: .seconds(240)) else {
                throw RunFailure("no partition reached interval \(interval): \(logs)")
            }
        }

        /// Whether the progress bucket shows some partition sent through `interval` within
        /// `deadline`, reading through the servers `servers` (all by default).
        func progressReached(_ interval: Int, within deadline: Duration, servers: [Int]? = nil) throws -> Bool {
            var options = cluster.connectionOptions(name: "watch", nodes: servers)
            options.requestTimeout = .seconds(5)
            let connection = try NATSConnection(options)
            let jetStream = try connection.jetStream()
            let names = ExecutionNames(namespace: namespace, program: "demo")
            let reached = waitUntil(within: deadline) {
                if let feed, !feed.process.isRunning, feed.process.terminationStatus != 0 { return true }
                guard let bucket = try? jetStream.keyValue(names.bucket + "_progress") else { return false }
                for p in 0..<ClusterExecutionTests.partitions {
                    guard let entry = try? bucket.get(ExecutionNames.progressKey(p)) else { continue }
                    let text = String(decoding: entry.value, as: UTF8.self)
                    if text.split(separator: "\n").contains(where: { line in
                        line.hasPrefix("urlCounts ") && (Int(line.split(separator: " ")[1]) ?? -1) >= interval
                    }) { return true }
                }
                return false
            }
            if let feed, !feed.process.isRunning, feed.process.terminationStatus != 0 {
                throw RunFailure("the feed failed: \(logs)")
            }
            return reached
        }

        /// The program's JetStream streams and buckets (namespace `namespace`) that have no
        /// leader as seen through the servers `servers`: their info request fails or names none.
        /// `nil` when the servers cannot even list the streams (no metadata leader).
        func leaderlessGroups(servers: [Int]) -> [String]? {
            var options = cluster.connectionOptions(name: "leaders", nodes: servers)
            options.requestTimeout = .seconds(5)
            guard let connection = try? NATSConnection(options), let jetStream = try? connection.jetStream(),
                  let streams = try? jetStream.streamNames() else { return nil }
            defer { connection.close() }
            let ours = streams.filter { $0.lowercased().contains(namespace.lowercased()) }
            return ours.filter { name in (try? jetStream.streamInfo(name))?.leader == nil }
        }

        /// After SIGKILL of NATS server `killed`: waits until the program goes on with the two
        /// others, through interval `target`.
        ///
        /// nats-server 2.9.10 can leave a Raft group without a leader after its leader is killed:
        /// a follower still catching up from the dead leader never stands for election (its Raft
        /// loop logs "Not switching to candidate, catching up", and 2.9.10 never cancels a catch-up
        /// whose leader is gone). That is NATS's availability, not Strata's correctness: only when
        /// the program has not progressed for `stall` **and** some group of the program still has
        /// no leader does the test restart the killed server, as an operator would, and say so; the
        /// outputs must then still be those of a single-node run. A stall while every group has a
        /// leader fails the test.
        ///
        /// - Returns: what happened, for the test's output.
        func waitForProgressAfterKilling(server killed: Int, through target: Int,
                                         stall: Duration = .seconds(150)) throws -> String {
            let survivors = cluster.nodes.indices.filter { $0 != killed }
            if try progressReached(target, within: stall, servers: survivors) {
                return "the program went on with two NATS servers through interval \(target)"
            }
            // Leaderless for a while, not just mid-election: three looks, ten seconds apart.
            var leaderless: [String]? = []
            for look in 0..<3 {
                if look > 0 { _ = try progressReached(target, within: .seconds(10), servers: survivors) }
                if try progressReached(target, within: .milliseconds(1), servers: survivors) {
                    return "the program went on with two NATS servers through interval \(target) (slowly)"
                }
                let groups = leaderlessGroups(servers: survivors)
                if let groups, groups.isEmpty { leaderless = groups; break }
                leaderless = groups
            }
            guard leaderless.map({ !$0.isEmpty }) ?? true else {
                throw RunFailure("no progress through interval \(target) for \(stall) after killing NATS server "
                                 + "\(killed), although every group of the program has a leader\n\(logs)\n\(cluster.logTails())")
            }
            let catchingUp = cluster.logLineCounts(containing: "Not switching to candidate, catching up")
            try cluster.restart(node: killed)
            return "NATS left \(leaderless.map { $0.joined(separator: ", ") } ?? "the metadata group") without a leader "
                + "for \(stall) with two servers (\"catching up\" log lines per server: \(catchingUp.sorted { $0.key < $1.key })); "
                + "restarted server \(killed)"
        }

        /// The digest of the outputs read back from JetStream, once complete.
        func clusterDigest() throws -> [String] {
            let digest = try NodeProcess(["digest"] + common + ["--intervals", "\(ClusterExecutionTests.intervals)",
                                                                 "--wait-seconds", "240"],
                                         name: "digest", log: directory.appending("digest.log"),
                                         results: directory.appending("digest.txt"))
            let status = digest.waitForExit(within: .seconds(300))
            guard status == 0 else { throw RunFailure("digest failed (\(String(describing: status))): \(digest.output)\n\(logs)") }
            return digest.resultLines
        }

        /// Issue 15, item 7: the cluster's status — `ClusterStatus` and `strata cluster status --json` —
        /// shows the program's live nodes, every partition's lease (holder, revision, time left),
        /// the partitions per node and, once the run is done, no lag on any stream any partition
        /// sends, beside the replicated input.
        func checkStatus(nodes: Set<String>) throws {
            let connection = try NATSConnection(cluster.connectionOptions(name: "status"))
            let jetStream = try connection.jetStream()
            let last = Interval(UInt64(ClusterExecutionTests.intervals - 1))
            var status: ClusterStatus?
            // Progress is written just after the outputs it covers: wait for it (and for the nodes'
            // next renewal after a restart).
            let settled = try waitUntil(within: .seconds(120)) {
                let read = try ClusterStatus.read(jetStream: jetStream, namespace: namespace, store: nil)
                status = read
                guard let program = read.programs.first(where: { $0.program == "demo" }) else { return false }
                return Set(program.members.map(\.name)) == nodes
                    && program.partitions.allSatisfy { p in p.owner.map(nodes.contains) ?? false }
                    && !program.sentStreams.isEmpty
                    && program.sentStreams.allSatisfy { stream in program.partitions.allSatisfy { $0.lag(stream) == 0 } }
            }
            guard settled, let status, let program = status.programs.first(where: { $0.program == "demo" }) else {
                throw RunFailure("the status did not settle: \(status.map { ClusterStatus.text($0.sections) } ?? "none")\n\(logs)")
            }
            #expect(program.inputs == ["views"])
            #expect(program.partitions.count == ClusterExecutionTests.partitions)
            #expect(program.partitions.allSatisfy { $0.leaseRevision != nil && ($0.leaseExpiresIn ?? -1) <= 4000 })
            #expect(program.partitions.allSatisfy { $0.inputThrough == last })
            #expect(program.partitionsPerNode.map(\.partitions.count).reduce(0, +) == ClusterExecutionTests.partitions)
            #expect(program.sentStreams.contains("urlCounts") && program.sentStreams.contains { $0.hasSuffix(".shuffle") })
            #expect(status.replication.streams.first { $0.name == "views" }?.replicatedThrough == last)

            // The command line shows the same, as JSON lines.
            let cli = Process()
            cli.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata")
            cli.arguments = ["cluster", "status", "--json", "--namespace", namespace] + cluster.urls.flatMap { ["--nats", $0] }
            let output = directory.appending("status.json")
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            cli.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            try cli.run()
            cli.waitUntilExit()
            #expect(cli.terminationStatus == 0)
            let lines = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n")
            let leases = lines.filter { $0.contains(#""section":"leases""#) && $0.contains(#""program":"demo""#) }
            #expect(leases.count == ClusterExecutionTests.partitions, "\(lines)")
            #expect(lines.contains { $0.contains(#""section":"vertex_lag""#) && $0.contains(#""stream":"urlCounts""#)
                                     && $0.contains(#""lag":"0""#) }, "\(lines)")
            #expect(lines.contains { $0.contains(#""section":"replicated_streams""#) && $0.contains(#""stream":"views""#) })
        }

        var logs: String {
            nodes.values.map { "--- \($0.name):\n\($0.output.suffix(3000))" }.joined(separator: "\n")
                + "\n--- feed:\n\(feed?.output.suffix(2000) ?? "")"
        }

        func stopAll() {
            for node in nodes.values { node.signal(SIGTERM) }
            for node in nodes.values where node.waitForExit(within: .seconds(60)) == nil { node.signal(SIGKILL) }
        }
    }

    /// The state letter of a process in /proc (`T`: stopped), or `?`.
    static func processState(_ pid: Int32) -> String {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return "?" }
        return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init) ?? "?"
    }

    /// The first lines that differ, for a readable failure.
    static func difference(_ actual: [String], _ expected: [String]) -> String {
        let diff = actual.difference(from: expected)
        return "\(actual.count) lines, expected \(expected.count); " + diff.prefix(6).map { change in
            switch change {
            case .insert(_, let line, _): "+ \(line)"
            case .remove(_, let line, _): "- \(line)"
            }
        }.joined(separator: "; ")
    }

    /// The single-node digest, once known: every test runs the same program over the same input.
    static let singleDigestCache = Mutex<[String]?>(nil)

    /// Starts the same program on one machine in a child process (once per test process) and
    /// returns the wait for its digest, so that it runs while the cluster does.
    static func startSingleDigest(scale: Int = 1) throws -> () throws -> [String] {
        if scale == 1, let cached = singleDigestCache.withLock({ $0 }) { return { cached } }
        let directory = try TemporaryDirectory(prefix: "strata-cluster-single")
        let single = try NodeProcess(["single", "--store", directory.appending("s"), "--intervals", "\(intervals)",
                                      "--partitions", "\(partitions)", "--scale", "\(scale)"], name: "single",
                                     log: directory.appending("single.log"), results: directory.appending("single.txt"))
        return {
            guard single.waitForExit(within: .seconds(300)) == 0 else {
                throw RunFailure("single run failed: \(single.output) (in \(directory.path))")
            }
            let lines = single.resultLines
            if scale == 1 { singleDigestCache.withLock { $0 = lines } }
            return lines
        }
    }

    /// Two nodes start; a third joins mid-run; one is SIGKILLed, its store deleted, and it comes
    /// back under the same name and rebuilds from JetStream.
    @Test func joinKillAndRebuildGiveTheSingleNodeOutputs() async throws {
        let cluster = try await SharedNATSCluster.get()
        let (expected, actual, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try Self.startSingleDigest()
            let run = try Run(cluster: cluster, namespace: uniqueName("exec"))
            defer { run.stopAll() }
            try run.start(node: "a")
            try run.start(node: "b")
            try run.startFeed(pauseMs: 120)
            try run.waitForProgress(5)
            try run.start(node: "c")
            try run.waitForProgress(12)
            run.nodes["b"]?.signal(SIGKILL)
            _ = run.nodes["b"]?.waitForExit()
            try FileManager.default.removeItem(atPath: run.directory.appending("b"))
            try run.waitForProgress(18)
            try run.start(node: "b")
            let digest = try run.clusterDigest()
            try run.checkStatus(nodes: ["a", "b", "c"])
            return (try single(), digest, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(Self.difference(actual, expected))\n\(logs)")
    }

    /// A node paused with SIGSTOP past its lease TTL is fenced: it writes nothing after the
    /// survivors took its partitions over, and the outputs are the single-node run's.
    @Test func aNodePausedPastItsLeaseIsFencedAndWritesNothing() async throws {
        let cluster = try await SharedNATSCluster.get()
        let (expected, actual, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try Self.startSingleDigest()
            let run = try Run(cluster: cluster, namespace: uniqueName("pause"))
            defer { run.stopAll() }
            for node in ["a", "b", "c"] { try run.start(node: node, leaseTTLMs: 3000) }
            try run.startFeed(pauseMs: 120)
            try run.waitForProgress(6)
            run.nodes["b"]?.signal(SIGSTOP)
            let pid = run.nodes["b"]?.process.processIdentifier ?? 0
            let stopped = waitUntil(within: .seconds(30)) { Self.processState(pid) == "T" }
            guard stopped else { throw RunFailure("b did not stop (state \(Self.processState(pid)))") }
            // Past the TTL: the survivors take b's partitions over and fence its subjects.
            try run.waitForProgress(16)
            run.nodes["b"]?.signal(SIGCONT)
            guard waitUntil(within: .seconds(30), { Self.processState(pid) != "T" }) else {
                throw RunFailure("b did not resume")
            }
            // The digest fails on any write after a fence by another node.
            let digest = try run.clusterDigest()
            return (try single(), digest, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(Self.difference(actual, expected))\n\(logs)")
    }

    /// Speculation across nodes (issue 15, item 5): the owner of partition 1 is late (a test-only
    /// delay of 2 s per interval it sends, far more than the whole input takes), so the other
    /// node's speculative copy of partition 1 publishes first. The copy's messages are counted in
    /// JetStream; the outputs are the single-node run's, every interval of every partition once,
    /// and the fencing audit holds with the copies exempted. The digest needs only the seal marks
    /// through the last interval, which the copy provides: the run does not wait for the owner.
    @Test func aLateOwnersPartitionIsComputedFirstByAnotherNodesCopy() async throws {
        let cluster = try await SharedNATSCluster.get()
        let (expected, actual, speculative, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try Self.startSingleDigest()
            let run = try Run(cluster: cluster, namespace: uniqueName("spec"))
            defer { run.stopAll() }
            let knobs = ["--speculate-after", "3", "--testing-slow-partition", "1", "--testing-slow-ms", "2000"]
            for node in ["a", "b"] { try run.start(node: node, extra: knobs) }
            try run.waitForOwners(["a", "b"])
            try run.startFeed(pauseMs: 120)
            let digest = try run.clusterDigest()
            // Read once nothing writes any more: a running task purges its older checkpoints, which a
            // reader started before the purge would wait for.
            run.stopAll()
            let connection = try NATSConnection(cluster.connectionOptions(name: "outputs"))
            let outputs = try ClusterOutputs.read(jetStream: try connection.jetStream(),
                                                  names: ExecutionNames(namespace: run.namespace, program: "demo"),
                                                  streams: ["urlCounts"])
            #expect(outputs.fenceViolations.isEmpty, "\(zip(outputs.fenceViolations, outputs.fenceViolationContext).map { "\($0)\n\($1)" }.joined(separator: "\n"))")
            return (try single(), digest, outputs.speculativeMessagesByNode, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(speculative.values.reduce(0, +) > 0, "no speculative copy stored a message first: \(speculative)\n\(logs)")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(Self.difference(actual, expected))\n\(logs)")
    }

    /// SIGKILL of one NATS server mid-run: R3 streams and buckets carry on with two. Mid-run for
    /// real: the nodes hold every partition before the input starts (otherwise they could still be
    /// joining when the input ends, and process all of it in one go after the kill).
    @Test func killingANATSServerMidRunLosesNothing() async throws {
        let (expected, actual, logs) = try await onOwnThread(within: .seconds(900), "the cluster run") {
            let single = try Self.startSingleDigest()
            let cluster = try NATSCluster(debugLogging: true)
            let run = try Run(cluster: cluster, namespace: "natskill")
            defer { run.stopAll() }
            // A lease outlives the few seconds JetStream needs to elect new leaders for the groups
            // the killed server led: the run goes on with its owners (lease expiry is tested above).
            for node in ["a", "b", "c"] { try run.start(node: node, leaseTTLMs: 10_000) }
            try run.waitForOwners(["a", "b", "c"])
            try run.startFeed(pauseMs: 120)
            try run.waitForProgress(8)
            cluster.kill(node: 1)
            print("killingANATSServerMidRunLosesNothing: "
                  + (try run.waitForProgressAfterKilling(server: 1, through: min(14, ClusterExecutionTests.intervals - 1))))
            let digest = try run.clusterDigest()
            return (try single(), digest, run.logs)
        }
        #expect(expected.count > 50, "a weak test: \(expected.count) output blocks")
        #expect(actual == expected, "cluster outputs differ from the single-node run: \(Self.difference(actual, expected))\n\(logs)")
    }
}
