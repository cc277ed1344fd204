import Foundation
import Testing

@testable import Strata

/// A smoke run of the JSON line fuzz target's corpus (tools/fuzz/corpus/json-lines): every line,
/// and every line with one byte flipped, scans or fails with a `JSONLineError` inside the line.
@Suite struct JSONLinesFuzzCorpusTests {
    @Test func jsonLinesCorpusScansOrFailsTyped() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/fuzz/corpus/json-lines")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        #expect(!names.isEmpty)
        let scanner = JSONLineScanner(fields: ["ts", "url"])
        for name in names {
            let line = Array(try Data(contentsOf: root.appendingPathComponent(name)))
            for position in -1..<min(line.count, 4096) {
                var variant = line
                if position >= 0 { variant[position] ^= 0xA5 }
                variant.withUnsafeBytes { bytes in
                    do {
                        let fields = try scanner.scan(bytes)
                        for field in [fields.0, fields.1].compactMap({ $0 }) {
                            #expect(field.range.lowerBound >= 0 && field.range.upperBound <= bytes.count)
                        }
                    } catch let error as JSONLineError {
                        #expect(error.offset >= 0 && error.offset <= bytes.count)
                    } catch {
                        Issue.record("the scanner threw \(error), not a JSONLineError")
                    }
                }
            }
        }
    }
}
