@testable import StrataBench
import StrataTestSupport
import Testing

/// `strata-bench`'s url scan (`JSONPageViewURL.fastURLRange`, the key of `pipeline --keys
/// encoded` and of the JSON workloads) takes the quotes of each eight-byte word in order; it must
/// find exactly what the byte-wise rule finds: the first `"url":` at positions 1 … count − 7 with no
/// `\`, `{` or `[` before it, and its string value up to the closing quote, `nil` at an escape.
@Suite struct BenchURLScanTests {
    /// The byte-wise rule, one position at a time.
    static func byteWise(_ text: UnsafeRawBufferPointer) -> Range<Int>? {
        let count = text.count
        guard count > 8, text[0] == UInt8(ascii: "{") else { return nil }
        let name = Array(#""url":"#.utf8)
        var i = 1
        while i <= count - 7 {
            if (0..<name.count).allSatisfy({ text[i + $0] == name[$0] }) {
                guard text[i + 6] == UInt8(ascii: "\"") else { return nil }
                var end = i + 7
                while end < count {
                    if text[end] == UInt8(ascii: "\"") { return (i + 7)..<end }
                    if text[end] == UInt8(ascii: "\\") { return nil }
                    end += 1
                }
                return nil
            }
            if text[i] == UInt8(ascii: "\\") || text[i] == UInt8(ascii: "{") || text[i] == UInt8(ascii: "[") { return nil }
            i += 1
        }
        return nil
    }

    @Test func theWordAtATimeScanFindsWhatTheByteWiseRuleFinds() async throws {
        // A loop of 200 000 scans: on a thread of its own, not the cooperative pool.
        let (found, mismatches, firstMismatch) = try await onOwnThread(within: .seconds(600), "200 000 url scans") {
            var random = SplitMix64(seed: 16)
            let alphabet = Array(#""url:{[\ab1,/"#.utf8)
            let pieces = [#""url":"#, #""url":""#, #""ts":1763900000000,"#, "/products/12"].map { Array($0.utf8) }
            var found = 0, mismatches = 0
            var firstMismatch: String?
            for n in 0..<200_000 {
                var bytes: [UInt8] = [UInt8(ascii: n % 7 == 0 ? "x" : "{")]
                let length = random.next(upTo: 61)
                while bytes.count < length {
                    if random.next(upTo: 6) == 0 {
                        bytes += pieces[random.next(upTo: pieces.count)]
                    } else {
                        bytes.append(alphabet[random.next(upTo: alphabet.count)])
                    }
                }
                // A buffer of exactly the text's size: the scan reads nothing after it.
                let text = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
                defer { text.deallocate() }
                text.copyBytes(from: bytes)
                let expected = Self.byteWise(UnsafeRawBufferPointer(text))
                if JSONPageViewURL.fastURLRange(UnsafeRawBufferPointer(text)) != expected {
                    mismatches += 1
                    if firstMismatch == nil { firstMismatch = String(decoding: bytes, as: UTF8.self) }
                }
                if expected != nil { found += 1 }
            }
            return (found, mismatches, firstMismatch)
        }
        #expect(mismatches == 0, "first: \(firstMismatch ?? "-")")
        #expect(found > 10_000)
        let line = Array(#"{"ts":1763900000000,"url":"/products/7149","user":52044,"ev":"view"}"#.utf8)
        #expect(line.withUnsafeBytes { JSONPageViewURL.fastURLRange($0) } == 27..<41)
    }
}
