import Testing

@testable import StrataServer

@Suite struct JSONTextTests {
    @Test func stringsAreEscapedAndInvalidUTF8BecomesTheReplacementCharacter() {
        var json = JSONText()
        json.beginObject()
        json.key("a")
        let bytes: [UInt8] = Array("q\"b\\n\n\r\t\u{01}é".utf8) + [0xFF, 0x41]
        bytes.withUnsafeBytes { json.string(bytes: $0) }
        json.key("n")
        json.integer(-3)
        json.key("z")
        json.beginArray()
        json.null()
        json.bool(true)
        json.integer(Int?.none)
        json.endArray()
        json.endObject()
        #expect(String(decoding: json.bytes, as: UTF8.self)
                == #"{"a":"q\"b\\n\n\r\t\u0001é"# + "\u{FFFD}" + #"A","n":-3,"z":[null,true,null]}"#)
    }

    @Test func lineLengthCheckFindsALongLineAcrossChunks() {
        var check = LineLengthCheck(limit: 5)
        let first: [UInt8] = Array("abc\nab".utf8), second: [UInt8] = Array("cd\nabcdefg".utf8)
        #expect(first.withUnsafeBytes { check.scan($0) } == nil)
        let found = second.withUnsafeBytes { check.scan($0) }
        #expect(found?.line == 3 && found?.length == 7)
        var exact = LineLengthCheck(limit: 4)
        #expect(Array("abcd\nabcd".utf8).withUnsafeBytes { exact.scan($0) } == nil)
    }
}
