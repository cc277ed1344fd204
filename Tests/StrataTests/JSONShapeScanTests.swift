import PropertyBased
import Testing

@testable import Strata

/// Issue 16: on a line whose keys are the shape's (`JSONLineScanner.scanFields(_:shape:)`), plain
/// strings and integers are read by the shape's own loop (eight bytes at a time, the bytes past
/// the line's end read as zeros), and every other value by the full scan's code from its first
/// byte. These check that loop against the plain full scan (`scanFields(_:)`): the same fields, or
/// the same failure at the same offset — for string values with escapes, quotes, `\u` escapes and
/// surrogate pairs, raw control bytes, valid and invalid UTF-8, numbers of every form, values of
/// every length ending at every distance from the line's end and every truncation of them, random
/// values, and lines that are the front of a larger buffer whose next bytes would continue them.
@Suite struct JSONShapeScanTests {
    /// The outcome of a scan, fields and failure, as text.
    private static func describe(_ result: Result<(JSONFieldValue?, JSONFieldValue?), JSONScanFailure>) -> String {
        switch result {
        case .success(let (a, b)): "ok \(String(describing: a)) \(String(describing: b))"
        case .failure(let error): "failed \(error.reason) at \(error.offset)"
        }
    }

    /// Scans `line` by the shape `shapeLine` leaves and in full; records an issue when they
    /// differ. Returns whether the shape's scan took the line (it was accepted and the shape kept).
    @discardableResult
    private static func expectSame(_ line: [UInt8], after shapeLine: [UInt8], fields: [String] = ["ts", "url"],
                                   sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let scanner = JSONLineScanner(fields: fields)
        var shape = JSONLineShape()
        shapeLine.withUnsafeBytes { _ = try? scanner.scanFields($0, shape: &shape) }
        let keys = shape.keys.count
        let (plain, shaped) = line.withUnsafeBytes { raw in
            (Result { () throws(JSONScanFailure) in try scanner.scanFields(raw) },
             Result { () throws(JSONScanFailure) in try scanner.scanFields(raw, shape: &shape) })
        }
        let (expected, found) = (describe(plain), describe(shaped))
        if expected != found {
            Issue.record(Comment(rawValue: "\(String(decoding: line, as: UTF8.self).debugDescription) for \(fields) "
                                 + "after \(String(decoding: shapeLine, as: UTF8.self).debugDescription): "
                                 + "by shape \(found), plain \(expected)"), sourceLocation: sourceLocation)
        }
        if case .success = shaped { return keys > 0 && shape.keys.count == keys }
        return false
    }

    /// String values (between quotes) the shape's loop must read as the full scan does: plain, with
    /// escapes of every kind, valid and invalid `\u` escapes and surrogates, raw control bytes,
    /// non-ASCII, invalid UTF-8 (as bytes).
    private static let stringValues: [[UInt8]] = {
        var values: [[UInt8]] = [
            "", "a", "/products/7149", "view", "a string of exactly 24 b", "x\\\"y", "\\\\", "\\/", "\\b\\f\\n\\r\\t",
            "\\u00e9", "\\u00E9t\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\udc00", "\\ud83dx", "\\ud83d\\u0041", "\\x",
            "\\u12", "\\u12G4", "é", "ü/😀/ok", "tab\there", "ends with \\",
        ].map { Array($0.utf8) }
        values += [[0x01], [0x61, 0x1F, 0x62], [0x7F], [0xC3, 0x28], [0xFF], [0xC0, 0x80], [0xE2, 0x82],
                   [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xC3, 0xA9]]
        return values
    }()

    /// Number and other values, valid and not.
    private static let otherValues: [String] = [
        "0", "-0", "7", "-7", "1763900000000", "12345678", "123456789", "1234567890123456789012", "-1234567",
        "01", "-01", "00", "-", "--1", "1.5", "0.25", "-0.25e-3", "1e5", "1E+5", "2e", "1.", ".5", "+1", "1x", "1-",
        "1.2.3", "1e5e", "true", "false", "null", "nul", "truex", "[]", "[1,\"a\"]", "{}", "{\"url\":2}", "{",
        "\"", "x",
    ]

