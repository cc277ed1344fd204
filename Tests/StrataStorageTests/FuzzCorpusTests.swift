import Foundation
import Testing

@testable import StrataStorage

// A smoke run of the fuzz targets' seed corpora (tools/fuzz/corpus, see docs/fuzzing.md) through
// the decoders, in-process: every input must give a value or a typed error, never a trap. The
// fuzzers themselves (tools/fuzz.sh) run outside the suite; inputs that once crashed one are
// committed to its corpus, so this replays them as regression tests.

@Suite struct FuzzCorpusTests {
    /// The files of `tools/fuzz/corpus/TARGET`.
    static func corpus(_ target: String) throws -> [[UInt8]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/fuzz/corpus/\(target)")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        return try names.map { Array(try Data(contentsOf: root.appendingPathComponent($0))) }
    }

    /// Every input as it is, and each with one byte flipped at every position (at most 4 KiB in).
    static func variants(_ input: [UInt8]) -> [[UInt8]] {
        var result = [input]
        for position in 0..<min(input.count, 4096) {
            var flipped = input
            flipped[position] ^= 0xA5
            result.append(flipped)
        }
        return result
    }

    @Test func blockCorpusDecodesOrFailsTyped() throws {
        let inputs = try Self.corpus("block")
        #expect(!inputs.isEmpty)
        var codec = BlockCodec()
        var decoded = 0
        for input in inputs {
            for variant in Self.variants(input) {
                try variant.withUnsafeBytes { block in
                    do {
                        try codec.withVerifiedPayload(block) { header, payload in
                            var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
                            while let frame = try frames.next() {
                                var reader = BinaryReader(frame)
                                _ = try? JSONRecord(from: &reader)
                            }
                        }
                        decoded += 1
                    } catch is Corruption {
                    }
                }
            }
        }
        #expect(decoded >= inputs.count)  // at least the seeds themselves decode
    }

    @Test func recordsCorpusDecodesOrFailsTyped() throws {
        let inputs = try Self.corpus("records")
        #expect(!inputs.isEmpty)
        for input in inputs {
            for variant in Self.variants(input) where !variant.isEmpty {
                variant.dropFirst().withUnsafeBytes { bytes in
                    func attempt<R: RecordCodable>(_ type: R.Type) {
                        var reader = BinaryReader(bytes)
                        _ = try? R(from: &reader)
                    }
                    attempt(String.self)
                    attempt([String].self)
                    attempt(KeyValue<String, Int64>.self)
                    attempt(Optional<Bytes>.self)
                    attempt([[UInt8]].self)
                    attempt(Double.self)
                }
            }
        }
    }

    @Test func rowsCorpusDecodesOrFailsTyped() throws {
        let inputs = try Self.corpus("rows")
        #expect(!inputs.isEmpty)
        var valid = 0
        for input in inputs {
            for variant in Self.variants(input) where !variant.isEmpty {
                variant.dropFirst().withUnsafeBytes { row in
                    var ok = false
                    ok = ok || (try? StreamDescriptor(row: row)) != nil
                    ok = ok || (try? StreamFrontier(row: row)) != nil
                    ok = ok || (try? SealRecord(row: row, partitions: 4)) != nil
                    ok = ok || (try? ProgressMark(row: row)) != nil
                    ok = ok || (try? VertexStats(row: row)) != nil
                    ok = ok || (try? StateDescriptor(stream: "s", row: row)) != nil
                    ok = ok || BlockKey(decoding: row) != nil
                    ok = ok || SealKey(decoding: row) != nil
                    ok = ok || SnapshotKey(decoding: row, vertex: "v") != nil
                    var codec = BlockCodec()
                    ok = ok || (try? codec.verify(row)) != nil
                    if ok { valid += 1 }
                }
            }
        }
        #expect(valid >= inputs.count)  // each seed is a valid row of its kind
    }
}
