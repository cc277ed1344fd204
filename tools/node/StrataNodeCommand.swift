import ArgumentParser
import Dispatch
import Foundation
import Strata
import StrataCluster

/// `strata-node`: one node of a cluster running the example program, and the tools around it
/// (feed the input, read the outputs back, run the same program on one machine).
@main
struct StrataNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata-node",
        abstract: "Run the example program (running count, window count, sessions) as one node of a cluster.",
        subcommands: [Run.self, Feed.self, Status.self, Digest.self, Single.self])
}

struct ClusterArguments: ParsableArguments {
    @Option(name: .customLong("nats"), help: "A NATS server URL (repeat for several).")
    var urls: [String] = []
    @Option(help: "JetStream replicas of the program's stream and buckets.")
    var replicas = 3
    @Option(help: "Partitions of the input stream and of the program's tasks.")
    var partitions = 4
    @Option(help: "The prefix of the program's subjects, JetStream stream and buckets.")
    var namespace = "strata"

    /// The options of a store replicating to the cluster (the input's ingest side).
    func clusterOptions(node: String) throws -> ClusterOptions {
        guard !urls.isEmpty else { throw ValidationError("give at least one --nats URL") }
        var options = ClusterOptions(urls: urls, node: node, replicas: replicas, namespace: namespace)
        options.requestTimeout = .seconds(10)
        return options
    }

    func options(node: String, leaseTTLMs: Int = 10_000) throws -> ExecutionOptions {
        guard !urls.isEmpty else { throw ValidationError("give at least one --nats URL") }
        var connection = NATSConnectionOptions(urls: urls, name: node)
        // Long enough for a loaded machine's quorum acks; short enough that a request lost with a
        // server (SIGKILL) is retried soon.
        connection.requestTimeout = .seconds(10)
        return ExecutionOptions(connection: connection, node: node, namespace: namespace, replicas: replicas,
                                leaseTTL: .milliseconds(leaseTTLMs))
    }

    func validate() throws {
        guard (1...64).contains(partitions) else { throw ValidationError("--partitions must be 1 to 64") }
    }
}

