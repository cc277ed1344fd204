// libFuzzer target: the JSON line scanner and what ingest does with the fields it finds (time
// parsing, string unescaping, re-quoting). Built by tools/fuzz.sh from the scanner's own files.
//
// A line the scanner accepts must give field ranges inside the line; the first field's value is
// parsed as a time in every unit and as ISO 8601, the second is unescaped and re-quoted, and a
// re-quoted string must scan again as a JSON string.

let scanner = JSONLineScanner(fields: ["ts", "url"])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONLines(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let line = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let fields: (JSONFieldValue?, JSONFieldValue?)
    do {
        fields = try scanner.scan(line)
    } catch {
        precondition(error.offset >= 0 && error.offset <= line.count, "error offset outside the line")
        _ = error.description
        return 0
    }
    for field in [fields.0, fields.1] {
        guard let field else { continue }
        precondition(field.range.lowerBound >= 0 && field.range.upperBound <= line.count, "field range outside the line")
        let bytes = UnsafeRawBufferPointer(rebasing: line[field.range])
        for unit in TimeUnit.allCases { _ = parseTimestampNanoseconds(number: bytes, unit: unit) }
        _ = parseISO8601Nanoseconds(bytes)
        _ = parseISO8601Nanoseconds(bytes, defaultUTCOffsetSeconds: -12 * 3600)
        if field.kind == .string {
            var unescaped: [UInt8] = []
            if (try? unescapeJSONString(bytes, into: &unescaped)) != nil {
                var quoted: [UInt8] = Array("{\"k\":".utf8)
                unescaped.withUnsafeBytes { appendJSONStringLiteral($0, to: &quoted) }
                quoted.append(UInt8(ascii: "}"))
                let rescanned = quoted.withUnsafeBytes { try? JSONLineScanner(fields: ["k"]).scan($0) }
                precondition(rescanned?.0?.kind == .string, "a re-quoted string does not scan as a JSON string")
            }
        }
    }
    return 0
}
