import Glibc
import StrataStorage

/// What a program running on a cluster looks like from JetStream: its live nodes, who holds each
/// partition's lease (revision, age, time left), and how far each partition has sent each of its
/// streams — the exchanges' sent streams (one per exchange vertex) and the named outputs — against
/// its input (the vertices' lag).
///
/// `ExecutionStatus` is a `Sendable` value. `ClusterStatus` reads it for every program of a
/// namespace, beside the replicated streams.
///
/// ```swift
/// let status = try ExecutionStatus.read(jetStream: jetStream, names: ExecutionNames(namespace: "strata", program: "demo"))
/// for section in status.sections { print(section.title, section.rows) }
/// ```
public struct ExecutionStatus: Sendable, Equatable {
    /// A live node (its membership key).
    public struct Member: Sendable, Equatable {
        /// The node's name.
        public var name: String
        /// Milliseconds since its last renewal (server clock against this machine's; display only).
        public var age: Int64?
    }

    /// One partition of the program.
    public struct Partition: Sendable, Equatable {
        /// Its index.
        public var partition: Int
        /// The node holding its lease (`nil`: none).
        public var owner: String?
        /// The lease key's revision (`nil`: no lease key): a new owner's, or a renewal's, is higher.
        public var leaseRevision: UInt64?
        /// Milliseconds since the lease was last written (display only).
        public var leaseAge: Int64?
        /// Milliseconds until the lease expires unless renewed (`nil`: no TTL or no lease).
        public var leaseExpiresIn: Int64?
        /// Per stream it sends (an exchange's `PROGRAM.vN.shuffle`, a named output), the interval
        /// through which JetStream holds what it sent.
        public var sent: [String: Interval]
        /// The interval through which its input reached JetStream (`nil`: none yet).
        public var inputThrough: Interval?

        /// Intervals of input not yet sent on `stream` (the vertex's lag), or `nil` when unknown.
        public func lag(_ stream: String) -> UInt64? {
            guard let input = inputThrough else { return nil }
            guard let sent = sent[stream] else { return input.rawValue &+ 1 }
            return input.rawValue > sent.rawValue ? input.rawValue - sent.rawValue : 0
        }
    }

    /// The program's name.
    public var program: String
    /// Its input streams (as its tasks recorded them; empty before a task started).
    public var inputs: [String]
    /// The live nodes, by name.
    public var members: [Member]
    /// Every partition, in order.
    public var partitions: [Partition]

    /// The partitions each node holds, by node name.
    public var partitionsPerNode: [(node: String, partitions: [Int])] {
        var perNode: [String: [Int]] = [:]  // lookup only; returned sorted
        for partition in partitions { if let owner = partition.owner { perNode[owner, default: []].append(partition.partition) } }
        return perNode.keys.sorted().map { ($0, perNode[$0] ?? []) }
    }

    /// The streams sent by some partition, sorted.
    public var sentStreams: [String] { Set(partitions.flatMap(\.sent.keys)).sorted() }

    public static func == (a: Self, b: Self) -> Bool {
        a.program == b.program && a.inputs == b.inputs && a.members == b.members && a.partitions == b.partitions
    }

    /// Reads the status of program `names` from its KV buckets and JetStream stream.
    ///
    /// The partition count and inputs come from the `program` key its nodes write (older runs:
    /// the highest partition with a lease or progress key). A partition's input is through the
    /// newest interval sealed in JetStream of every input (a replicated stream, `ClusterReplicator`).
    ///
    /// - Parameter now: Nanoseconds since 1970 to measure ages against (default: this machine's clock,
    ///   read after each entry; an age is never negative).
    /// - Throws: `ClusterError` when JetStream fails (a program never run has no buckets: empty status).
    public static func read(jetStream: JetStream, names: ExecutionNames, now: Int64? = nil) throws(ClusterError)
        -> ExecutionStatus
    {
        // Each age against a clock read after its entry was (a renewal between a clock read once
        // up front and the entry's read would give a negative age, and more time left than the TTL).
        let given = now
        func age(since created: Int64) -> Int64 { max(0, Self.milliseconds((given ?? Self.wallClock()) - created)) }
        var status = ExecutionStatus(program: names.program, inputs: [], members: [], partitions: [])
        let leases = try jetStream.keyValue(names.bucket + "_leases")
        let progress = try jetStream.keyValue(names.bucket + "_progress")
        let ttl = try leases?.status().ttl
        var partitionCount = 0
        if let entry = try progress?.get(ExecutionNames.programKey), entry.operation == .put {
            let info = ProgramInfo.decode(entry.value)
            partitionCount = info.partitions
            status.inputs = info.inputs
        } else {
            for key in try (leases?.keys(prefix: "lease.") ?? []) + (progress?.keys(prefix: "progress.") ?? []) {
                let parts = key.split(separator: ".")
                if parts.count == 2, parts[0] == "lease" || parts[0] == "progress", let p = Int(parts[1]) {
                    partitionCount = max(partitionCount, p + 1)
                }
            }
        }
        for key in try leases?.keys(prefix: "node.") ?? [] {
            guard let name = ExecutionNames.decode(String(key.dropFirst(5))) else { continue }
            let entry = try leases?.get(key)
            status.members.append(Member(name: name, age: entry.map { age(since: $0.created) }))
        }
        status.members.sort { $0.name < $1.name }
        var inputThrough: Interval?
        var inputKnown = !status.inputs.isEmpty
        for input in status.inputs {
            let through = try Self.inputThrough(input, jetStream: jetStream, namespace: names.namespace)
            guard let through else { inputKnown = false; break }
            inputThrough = min(inputThrough ?? through, through)
        }
        for p in 0..<partitionCount {
            var partition = Partition(partition: p, sent: [:], inputThrough: inputKnown ? inputThrough : nil)
            if let entry = try leases?.get(ExecutionNames.leaseKey(p)) {
                partition.leaseRevision = entry.revision
                if entry.operation == .put, !entry.value.isEmpty {
                    partition.owner = String(decoding: entry.value, as: UTF8.self)
                    let leaseAge = age(since: entry.created)
                    partition.leaseAge = leaseAge
                    partition.leaseExpiresIn = ttl.map { max(0, Self.milliseconds(Int64(clamping: $0.wholeNanoseconds)) - leaseAge) }
                }
            }
            if let entry = try progress?.get(ExecutionNames.progressKey(p)) {
                partition.sent = ProgressValue.decode(entry.value)
            }
            status.partitions.append(partition)
        }
        return status
    }

