import ArgumentParser
import Foundation
import StrataCluster

/// The options of a command that talks to a Strata cluster on NATS JetStream: the servers, the
/// node's name, credentials and TLS.
///
/// Shared through `@OptionGroup` by `cluster …`, `ingest`, `cat` and `slice`.
struct NATSArguments: ParsableArguments {
    @Option(name: .customLong("nats"), help: ArgumentHelp(
        "A NATS server of the cluster (repeat, or separate with commas); turns on cluster mode (default: $STRATA_NATS).",
        valueName: "url"))
    var urls: [String] = []

    @Option(name: .customLong("node"), help: ArgumentHelp(
        "This node's name in the cluster (default: the host name).", valueName: "name"))
    var node: String?

    @Option(name: .customLong("nats-creds"), help: ArgumentHelp("A NATS .creds file (user JWT and seed).", valueName: "path"))
    var credsFile: String?

    @Option(name: .customLong("nats-user"), help: ArgumentHelp("A NATS user name (with --nats-password).", valueName: "user"))
    var user: String?

    @Option(name: .customLong("nats-password"), help: ArgumentHelp(
        "The NATS user's password (default: $STRATA_NATS_PASSWORD).", valueName: "password"))
    var password: String?

    @Option(name: .customLong("nats-token"), help: ArgumentHelp(
        "A NATS token (default: $STRATA_NATS_TOKEN).", valueName: "token"))
    var token: String?

    @Option(name: .customLong("nats-tls-ca"), help: ArgumentHelp(
        "The certificate authorities (PEM) to trust for the servers' TLS certificates; turns TLS on.", valueName: "path"))
    var tlsCA: String?

    @Option(name: .customLong("nats-tls-cert"), help: ArgumentHelp(
        "This node's TLS client certificate (PEM, with --nats-tls-key).", valueName: "path"))
    var tlsCertificate: String?

    @Option(name: .customLong("nats-tls-key"), help: ArgumentHelp("The TLS client certificate's key (PEM).", valueName: "path"))
    var tlsKey: String?

    @Option(name: .customLong("replicas"), parsing: .unconditional, help: ArgumentHelp(
        "How many JetStream servers hold each replicated stream (1, 3 or 5).", valueName: "n"))
    var replicas: Int = 3

    @Option(name: .customLong("namespace"), help: ArgumentHelp(
        "The prefix of the subjects and JetStream streams Strata uses.", valueName: "name"))
    var namespace: String = "strata"

    /// The servers: `--nats` values (comma-separated lists split), else `$STRATA_NATS`.
    var servers: [String] {
        let given = urls.isEmpty ? [ProcessInfo.processInfo.environment["STRATA_NATS"] ?? ""] : urls
        return given.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
    }

    /// Whether cluster mode is on (`--nats` or `$STRATA_NATS`).
    var isEnabled: Bool { !servers.isEmpty }

    /// Whether `--nats` (or `$STRATA_NATS`) is given on this command line: a store is then optional
    /// for the commands that can read from the cluster.
    static var requested: Bool {
        CommandLine.arguments.contains { $0 == "--nats" || $0.hasPrefix("--nats=") }
            || !(ProcessInfo.processInfo.environment["STRATA_NATS"] ?? "").isEmpty
    }

    mutating func validate() throws {
        let kinds = [credsFile != nil, user != nil || password != nil, token != nil].filter { $0 }.count
        if kinds > 1 { throw ValidationError("give one kind of NATS credentials: --nats-creds, --nats-user/--nats-password or --nats-token") }
        if password != nil && user == nil { throw ValidationError("--nats-password needs --nats-user") }
        if (tlsCertificate == nil) != (tlsKey == nil) { throw ValidationError("--nats-tls-cert and --nats-tls-key go together") }
        if !(1...5).contains(replicas) { throw ValidationError("--replicas must be 1 to 5, not \(replicas)") }
        if let node, node.isEmpty || node.contains(" ") { throw ValidationError("--node needs a name without spaces") }
    }

    /// The cluster options these arguments give.
    func clusterOptions() throws -> ClusterOptions {
        let environment = ProcessInfo.processInfo.environment
        var credentials = NATSCredentials.none
        if let credsFile {
            credentials = .credentialsFile(path: credsFile)
        } else if let user {
            guard let password = password ?? environment["STRATA_NATS_PASSWORD"] else {
                throw ValidationError("--nats-user needs --nats-password or $STRATA_NATS_PASSWORD")
            }
            credentials = .userPassword(user: user, password: password)
        } else if let token = token ?? environment["STRATA_NATS_TOKEN"] {
            credentials = .token(token)
        }
        var tls: NATSTLSOptions?
        if tlsCA != nil || tlsCertificate != nil {
            tls = NATSTLSOptions(certificateAuthorityFile: tlsCA, certificateFile: tlsCertificate, keyFile: tlsKey)
        }
        var options = ClusterOptions(urls: servers, node: node ?? ProcessInfo.processInfo.hostName,
                                     replicas: replicas, credentials: credentials, tls: tls, namespace: namespace)
        options.requestTimeout = .seconds(20)
        try options.validate()
        return options
    }
}
