import Strata
import StrataEngine
import StrataStorage

/// How a continuous query with `--running` merges interval t's rows into the result so far: the
/// query's columns are group columns (plain column names) and aggregates `count(…)`, `sum(…)`,
/// `min(…)`, `max(…)`; count and sum add, min and max keep the smaller or larger (NULL ignored,
/// numbers before text, as SQLite orders values).
///
/// `RunningAggregates` is `Sendable`; it is a plain value.
public struct RunningAggregates: Sendable {
    /// What a column of the query is.
    public enum Column: Sendable, Equatable {
        case group, count, sum, min, max
    }

    /// The query's columns, in order.
    public let columns: [Column]

    /// Reads the kinds of the query's columns from its SELECT list.
    ///
    /// - Throws: `SQLError.invalidArgument` naming the column or clause that cannot merge
    ///   (another aggregate or expression, `*`, `DISTINCT`, `HAVING`, `LIMIT`, a compound query).
    public init(query: String) throws(SQLError) {
        let tokens = SQLText.topLevelTokens(query)
        let words = tokens.map(\.text)
        for refused in ["HAVING", "LIMIT", "UNION", "EXCEPT", "INTERSECT", "WINDOW", "DISTINCT"] where words.contains(refused) {
            throw .invalidArgument("--running merges count/sum/min/max grouped by columns; the query has \(refused)")
        }
        guard let select = tokens.firstIndex(where: { $0.text == "SELECT" }),
              let from = tokens.firstIndex(where: { $0.text == "FROM" }), from > select else {
            throw .invalidArgument("--running needs SELECT … FROM …")
        }
        let bytes = Array(query.utf8)
        var items: [String] = []
        var start = tokens[select].range.upperBound
        for token in tokens[(select + 1)..<from] where token.text == "," {
            items.append(String(decoding: bytes[start..<token.range.lowerBound], as: UTF8.self))
            start = token.range.upperBound
        }
        items.append(String(decoding: bytes[start..<tokens[from].range.lowerBound], as: UTF8.self))
        var columns: [Column] = []
        for item in items {
            let text = item.trimmingCharacters(in: .whitespacesAndNewlines)
            let lower = text.lowercased()
            let kinds: [(String, Column)] = [("count(", .count), ("sum(", .sum), ("min(", .min), ("max(", .max)]
            if let kind = kinds.first(where: { lower.hasPrefix($0.0) || lower.hasPrefix($0.0.dropLast() + " (") }) {
                columns.append(kind.1)
            } else if !text.contains("("), !text.contains("*"), !lower.contains(" distinct ") {
                columns.append(.group)
            } else {
                throw .invalidArgument("--running merges count, sum, min and max grouped by columns; \"\(text)\" is none of them")
            }
        }
        guard columns.contains(where: { $0 != .group }) else {
            throw .invalidArgument("--running needs at least one count, sum, min or max column")
        }
        self.columns = columns
    }

