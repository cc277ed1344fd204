import ArgumentParser
import Foundation
import Strata
import StrataCluster
import Synchronization

/// `strata cluster …`: a store attached to a Strata cluster on NATS JetStream.
struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replicate streams to a NATS JetStream cluster, restore or follow them, and show the cluster's status.",
        discussion: """
            The cluster is given with --nats URL (or $STRATA_NATS), credentials with --nats-creds, \
            --nats-user/--nats-password or --nats-token, TLS with --nats-tls-ca/--nats-tls-cert/--nats-tls-key. \
            docs/cluster.md says what lives in JetStream and what in the local store.
            """,
        subcommands: [ClusterStatusCommand.self, ClusterReplicate.self, ClusterRestore.self, ClusterFollow.self])
}

/// `strata cluster replicate --nats URL --store PATH [STREAM…]`: publishes sealed intervals.
struct ClusterReplicate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Publish the sealed intervals of a store's streams to JetStream; exit 0 once all are acknowledged.",
        discussion: """
            Publishes, for each stream (all of the store's when none is named), every sealed interval JetStream \
            does not hold yet: its blocks, then its seal, with message ids derived from stream, interval, partition \
            and chunk, so that running it again stores nothing twice. Exit 0 means every interval sealed in the \
            store when it started is stored on a quorum of the stream's replicas.
            """)

    @OptionGroup var options: StoreArguments
    @OptionGroup var cluster: NATSArguments

    @Argument(help: "The streams (default: every stream of the store).", completion: .custom(completeStreamNames))
    var streams: [String] = []

    mutating func validate() throws {
        if !cluster.isEnabled { throw ValidationError("no cluster given: pass --nats URL or set STRATA_NATS") }
    }

    func run() throws {
        let clusterOptions = try cluster.clusterOptions()
        let store = try options.openStore()
        let replicator = try ClusterReplicator(store: store, options: clusterOptions)
        let reports = streams.isEmpty
            ? try replicator.replicateAll()
            : try streams.map { try replicator.replicate(stream: $0) }
        for report in reports {
            let through = report.replicatedThrough.map(\.description) ?? "none"
            print("\(report.stream): replicated through \(through) (\(report.intervals) intervals, "
                  + "\(report.blockMessages) block messages, \(report.bytes) bytes, \(report.duplicates) duplicates"
                  + (report.purgedBefore.map { "; purged before \($0)" } ?? "") + ")")
        }
    }
}

/// `strata cluster restore --nats URL --store PATH [STREAM…]`: rebuilds a store from JetStream.
struct ClusterRestore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Rebuild a store (or some of its streams) from the streams replicated in JetStream.",
        discussion: """
            Writes into the store (created when missing) every interval of each stream (all streams replicated in \
            the namespace when none is named) that JetStream holds and the store does not: the same blocks, byte \
            for byte, each verified (header, length, checksum) and each interval's seal checked, blocks and seal \
            committed together. Run it again to resume. Exit 65 when JetStream holds data that does not verify.
            """)

    @OptionGroup var options: StoreArguments
    @OptionGroup var cluster: NATSArguments

    @Argument(help: "The streams (default: every replicated stream).")
    var streams: [String] = []

    mutating func validate() throws {
        if !cluster.isEnabled { throw ValidationError("no cluster given: pass --nats URL or set STRATA_NATS") }
        if options.store == nil && (ProcessInfo.processInfo.environment["STRATA_STORE"] ?? "").isEmpty {
            throw ValidationError("no store given: pass --store PATH (it is created when missing)")
        }
    }

    func run() throws {
        let clusterOptions = try cluster.clusterOptions()
        let store = try options.createOrOpenStore()
        let follower = try ClusterFollower(store: store, options: clusterOptions)
        let reports = streams.isEmpty ? try follower.restoreAll() : try streams.map { try follower.restore(stream: $0) }
        for report in reports { print(describe(report)) }
    }
}

/// `strata cluster follow --nats URL --store PATH STREAM`: keeps a local copy of a replicated stream.
struct ClusterFollow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Follow a replicated stream into a store: restore it, then write each interval sealed in the cluster.",
        discussion: """
            Runs until SIGINT or SIGTERM (or, with --once, until caught up), printing a line each time the local \
            stream advances. The blocks are the cluster's, byte for byte, verified before they are written.
            """)

    @OptionGroup var options: StoreArguments
    @OptionGroup var cluster: NATSArguments

    @Argument(help: "The stream to follow.")
    var stream: String

    @Flag(help: "Stop once caught up with what the cluster holds now.")
    var once = false

    mutating func validate() throws {
        if !cluster.isEnabled { throw ValidationError("no cluster given: pass --nats URL or set STRATA_NATS") }
    }

    func run() throws {
        let clusterOptions = try cluster.clusterOptions()
        let store = try options.createOrOpenStore()
        let follower = try ClusterFollower(store: store, options: clusterOptions)
        if once {
            print(describe(try follower.restore(stream: stream)))
            return
        }
        installFollowInterruptHandlers()
        try follower.follow(stream: stream, shouldStop: { followInterrupt.load(ordering: .relaxed) != 0 }) { report in
            print(describe(report))
            fflush(nil)
        }
    }
}

private func describe(_ report: FollowReport) -> String {
    let through = report.sealedAfter.map(\.description) ?? "none"
    return "\(report.stream): sealed through \(through) (\(report.intervals) intervals, \(report.blocks) blocks, "
        + "\(report.bytes) bytes written\(report.duplicates > 0 ? ", \(report.duplicates) duplicate messages dropped" : ""))"
}

/// The signal that asked `cluster follow` to stop, 0 while none did.
private let followInterrupt = Atomic<Int32>(0)

/// SIGINT and SIGTERM end `cluster follow` after its current step.
private func installFollowInterruptHandlers() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { signal in followInterrupt.store(signal, ordering: .relaxed) }
    sigemptyset(&action.sa_mask)
    sigaction(SIGINT, &action, nil)
    sigaction(SIGTERM, &action, nil)
}
