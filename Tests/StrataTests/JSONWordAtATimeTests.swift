import PropertyBased
import Testing

@testable import Strata
@testable import StrataStorage

/// Issue 16: the JSON ingest reads digit runs eight bytes at a time (`JSONLineScanner`'s number
/// scan, `parseTimestampNanoseconds`). These check the word-at-a-time paths against the plain
/// byte-by-byte ones — the same lines accepted and rejected, the same fields, the same failures
/// at the same offsets, the same times — on the inputs where the two could part: digit runs of
/// every length at every distance from the line's end (the word loop and the byte tail), the
/// bytes just around the digit range, and every truncation and one-byte change of a line.
@Suite struct JSONWordAtATimeTests {
    /// The outcome of scanning `bytes` for `ts` and `url`: the fields' kinds and ranges, or the failure.
    private static func outcome(_ bytes: [UInt8], bytewise: Bool) -> String {
        let scanner = JSONLineScanner(fields: ["ts", "url"], bytewise: bytewise)
        return bytes.withUnsafeBytes { raw in
            do throws(JSONScanFailure) {
                let (a, b) = try scanner.scanFields(raw)
                return "ok \(String(describing: a)) \(String(describing: b))"
            } catch {
                return "failed \(error.reason) at \(error.offset)"
            }
        }
    }

    /// Both paths agree on `bytes`, and on every prefix of it when `prefixes`.
    private static func expectSameOutcome(_ bytes: [UInt8], prefixes: Bool = false,
                                          sourceLocation: SourceLocation = #_sourceLocation) {
        let lengths = prefixes ? Array(0...bytes.count) : [bytes.count]
        for length in lengths {
            let line = Array(bytes[0..<length])
            let fast = outcome(line, bytewise: false)
            let plain = outcome(line, bytewise: true)
            if fast != plain {
                let text = String(decoding: line, as: UTF8.self).debugDescription
                Issue.record(Comment(rawValue: "\(text): word at a time \(fast), byte by byte \(plain)"),
                             sourceLocation: sourceLocation)
                return
            }
        }
    }

    /// Bytes a number could meet: digits, its grammar's own bytes, the bytes next to `0`–`9`,
    /// structure, whitespace, and non-ASCII.
    private static let neighbours: [UInt8] = Array("0123456789/:.eE-+x\"\\},] ".utf8) + [0x00, 0x09, 0x0A, 0x7F, 0x80, 0xB0, 0xFF]

