/// Where one top-level field's value lies in a JSON object's bytes, and what kind it is.
struct JSONSlot {
    enum Kind: UInt8 {
        case absent, string, escapedString, integer, real, trueLiteral, falseLiteral, null, composite
    }
    var kind: Kind = .absent
    /// Offset of the value in the record (for strings: of the first byte inside the quotes).
    var start = 0
    /// Length in bytes (for strings: without the quotes).
    var count = 0
}

/// Finds the top-level fields of JSON objects, fast: no allocation per record, and the scan stops
/// once every wanted field is found.
///
/// Field values become SQL values as SQLite's `json_extract(record, '$.field')` gives them:
/// strings unescaped, integers as integers (reals when out of range), other numbers as reals,
/// `true`/`false` as 1/0, `null` as NULL, objects and arrays as their minified JSON text.
struct JSONFields {
    /// Field names, by column.
    let names: [[UInt8]]
    /// The column found at each field position of the previous record: records of a stream
    /// mostly share one field order, so the guess usually saves the search.
    private var guesses: [Int] = []

    init(names: [String]) { self.names = names.map { Array($0.utf8) } }

    /// Fills `slots` (one per name, reset to `.absent` by the caller) for one record, stopping once
    /// the `wantedCount` columns marked in `wanted` are found.
    ///
    /// A record that is not a JSON object, or whose bytes are damaged, leaves the rest absent.
    mutating func scan(_ record: UnsafeRawBufferPointer, wanted: [Bool], wantedCount: Int, into slots: inout [JSONSlot]) {
        guard wantedCount > 0 else { return }
        let bytes = record.bindMemory(to: UInt8.self)
        let n = bytes.count
        var i = 0
        var found = 0
        var position = 0
        @inline(__always) func skipSpace() {
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }
        skipSpace()
        guard i < n, bytes[i] == 0x7B else { return }
        i += 1
        while true {
            skipSpace()
            guard i < n, bytes[i] == 0x22 else { return }
            let keyStart = i + 1
            guard let keyEnd = Self.endOfString(bytes, from: keyStart) else { return }
            i = keyEnd + 1
            skipSpace()
            guard i < n, bytes[i] == 0x3A else { return }
            i += 1
            skipSpace()
            guard i < n else { return }
            // The value.
            var slot = JSONSlot()
            let valueStart = i
            switch bytes[i] {
            case 0x22:
                guard let end = Self.endOfString(bytes, from: i + 1) else { return }
                var escaped = false
                for j in (i + 1)..<end where bytes[j] == 0x5C {
                    escaped = true
                    break
                }
                slot = JSONSlot(kind: escaped ? .escapedString : .string, start: i + 1, count: end - i - 1)
                i = end + 1
            case 0x7B, 0x5B:
                guard let end = Self.endOfComposite(bytes, from: i) else { return }
                slot = JSONSlot(kind: .composite, start: i, count: end - i)
                i = end
            case 0x74:
                i += 4
                slot = JSONSlot(kind: .trueLiteral, start: valueStart, count: 4)
            case 0x66:
                i += 5
                slot = JSONSlot(kind: .falseLiteral, start: valueStart, count: 5)
            case 0x6E:
                i += 4
                slot = JSONSlot(kind: .null, start: valueStart, count: 4)
            default:
                var integral = true
                while i < n {
                    let c = bytes[i]
                    if c >= 0x30 && c <= 0x39 || c == 0x2D { i += 1; continue }
                    if c == 0x2E || c == 0x65 || c == 0x45 || c == 0x2B { integral = false; i += 1; continue }
                    break
                }
                guard i > valueStart else { return }
                slot = JSONSlot(kind: integral ? .integer : .real, start: valueStart, count: i - valueStart)
            }
            guard i <= n else { return }
            // Which column the key names: the guess first, then a search.
            let keyCount = keyEnd - keyStart
            var column = -1
            if position < guesses.count, guesses[position] >= 0, Self.equal(names[guesses[position]], bytes, keyStart, keyCount) {
                column = guesses[position]
            } else {
                for (index, name) in names.enumerated() where Self.equal(name, bytes, keyStart, keyCount) {
                    column = index
                    break
                }
                if position < guesses.count { guesses[position] = column } else if position == guesses.count { guesses.append(column) }
            }
            position += 1
            // The first occurrence of a duplicated key wins, as in json_extract.
            if column >= 0, slots[column].kind == .absent {
                slots[column] = slot
                if wanted[column] {
                    found += 1
                    if found == wantedCount { return }
                }
            }
            skipSpace()
            guard i < n, bytes[i] == 0x2C else { return }
            i += 1
        }
    }

