import Testing

@testable import Strata

// Tests for the JSON-lines scanner (JSONLineScanner.swift) and the timestamp parsers (TimestampParser.swift).

/// The ingest sample line used throughout.
private let sampleLine = #"{"ts":1763900000123,"url":"/products/8812","user":48213,"ev":"view"}"#

/// Scans `bytes` with a scanner for `fields`, capturing the outcome.
private func scanBytes(
    _ bytes: [UInt8], fields: [String] = ["ts", "user"]
) -> Result<(JSONFieldValue?, JSONFieldValue?), JSONLineError> {
    let scanner = JSONLineScanner(fields: fields)
    return bytes.withUnsafeBytes { buffer in
        Result { () throws(JSONLineError) in try scanner.scan(buffer) }
    }
}

/// Scans `line` (UTF-8) with a scanner for `fields`, capturing the outcome.
private func scan(
    _ line: String, fields: [String] = ["ts", "user"]
) -> Result<(JSONFieldValue?, JSONFieldValue?), JSONLineError> {
    scanBytes(Array(line.utf8), fields: fields)
}

/// The error scanning `bytes` throws, or nil when it is accepted.
private func scanErrorBytes(_ bytes: [UInt8]) -> JSONLineError? {
    if case .failure(let error) = scanBytes(bytes) { return error }
    return nil
}

/// The error scanning `line` throws, or nil when it is accepted.
private func scanError(_ line: String) -> JSONLineError? {
    scanErrorBytes(Array(line.utf8))
}

/// Whether `line` is accepted.
private func isValid(_ line: String) -> Bool {
    scanError(line) == nil
}

/// The two extracted values of `line`, or nil if it is rejected.
private func fields(_ line: String, _ names: [String]) -> (JSONFieldValue?, JSONFieldValue?)? {
    try? scan(line, fields: names).get()
}

/// The bytes of `value` within `line`, as a String.
private func text(_ value: JSONFieldValue?, in line: String) -> String? {
    guard let value else { return nil }
    let bytes = Array(line.utf8)
    return String(decoding: bytes[value.range], as: UTF8.self)
}

/// Unescapes `content` (the raw bytes between the quotes) into a String, or returns the error.
private func unescape(_ content: String) -> Result<String, JSONLineError> {
    unescapeBytes(Array(content.utf8)).map { String(decoding: $0, as: UTF8.self) }
}

/// Unescapes raw content bytes.
private func unescapeBytes(_ content: [UInt8]) -> Result<[UInt8], JSONLineError> {
    content.withUnsafeBytes { buffer in
        Result { () throws(JSONLineError) in
            var output: [UInt8] = []
            try unescapeJSONString(buffer, into: &output)
            return output
        }
    }
}

/// Parses a numeric time value.
private func number(_ text: String, _ unit: TimeUnit) -> Int64? {
    Array(text.utf8).withUnsafeBytes { parseTimestampNanoseconds(number: $0, unit: unit) }
}

/// Parses an ISO 8601 time value.
private func iso(_ text: String, offset: Int = 0) -> Int64? {
    Array(text.utf8).withUnsafeBytes { parseISO8601Nanoseconds($0, defaultUTCOffsetSeconds: offset) }
}

/// The JSON string literal for `bytes`.
private func literal(_ bytes: [UInt8]) -> String {
    var output: [UInt8] = Array("prefix:".utf8)
    bytes.withUnsafeBytes { appendJSONStringLiteral($0, to: &output) }
    return String(decoding: output, as: UTF8.self)
}

@Suite("JSON line scanner")
struct JSONLineScannerTests {
    @Test("sample line: extracts the requested fields in init order")
    func sample() throws {
        let (ts, user) = try scan(sampleLine).get()
        #expect(ts == JSONFieldValue(kind: .number, range: 6..<19, hasEscapes: false))
        #expect(text(ts, in: sampleLine) == "1763900000123")
        #expect(user?.kind == .number)
        #expect(text(user, in: sampleLine) == "48213")

        let swapped = try scan(sampleLine, fields: ["url", "ts"]).get()
        #expect(swapped.0?.kind == .string)
        #expect(text(swapped.0, in: sampleLine) == "/products/8812")
        #expect(text(swapped.1, in: sampleLine) == "1763900000123")
    }

