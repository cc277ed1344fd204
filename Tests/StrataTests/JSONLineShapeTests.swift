import PropertyBased
import Testing

@testable import Strata

/// Issue 16: the JSON ingest compares each line's keys with the keys of the last line its thread
/// scanned in full (`JSONLineScanner.scanFields(_:shape:)`, `JSONLineShape`) instead of scanning
/// them. These check it against the plain full scan (`scanFields(_:)`): for every line, whatever
/// shape the lines before it left, the same fields or the same failure at the same offset — on
/// lines with escaped, non-ASCII, long and repeated keys, whitespace anywhere, keys near the
/// line's end (the byte-by-byte comparison), every truncation and one-byte change of a line, and
/// random sequences of lines whose keys change.
@Suite struct JSONLineShapeTests {
    /// The field sets scanned for: none, one, two, a key twice, keys absent from the lines.
    private static let fieldSets: [[String]] = [[], ["url"], ["ts", "url"], ["user", "ev"], ["ev", "ts"],
                                                ["absent", "url"], ["é", "k"]]

    /// The outcome of scanning `bytes`, fields and failure, as text.
    private static func describe(_ result: Result<(JSONFieldValue?, JSONFieldValue?), JSONScanFailure>) -> String {
        switch result {
        case .success(let (a, b)): "ok \(String(describing: a)) \(String(describing: b))"
        case .failure(let error): "failed \(error.reason) at \(error.offset)"
        }
    }

    /// Scans `lines` in order with one shape, checking each against the plain scan; returns how
    /// many were scanned by the shape (without a full scan), for the tests that expect some.
    @discardableResult
    private static func expectSameOutcomes(_ lines: [[UInt8]], fields: [String],
                                           sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        let scanner = JSONLineScanner(fields: fields)
        var shape = JSONLineShape()
        var byShape = 0
        for line in lines {
            let before = shape.keys.count
            let (plain, shaped) = line.withUnsafeBytes { raw in
                (Result { () throws(JSONScanFailure) in try scanner.scanFields(raw) },
                 Result { () throws(JSONScanFailure) in try scanner.scanFields(raw, shape: &shape) })
            }
            let (expected, found) = (describe(plain), describe(shaped))
            if expected != found {
                let text = String(decoding: line, as: UTF8.self).debugDescription
                Issue.record(Comment(rawValue: "\(text) for \(fields) after a shape of \(before) keys: "
                                     + "by shape \(found), plain \(expected)"), sourceLocation: sourceLocation)
                return byShape
            }
            if before > 0, case .success = shaped, shape.keys.count == before { byShape += 1 }
        }
        return byShape
    }

    private static let pageView = #"{"ts":1763900000000,"url":"/products/7149","user":52044,"ev":"view"}"#
    private static let lines = [
        pageView,
        #"{"ts":1763900000001,"url":"/p/1","user":5,"ev":"click"}"#,
        #"{"ts":-0.25e-3,"url":"/p","user":[1,{"url":2}],"ev":null}"#,
        #"{ "ts" : 1 , "url" : "/x" , "user" : true , "ev" : "v" }  "#,
        #"{"t\u0073":1,"url":"\u00e9/\"q\"","user":false,"ev":{}}"#,
        #"{"é":1,"url":"ü","k":"ok","ev":"v"}"#,
        #"{"ts":1,"ts":2,"url":"a","url":"b"}"#,
        #"{"a_key_of_13b":1,"a_key_of_14by":2,"url":"/u","ts":3}"#,
        #"{"ts":1,"url":"/x","user":1,"ev":"v","extra":0}"#,
        #"{"ts":1,"url":"/x","user":1}"#,
        #"{"url":"/x","ts":1,"user":1,"ev":"v"}"#,
        #"{"ts":1}"#, #"{"a":1}"#, #"{"":1}"#, "{}",
    ]

    /// Each line after each line (so each shape meets each line), for every field set.
    @Test func everyLineAfterEveryShape() {
        let bytes = Self.lines.map { Array($0.utf8) }
        for fields in Self.fieldSets {
            for first in bytes {
                for second in bytes {
                    Self.expectSameOutcomes([first, second, second], fields: fields)
                }
            }
        }
    }

