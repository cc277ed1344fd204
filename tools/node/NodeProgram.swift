import Strata
import StrataCluster

/// The example program every node runs: the seeds' running count per url, a sliding window count
/// and sessions, over a generated stream of (url, event) pairs.
enum NodeProgram {
    typealias View = KeyValue<String, Int64>
    static let name = "demo"
    static let input = "views"
    /// The named outputs, compared between a cluster and a single-node run.
    static let outputs = ["urlCounts", "windowCounts", "sessions"]

    /// Defines the program over `store`.
    static func define(_ store: Store, partitions: Int, options: ProgramOptions) throws -> Program {
        let views = try store.stream(input, of: View.self, interval: .seconds(1), partitions: partitions)
        return try Program(name: name, store: store, options: options) { p in
            let ones = p.read(views).map { KeyValue($0.key, Int64(1)) }
            ones.runningReduce(+).save(as: "urlCounts")
            ones.reduceByKeyAndWindow(+, inverse: -, length: 3, slide: 1).save(as: "windowCounts")
            p.read(views).track(initialize: { _, _ in Int64(1) },
                                update: { _, state, event in event == 9 ? nil : state + 1 },
                                timeout: 4).updates.save(as: "sessions")
        }
    }

    static func cluster(partitions: Int) -> ClusterProgram {
        ClusterProgram(name: name, partitions: partitions, options: ProgramOptions(snapshotEvery: 10)) { store, options in
            try define(store, partitions: partitions, options: options)
        }
    }

    /// Interval `t`'s generated records: deterministic, uneven over urls and intervals; `scale`
    /// times as many (over as many more urls) for benchmarks.
    static func records(_ t: Int, scale: Int = 1) -> [View] {
        (0..<((40 + (t * 7) % 23) * scale)).map { i in View("/page/\((i * i + 3 * t) % (37 * scale))", Int64((i + t) % 10)) }
    }

    /// Appends interval `t` of the input and, unless told not to, seals it.
    static func append(_ t: Int, to appender: ExplicitAppender<View>, scale: Int = 1, seal: Bool = true) throws {
        for record in records(t, scale: scale) { try appender.append(record, interval: Interval(UInt64(t))) }
        if seal { try appender.seal(through: Interval(UInt64(t))) }
    }
}