extension StrataNodeCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run as node NAME until SIGTERM or SIGINT.")
        @OptionGroup var cluster: ClusterArguments
        @Option(help: "This node's name.") var node: String
        @Option(help: "The directory of this node's task stores.") var store: String
        @Option(help: "Lease TTL in milliseconds.") var leaseTTLMs = 10_000
        @Flag(help: "Publish no checkpoints and restore from none: a new owner replays its partition from the beginning (for comparisons).")
        var noCheckpoints = false
        @Option(help: "Run a speculative copy of a partition another node owns once its progress is N intervals behind its most advanced sibling's (off without it).")
        var speculateAfter: Int?
        @Option(help: "Test only: the owner of this partition waits --testing-slow-ms per interval before it sends, so that it is late.")
        var testingSlowPartition: Int?
        @Option(help: "Test only: the delay per interval of --testing-slow-partition, in milliseconds.")
        var testingSlowMs = 0
        @Option(help: "Test only: each partition task this node owns fails its first N trim deletions (as timeouts).")
        var testingFailedTrimDeletions = 0

        func run() throws {
            let started = ContinuousClock.now
            FileHandle.standardError.write(Data("strata-node \(self.node): joining\n".utf8))
            var options = try cluster.options(node: self.node, leaseTTLMs: leaseTTLMs)
            options.checkpoints = !noCheckpoints
            if let speculateAfter { options.speculation = ExecutionOptions.Speculation(margin: speculateAfter) }
            if let testingSlowPartition, testingSlowMs > 0 {
                options.testingExportDelay = ExecutionOptions.TestingExportDelay(
                    partition: testingSlowPartition, perInterval: .milliseconds(testingSlowMs))
            }
            options.testingFailedTrimDeletions = testingFailedTrimDeletions
            let node = try ClusterNode(program: NodeProgram.cluster(partitions: cluster.partitions), options: options,
                                       directory: store)
            signal(SIGTERM, SIG_IGN)
            signal(SIGINT, SIG_IGN)
            var sources: [any DispatchSourceSignal] = []
            for number in [SIGTERM, SIGINT] {
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { node.stop() }
                source.resume()
                sources.append(source)
            }
            FileHandle.standardError.write(Data(
                "strata-node \(self.node): running \(NodeProgram.name) (joined in \(ContinuousClock.now - started))\n".utf8))
            node.run()
            _ = sources
        }
    }

    struct Feed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate the input into a store and replicate it to the cluster, where the tasks read it.")
        @OptionGroup var cluster: ClusterArguments
        @Option(help: "The store the input is generated into.") var store: String
        @Option(help: "How many intervals to generate.") var intervals = 30
        @Option(help: "The first interval to generate (a later feed into the same store continues an earlier one).")
        var first = 0
        @Option(help: "Milliseconds to wait between intervals (0: as fast as possible).") var pauseMs = 0
        @Option(help: "Records per interval, as a multiple of the tests' (benchmarks).") var scale = 1
        @Flag(help: "Generate every interval, then seal and replicate them at once (a backlog).") var atOnce = false

        func validate() throws {
            guard (1...10_000).contains(scale) else { throw ValidationError("--scale must be 1 to 10000") }
            guard first >= 0, first < intervals else { throw ValidationError("--first must be 0 to --intervals - 1") }
        }

        func run() throws {
            let local = try Store(at: store)
            let views = try local.stream(NodeProgram.input, of: NodeProgram.View.self, interval: .seconds(1),
                                         partitions: cluster.partitions)
            let appender = try views.explicitAppender()
            // The input is an ordinary replicated stream (what `strata --nats URL ingest` publishes);
            // the replicator resumes after the last seal in JetStream, so a later feed into the same
            // store (`--first`) publishes only the intervals it adds.
            let replicator = try ClusterReplicator(store: local, options: try cluster.clusterOptions(node: "feed"))
            for t in first..<intervals {
                try NodeProgram.append(t, to: appender, scale: scale, seal: !atOnce)
                if atOnce { continue }
                try Self.replicate(replicator)
                if pauseMs > 0 { usleep(useconds_t(pauseMs) * 1000) }
            }
            if atOnce {
                try appender.seal(through: Interval(UInt64(intervals - 1)))
                try Self.replicate(replicator)
            }
            print("fed intervals \(first) to \(intervals - 1)")
        }

        /// Replicates the input; a server just lost or a stream just created has no leader for a
        /// moment ("no responders", a timeout): try again (it resumes from JetStream's last seal).
        static func replicate(_ replicator: ClusterReplicator) throws {
            var attempt = 0
            while true {
                do {
                    try replicator.replicate(stream: NodeProgram.input)
                    return
                } catch {
                    attempt += 1
                    guard attempt < 120, case .nats = error else { throw error }
                    usleep(useconds_t(min(attempt, 10)) * 100_000)
                }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the program's nodes, leases, partitions per node and lag per vertex (strata cluster status's sections).")
        @OptionGroup var cluster: ClusterArguments

        func run() throws {
            let connection = try NATSConnection(try cluster.options(node: "status").connection)
            let status = try ClusterStatus.read(jetStream: try connection.jetStream(), namespace: cluster.namespace,
                                                store: nil, programs: [NodeProgram.name])
            print(ClusterStatus.text(status.programs.flatMap(\.sections)), terminator: "")
        }
    }

    struct Digest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait until the cluster's outputs are sealed through the last interval, check them, print their digest.")
        @OptionGroup var cluster: ClusterArguments
        @Option(help: "How many intervals the input has.") var intervals = 30
        @Option(help: "Seconds to wait for the outputs.") var waitSeconds = 300

        func run() throws {
            let connection = try NATSConnection(try cluster.options(node: "digest").connection)
            let jetStream = try connection.jetStream()
            let names = ExecutionNames(namespace: cluster.namespace, program: NodeProgram.name)
            let last = Interval(UInt64(intervals - 1))
            let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(waitSeconds) * 1_000_000_000
            while true {
                // Not readable yet (no stream, no leader) is tried again; data that is wrong or gone
                // (`ClusterError.corrupt`: an output without its oldest intervals among them) will
                // not heal by waiting.
                let outputs: ClusterOutputs?
                do {
                    outputs = try ClusterOutputs.read(jetStream: jetStream, names: names, streams: Set(NodeProgram.outputs))
                } catch .corrupt(let what) {
                    FileHandle.standardError.write(Data("strata-node digest: \(what)\n".utf8))
                    throw ExitCode(65)
                } catch {
                    outputs = nil
                }
                if let outputs {
                    let complete = NodeProgram.outputs.allSatisfy { stream in
                        (0..<UInt32(cluster.partitions)).allSatisfy { (outputs.sealed[stream]?[$0]).map { $0 >= last } ?? false }
                    }
                    if complete {
                        for line in outputs.digestLines(through: last) { print(line) }
                        for (node, count) in outputs.messagesByNode.sorted(by: { $0.key < $1.key }) {
                            FileHandle.standardError.write(Data("messages from \(node): \(count)\n".utf8))
                        }
                        for (node, count) in outputs.speculativeMessagesByNode.sorted(by: { $0.key < $1.key }) {
                            FileHandle.standardError.write(Data("speculative messages from \(node): \(count)\n".utf8))
                        }
                        for (violation, context) in zip(outputs.fenceViolations, outputs.fenceViolationContext) {
                            FileHandle.standardError.write(Data("fence violation: \(violation)\n\(context)\n".utf8))
                        }
                        if !outputs.fenceViolations.isEmpty { throw ExitCode(1) }
                        return
                    }
                }
                guard DispatchTime.now().uptimeNanoseconds < deadline else {
                    FileHandle.standardError.write(Data("strata-node digest: outputs not sealed through \(last.rawValue) in \(waitSeconds) s\n".utf8))
                    throw ExitCode(1)
                }
                usleep(500_000)
            }
        }
    }

    struct Single: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the program on one machine and print its outputs' digest.")
        @Option(help: "The store to run in.") var store: String
        @Option(help: "How many intervals to generate.") var intervals = 30
        @Option(help: "Partitions of the input stream.") var partitions = 4
        @Option(help: "Records per interval, as a multiple of the tests' (benchmarks).") var scale = 1

        func run() throws {
            let local = try Store(at: store)
            let program = try NodeProgram.define(local, partitions: partitions, options: ProgramOptions(snapshotEvery: 10))
            let views = try local.stream(NodeProgram.input, of: NodeProgram.View.self, interval: .seconds(1), partitions: partitions)
            let appender = try views.explicitAppender()
            for t in 0..<intervals { try NodeProgram.append(t, to: appender, scale: scale) }
            try program.runUntilCaughtUp()
            var blocks: [ClusterOutputs.Key: [[UInt8]]] = [:]
            for name in NodeProgram.outputs {
                blocks.merge(try ClusterOutputs.localBlocks(local, stream: name, through: Interval(UInt64(intervals - 1)))) { a, _ in a }
            }
            for line in ClusterOutputs.digestLines(blocks) { print(line) }
        }
    }
}