    /// A run of lines with the same keys is scanned by its shape after the first.
    @Test func repeatedKeysAreScannedByTheShape() {
        let bytes = (0..<50).map { Array(#"{"ts":\#(1763900000000 + $0),"url":"/products/\#($0 * 37)","user":\#($0),"ev":"view"}"#.utf8) }
        #expect(Self.expectSameOutcomes(bytes, fields: ["ts", "url"]) == 49)
    }

    /// Every truncation and one-byte change of each line, right after the line itself (the shape
    /// its keys left), for two field sets.
    @Test func everyTruncationAndOneByteChangeAfterTheOriginal() {
        let substitutes: [UInt8] = Array("\"\\:,{}[] \t0aeu.-".utf8) + [0x00, 0x0A, 0x0D, 0x7F, 0x80, 0xC3, 0xFF]
        for line in Self.lines {
            let bytes = Array(line.utf8)
            for fields in [["ts", "url"], ["user"]] {
                for length in 0..<bytes.count {
                    Self.expectSameOutcomes([bytes, Array(bytes[0..<length])], fields: fields)
                }
                for position in bytes.indices {
                    for byte in substitutes where byte != bytes[position] {
                        var changed = bytes
                        changed[position] = byte
                        Self.expectSameOutcomes([bytes, changed], fields: fields)
                    }
                }
            }
        }
    }

    /// Keys of every length from 0 to 20 bytes (the shape holds up to 16 bytes from quote to
    /// colon), at every distance from the line's end, repeated and changed in their last byte.
    @Test func keysOfEveryLengthNearTheLineEnd() {
        for keyLength in 0...20 {
            let key = String((0..<keyLength).map { Character(Unicode.Scalar(0x61 + UInt8($0 % 26))) })
            var changedKey = Array(key.utf8)
            if !changedKey.isEmpty { changedKey[changedKey.count - 1] ^= 0x01 }
            let other = String(decoding: changedKey, as: UTF8.self)
            for value in ["1", #""""#, #""v""#, "[]", "123456789012", #""a long string value""#] {
                let lines = [#"{"\#(key)":\#(value)}"#, #"{"\#(key)":\#(value)}"#, #"{"\#(other)":\#(value)}"#,
                             #"{"ts":1,"\#(key)":\#(value)}"#, #"{"ts":2,"\#(key)":\#(value)}"#,
                             #"{"ts":2,"\#(key)":\#(value) }"#, #"{"ts":2,"\#(key)" :\#(value)}"#,
                             #"{"ts":2,"\#(other)":\#(value)}"#, #"{"ts":2,"\#(key)":\#(value),"x":0}"#]
                Self.expectSameOutcomes(lines.map { Array($0.utf8) }, fields: ["ts", key])
            }
        }
    }

    /// Random sequences of lines built from a few keys (plain, escaped, non-ASCII, long), values,
    /// whitespace and stray bytes: the shape each line leaves meets the next.
    @Test func randomSequencesOfLines() async {
        let keys = [#""ts""#, #""url""#, #""user""#, #""ev""#, #""t\u0073""#, #""é""#, #""a_rather_long_key_name""#,
                    #""""#, #""u\"rl""#]
        let values = ["1763900000000", #""/products/1""#, "-1.5e3", "true", "null", #"{"a":[1,2]}"#, #""\u00e9""#,
                      #""x\"y""#, "0", "[]"]
        let part = zip(Gen.int(in: 0...(keys.count - 1)), Gen.int(in: 0...(values.count - 1)), Gen.int(in: 0...19))
        let line = part.array(of: 0...6)
        await propertyCheck(count: 300, input: line.array(of: 1...12)) { specs in
            var lines: [[UInt8]] = []
            for spec in specs {
                var text = "{"
                for (index, (key, value, twist)) in spec.enumerated() {
                    if index > 0 { text += twist == 1 ? " ," : "," }
                    text += keys[key] + (twist == 2 ? " :" : ":") + values[value]
                }
                text += "}"
                var bytes = Array(text.utf8)
                if let last = spec.last, last.2 >= 17, !bytes.isEmpty {
                    // A stray, truncated or changed byte somewhere.
                    let position = (last.0 * 7 + last.1 * 3) % bytes.count
                    switch last.2 {
                    case 17: bytes[position] = 0x22
                    case 18: bytes.removeSubrange(position...)
                    default: bytes[position] = 0xFF
                    }
                }
                lines.append(bytes)
                lines.append(bytes)
            }
            for fields in [["ts", "url"], ["é"], ["ts", "a_rather_long_key_name"]] {
                Self.expectSameOutcomes(lines, fields: fields)
            }
        }
    }
}