    /// Strings cut short by a byte that is not plain ASCII, with the line's structure right after
    /// it (and no closing quote): a scan taking that byte for the closing quote would accept them.
    private static let unclosedStrings: [[UInt8]] = [
        [0x22, 0x61, 0x1F], [0x22, 0x61, 0x00], [0x22, 0x61, 0x5C], [0x22, 0xC3], [0x22, 0xFF], [0x22, 0xC3, 0xA9],
        Array("\"abcdefgh".utf8) + [0x0A], Array("\"abcdefghijklmno".utf8) + [0x80], Array("\"\\u00e9".utf8),
    ]

    /// The lines with `value` (raw bytes) as `ts` and as `url`, before the line's end and before
    /// other keys, with and without whitespace, and the shape lines to scan them after.
    private static func lines(holding value: [UInt8]) -> [[UInt8]] {
        let parts: [(String, String)] = [
            (#"{"ts":"#, "}"), (#"{"ts":"#, #","url":"/p"}"#), (#"{"url":"/p","ts":"#, "}"),
            (#"{"ts":1,"url":"#, #","user":52044,"ev":"view"}"#), (#"{"ts": "#, " }  "), (#"{"ts":"#, " ,\"url\":1}"),
        ]
        return parts.map { Array($0.0.utf8) + value + Array($0.1.utf8) }
    }

    /// Lines of plain values whose keys, as a shape, match some of the lines above.
    private static let shapeLines: [[UInt8]] = [
        #"{"ts":1,"url":"/x"}"#, #"{"ts":1}"#, #"{"url":"/p","ts":0}"#, #"{"ts":1,"url":"/x","user":1,"ev":"v"}"#,
        #"{"ts":"a","url":2}"#,
    ].map { Array($0.utf8) }

    @Test func stringValuesOfEveryKindAndEveryTruncation() {
        for value in Self.stringValues {
            for line in Self.lines(holding: [0x22] + value + [0x22]) {
                for shapeLine in Self.shapeLines {
                    for length in 0...line.count {
                        Self.expectSame(Array(line[0..<length]), after: shapeLine)
                    }
                }
            }
        }
    }

    @Test func numbersOtherValuesAndUnclosedStringsAndEveryTruncation() {
        for value in Self.otherValues.map({ Array($0.utf8) }) + Self.unclosedStrings {
            for line in Self.lines(holding: value) {
                for shapeLine in Self.shapeLines {
                    for length in 0...line.count {
                        Self.expectSame(Array(line[0..<length]), after: shapeLine)
                    }
                }
            }
        }
    }

    /// Plain strings and integers of 0–40 bytes, ending 0–12 bytes before the line's end (each
    /// word read whole, and each read near the end): read by the shape's loop, as the full scan reads them.
    @Test func plainValuesOfEveryLengthAtEveryDistanceFromTheEnd() {
        let shapeLine = Array(#"{"ts":1,"url":"/x"}"#.utf8)
        for length in 0...40 {
            let text = (0..<length).map { UInt8(0x61 + $0 % 26) }
            let digits = (0..<max(length, 1)).map { UInt8(0x31 + $0 % 9) }
            for padding in 0...12 {
                let spaces = [UInt8](repeating: 0x20, count: padding)
                let stringLine = Array(#"{"ts":7,"url":""#.utf8) + text + Array("\"}".utf8) + spaces
                let numberLine = Array(#"{"ts":"#.utf8) + digits + Array(#","url":"/x"}"#.utf8) + spaces
                let lastNumberLine = Array(#"{"ts":1,"url":-"#.utf8) + digits + spaces + Array("}".utf8)
                #expect(Self.expectSame(stringLine, after: shapeLine))
                #expect(Self.expectSame(numberLine, after: shapeLine))
                #expect(Self.expectSame(lastNumberLine, after: shapeLine))
                for line in [stringLine, numberLine, lastNumberLine] {
                    for cut in 0..<line.count { Self.expectSame(Array(line[0..<cut]), after: shapeLine) }
                }
            }
        }
    }

    /// A line that is the front of a larger buffer (as lines are, in a chunk read from a file)
    /// reads the same as the line alone, whatever bytes follow it: none past its end is read.
    @Test func bytesAfterTheLineAreNeverRead() {
        let scanner = JSONLineScanner(fields: ["ts", "url"])
        let lines = [#"{"ts":1763900000000,"url":"/products/7149","user":52044,"ev":"view"}"#,
                     #"{"ts":17,"url":"/p"}"#, #"{"ts":1,"url":"ab"}"#, #"{"ts":12345"#, #"{"ts":1,"url":"abc"#,
                     #"{"ts":1,"u"#, #"{"ts""#, "{", #"{"ts":1}"#]
        let followers = ["", "0", "1234567890", "\"", "\"}", ",\"url\":\"x\"}", "rl\":\"/p\"}", ":1}", "\n{\"ts\":2}"]
        for line in lines.map({ Array($0.utf8) }) {
            for length in 0...line.count {
                let front = Array(line[0..<length])
                for follower in followers {
                    var shape = JSONLineShape()
                    var alone = JSONLineShape()
                    for shapeLine in Self.shapeLines.prefix(2) {
                        shapeLine.withUnsafeBytes { _ = try? scanner.scanFields($0, shape: &shape) }
                        shapeLine.withUnsafeBytes { _ = try? scanner.scanFields($0, shape: &alone) }
                        let buffer = front + Array(follower.utf8)
                        let inBuffer = buffer.withUnsafeBytes { raw in
                            Self.describe(Result { () throws(JSONScanFailure) in
                                try scanner.scanFields(UnsafeRawBufferPointer(rebasing: raw[0..<length]), shape: &shape)
                            })
                        }
                        let exact = front.withUnsafeBytes { raw in
                            Self.describe(Result { () throws(JSONScanFailure) in try scanner.scanFields(raw, shape: &alone) })
                        }
                        #expect(inBuffer == exact, "\(String(decoding: front, as: UTF8.self)) + \(follower)")
                    }
                }
            }
        }
    }

    /// Random values from bytes that matter to a string or a number (quotes, backslashes, `u`
    /// and hex digits, digits, signs, dots, exponents, control, non-ASCII and invalid bytes), in
    /// the page view's four keys, after the shape of a plain page view.
    @Test func randomValues() async {
        let alphabet: [UInt8] = Array("\"\\u0aF9e.E-+/ x{}[],:".utf8) + [0x00, 0x09, 0x1F, 0x7F, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xFF]
        let value = Gen.int(in: 0...(alphabet.count - 1)).array(of: 0...20)
        let quoted = Gen.int(in: 0...3)
        let shapeLine = Array(#"{"ts":1763900000000,"url":"/products/7149","user":52044,"ev":"view"}"#.utf8)
        await propertyCheck(count: 2000, input: value, quoted, value, quoted) { first, firstQuoted, second, secondQuoted in
            func render(_ indices: [Int], _ quoted: Int) -> [UInt8] {
                let bytes = indices.map { alphabet[$0] }
                switch quoted {
                case 0: return bytes
                case 1: return Array("1".utf8) + bytes.filter { $0 &- 0x30 < 10 }
                default: return [0x22] + bytes + [0x22]
                }
            }
            let line = Array(#"{"ts":"#.utf8) + render(first, firstQuoted) + Array(#","url":"#.utf8)
                + render(second, secondQuoted) + Array(#","user":52044,"ev":"view"}"#.utf8)
            Self.expectSame(line, after: shapeLine)
            Self.expectSame(line, after: shapeLine, fields: ["ev"])
        }
    }
}