    /// The newest interval of `input` sealed in JetStream: the replicated stream's last seal.
    static func inputThrough(_ input: String, jetStream: JetStream, namespace: String) throws(ClusterError) -> Interval? {
        let names = ClusterNames(namespace: namespace, stream: input)
        guard try jetStream.streamInfo(names.jetStreamName) != nil,
              let last = try jetStream.lastMessage(stream: names.jetStreamName, subject: names.sealSubject) else { return nil }
        return try SealMessage(decoding: last.payload, what: "\(names.sealSubject) #\(last.sequence)").interval
    }

    /// The status as sections of `strata cluster status`: members, leases, partitions per node and
    /// the lag of every stream each partition sends (the program's name in every row).
    public var sections: [ClusterStatusSection] {
        let ms: (Int64?) -> String = { $0.map { String($0) } ?? "-" }
        let members = ClusterStatusSection(
            title: "Program nodes", columns: ["program", "node", "age_ms"],
            rows: self.members.map { [program, $0.name, ms($0.age)] })
        let leases = ClusterStatusSection(
            title: "Leases", columns: ["program", "partition", "holder", "revision", "age_ms", "expires_in_ms"],
            rows: partitions.map { p in
                [program, String(p.partition), p.owner ?? "-", p.leaseRevision.map { String($0) } ?? "-", ms(p.leaseAge),
                 ms(p.leaseExpiresIn)]
            })
        var perNodeRows = partitionsPerNode.map { entry in
            [program, entry.node, String(entry.partitions.count), entry.partitions.map(String.init).joined(separator: ",")]
        }
        let unowned = partitions.filter { $0.owner == nil }.map(\.partition)
        if !unowned.isEmpty { perNodeRows.append([program, "-", String(unowned.count), unowned.map(String.init).joined(separator: ",")]) }
        let perNode = ClusterStatusSection(title: "Partitions per node", columns: ["program", "node", "count", "partitions"],
                                           rows: perNodeRows)
        var lagRows: [[String]] = []
        let input = inputs.joined(separator: ",")
        for stream in sentStreams {
            for p in partitions {
                lagRows.append([program, stream, String(p.partition), p.owner ?? "-", input.isEmpty ? "-" : input,
                                p.inputThrough.map { String($0.rawValue) } ?? "-",
                                p.sent[stream].map { String($0.rawValue) } ?? "-",
                                p.lag(stream).map { String($0) } ?? "-"])
            }
        }
        let lag = ClusterStatusSection(
            title: "Vertex lag",
            columns: ["program", "stream", "partition", "owner", "input", "input_through", "sent_through", "lag"],
            rows: lagRows)
        return [members, leases, perNode, lag]
    }

    static func milliseconds(_ nanoseconds: Int64) -> Int64 { nanoseconds / 1_000_000 }

    /// Nanoseconds since 1970 (display only: ages of KV entries, whose times are the server's).
    static func wallClock() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

/// The value of a program's `program` key in its progress bucket, written by its nodes: the
/// partition count and the input streams. Text lines `partitions N`, then `input NAME` per input.
enum ProgramInfo {
    static func encode(partitions: Int, inputs: [String]) -> [UInt8] {
        Array((["partitions \(partitions)"] + inputs.sorted().map { "input \($0)" }).joined(separator: "\n").utf8) + [0x0A]
    }

    static func decode(_ bytes: [UInt8]) -> (partitions: Int, inputs: [String]) {
        var partitions = 0
        var inputs: [String] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("partitions "), let n = Int(line.dropFirst(11)) { partitions = n }
            if line.hasPrefix("input ") { inputs.append(String(line.dropFirst(6))) }
        }
        return (partitions, inputs)
    }
}
