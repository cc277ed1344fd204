import Strata

/// Encodes the records of one interval as the read API's JSON lines,
/// `{"interval":T,"partition":P,"record":R}`, applying a request's partition and key filters.
enum RecordLines {
    /// The lines of `interval` (at most `limit` records) and how many records they hold.
    ///
    /// - Throws: what reading the interval throws (`StorageError`).
    static func encode<Record: JSONServable>(_ stored: StoredStream<Record>, interval: Interval,
                                             plan: ReadAPI.RecordsRequest, limit: Int) throws -> ([UInt8], Int) {
        var out: [UInt8] = []
        var count = 0
        guard limit > 0 else { return (out, 0) }
        let matches = try KeyMatch.make(for: Record.self, key: plan.key, field: plan.field)
        var current: PartitionIndex?
        var prefix: [UInt8] = []
        do {
            try stored.forEach(in: interval...interval, partition: plan.partition) { _, partition, record in
                if let matches, !matches(record) { return }
                if current != partition {
                    current = partition
                    prefix = Array(#"{"interval":"#.utf8)
                    appendDecimal(interval.rawValue, to: &prefix)
                    prefix.append(contentsOf: #","partition":"#.utf8)
                    appendDecimal(UInt64(partition.rawValue), to: &prefix)
                    prefix.append(contentsOf: #","record":"#.utf8)
                    if out.isEmpty { out.reserveCapacity(1 << 16) }
                }
                out.append(contentsOf: prefix)
                record.appendJSON(to: &out)
                out.append(0x7D)  // }
                out.append(0x0A)
                count += 1
                if count >= limit { throw EnoughRecords() }
            }
        } catch is EnoughRecords {}
        return (out, count)
    }
}

/// Ends a read early once the limit is reached.
private struct EnoughRecords: Error {}

/// The `key` filter: which records have a key equal to the text given.
///
/// A JSON record's key is the value of its key field (the stream's, or the request's `field`): a
/// string matches its unescaped text, any other value its JSON token (`42`, `true`). A `KeyValue`
/// record's key matches the same way.
enum KeyMatch {
    /// A predicate for `key` on records of `type`, or `nil` when there is no key filter.
    static func make<Record: JSONServable>(for type: Record.Type, key: String?, field: String?) throws
        -> ((Record) -> Bool)?
    {
        guard let key else { return nil }
        let wanted = Array(key.utf8)
        var quoted: [UInt8] = []
        JSONText.appendString(wanted, to: &quoted)
        if Record.self == JSONRecord.self {
            guard let field else { throw APIError.badRequest("give the field the key is in: field=NAME") }
            let scanner = JSONLineScanner(fields: [field])
            return { record in
                guard let json = record as? JSONRecord else { return false }
                return json.bytes.withUnsafeBytes { line -> Bool in
                    guard let value = (try? scanner.scan(line))?.0 else { return false }
                    let token = UnsafeRawBufferPointer(rebasing: line[value.range])
                    guard value.kind == .string else { return token.elementsEqual(wanted) }
                    guard value.hasEscapes else { return token.elementsEqual(wanted) }
                    var unescaped: [UInt8] = []
                    guard (try? unescapeJSONString(token, into: &unescaped)) != nil else { return false }
                    return unescaped == wanted
                }
            }
        }
        guard Record.self is any KeyedJSONServable.Type else {
            throw APIError.badRequest("records of type \(Record.recordTypeName) have no key")
        }
        return { record in
            guard let keyed = record as? any KeyedJSONServable else { return false }
            var json: [UInt8] = []
            keyed.appendKeyJSON(to: &json)
            return json == wanted || json == quoted
        }
    }
}
