import Strata

/// A state key type the API can parse from a query (`key=`).
protocol StateKey: JSONServable, Hashable {
    /// The key as written in a query, or `nil` when the text is not one.
    init?(stateKey: String)
}

extension String: StateKey { init?(stateKey: String) { self = stateKey } }
extension Int: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension Int64: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension Int32: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension UInt: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension UInt64: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension UInt32: StateKey { init?(stateKey: String) { self.init(stateKey) } }

/// The state of a stateful vertex as of an interval, as the API's JSON.
enum StateLookup {
    /// The most entries of a whole state the API answers with.
    static let maxEntries = 10_000

    /// `{"asOf":T,"time":…,"snapshot":S,"replayedIntervals":N,"keys":K,"entries":[{"key":…,"value":…}],"truncated":B}`.
    static func run(_ keyType: any StateKey.Type, _ valueType: any JSONServable.Type, store: Store, stream: String,
                    asOf t: Interval, length: IntervalLength, key: String?, top: Int?) throws -> [UInt8] {
        try open(keyType, valueType, store: store, stream: stream, asOf: t, length: length, key: key, top: top)
    }

    private static func open<Key: StateKey>(_: Key.Type, _ valueType: any JSONServable.Type, store: Store,
                                            stream: String, asOf t: Interval, length: IntervalLength,
                                            key: String?, top: Int?) throws -> [UInt8] {
        var parsed: Key?
        if let key {
            guard let value = Key(stateKey: key) else {
                throw APIError.badRequest("key \(key) is not \(StreamDescriptor.readableTypeNameWithArticle(Key.recordTypeName)), the key type of \(stream)'s state")
            }
            parsed = value
        }
        return try lookup(Key.self, valueType, store: store, stream: stream, asOf: t, length: length, key: parsed,
                          top: top)
    }

    private static func lookup<Key: StateKey>(_: Key.Type, _ valueType: any JSONServable.Type, store: Store,
                                              stream: String, asOf t: Interval, length: IntervalLength, key: Key?,
                                              top: Int?) throws -> [UInt8] {
        func typed<Value: JSONServable>(_: Value.Type) throws -> [UInt8] {
            let result = try store.state(of: stream, asOf: t, key: key, as: Key.self, Value.self)
            var entries = result.entries
            let total = entries.count
            if let top {
                if Value.self is any BinaryInteger.Type || Value.self is any BinaryFloatingPoint.Type {
                    // Largest values first; ties in key order (the entries' order), so the answer is stable.
                    let ranked = entries.enumerated().sorted { a, b in
                        let x = a.element.value.numericValue ?? 0, y = b.element.value.numericValue ?? 0
                        return x != y ? x > y : a.offset < b.offset
                    }
                    entries = ranked.prefix(top).map(\.element)
                } else {
                    entries = Array(entries.prefix(top))
                }
            }
            let truncated = entries.count > maxEntries
            if truncated { entries = Array(entries.prefix(maxEntries)) }
            var json = JSONText(capacity: 64 * entries.count + 256)
            json.beginObject()
            json.key("asOf")
            json.integer(t.rawValue)
            json.key("entries")
            json.beginArray()
            for entry in entries {
                var bytes: [UInt8] = []
                entry.appendJSON(to: &bytes)
                json.raw(bytes)
            }
            json.endArray()
            json.key("keys")
            json.integer(total)
            json.key("replayedIntervals")
            json.integer(result.replayedIntervals)
            json.key("snapshot")
            json.integer(result.snapshot?.rawValue)
            json.key("stream")
            json.string(stream)
            json.key("time")
            json.string(ISOTime.string(length.start(of: t)))
            json.key("truncated")
            json.bool(truncated)
            json.endObject()
            return json.bytes
        }
        return try typed(valueType)
    }
}
