import ArgumentParser
import Glibc
import Strata

/// `strata-bench keyed-append`: typed `KeyValue<String, Int64>` appends (url → 1), keyed by the
/// url, against the same records through a twin type that does not declare that its encoding
/// starts with its key (`KeyedRecord.encodeAfterPartitionKey(to:)` left at `false`), so its key
/// is encoded twice per append: once to route, once inside the record — what every keyed append
/// did before. Same bytes on disk, same partitions; the difference is the key's second encoding.
struct KeyedAppend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyed-append",
        abstract: "Keyed appends with the key encoded once (KeyValue) against twice (a twin type), same bytes.",
        discussion: """
            Both runs append the same generated (url, 1) pairs with explicit intervals into a new \
            store under --store (no fsync), then seal. The appending thread's CPU time is reported \
            beside wall time: it holds the encoding, which is what differs.
            """)

    @Option(help: "A directory for the two stores; must not exist.")
    var store: String

    @Option(help: "Number of events per run.")
    var events: Int = 5_000_000

    @Option(help: "Partitions of the stream.")
    var partitions: Int = 4

    @OptionGroup var dataSet: DataSetOptions

    func validate() throws {
        guard events > 0 else { throw ValidationError("--events must be positive") }
        guard (1...4096).contains(partitions) else { throw ValidationError("--partitions must be 1 to 4096") }
    }

    func run() throws {
        guard mkdir(store, 0o755) == 0 else {
            throw ValidationError("cannot create \(store): \(String(cString: strerror(errno)))")
        }
        var generator = dataSet.makeGenerator()
        var urls = ContiguousArray<String>()
        urls.reserveCapacity(events)
        for _ in 0..<events { urls.append(generator.nextPageView().url) }
        let once = try append(KeyValue<String, Int64>.self, urls, name: "once") { KeyValue($0, 1) }
        let twice = try append(TwiceEncodedKey.self, urls, name: "twice") { TwiceEncodedKey(key: $0, value: 1) }
        for (workload, (wall, thread)) in [("keyed-append-once", once), ("keyed-append-twice", twice)] {
            printResult(workload: workload, events: events, seconds: wall,
                        extra: ["thread_cpu_s": fixed(thread), "thread_ns_per_event": fixed(thread / Double(events) * 1e9, 1)])
        }
    }

    /// Appends one record per url to interval `i / 100_000`, seals, and returns (wall, thread CPU) seconds.
    private func append<Record: KeyedRecord>(_ type: Record.Type, _ urls: ContiguousArray<String>, name: String,
                                             _ make: (String) -> Record) throws -> (Double, Double) {
        let db = try Store(at: store + "/" + name, options: StoreOptions(durability: .noSync))
        let stream = try db.stream("counts", of: Record.self, interval: .seconds(1), partitions: partitions)
        let appender = try stream.explicitAppender()
        let watch = Stopwatch()
        for (i, url) in urls.enumerated() { try appender.append(make(url), interval: Interval(UInt64(i / 100_000))) }
        try appender.seal(through: Interval(UInt64((urls.count - 1) / 100_000)))
        let elapsed = watch.read()
        return (elapsed.wall, elapsed.threadCPU)
    }
}

/// `KeyValue<String, Int64>`'s bytes and key, without `encodeAfterPartitionKey(to:)`: appenders
/// encode its key twice (to route, then inside the record), as every keyed append did before.
struct TwiceEncodedKey: KeyedRecord {
    static var recordTypeName: String { "bench.TwiceEncodedKey" }
    var key: String
    var value: Int64
    var partitionKey: String { key }
    func encode(to writer: inout BinaryWriter) {
        key.encode(to: &writer)
        value.encode(to: &writer)
    }
    init(key: String, value: Int64) {
        self.key = key
        self.value = value
    }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        key = try reader.read()
        value = try reader.read()
    }
}