    /// Whether `name` equals the `count` bytes at `start`.
    @inline(__always)
    private static func equal(_ name: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Bool {
        guard name.count == count else { return false }
        for k in 0..<count where name[k] != bytes[start + k] { return false }
        return true
    }

    /// The index of the closing quote of a string whose content begins at `from`.
    static func endOfString(_ bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        var i = from
        while i < bytes.count {
            switch bytes[i] {
            case 0x22: return i
            case 0x5C: i += 2
            default: i += 1
            }
        }
        return nil
    }

    /// The index after the bracket closing the object or array that opens at `from`.
    static func endOfComposite(_ bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        var depth = 0
        var i = from
        while i < bytes.count {
            switch bytes[i] {
            case 0x22:
                guard let end = endOfString(bytes, from: i + 1) else { return nil }
                i = end
            case 0x7B, 0x5B: depth += 1
            case 0x7D, 0x5D:
                depth -= 1
                if depth == 0 { return i + 1 }
            default: break
            }
            i += 1
        }
        return nil
    }

    /// The top-level field names of a JSON object, in order (for inferring a stream's columns).
    static func fieldNames(of record: UnsafeRawBufferPointer) -> [String] {
        var names: [String] = []
        let bytes = record.bindMemory(to: UInt8.self)
        let n = bytes.count
        var i = 0
        func skipSpace() {
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }
        skipSpace()
        guard i < n, bytes[i] == 0x7B else { return [] }
        i += 1
        while true {
            skipSpace()
            guard i < n, bytes[i] == 0x22, let keyEnd = endOfString(bytes, from: i + 1) else { return names }
            var key: [UInt8] = []
            unescape(UnsafeBufferPointer(rebasing: bytes[(i + 1)..<keyEnd]), into: &key)
            names.append(String(decoding: key, as: UTF8.self))
            i = keyEnd + 1
            skipSpace()
            guard i < n, bytes[i] == 0x3A else { return names }
            i += 1
            skipSpace()
            guard i < n else { return names }
            switch bytes[i] {
            case 0x22:
                guard let end = endOfString(bytes, from: i + 1) else { return names }
                i = end + 1
            case 0x7B, 0x5B:
                guard let end = endOfComposite(bytes, from: i) else { return names }
                i = end
            default:
                while i < n, bytes[i] != 0x2C, bytes[i] != 0x7D { i += 1 }
            }
            skipSpace()
            guard i < n, bytes[i] == 0x2C else { return names }
            i += 1
        }
    }

    /// Appends the UTF-8 of a JSON string's content (between the quotes), escapes resolved.
    static func unescape(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var i = 0
        let n = bytes.count
        func hex(_ at: Int) -> UInt32? {
            guard at + 4 <= n else { return nil }
            var value: UInt32 = 0
            for k in at..<(at + 4) {
                let c = bytes[k]
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            return value
        }
        while i < n {
            let c = bytes[i]
            guard c == 0x5C, i + 1 < n else {
                out.append(c)
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case 0x6E: out.append(0x0A)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0D)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x75:
                guard var scalar = hex(i) else { continue }
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00, i + 6 <= n, bytes[i] == 0x5C, bytes[i + 1] == 0x75,
                   let low = hex(i + 2), low >= 0xDC00 && low < 0xE000 {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(character)).utf8))
            default: out.append(e)
            }
        }
    }

    /// Appends JSON text without the whitespace outside strings (as json_extract returns objects).
    static func minify(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x22, let end = endOfString(bytes, from: i + 1) {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[i...end]))
                i = end + 1
                continue
            }
            if c != 0x20 && c != 0x0A && c != 0x0D && c != 0x09 { out.append(c) }
            i += 1
        }
    }
}
