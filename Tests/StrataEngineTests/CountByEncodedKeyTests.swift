import PropertyBased
@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// `DStream.countByEncodedKey`: counting per key from each record's encoded key bytes writes the
/// blocks that `map { KeyValue(key, 1) }` followed by the same operator writes, over stored and
/// derived streams, and a key that cannot be read fails the program with a typed error naming
/// where, committing nothing.
@Suite struct CountByEncodedKeyTests {
    /// The key of a `KV` record: its first field's encoding.
    static let kvKey: @Sendable (inout BinaryReader, inout BinaryWriter) throws -> Void = { record, key in
        key.write(raw: try record.encodedBytes(of: Int64.self))
    }

    /// Against the decoded plan, block for block, and against the model: the running count, a
    /// count per interval to another partition count, and a count over a filtered (derived) stream.
    @Test func countsGiveTheDecodedPlansBlocks() async {
        await propertyCheck(count: 12, input: EngineGenA.keyedIntervals, EngineGenA.partitions, EngineGenA.partitions) {
            intervals, p, q in
            let fixture = try EngineFixtureA()
            let (stream, _) = try fixture.input("in", intervals, partitions: p)
            try fixture.run { b in                                                    // program p1
                let ones = b.read(stream).map { KeyValue($0.key, Int64(1)) }
                ones.runningReduce(+).save(as: "runningDecoded")
                ones.reduceByKey(partitions: q, +).save(as: "perIntervalDecoded")
                b.read(stream).filter { $0.value % 2 == 0 }.map { KeyValue($0.key, Int64(1)) }.reduceByKey(+)
                    .save(as: "derivedDecoded")
            }
            try fixture.run { b in                                                    // program p2
                b.read(stream).countByEncodedKey(as: Int64.self, Self.kvKey).runningReduce(+).save(as: "runningEncoded")
                b.read(stream).countByEncodedKey(as: Int64.self, partitions: q, Self.kvKey).save(as: "perIntervalEncoded")
                b.read(stream).filter { $0.value % 2 == 0 }.countByEncodedKey(as: Int64.self, Self.kvKey)
                    .save(as: "derivedEncoded")
            }
            for name in ["running", "perInterval", "derived"] {
                let decoded = try PartitionedByKeyTests.blocks(fixture.store, name + "Decoded")
                #expect(try PartitionedByKeyTests.blocks(fixture.store, name + "Encoded") == decoded, "\(name)")
            }
            // One shuffle per operator in both programs: the running count after the count adds none.
            let shuffles = try fixture.store.log.descriptors().map(\.name).filter { $0.hasSuffix(".shuffle") }
            #expect(shuffles.filter { $0.hasPrefix("p1.") }.count == 3, "\(shuffles)")
            #expect(shuffles.filter { $0.hasPrefix("p2.") }.count == 3, "\(shuffles)")
            // The model: per interval, each key's count; the running count's new totals.
            let perInterval = try fixture.read("perIntervalEncoded", of: KV.self, intervals: intervals.count)
            let running = try fixture.read("runningEncoded", of: KV.self, intervals: intervals.count)
            var totals: [Int64: Int64] = [:]
            for (t, records) in intervals.enumerated() {
                var counts: [Int64: Int64] = [:]
                for record in records { counts[record.key, default: 0] += 1 }
                #expect(multiset(perInterval[t].joined()) == multiset(counts.map { KV($0.key, $0.value) }), "interval \(t)")
                for record in records { totals[record.key, default: 0] += 1 }
                #expect(multiset(running[t].joined()) == multiset(counts.keys.map { KV($0, totals[$0]!) }),
                        "interval \(t)")
            }
        }
    }

    /// The vertex that counts a stored stream's frames has nothing decoded ahead for it.
    @Test func theCountingVertexDecodesNothingAhead() throws {
        let fixture = try EngineFixtureA()
        let (stream, _) = try fixture.input("in", [[KV(1, 1), KV(2, 2)], [KV(1, 3)]], partitions: 2)
        let program = try Program(name: "counts", store: fixture.store) { b in
            b.read(stream).countByEncodedKey(as: Int64.self, Self.kvKey).runningReduce(+).save(as: "counts")
        }
        #expect(program.decodedAhead["counts.v0"] == nil)
        try program.runUntilCaughtUp()
        let counts = try fixture.read("counts", of: KV.self, intervals: 2).map { multiset($0.joined()) }
        #expect(counts == [multiset([KV(1, 1), KV(2, 1)]), multiset([KV(1, 2)])])
    }

    /// A key the closure cannot read, and key bytes that are not a `Key`, fail the program with
    /// `StorageError.recordRejected` naming the stream, interval, partition and record; nothing
    /// of that interval is committed.
    @Test func anUnreadableKeyFailsWithATypedErrorNamingWhere() throws {
        let fixture = try EngineFixtureA()
        let (stream, layout) = try fixture.input("in", [[KV(1, 1), KV(2, 2), KV(3, 3)]], partitions: 1)
        #expect(layout[0][0].count == 3)
        let refusing: @Sendable (inout BinaryReader, inout BinaryWriter) throws -> Void = { record, key in
            let bytes = try record.encodedBytes(of: Int64.self)
            if try record.read(Int64.self) == 2 {
                throw RecordDecodingError.invalidValue(offset: record.offset, what: "value 2")
            }
            key.write(raw: bytes)
        }
        let short: @Sendable (inout BinaryReader, inout BinaryWriter) throws -> Void = { record, key in
            key.write(raw: UnsafeRawBufferPointer(rebasing: try record.encodedBytes(of: Int64.self).prefix(3)))
        }
        for (name, closure, record) in [("refused", refusing, 1), ("short", short, 0)] {
            var caught: (any Error)?
            do {
                try fixture.run { b in b.read(stream).countByEncodedKey(as: Int64.self, closure).save(as: name) }
            } catch {
                caught = error
            }
            guard case EngineError.storage(.recordRejected(let location, let index, let type, _), _, _)? = caught else {
                Issue.record("\(name): \(String(describing: caught))")
                continue
            }
            #expect(location == StoreLocation(stream: "in", interval: Interval(0), partition: PartitionIndex(0)), "\(name)")
            #expect(index == record && type == KV.recordTypeName, "\(name)")
            #expect(try fixture.store.stream(named: name, of: KV.self).frontier().sealedThrough == nil, "\(name)")
        }
    }
}
