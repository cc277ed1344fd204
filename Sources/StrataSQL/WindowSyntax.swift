/// `window(STREAM, N)` in a continuous query's FROM clause: the table of STREAM's last N
/// intervals, ending with the current one — the same as `--window N` (`window:`) over the query
/// with `STREAM` in its place.
///
/// ```swift
/// let windowed = try WindowSyntax.rewrite("SELECT url, count(*) AS n FROM window(pageViews, 5) GROUP BY url")
/// // windowed.sql == "SELECT url, count(*) AS n FROM pageViews GROUP BY url", windowed.window == 5
/// ```
public enum WindowSyntax {
    /// One `window(STREAM, N)` call found in a query's text.
    public struct Call: Sendable, Equatable {
        /// The byte range of the call in the query's UTF-8 text.
        public var range: Range<Int>
        /// How the stream is named in the replacement: a bare name, or a double-quoted identifier.
        public var replacement: String
        /// The number of intervals.
        public var length: Int
    }

    /// The `window(…)` calls of `sql`, outside strings, quoted identifiers and comments: the word
    /// `window`, `(`, a stream name (a bare name, a `"quoted"` identifier or a `'string'`), `,`, an
    /// integer and `)`. (SQLite's `WINDOW name AS (…)` clause and `OVER` are not calls.)
    public static func calls(in sql: String) -> [Call] {
        let bytes = Array(sql.utf8)
        var calls: [Call] = []
        var i = 0
        func isWord(_ c: UInt8) -> Bool {
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || (c >= 0x30 && c <= 0x39) || c >= 0x80
        }
        func skipSpace(_ j: inout Int) {
            while j < bytes.count, bytes[j] == 0x20 || (bytes[j] >= 0x09 && bytes[j] <= 0x0D) { j += 1 }
        }
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case 0x27, 0x22, 0x60:
                i += 1
                while i < bytes.count, bytes[i] != c { i += 1 }
                i += 1
                continue
            case 0x5B:
                while i < bytes.count, bytes[i] != 0x5D { i += 1 }
                i += 1
                continue
            case 0x2D where i + 1 < bytes.count && bytes[i + 1] == 0x2D:
                while i < bytes.count, bytes[i] != 0x0A { i += 1 }
                continue
            case 0x2F where i + 1 < bytes.count && bytes[i + 1] == 0x2A:
                i += 2
                while i + 1 < bytes.count, !(bytes[i] == 0x2A && bytes[i + 1] == 0x2F) { i += 1 }
                i += 2
                continue
            default: break
            }
            guard isWord(c) else { i += 1; continue }
            var j = i
            while j < bytes.count, isWord(bytes[j]) { j += 1 }
            defer { i = j }
            guard String(decoding: bytes[i..<j], as: UTF8.self).lowercased() == "window" else { continue }
            var k = j
            skipSpace(&k)
            guard k < bytes.count, bytes[k] == 0x28 else { continue }
            k += 1
            skipSpace(&k)
            guard k < bytes.count else { continue }
            var name: String
            if bytes[k] == 0x22 || bytes[k] == 0x27 {
                let quote = bytes[k]
                var end = k + 1
                while end < bytes.count, bytes[end] != quote { end += 1 }
                guard end < bytes.count else { continue }
                name = String(decoding: bytes[(k + 1)..<end], as: UTF8.self)
                k = end + 1
                name = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            } else {
                var end = k
                while end < bytes.count, isWord(bytes[end]) { end += 1 }
                guard end > k else { continue }
                name = String(decoding: bytes[k..<end], as: UTF8.self)
                k = end
            }
            skipSpace(&k)
            guard k < bytes.count, bytes[k] == 0x2C else { continue }
            k += 1
            skipSpace(&k)
            var end = k
            while end < bytes.count, bytes[end] >= 0x30, bytes[end] <= 0x39 { end += 1 }
            guard end > k, end - k <= 9, let length = Int(String(decoding: bytes[k..<end], as: UTF8.self)) else { continue }
            k = end
            skipSpace(&k)
            guard k < bytes.count, bytes[k] == 0x29 else { continue }
            calls.append(Call(range: i..<(k + 1), replacement: name, length: length))
            j = k + 1
        }
        return calls
    }

    /// `sql` with each `window(STREAM, N)` replaced by `STREAM`, and N.
    ///
    /// - Parameter window: A window given besides (`--window`), or `nil`.
    /// - Throws: `SQLError.invalidArgument` when a window holds fewer than 1 interval, or two
    ///   windows (calls, or a call and `window`) differ: every table of a continuous query holds
    ///   the same intervals.
    public static func rewrite(_ sql: String, window: Int? = nil) throws(SQLError) -> (sql: String, window: Int?) {
        let found = calls(in: sql)
        guard let first = found.first else { return (sql, window) }
        for call in found where call.length < 1 {
            throw .invalidArgument("window(\(call.replacement), \(call.length)): a window holds at least 1 interval")
        }
        let lengths = found.map(\.length) + (window.map { [$0] } ?? [])
        guard lengths.allSatisfy({ $0 == first.length }) else {
            throw .invalidArgument("a continuous query's tables hold the same intervals: window(…) lengths "
                + lengths.map(String.init).joined(separator: ", ") + " differ (the --window option counts too)")
        }
        var bytes = Array(sql.utf8)
        for call in found.reversed() { bytes.replaceSubrange(call.range, with: Array(call.replacement.utf8)) }
        return (String(decoding: bytes, as: UTF8.self), first.length)
    }
}
