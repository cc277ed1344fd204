import PropertyBased
@testable import StrataEngine
import StrataStorage
import StrataTestSupport
import Testing

@testable import Strata

/// Issue 16: a JSON stream with a key field places each line where the engine routes the field's
/// text as a `String` key (`KeyPlacement.stringKey`), so a program keyed by that field may declare
/// it partitioned (`assumingPartitionedByKeyField()`) and skip the shuffle with byte-identical
/// output; a stream created before keeps its placement (`fieldBytes`) and is refused.
@Suite struct JSONKeyPlacementTests {
    /// Characters a key is made of: ASCII, the ones JSON must escape, 2-, 3- and 4-byte UTF-8.
    static let scalars: [Unicode.Scalar] = ["a", "Z", "/", "0", " ", "\"", "\\", "\n", "\t", "\u{01}", "\u{7F}", "é", "ß",
                                            "日", "本", "\u{FFFD}", "😀", "𝄞"]

    /// One key: its scalars (possibly none), each written raw or as a `\u` escape (a surrogate pair
    /// beyond the BMP), or, for some, a JSON number instead of a string; one key in eight repeats
    /// its scalars 40 times (up to 960 bytes: XXH64's 32-byte stripes and a 2-byte length prefix).
    static let key = zip(Gen.int(in: 0..<scalars.count).array(of: 0...6), Gen.bool.array(of: 6...6), Gen.int(in: 0...9),
                         Gen.int(in: -99_999...99_999), Gen.int(in: 0...7))