    /// A result row as (group key, aggregates), both JSON arrays.
    func split(_ row: [SQLValue]) -> KeyValue<String, String> {
        var key: [UInt8] = [0x5B], value: [UInt8] = [0x5B]
        for (column, kind) in zip(row, columns) {
            if kind == .group {
                if key.count > 1 { key.append(0x2C) }
                column.appendJSON(to: &key)
            } else {
                if value.count > 1 { value.append(0x2C) }
                column.appendJSON(to: &value)
            }
        }
        key.append(0x5D)
        value.append(0x5D)
        return KeyValue(String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// Merges two aggregate arrays.
    func merge(_ a: String, _ b: String) -> String {
        let left = Self.values(a), right = Self.values(b)
        let kinds = columns.filter { $0 != .group }
        var out: [UInt8] = [0x5B]
        for (k, kind) in kinds.enumerated() {
            if k > 0 { out.append(0x2C) }
            let x = k < left.count ? left[k] : .null, y = k < right.count ? right[k] : .null
            Self.merge(kind, x, y).appendJSON(to: &out)
        }
        out.append(0x5D)
        return String(decoding: out, as: UTF8.self)
    }

    /// The merged row as a JSON object keyed by the query's column names, in its order.
    func row(_ pair: KeyValue<String, String>, names: [String]) -> JSONRecord {
        let groups = Self.values(pair.key), aggregates = Self.values(pair.value)
        var g = 0, a = 0
        var out: [UInt8] = [0x7B]
        for (i, kind) in columns.enumerated() {
            if i > 0 { out.append(0x2C) }
            SQLValue.text(i < names.count ? names[i] : "column\(i + 1)").appendJSON(to: &out)
            out.append(0x3A)
            let value: SQLValue
            if kind == .group {
                value = g < groups.count ? groups[g] : .null
                g += 1
            } else {
                value = a < aggregates.count ? aggregates[a] : .null
                a += 1
            }
            value.appendJSON(to: &out)
        }
        out.append(0x7D)
        return JSONRecord(bytes: out)
    }

    static func merge(_ kind: Column, _ x: SQLValue, _ y: SQLValue) -> SQLValue {
        if case .null = x { return y }
        if case .null = y { return x }
        switch kind {
        case .count, .sum:
            switch (x, y) {
            case (.integer(let a), .integer(let b)):
                let (sum, overflow) = a.addingReportingOverflow(b)
                return overflow ? .real(Double(a) + Double(b)) : .integer(sum)
            default:
                return .real((x.number ?? 0) + (y.number ?? 0))
            }
        case .min: return precedes(y, x) ? y : x
        case .max: return precedes(x, y) ? y : x
        case .group: return x
        }
    }

    /// SQLite's order of non-NULL values: numbers (by value), then text, then blobs.
    static func precedes(_ a: SQLValue, _ b: SQLValue) -> Bool {
        func rank(_ v: SQLValue) -> Int {
            switch v {
            case .null: 0
            case .integer, .real: 1
            case .text: 2
            case .blob: 3
            }
        }
        if rank(a) != rank(b) { return rank(a) < rank(b) }
        switch (a, b) {
        case (.text(let x), .text(let y)): return x.utf8.lexicographicallyPrecedes(y.utf8)
        case (.blob(let x), .blob(let y)): return x.lexicographicallyPrecedes(y)
        default: return (a.number ?? 0) < (b.number ?? 0)
        }
    }

    /// The values of a JSON array of scalars written by `appendJSON`.
    static func values(_ text: String) -> [SQLValue] {
        var result: [SQLValue] = []
        var scratch: [UInt8] = []
        Array(text.utf8).withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var i = 1
            while i < bytes.count - 1 {
                while i < bytes.count, bytes[i] == 0x2C || bytes[i] == 0x20 { i += 1 }
                guard i < bytes.count - 1 else { break }
                let start = i
                var slot = JSONSlot()
                switch bytes[i] {
                case 0x22:
                    let end = max(i + 1, JSONFields.endOfString(bytes, from: i + 1) ?? bytes.count - 1)
                    var escaped = false
                    for j in (i + 1)..<end where bytes[j] == 0x5C { escaped = true }
                    slot = JSONSlot(kind: escaped ? .escapedString : .string, start: i + 1, count: end - i - 1)
                    i = end + 1
                case 0x6E:
                    slot = JSONSlot(kind: .null, start: i, count: 4)
                    i += 4
                case 0x5B:
                    let end = max(i + 1, JSONFields.endOfComposite(bytes, from: i) ?? bytes.count - 1)
                    slot = JSONSlot(kind: .composite, start: i, count: end - i)
                    i = end
                default:
                    var integral = true
                    while i < bytes.count - 1, bytes[i] != 0x2C {
                        if bytes[i] == 0x2E || bytes[i] == 0x65 || bytes[i] == 0x45 { integral = false }
                        i += 1
                    }
                    slot = JSONSlot(kind: integral ? .integer : .real, start: start, count: i - start)
                }
                result.append(fieldValue(slot, in: raw, scratch: &scratch))
            }
        }
        return result
    }
}

extension SQLValue {
    /// The value as a number, for integers and reals.
    var number: Double? {
        switch self {
        case .integer(let v): Double(v)
        case .real(let v): v
        default: nil
        }
    }
}

extension DStream where Record == JSONRecord {
    /// `sql(_:window:intervalLength:)` with running aggregates: interval t's rows are the groups that
    /// had rows in t, with the aggregates merged over every interval so far (see ``RunningAggregates``).
    ///
    /// With `stateName`, the running state (group key → aggregates, both JSON arrays) is also saved
    /// under that name, so that `state('STATENAME', t)` in SQL is the whole result as of t.
    public func sql(_ query: IntervalQuery, running: RunningAggregates, window: Int? = nil,
                    intervalLength: IntervalLength = .seconds(1), stateName: String? = nil) -> DStream<JSONRecord> {
        let pairs = gathered(window: window).transform(definition: query.definition) { interval, _, records in
            let result = try query.runRows(interval: interval, length: intervalLength, tables: [records])
            return ContiguousArray(result.rows.map { running.split($0) })
        }
        return running.merged(pairs, names: query.columnNames, stateName: stateName)
    }

    /// `sql(_:joining:window:intervalLength:)` with running aggregates (see
    /// ``sql(_:running:window:intervalLength:stateName:)``).
    public func sql(_ query: IntervalQuery, joining other: DStream<JSONRecord>, running: RunningAggregates,
                    window: Int? = nil, intervalLength: IntervalLength = .seconds(1),
                    stateName: String? = nil) -> DStream<JSONRecord> {
        let pairs = gathered(window: window).transform(with: other.gathered(window: window), definition: query.definition) { interval, _, mine, theirs in
            let result = try query.runRows(interval: interval, length: intervalLength, tables: [mine, theirs])
            return ContiguousArray(result.rows.map { running.split($0) })
        }
        return running.merged(pairs, names: query.columnNames, stateName: stateName)
    }
}

extension RunningAggregates {
    /// The running merge of each interval's (group, aggregates) pairs, as rows keyed by `names`;
    /// the state saved as `stateName` when given.
    func merged(_ pairs: DStream<KeyValue<String, String>>, names: [String], stateName: String?) -> DStream<JSONRecord> {
        let merged = pairs.runningReduce { self.merge($0, $1) }
        if let stateName { merged.save(as: stateName) }
        return merged.map { self.row($0, names: names) }
    }
}

import Foundation