    @Test("every value type is accepted and reported with its kind and token")
    func everyValueType() throws {
        let line = #"{"s":"x y","n":-1.5e3,"t":true,"f":false,"z":null,"o":{"a":[1,{"b":"c"}]},"a":[],"e":""}"#
        let cases: [(String, JSONFieldValue.Kind, String)] = [
            ("s", .string, "x y"), ("n", .number, "-1.5e3"), ("t", .bool, "true"), ("f", .bool, "false"),
            ("z", .null, "null"), ("o", .object, #"{"a":[1,{"b":"c"}]}"#), ("a", .array, "[]"), ("e", .string, ""),
        ]
        for (name, kind, token) in cases {
            let (value, none) = try scan(line, fields: [name, "missing"]).get()
            #expect(value?.kind == kind, "field \(name)")
            #expect(value?.hasEscapes == false)
            #expect(text(value, in: line) == token, "field \(name)")
            #expect(none == nil)
        }
    }

    @Test("empty objects, whitespace and no requested fields")
    func whitespaceAndEmpty() throws {
        #expect(isValid("{}"))
        #expect(isValid(" \t{ \r\n }\r\n"))
        let spaced = " \t{ \"ts\" :\t12 ,\n\"user\"\r: [ 1 , 2 ] , \"o\" : { } }  \n"
        let (ts, user) = try scan(spaced).get()
        #expect(text(ts, in: spaced) == "12")
        #expect(user?.kind == .array)
        #expect(text(user, in: spaced) == "[ 1 , 2 ]")
        #expect(try scan(sampleLine, fields: []).get() == (nil, nil))
        #expect(try scan(sampleLine, fields: ["ev"]).get().0.map { text($0, in: sampleLine) } == "view")
        // Only space, tab, CR and LF are whitespace.
        #expect(scanError("\u{0B}{}") == JSONLineError(.notAnObject, offset: 0))
        #expect(scanError("{}\u{0C}") == JSONLineError(.trailingBytes, offset: 2))
    }

    @Test("nesting up to 64 levels is accepted, 65 is tooDeep at the offending bracket")
    func nestingDepth() {
        // The line's object is level 1, so 63 more containers reach level 64.
        let ok = #"{"a":"# + String(repeating: "[", count: 62) + "{}" + String(repeating: "]", count: 62) + "}"
        #expect(isValid(ok))
        let deep = #"{"a":"# + String(repeating: "[", count: 63) + "{}" + String(repeating: "]", count: 63) + "}"
        #expect(scanError(deep) == JSONLineError(.tooDeep, offset: 5 + 63))
        let deepObjects = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(scanError(deepObjects) == JSONLineError(.tooDeep, offset: 5 * 64))
        let mixed = #"{"a":[{"b":[{"c":[true,null,{"d":"e"}]}]}],"ts":1}"#
        #expect(text(fields(mixed, ["ts"])?.0, in: mixed) == "1")
    }

    @Test("a same-name key inside a nested object or array is not matched")
    func nestedKeyNotMatched() {
        let line = #"{"o":{"ts":1,"user":2},"a":[{"ts":3}],"s":"\"ts\":4"}"#
        let result = fields(line, ["ts", "user"])
        #expect(result?.0 == nil)
        #expect(result?.1 == nil)
        let after = #"{"o":{"ts":1},"ts":5}"#
        #expect(text(fields(after, ["ts"])?.0, in: after) == "5")
    }

    @Test("duplicate keys: the first occurrence wins, later ones are still validated")
    func duplicateKeys() {
        let line = #"{"ts":1,"user":"a","ts":2,"user":"b"}"#
        let result = fields(line, ["ts", "user"])
        #expect(text(result?.0, in: line) == "1")
        #expect(text(result?.1, in: line) == "a")
        #expect(scanError(#"{"ts":1,"ts":01}"#) == JSONLineError(.invalidNumber, offset: 13))
        // Asking for the same name twice fills both slots from the first occurrence.
        let both = fields(line, ["user", "user"])
        #expect(both?.0 == both?.1)
        #expect(text(both?.0, in: line) == "a")
    }

    @Test("keys are compared after unescaping; prefixes and longer keys do not match")
    func keyMatching() {
        let escaped = #"{"t\u0073":7,"\u0075ser":8}"#
        #expect(text(fields(escaped, ["ts", "user"])?.0, in: escaped) == "7")
        #expect(text(fields(escaped, ["ts", "user"])?.1, in: escaped) == "8")
        let unicode = #"{"zeit\u00e9":1,"cl\u00E9s":2,"😀":3}"#
        #expect(text(fields(unicode, ["zeité", "clés"])?.0, in: unicode) == "1")
        #expect(text(fields(unicode, ["zeité", "clés"])?.1, in: unicode) == "2")
        #expect(text(fields(#"{"\ud83d\ude00":3}"#, ["😀"])?.0, in: #"{"\ud83d\ude00":3}"#) == "3")
        let near = #"{"t":1,"tss":2,"Ts":3,"t\"":4,"t\u0073s":5}"#
        #expect(fields(near, ["ts"])?.0 == nil)
        #expect(fields(#"{"":1}"#, [""])?.0?.range == 4..<5)
    }

    @Test("string escapes are validated and reported through hasEscapes")
    func escapes() throws {
        let line = #"{"k":"a\"b\\c\/d\b\f\n\r\t","plain":"x"}"#
        let (value, plain) = try scan(line, fields: ["k", "plain"]).get()
        #expect(value?.hasEscapes == true)
        #expect(plain?.hasEscapes == false)
        #expect(text(value, in: line) == #"a\"b\\c\/d\b\f\n\r\t"#)
        #expect(try unescape(#"a\"b\\c\/d\b\f\n\r\t"#).get() == "a\"b\\c/d\u{08}\u{0C}\n\r\t")
        #expect(try unescape("no escapes: é").get() == "no escapes: é")
        #expect(try unescape("").get() == "")
    }

    @Test("unicode escapes, surrogate pairs and lone surrogates")
    func unicodeEscapes() throws {
        #expect(try unescape(#"\u00e9\u20AC\uD83D\uDE00\u0041\u0000z"#).get() == "é€😀A\u{0}z")
        #expect(try unescape(#"\uDBFF\uDFFF"#).get() == "\u{10FFFF}")
        #expect(try unescapeBytes(Array(#"\u07FF\u0800\uFFFF"#.utf8)).get() == [
            0xDF, 0xBF, 0xE0, 0xA0, 0x80, 0xEF, 0xBF, 0xBF,
        ])
        #expect(isValid(#"{"a":"\uD83D\uDE00 \u00e9"}"#))

