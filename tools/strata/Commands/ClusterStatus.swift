import ArgumentParser
import Foundation
import Strata
import StrataCluster

/// `strata cluster status --nats URL [--store PATH]`: what the cluster holds (`StrataCluster.ClusterStatus`:
/// replicated streams, then every program's nodes, leases, partitions and vertex lag), as titled
/// tables or JSON lines.
struct ClusterStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the cluster: servers, replicated streams, and every program's nodes, leases, partitions and lag.",
        discussion: """
            Sections: Nodes (JetStream servers holding replicated streams: streams led, replicas, offline), \
            Replicated streams (replicas current/configured, leader, messages, bytes, the newest interval sealed \
            in JetStream, and with --store the newest sealed locally and the lag in intervals); then, for every \
            program run in the namespace (strata-node, ClusterNode): Program nodes (live members, milliseconds \
            since their last renewal), Leases (per partition: holder, KV revision, age, time left before it \
            expires), Partitions per node, and Vertex lag (per stream a partition sends — an exchange vertex's \
            PROGRAM.vN.shuffle or a named output —: the input's newest replicated interval, the interval sent \
            through, and the lag in intervals). With --json, one object per row: {"section":S, column: value, …}.
            """)

    @OptionGroup var cluster: NATSArguments

    @Option(help: ArgumentHelp("A local store to compare with (lag per stream).", valueName: "path"))
    var store: String?

    @Flag(help: #"One JSON object per row: {"section":"replicated_streams","stream":…}."#)
    var json = false

    mutating func validate() throws {
        if !cluster.isEnabled { throw ValidationError("no cluster given: pass --nats URL or set STRATA_NATS") }
    }

    func run() throws {
        let options = try cluster.clusterOptions()
        let connection = try NATSConnection(options.connectionOptions)
        let jetStream = try connection.jetStream()
        let local = try store.map { try Store.openForReading(at: $0) }
        let sections = try StrataCluster.ClusterStatus.read(jetStream: jetStream, namespace: options.namespace,
                                                            store: local).sections
        print(json ? Self.jsonLines(sections) : StrataCluster.ClusterStatus.text(sections), terminator: "")
    }

    /// One JSON object per row, keys sorted.
    static func jsonLines(_ sections: [ClusterStatusSection]) -> String {
        var output = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for section in sections {
            let key = section.title.lowercased().replacingOccurrences(of: " ", with: "_")
            for row in section.rows {
                var object = ["section": key]
                for (column, value) in zip(section.columns, row) { object[column] = value }
                if let data = try? encoder.encode(object), let line = String(data: data, encoding: .utf8) {
                    output += line + "\n"
                }
            }
        }
        return output
    }
}