    @Test func digitRunsOfEveryLengthAtEveryDistanceFromTheEnd() {
        for digits in 0...20 {
            let run = (0..<digits).map { UInt8(0x31 + $0 % 9) }
            for next in Self.neighbours {
                for shape in [[UInt8](), Array("-".utf8), Array("1.".utf8), Array("2e".utf8), Array("3E+".utf8),
                              Array("0".utf8), Array("-0.".utf8)] {
                    // The number is the time field (the first field), the url follows: the run ends
                    // 0 to 30 bytes before the line's end, so each of its words and tails is taken.
                    let head = Array(#"{"ts":"#.utf8) + shape + run + [next]
                    for tail in ["", "}", #","url":"/p"}"#, #" , "url" : "/products/1" }   "#] {
                        Self.expectSameOutcome(head + Array(tail.utf8), prefixes: true)
                    }
                }
            }
        }
    }

    @Test func everyTruncationAndOneByteChangeOfPageViewLines() {
        let lines = [
            #"{"ts":1763900000000,"url":"/products/7149","user":52044,"ev":"view"}"#,
            #"{"user":1234567890123456789,"ts":-0.25e-3,"url":"/p","n":[1,22,333e4444,{"a":55555}]}"#,
            #"{"ts":"2025-11-23T12:00:00.123Z","url":"\u00e9/\"q\"","z":12345678.87654321}"#,
        ]
        let substitutes = Self.neighbours + Array("{[ntf".utf8)
        for line in lines {
            let bytes = Array(line.utf8)
            Self.expectSameOutcome(bytes, prefixes: true)
            for position in bytes.indices {
                for byte in substitutes where byte != bytes[position] {
                    var changed = bytes
                    changed[position] = byte
                    Self.expectSameOutcome(changed)
                }
            }
        }
    }

    /// Random lines of JSON-ish tokens (digit runs of any length among structure, strings and
    /// stray bytes): both paths agree on each and on each prefix.
    @Test func randomLinesOfNumberishTokens() async {
        let token = Gen.int(in: 0...11)
        let tokens = zip(token, Gen.int(in: 0...24)).array(of: 0...24)
        await propertyCheck(count: 400, input: tokens) { tokens in
            var line = Array(#"{"ts":"#.utf8)
            for (kind, length) in tokens {
                switch kind {
                case 0...4: line += (0..<length).map { UInt8(0x30 + ($0 * 7 + kind) % 10) }
                case 5: line += Array(#","url":"#.utf8)
                case 6: line += Array(#""/p/1""#.utf8)
                case 7: line.append(0x2E)
                case 8: line.append(0x65)
                case 9: line.append(0x2D)
                case 10: line += Array("}".utf8)
                default: line += Array(#","n":"#.utf8)
                }
            }
            Self.expectSameOutcome(line, prefixes: true)
        }
    }

    /// `parseTimestampNanoseconds` (8 to 16 digits eight at a time) and the digit-by-digit parse
    /// give the same value, or both nil, for every unit.
    @Test func timestampsEightDigitsAtATimeMatchDigitByDigit() async {
        var numbers: [[UInt8]] = []
        for digits in 1...20 {
            let run = (0..<digits).map { UInt8(0x30 + ($0 * 3 + digits) % 10) }
            numbers.append(run)
            numbers.append([0x31] + run.dropFirst())  // no leading zero
            numbers.append([0x30] + run.dropFirst())  // a leading zero
            numbers.append(Array(repeating: 0x39, count: digits))  // the largest of its length
            for position in 0..<digits {
                for byte in Self.neighbours where !(0x30...0x39).contains(byte) {
                    var changed = run
                    changed[position] = byte
                    numbers.append(changed)
                }
            }
        }
        for number in numbers {
            for unit in TimeUnit.allCases {
                let (fast, plain) = number.withUnsafeBytes {
                    (parseTimestampNanoseconds(number: $0, unit: unit),
                     parseTimestampNanosecondsDigitByDigit(number: $0, unit: unit))
                }
                #expect(fast == plain, "\(String(decoding: number, as: UTF8.self)) in \(unit)")
            }
        }
        await propertyCheck(count: 300, input: Gen.uint64(in: 10_000_000...9_999_999_999_999_999)) { value in
            let number = Array(String(value).utf8)
            for unit in TimeUnit.allCases {
                let (fast, plain) = number.withUnsafeBytes {
                    (parseTimestampNanoseconds(number: $0, unit: unit),
                     parseTimestampNanosecondsDigitByDigit(number: $0, unit: unit))
                }
                #expect(fast == plain)
                let (expected, overflow) = Int64(value).multipliedReportingOverflow(by: unit.nanosecondsPerUnit)
                #expect(fast == (overflow ? nil : expected))
            }
        }
    }

    /// The non-digit mask is exact in each byte, whatever its neighbours.
    @Test func nonDigitMaskIsExactPerByte() {
        for byte in 0...255 {
            for position in 0..<8 {
                for filler: UInt64 in [0x00, 0x2F, 0x30, 0x39, 0x3A, 0x7F, 0x80, 0xB0, 0xFF] {
                    var word: UInt64 = 0
                    for k in 0..<8 { word |= (k == position ? UInt64(byte) : filler) << UInt64(8 * k) }
                    let mask = jsonNonDigitBytes(word)
                    for k in 0..<8 {
                        let value = UInt8(truncatingIfNeeded: word >> UInt64(8 * k))
                        let flagged = (mask >> UInt64(8 * k + 7)) & 1 == 1
                        #expect(flagged == !(0x30...0x39).contains(value))
                        #expect((mask >> UInt64(8 * k)) & 0x7F == 0)
                    }
                }
            }
        }
    }
}

extension TimeUnit {
    /// Nanoseconds per unit, for the checks above.
    fileprivate var nanosecondsPerUnit: Int64 {
        switch self {
        case .seconds: 1_000_000_000
        case .milliseconds: 1_000_000
        case .microseconds: 1_000
        case .nanoseconds: 1
        }
    }
}
