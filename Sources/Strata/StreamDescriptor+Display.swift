import StrataStorage

extension StreamDescriptor {
    /// Whether Strata keeps the stream on behalf of another one rather than a user writing it:
    /// a late side stream (`S.late`), a directory source's file positions (`S.pos`; `S.src` in
    /// stores written before it), or a program's internal stream (`PROGRAM.vN…`: exchanges, state
    /// changes, unnamed outputs).
    ///
    /// Dead-letter streams (`S.dead`) are not internal: they hold the user's rejected lines.
    public var isInternal: Bool {
        if lateRecordsOf != nil || name.hasSuffix(".late") || name.hasSuffix(".src") { return true }
        if name.hasSuffix(".pos") && recordType == "strata.source-positions" { return true }
        // A component `vN` (N decimal) after the first one marks a vertex's stream.
        let components = name.split(separator: ".", omittingEmptySubsequences: false)
        return components.dropFirst().contains { c in
            c.count >= 2 && c.first == "v" && c.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
        }
    }

    /// The record type as a person reads it: module prefixes dropped, so
    /// `StrataStorage.KeyValue<Swift.String, Swift.Int64>` reads `KeyValue<String, Int64>`.
    public var readableRecordType: String { Self.readableTypeName(recordType) }

    /// `readableTypeName(name)` after its indefinite article, for messages: `an Int64`,
    /// `a UInt64`, `a String`.
    package static func readableTypeNameWithArticle(_ name: String) -> String {
        let readable = readableTypeName(name)
        let article = readable.first.map { "AEIO".contains($0) } == true ? "an" : "a"
        return "\(article) \(readable)"
    }

    /// `name`, a catalog type name, without the module prefixes of its (possibly generic) type
    /// names: `Swift.UInt64` reads `UInt64`.
    public static func readableTypeName(_ name: String) -> String {
        var result = ""
        var word = ""
        func flush() {
            // Keep the last dotted component of a qualified name.
            if let last = word.split(separator: ".").last { result += last } else { result += word }
            word = ""
        }
        for character in name {
            if character.isLetter || character.isNumber || character == "_" || character == "." {
                word.append(character)
            } else {
                flush()
                result.append(character)
            }
        }
        flush()
        return result
    }
}
