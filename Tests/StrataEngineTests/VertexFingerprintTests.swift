@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// Vertex fingerprints are persisted in every progress mark, and a program whose fingerprint
/// changed is refused (`ChangedDefinition.refuse`): a change of the engine's structure must leave
/// them as they were, or programs that ran before could not continue. The golden values below were
/// computed by the engine before `VertexIdentity` (each vertex kind spelled its own fields).
@Suite struct VertexFingerprintTests {
    /// One program with a vertex of every kind: save, foreach, the exchange (reduceByKey's map
    /// side, the key exchange of keyed state and joins, `count`, `repartition`), running reduce,
    /// the incremental window, keyed state (`updateStateByKey`, `track`, `mapWithState`), and a
    /// mirroring vertex (`save(as:)` of a vertex's output).
    static func everyKind(_ b: ProgramBuilder, _ input: StoredStream<KV>) {
        let x = b.read(input)
        x.map { KV($0.key, $0.value * 2) }.save(as: "saved")
        x.foreach { _, _ in }
        x.reduceByKey(+).save(as: "reduced")
        x.runningReduce(+).save(as: "running")
        x.reduceByKeyAndWindow(+, inverse: -, length: 3).save(as: "windowed")
        x.count().save(as: "counted")
        x.repartition(3).save(as: "spread")
        x.join(x).save(as: "joined")
        x.updateStateByKey(timeout: 4) { (_: Int64, values: [Int64], state: Int64?) in
            (state ?? 0) + values.reduce(0, +)
        }.save(as: "states")
        x.track(initialize: { _, v in v }, update: { _, s, v in s + v }, timeout: 5).activeCount.save(as: "live")
        x.mapWithState(timeout: 2, stateSnapshotsEvery: 3) {
            (_: Interval, key: Int64, value: Int64?, state: inout KeyState<Int64>) -> KV? in
            if let value, !state.isTimingOut { try state.update((state.get() ?? 0) + value) }
            return KV(key, state.get() ?? 0)
        }.mapped.save(as: "mapped")
    }

    /// Every vertex of `everyKind`, as `name fingerprint-in-hex`.
    static let golden = [
        "fp.v0 4c62e85510447340",
        "fp.v1 e7187af77043cab3",
        "fp.v2 8e3633015122ea02",
        "fp.v3 2e2ffe9f63a3af4a",
        "fp.v4 ff569e597a450dbc",
        "fp.v5 614092769e8a3f34",
        "fp.v6 8452e0514f21d6c6",
        "fp.v7 8aa55178f6b2bcff",
        "fp.v8 adcfef4886adff6",
        "fp.v9 6f24509206a942e2",
        "fp.v10 c404d8486cef3892",
        "fp.v11 ea1588d6ae7a98a9",
        "fp.v12 f31e2ce2a861522a",
        "fp.v13 8b8b0523f8d06928",
        "fp.v14 9cd33111c10226eb",
        "fp.v15 87ea873ac8b106b4",
        "fp.v16 5073f1b35a18e822",
        "fp.v17 c570a2096ef7d140",
        "fp.v18 ad586fc066082110",
        "fp.v19 69a33742a3adf140",
        "fp.v20 86eef9910f7b0c55",
        "fp.v21 fa62f6f35aaab6b5",
    ]

    @Test func fingerprintsOfEveryVertexKindAreUnchanged() throws {
        let directory = try TemporaryDirectory(prefix: "strata-fp")
        let store = try Store(at: directory.appending("s"))
        let input = try store.stream("in", of: KV.self, interval: .seconds(1), partitions: 2)
        let program = try Program(name: "fp", store: store) { b in Self.everyKind(b, input) }
        let got = program.vertices.map { "\($0.name) \(String($0.fingerprint, radix: 16))" }
        #expect(got == Self.golden, "\(got)")
    }

    /// A program that committed progress under the fingerprints above continues after a restart
    /// under the default `ChangedDefinition.refuse` through the last sealed interval.
    @Test func aProgramThatRanBeforeIsNotRefused() throws {
        let directory = try TemporaryDirectory(prefix: "strata-fp-restart")
        let store = try Store(at: directory.appending("s"))
        let input = try store.stream("in", of: KV.self, interval: .seconds(1), partitions: 2)
        let appender = try input.explicitAppender()
        for t in 0..<6 {
            for i in 0..<5 { try appender.append(KV(Int64((t * 5 + i) % 4), Int64(i)), interval: Interval(UInt64(t))) }
            if t == 2 {
                try appender.seal(through: Interval(2))
                let first = try Program(name: "fp", store: store) { b in Self.everyKind(b, input) }
                try first.runUntilCaughtUp()
            }
        }
        try appender.seal(through: Interval(5))
        let again = try Program(name: "fp", store: store) { b in Self.everyKind(b, input) }
        try again.runUntilCaughtUp()
        for (vertex, through) in try again.progress() { #expect(through == Interval(5), "\(vertex)") }
    }
}