    /// The key field's JSON text and the key's text as a program sees it (a string's unescaped text,
    /// a number's JSON text).
    static func literal(_ key: ([Int], [Bool], Int, Int, Int)) -> (json: String, text: String) {
        let (indices, escaped, kind, number, long) = key
        if kind == 0 { return (String(number), String(number)) }
        var json = "\""
        var text = ""
        for (position, index) in Array(repeating: indices, count: long == 0 ? 40 : 1).joined().enumerated() {
            let position = position % max(1, indices.count)
            let scalar = scalars[index]
            text.unicodeScalars.append(scalar)
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += escaped[position] ? "\\u005c" : "\\\\"
            case "\n": json += "\\n"
            case "\t": json += "\\t"
            case "\u{01}": json += "\\u0001"  // a control character: always escaped
            case "\u{7F}" where escaped[position]: json += "\\u007f"
            default:
                if !escaped[position] {
                    json.unicodeScalars.append(scalar)
                } else if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    json += "\\u" + hex4(0xD800 + (v >> 10)) + "\\u" + hex4(0xDC00 + (v & 0x3FF))
                } else {
                    json += "\\u" + hex4(scalar.value)
                }
            }
        }
        return (json + "\"", text)
    }

    static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    /// 1–50 keyed lines over 1–3 intervals, and a partition count.
    static let inputs = zip(key.array(of: 1...50), Gen.int(in: 1...7))

    /// The key field `k` of a JSON line as the program sees it: a string's unescaped UTF-8, any
    /// other value's JSON text.
    static func keyText(_ line: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard let value = try JSONLineScanner(fields: ["k"]).scan(line).0 else {
            throw RecordDecodingError.invalidValue(offset: 0, what: "no key field")
        }
        let raw = UnsafeRawBufferPointer(rebasing: line[value.range])
        guard value.kind == .string, value.hasEscapes else { return Array(raw) }
        var text: [UInt8] = []
        try unescapeJSONString(raw, into: &text)
        return text
    }

    /// `countByEncodedKey`'s closure: the key field's text as an encoded `String`.
    static let writeKey: @Sendable (inout BinaryReader, inout BinaryWriter) throws -> Void = { record, key in
        let text = try keyText(record.readRemaining())
        text.withUnsafeBytes { key.write(lengthPrefixed: $0) }
    }

    /// Stream `in` of `store` with key field `k` (time field `ts`, seconds) holding `lines`, spread
    /// over three intervals from `firstSecond`; a new stream unless `placement` says otherwise.
    static func ingest(_ lines: [String], into store: Store, partitions: Int, placement: KeyPlacement? = nil,
                       firstSecond: Int = 0) throws -> StoredStream<JSONRecord> {
        if let placement {
            _ = try store.log.createOrOpenStream(LogStore.StreamSpec(
                name: "in", recordType: JSONRecord.recordTypeName, intervalLength: .seconds(1),
                partitions: UInt32(partitions), timeField: "ts", keyField: "k", timeUnit: .seconds, keyPlacement: placement))
        }
        let stream = try store.jsonStream("in", interval: .seconds(1), partitions: partitions, timeField: "ts",
                                          keyField: "k", timeUnit: .seconds)
        let ingestor = try JSONLinesIngestor(stream: stream)
        for (index, line) in lines.enumerated() {
            let text = "{\"ts\":\(firstSecond + index * 3 / max(1, lines.count)),\"k\":\(line),\"n\":\(index)}"
            var bytes = Array(text.utf8)
            let rejection = try bytes.withUnsafeMutableBytes { try ingestor.ingest(line: UnsafeRawBufferPointer($0)) }
            #expect(rejection == nil, "\(text)")
        }
        _ = try ingestor.finish()
        return stream
    }

    /// Every record of stream `in` with its partition.
    static func placed(_ stream: StoredStream<JSONRecord>) throws -> [(partition: UInt32, key: [UInt8])] {
        guard let last = try stream.newestSealedInterval() else { return [] }
        var placed: [(UInt32, [UInt8])] = []
        try stream.forEach(in: Interval(0)...last) { _, partition, record in
            placed.append((partition.rawValue, try record.bytes.withUnsafeBytes { try keyText($0) }))
        }
        return placed
    }

    /// Property: every line of a new stream sits in the partition the engine routes its key's text
    /// to as a `String` (`stablePartition`, the shuffle's own function), for keys with escapes,
    /// surrogate pairs, non-ASCII text, empty strings and numbers; and the time-travel key lookup
    /// (`forEach(in:key:)`, reading only the key's partition) finds every line of its key.
    @Test func newStreamsPlaceLinesAsTheEngineRoutesTheStringKey() async {
        await propertyCheck(count: 40, input: Self.inputs) { keys, partitions in
            let directory = try TemporaryDirectory(prefix: "strata-jsonkey")
            let store = try Store(at: directory.appending("s"))
            let literals = keys.map(Self.literal)
            let stream = try Self.ingest(literals.map(\.json), into: store, partitions: partitions)
            #expect(stream.descriptor.keyPlacement == .stringKey)
            let placed = try Self.placed(stream)
            #expect(placed.count == literals.count)
            var scratch = BinaryWriter(capacity: 64)
            for (partition, text) in placed {
                let key = String(decoding: text, as: UTF8.self)
                #expect(Array(key.utf8) == text)
                #expect(partition == stablePartition(of: key, among: UInt32(partitions), scratch: &scratch), "\(key)")
            }
            for literal in Set(literals.map(\.text)) {
                var found = 0
                try stream.forEach(in: Interval(0)...Interval(2), key: literal) { _, _, _ in found += 1 }
                #expect(found == literals.filter { $0.text == literal }.count, "\(literal)")
            }
        }
    }

    /// Keys whose `String` encoding's length prefix changes width (127/128 bytes: 1 → 2 bytes;
    /// 16 383/16 384: 2 → 3), in ASCII, in 2-byte UTF-8, and with an escape (the unescaping path),
    /// sit where the engine routes them: the length prefix is hashed in place of the bytes before
    /// the key's text (`JSONLineParser.stringKeyHash`), never copied with it.
    @Test(arguments: [0, 1, 126, 127, 128, 129, 16_383, 16_384, 16_385])
    func keysAtTheLengthPrefixBoundariesSitWhereTheEngineRoutesThem(length: Int) throws {
        let directory = try TemporaryDirectory(prefix: "strata-jsonkey")
        let ascii = String(repeating: "u", count: length)
        let twoByte = String(repeating: "é", count: length / 2) + (length % 2 == 1 ? "a" : "")
        let escaped = length < 2 ? "\\\\" : "\\/" + String(repeating: "x", count: length - 1)
        let literals = ["\"\(ascii)\"", "\"\(twoByte)\"", "\"\(escaped)\""]
        let texts = [ascii, twoByte, length < 2 ? "\\" : "/" + String(repeating: "x", count: length - 1)]
        #expect(texts.map(\.utf8.count) == [length, length, max(1, length)])
        for partitions in [3, 7] {
            let store = try Store(at: directory.appending("s\(partitions)"))
            let stream = try Self.ingest(literals, into: store, partitions: partitions)
            let placed = try Self.placed(stream)
            #expect(placed.count == literals.count)
            var scratch = BinaryWriter(capacity: 64)
            for (partition, text) in placed {
                let key = String(decoding: text, as: UTF8.self)
                #expect(texts.contains(key))
                #expect(partition == stablePartition(of: key, among: UInt32(partitions), scratch: &scratch), "\(text.count)")
            }
        }
    }

    /// The in-place hash equals the copying one for every key length up to 300 bytes and at the
    /// prefix boundaries, at every start from the line's first byte on (a start too close for the
    /// prefix takes the copying path), over arbitrary bytes before the key.
    @Test func theInPlaceHashEqualsTheCopyingHash() {
        for length in Array(0...300) + [16_383, 16_384, 16_385] {
            for start in 0...9 {
                let line = (0..<(start + length + 3)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
                line.withUnsafeBytes { line in
                    let range = start..<(start + length)
                    let copied = JSONLineParser.partitionHash(ofKeyText: UnsafeRawBufferPointer(rebasing: line[range]),
                                                              placement: .stringKey)
                    #expect(JSONLineParser.stringKeyHash(ofTextAt: range, in: line) == copied, "\(length) at \(start)")
                }
            }
        }
    }

    /// Property: over a new stream, the declared plan (`assumingPartitionedByKeyField()
    /// .countByEncodedKey`, no exchange vertex, no shuffle stream) writes the same blocks as the
    /// shuffled `countByEncodedKey`, for the per-interval counts and the running count, and so does
    /// `map { KeyValue(key, 1) }.assumingPartitionedByKey()`.
    @Test func theElidedPlanWritesTheShuffledPlansBlocks() async {
        await propertyCheck(count: 15, input: Self.inputs) { keys, partitions in
            let directory = try TemporaryDirectory(prefix: "strata-jsonkey")
            let store = try Store(at: directory.appending("s"))
            let stream = try Self.ingest(keys.map { Self.literal($0).json }, into: store, partitions: partitions)
            let shuffled = try Program(name: "shuffled", store: store) { p in
                let counts = p.read(stream).countByEncodedKey(as: String.self, Self.writeKey)
                counts.save(as: "perIntervalShuffled")
                p.read(stream).countByEncodedKey(as: String.self, Self.writeKey).runningReduce(+).save(as: "runningShuffled")
            }
            try shuffled.runUntilCaughtUp()
            let elided = try Program(name: "elided", store: store) { p in
                p.read(stream).assumingPartitionedByKeyField().countByEncodedKey(as: String.self, Self.writeKey)
                    .save(as: "perIntervalElided")
                p.read(stream).assumingPartitionedByKeyField().countByEncodedKey(as: String.self, Self.writeKey)
                    .runningReduce(+).save(as: "runningElided")
                p.read(stream).map { record in
                    KeyValue(String(decoding: try record.bytes.withUnsafeBytes { try Self.keyText($0) }, as: UTF8.self), Int64(1))
                }.assumingPartitionedByKey().runningReduce(+).save(as: "runningMapped")
            }
            try elided.runUntilCaughtUp()
            for name in ["perInterval", "running"] {
                let reference = try PartitionedByKeyTests.blocks(store, name + "Shuffled")
                #expect(!reference.isEmpty)
                #expect(try PartitionedByKeyTests.blocks(store, name + "Elided") == reference, "\(name)")
            }
            #expect(try PartitionedByKeyTests.blocks(store, "runningMapped")
                == PartitionedByKeyTests.blocks(store, "runningShuffled"))
            let names = try store.log.descriptors().map(\.name)
            #expect(names.filter { $0.hasPrefix("shuffled.") && $0.hasSuffix(".shuffle") }.count == 2, "\(names)")
            #expect(!names.contains { $0.hasPrefix("elided.") && $0.hasSuffix(".shuffle") }, "\(names)")
            // The counting vertices read the frames: nothing is decoded ahead for them.
            #expect(elided.decodedAhead["elided.v0"] == nil && elided.decodedAhead["elided.v1"] == nil)
        }
    }

    /// A stream created before placement was recorded (a version 1 catalog row: `fieldBytes`) keeps
    /// its placement when reopened, by `jsonStream` and across a reopened store: lines go to
    /// `XXH64(text) mod P` as before, the key lookup finds them, and declaring it partitioned by key
    /// field fails the program's definition with `EngineError.misuse` naming the stream.
    @Test func oldStreamsKeepTheirPlacementAndAreRefused() throws {
        let directory = try TemporaryDirectory(prefix: "strata-jsonkey")
        let keys = (0..<40).map { "\"/p/\($0)\"" } + ["\"\\/p\\/1\"", "7", "\"\""]
        do {
            let store = try Store(at: directory.appending("s"))
            _ = try Self.ingest(Array(keys.prefix(20)), into: store, partitions: 4, placement: .fieldBytes)
        }
        let store = try Store(at: directory.appending("s"))
        let row = try #require(try store.log.descriptor(named: "in")).encodedRow()
        #expect(row.first == 1, "a version 1 catalog row, as before placement was recorded")
        // Reopened by jsonStream (whose default for a new stream is stringKey): the old placement stays.
        let stream = try Self.ingest(Array(keys.dropFirst(20)), into: store, partitions: 4, firstSecond: 3)
        #expect(stream.descriptor.keyPlacement == .fieldBytes)
        let placed = try Self.placed(stream)
        #expect(placed.count == keys.count)
        for (partition, text) in placed {
            #expect(UInt64(partition) == text.withUnsafeBytes { XXH64.hash($0) } % 4)
        }
        var found = 0
        try stream.forEach(in: Interval(0)...Interval(5), key: "/p/1") { _, _, _ in found += 1 }
        #expect(found == 2)  // "/p/1" before the reopening, "\/p\/1" after
        var refusal = ""
        do {
            _ = try Program(name: "declared", store: store) { p in
                p.read(stream).assumingPartitionedByKeyField().countByEncodedKey(as: String.self, Self.writeKey).save(as: "c")
            }
            Issue.record("a stream placed by field bytes was declared partitioned by its key field")
        } catch EngineError.misuse(let what) {
            refusal = what
        }
        #expect(refusal.contains("stream in is not partitioned by its key field") && refusal.contains("field bytes"), "\(refusal)")
        // Asking for the other placement of an existing stream is a mismatch, never a silent change.
        #expect(throws: StorageError.self) {
            try store.log.createOrOpenStream(LogStore.StreamSpec(
                name: "in", recordType: JSONRecord.recordTypeName, intervalLength: .seconds(1), partitions: 4,
                timeField: "ts", keyField: "k", timeUnit: .seconds, keyPlacement: .stringKey))
        }
    }

    /// The declaration is checked where the plan cannot prove it: a stream without a key field or
    /// read through a `map` is refused when the program is defined; a closure that writes a key
    /// other than the key field's text fails the vertex with `EngineError.misuse` naming the
    /// stream, and nothing of that interval is committed.
    @Test func aDeclarationThatDoesNotHoldIsATypedError() throws {
        let directory = try TemporaryDirectory(prefix: "strata-jsonkey")
        let store = try Store(at: directory.appending("s"))
        let stream = try Self.ingest((0..<40).map { "\"/p/\($0)\"" }, into: store, partitions: 4)
        let plain = try store.jsonStream("plain", interval: .seconds(1), partitions: 4)
        for (name, define) in [
            ("round-robin", { (p: ProgramBuilder) in
                p.read(plain).assumingPartitionedByKeyField().countByEncodedKey(as: String.self, Self.writeKey)
                    .save(as: "a")
            }),
            ("mapped", { (p: ProgramBuilder) in
                p.read(stream).filter { _ in true }.assumingPartitionedByKeyField()
                    .countByEncodedKey(as: String.self, Self.writeKey).save(as: "b")
            }),
        ] as [(String, (ProgramBuilder) -> Void)] {
            do {
                _ = try Program(name: "refused", store: store, define: define)
                Issue.record("\(name): the declaration was accepted")
            } catch EngineError.misuse(let what) {
                #expect(what.contains("assumingPartitionedByKeyField") || what.contains("not partitioned by its key field"),
                        "\(name): \(what)")
            }
        }
        let constant: @Sendable (inout BinaryReader, inout BinaryWriter) throws -> Void = { _, key in key.write(string: "x") }
        let program = try Program(name: "wrong", store: store) { p in
            p.read(stream).assumingPartitionedByKeyField().countByEncodedKey(as: String.self, constant).save(as: "wrong")
        }
        var failure = ""
        do {
            try program.runUntilCaughtUp()
            Issue.record("a wrong declaration ran")
        } catch EngineError.misuse(let what) {
            failure = what
        }
        #expect(failure.contains("assumingPartitionedByKeyField") && failure.contains("reading in, interval"), "\(failure)")
        #expect(try store.stream(named: "wrong", of: KeyValue<String, Int64>.self).frontier().sealedThrough == nil)
    }
}