        let invalid: [(String, Int)] = [
            (#"{"a":"\uD83D"}"#, 6),  // lone high surrogate
            (#"{"a":"\uDE00"}"#, 6),  // lone low surrogate
            (#"{"a":"x\uD83D\u0041"}"#, 7),  // high surrogate followed by a non-surrogate
            (#"{"a":"\uD83D\uD83D"}"#, 6),  // two high surrogates
            (#"{"a":"\uD83Dx"}"#, 6),
            (#"{"a":"\u12G4"}"#, 6),
            (#"{"a":"\u12"}"#, 6),
            (#"{"a":"\x41"}"#, 6),
            (#"{"a":"\U0041"}"#, 6),
            (#"{"\q":1}"#, 2),
        ]
        for (line, offset) in invalid {
            #expect(scanError(line) == JSONLineError(.invalidEscape, offset: offset), "\(line)")
        }
        for content in [#"\uD83D"#, #"\uDE00"#, #"\x"#, #"ab\"#, #"\u12"#, #"\uD83D\u"#] {
            #expect(throws: JSONLineError.self, "\(content)") { try unescape(content).get() }
        }
        #expect(unescape(#"ab\q"#) == .failure(JSONLineError(.invalidEscape, offset: 2)))
    }

    @Test("raw UTF-8 in strings is validated")
    func utf8Validation() {
        #expect(isValid("{\"é€😀\":\"é€😀 \u{10FFFF}\"}"))
        let prefix = Array(#"{"a":"x"#.utf8)  // the bad sequence starts at offset 7
        let invalid: [[UInt8]] = [
            [0x80],  // lone continuation byte
            [0xBF],
            [0xC0, 0xAF],  // overlong
            [0xC1, 0xBF],  // overlong
            [0xE0, 0x80, 0xAF],  // overlong
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate
            [0xF0, 0x80, 0x80, 0xAF],  // overlong
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xF5, 0x80, 0x80, 0x80],
            [0xFF],
            [0xC3],  // truncated by the closing quote
            [0xE2, 0x82],
            [0xE2, 0x28, 0xA1],  // bad third byte
            [0xF0, 0x9F, 0x98],
        ]
        for bad in invalid {
            let line = prefix + bad + Array(#"y"}"#.utf8)
            #expect(scanErrorBytes(line) == JSONLineError(.invalidUTF8, offset: 7), "\(bad)")
        }
        // Also in keys, at the end of the line, and non-ASCII outside strings.
        #expect(scanErrorBytes(Array(#"{""#.utf8) + [0xFE] + Array(#"":1}"#.utf8)) == .init(.invalidUTF8, offset: 2))
        #expect(scanErrorBytes(Array(#"{"a":""#.utf8) + [0xE2, 0x82]) == .init(.invalidUTF8, offset: 6))
        #expect(scanErrorBytes(Array(#"{"a":1"#.utf8) + [0xC3, 0xA9, 0x7D]) == .init(.unexpectedByte(0xC3), offset: 6))
        // Long strings take the 8-byte fast path; errors must still be found at the exact offset.
        let long = Array(#"{"a":"0123456789abcdef"#.utf8) + [0xC3, 0xA9, 0x80] + Array(#""}"#.utf8)
        #expect(scanErrorBytes(long) == .init(.invalidUTF8, offset: 24))
    }

    @Test("number grammar")
    func numbers() {
        for number in [
            "0", "-0", "1", "-1", "1e5", "1E5", "1e+5", "1E-5", "-0.0", "0.5", "-1.5e-3", "10", "1763900000123",
            "123456789012345678901234567890", "1.7976931348623157e309",
        ] {
            let line = #"{"ts":"# + number + "}"
            #expect(text(fields(line, ["ts"])?.0, in: line) == number, "\(number)")
            #expect(fields(line, ["ts"])?.0?.kind == .number)
        }
        for number in ["01", "-01", "00", "1.", "-1.", ".5", "-.5", "+1", "-", "1e", "1e+", "1.e5", "1x", "1.2.3"] {
            let line = #"{"ts":"# + number + "}"
            #expect(scanError(line) == JSONLineError(.invalidNumber, offset: 6), "\(number)")
        }
        #expect(scanError(#"{"ts":[1,-]}"#) == JSONLineError(.invalidNumber, offset: 9))
    }

    @Test("literals must be exactly true, false or null")
    func literals() {
        for word in ["tru", "truee", "True", "nul", "NULL", "fals", "falsey", "undefined", "nan", "Infinity"] {
            #expect(scanError(#"{"a":"# + word + "}") == JSONLineError(.invalidLiteral, offset: 5), "\(word)")
        }
        #expect(scanError(#"{"a":tr"#) == JSONLineError(.invalidLiteral, offset: 5))
        #expect(isValid(#"{"a":[true,false,null]}"#))
    }

    @Test("each error reason is reported with its offset")
    func errorReasons() {
        let cases: [(String, JSONLineError.Reason, Int)] = [
            ("", .empty, 0),
            (" \t\r\n", .empty, 4),
            ("[1]", .notAnObject, 0),
            ("  42", .notAnObject, 2),
            (#""a""#, .notAnObject, 0),
            (#"{"a" 1}"#, .unexpectedByte(0x31), 5),
            (#"{"a":1 "b":2}"#, .unexpectedByte(0x22), 7),
            ("{a:1}", .unexpectedByte(0x61), 1),
            (#"{"a":1,}"#, .unexpectedByte(0x7D), 7),
            (#"{"a":}"#, .unexpectedByte(0x7D), 5),
            (#"{"a":[1,]}"#, .unexpectedByte(0x5D), 8),
            (#"{"a":[1}"#, .unexpectedByte(0x7D), 7),
            (#"{"a":{"b":1]}"#, .unexpectedByte(0x5D), 11),
            (#"{"a":{1:2}}"#, .unexpectedByte(0x31), 6),
            ("{\"a\":\"x\ty\"}", .unexpectedByte(0x09), 7),
            ("{\"a\":\"x\ny\"}", .unexpectedByte(0x0A), 7),
            (#"{"a":'x'}"#, .unexpectedByte(0x27), 5),
            ("{", .unexpectedEnd, 1),
            (#"{"a""#, .unexpectedEnd, 4),
            (#"{"a":"#, .unexpectedEnd, 5),
            (#"{"a":1"#, .unexpectedEnd, 6),
            (#"{"a":[1,2"#, .unexpectedEnd, 9),
            (#"{"a":"xyz"#, .unterminatedString, 5),
            (#"{"a":"xyz\"}"#, .unterminatedString, 5),
            (#"{"abc"#, .unterminatedString, 1),
            (#"{"a":"\q"}"#, .invalidEscape, 6),
            (#"{"a":01}"#, .invalidNumber, 5),
            (#"{"a":nul}"#, .invalidLiteral, 5),
            (#"{"a":1} x"#, .trailingBytes, 8),
            (#"{"a":1}{}"#, .trailingBytes, 7),
            (#"{},"#, .trailingBytes, 2),
        ]
        for (line, reason, offset) in cases {
            #expect(scanError(line) == JSONLineError(reason, offset: offset), "\(line)")
        }
    }

    @Test("every truncation of a valid line is rejected")
    func truncations() {
        let lines = [
            sampleLine,
            #"{"a":[1,-2.5e-3,{"b":null}],"t":true,"f":false,"s":"x\"\u00e9\uD83D\uDE00é😀y","o":{}}"#,
            #"{ "k" : "v" , "n" : 10 }"#,
        ]
        for line in lines {
            let bytes = Array(line.utf8)
            #expect(scanErrorBytes(bytes) == nil)
            for length in 0..<bytes.count {
                #expect(scanErrorBytes(Array(bytes[..<length])) != nil, "\(length) bytes of \(line)")
            }
        }
    }

    @Test("single-byte corruptions never crash and errors point inside the line")
    func corruptions() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let original = Array(#"{"ts":1763900000123,"s":"a\u00e9\"b","x":[true,{"y":null}]}"#.utf8)
        for _ in 0..<20_000 {
            var bytes = original
            bytes[Int(next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: next())
            if next() % 4 == 0 { bytes.removeLast(Int(next() % 10)) }
            if let error = scanErrorBytes(bytes) {
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
    }

    @Test("error descriptions are actionable one-liners")
    func descriptions() {
        #expect(JSONLineError(.unterminatedString, offset: 17).description == "byte 17: unterminated string")
        #expect(JSONLineError(.unexpectedByte(0x3A), offset: 3).description == "byte 3: unexpected ':' (0x3A)")
        #expect(JSONLineError(.unexpectedByte(0x09), offset: 3).description == "byte 3: unexpected byte 0x09")
        #expect(JSONLineError(.missingField("ts"), offset: 0).description == #"byte 0: missing field "ts""#)
        let tooDeep = JSONLineError(.tooDeep, offset: 70)
        #expect(tooDeep.description == "byte 70: objects and arrays nested more than 64 deep")
        let reasons: [JSONLineError.Reason] = [
            .empty, .notAnObject, .unexpectedByte(0xFF), .unexpectedEnd, .unterminatedString, .invalidEscape,
            .invalidNumber, .invalidLiteral, .trailingBytes, .tooDeep, .missingField("a"), .fieldNotString("b"),
            .fieldWrongType("c"), .invalidUTF8,
        ]
        for reason in reasons {
            let description = JSONLineError(reason, offset: 5).description
            #expect(description.hasPrefix("byte 5: ") && description.count > 12 && !description.contains("\n"))
        }
    }

    @Test("appendJSONStringLiteral escapes quotes, backslashes and control characters")
    func stringLiteral() {
        #expect(literal([]) == #"prefix:"""#)
        #expect(literal(Array("plain /path é😀\u{7F}".utf8)) == "prefix:\"plain /path é😀\u{7F}\"")
        let input: [UInt8] = Array("a\"b\\c\n\r\t".utf8) + [0x08, 0x0C, 0x00, 0x01, 0x1F, 0x41]
        #expect(literal(input) == #"prefix:"a\"b\\c\n\r\t\b\f\u0000\u0001\u001fA""#)
        // Round trip through the scanner and unescaper.
        var line: [UInt8] = Array(#"{"v":"#.utf8)
        input.withUnsafeBytes { appendJSONStringLiteral($0, to: &line) }
        line.append(0x7D)
        guard case .success(let (value, _)) = scanBytes(line, fields: ["v"]), let value else {
            Issue.record("literal did not scan")
            return
        }
        #expect(unescapeBytes(Array(line[value.range])) == .success(input))
    }
}

@Suite("Timestamp parsing")
struct TimestampParserTests {
    @Test("ISO 8601 golden values (checked with python3 datetime)")
    func isoGolden() {
        let second: Int64 = 1_000_000_000
        #expect(iso("2026-11-23T12:00:00Z") == 1_795_435_200 * second)
        #expect(iso("2026-11-23t12:00:00z") == 1_795_435_200 * second)
        #expect(iso("2026-11-23 12:00:00Z") == 1_795_435_200 * second)
        #expect(iso("2026-11-23T12:00Z") == 1_795_435_200 * second)
        #expect(iso("2026-11-23T12:00:00.123456789Z") == 1_795_435_200 * second + 123_456_789)
        #expect(iso("2026-11-23T12:00:00.1Z") == 1_795_435_200 * second + 100_000_000)
        #expect(iso("2026-11-23T12:00:00,5Z") == 1_795_435_200 * second + 500_000_000)
        #expect(iso("2026-11-23T12:00:00.1234567891234Z") == 1_795_435_200 * second + 123_456_789)
        #expect(iso("1970-01-01T00:00:00Z") == 0)
        #expect(iso("1969-12-31T23:59:59Z") == -second)
        #expect(iso("1969-12-31T23:59:59.5Z") == -second / 2)
        #expect(iso("2000-03-01T00:00:00Z") == 951_868_800 * second)
        #expect(iso("1900-03-01T00:00:00Z") == -2_203_891_200 * second)
        #expect(iso("2026-11-23") == 1_795_392_000 * second)
    }

    @Test("ISO 8601 offsets and the default offset")
    func isoOffsets() {
        let second: Int64 = 1_000_000_000
        #expect(iso("2026-11-23T12:00:00+01:00") == 1_795_431_600 * second)
        #expect(iso("2026-11-23T12:00:00+0100") == 1_795_431_600 * second)
        #expect(iso("2026-11-23T12:00:00+01") == 1_795_431_600 * second)
        #expect(iso("2026-11-23T12:00:00-05:30") == 1_795_455_000 * second)
        #expect(iso("2026-11-23T12:00:00-00:00") == 1_795_435_200 * second)
        #expect(iso("2026-11-23T12:00:00.25+01:00") == 1_795_431_600 * second + 250_000_000)
        // No offset: the default applies (local = UTC + offset); an explicit offset overrides it.
        #expect(iso("2026-11-23T12:00:00") == 1_795_435_200 * second)
        #expect(iso("2026-11-23T12:00:00", offset: 3600) == 1_795_431_600 * second)
        #expect(iso("2026-11-23", offset: -3600) == (1_795_392_000 + 3600) * second)
        #expect(iso("2026-11-23T12:00:00Z", offset: 3600) == 1_795_435_200 * second)
        #expect(iso("2026-11-23T12:00:00+00:00", offset: 3600) == 1_795_435_200 * second)
    }

    @Test("leap days and leap seconds")
    func leap() {
        let second: Int64 = 1_000_000_000
        #expect(iso("2024-02-29T00:00:00Z") == 1_709_164_800 * second)
        #expect(iso("2000-02-29T00:00:00Z") != nil)
        #expect(iso("2023-02-29T00:00:00Z") == nil)
        #expect(iso("1900-02-29T00:00:00Z") == nil)
        #expect(iso("2100-02-29T00:00:00Z") == nil)
        // 23:59:60 is read as the first second of the next day.
        #expect(iso("2016-12-31T23:59:60Z") == iso("2017-01-01T00:00:00Z"))
    }

    @Test("invalid ISO 8601 text is rejected")
    func isoInvalid() {
        let invalid = [
            "", "2026", "2026-11", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z",
            "2026-11-31T00:00:00Z", "2026-04-31", "2026-11-23T24:00:00Z", "2026-11-23T12:60:00Z",
            "2026-11-23T12:00:61Z", "2026-11-23T12:00:00+24:00", "2026-11-23T12:00:00+01:60",
            "2026-11-23T12:00:00+1", "2026-11-23T12:00:00+01:0", "2026-11-23T12:00:00.Z", "2026-11-23T12:00:00ZZ",
            "2026-11-23T12:00:00 Z", "2026-11-23T12", "2026-11-23T1:00:00Z", "2026-1-23T12:00:00Z",
            "26-11-23T12:00:00Z", "2026/11/23T12:00:00Z", "2026-11-23X12:00:00Z", "2026-11-23T", "2026-11-23Z",
            "+2026-11-23T12:00:00Z", "2026-11-23T12:00:00Z ", " 2026-11-23T12:00:00Z", "2026-11-23T12:00:0aZ",
            "1763900000",
        ]
        for text in invalid {
            #expect(iso(text) == nil, "\(text)")
        }
    }

    @Test("ISO 8601 values outside the Int64 nanosecond range are nil")
    func isoRange() {
        #expect(iso("2262-04-11T23:47:16.854775807Z") == Int64.max)
        #expect(iso("2262-04-11T23:47:16.854775808Z") == nil)
        #expect(iso("1677-09-21T00:12:43.145224192Z") == Int64.min)
        #expect(iso("1677-09-21T00:12:43.145224191Z") == nil)
        #expect(iso("9999-12-31T23:59:59Z") == nil)
        #expect(iso("0000-01-01T00:00:00Z") == nil)
        #expect(iso("2026-11-23T12:00:00", offset: Int.max) == nil)
    }

    @Test("numeric values in every unit")
    func numericUnits() {
        #expect(number("1763900000", .seconds) == 1_763_900_000_000_000_000)
        #expect(number("1763900000.123", .seconds) == 1_763_900_000_123_000_000)
        #expect(number("1763900000123", .milliseconds) == 1_763_900_000_123_000_000)
        #expect(number("1763900000123456", .microseconds) == 1_763_900_000_123_456_000)
        #expect(number("1763900000123456789", .nanoseconds) == 1_763_900_000_123_456_789)
        #expect(number("1.7639e9", .seconds) == 1_763_900_000_000_000_000)
        #expect(number("17639E5", .seconds) == 1_763_900_000_000_000_000)
        #expect(number("1763900000123e-3", .seconds) == 1_763_900_000_123_000_000)
        #expect(number("1.5", .milliseconds) == 1_500_000)
        #expect(number("0", .seconds) == 0)
        #expect(number("-0", .seconds) == 0)
        #expect(number("-1.5", .seconds) == -1_500_000_000)
        #expect(number("0.000000001", .seconds) == 1)
        #expect(number("1.0000000019", .seconds) == 1_000_000_001)  // sub-nanosecond digits are truncated
        #expect(number("-1.0000000019", .seconds) == -1_000_000_001)  // toward zero
        #expect(number("1e-10", .seconds) == 0)
        #expect(number("1e-999999999999999999999", .seconds) == 0)
        #expect(number("0e999999999999999999999", .seconds) == 0)
        #expect(number("1763900000.123000000000000000000000000", .seconds) == 1_763_900_000_123_000_000)
        #expect(number("0.00000000000000000000000000001763900000123e29", .milliseconds) == 1_763_900)
        #expect(TimeUnit(rawValue: "ms") == .milliseconds)
        #expect(TimeUnit.allCases.map(\.rawValue) == ["s", "ms", "us", "ns"])
    }

    @Test("numbers that overflow Int64 or are malformed give nil")
    func numericInvalid() {
        #expect(number("9223372036854775807", .nanoseconds) == Int64.max)
        #expect(number("9223372036854775808", .nanoseconds) == nil)
        #expect(number("-9223372036854775808", .nanoseconds) == Int64.min)
        #expect(number("-9223372036854775809", .nanoseconds) == nil)
        #expect(number("9223372036.854775807", .seconds) == Int64.max)
        #expect(number("9223372036.854775808", .seconds) == nil)
        #expect(number("9223372037", .seconds) == nil)
        #expect(number("1e19", .nanoseconds) == nil)
        #expect(number("1e999999999999999999999", .seconds) == nil)
        #expect(number("99999999999999999999999999", .nanoseconds) == nil)
        for text in ["", "-", "01", "1.", ".5", "+1", "1e", "1e+", "1x", " 1", "1 ", "0x10", "1.2.3", "\"1\"", "NaN"] {
            #expect(number(text, .seconds) == nil, "\(text)")
        }
    }

    @Test("days-from-civil agrees with a day-by-day count across leap years")
    func daysFromCivilWalk() {
        var expected = daysFromCivil(year: 1896, month: 1, day: 1)
        var mismatches: [String] = []
        for year in 1896...2404 {
            for month in 1...12 {
                for day in 1...daysInMonth(year: year, month: month) {
                    if daysFromCivil(year: year, month: month, day: day) != expected {
                        mismatches.append("\(year)-\(month)-\(day)")
                    }
                    expected += 1
                }
            }
        }
        #expect(mismatches.isEmpty)
        #expect(expected - daysFromCivil(year: 1896, month: 1, day: 1) == 509 * 365 + 124)  // 124 leap years
        #expect(daysFromCivil(year: 1970, month: 1, day: 1) == 0)
        #expect(daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
    }
}
