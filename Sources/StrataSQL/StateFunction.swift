import CSQLite
import Strata

/// `state('urlCounts', AS_OF)`: the state of the stateful vertex that writes a stream, as of an
/// interval (an index or a time form), as `strata state` shows it: columns `key`, `value`, one
/// row per key, sorted by the key's encoded bytes.
final class StateFunction: VirtualTable {
    let context: SQLContext
    var callbacks: SQLCallbackState { context }
    init(context: SQLContext) { self.context = context }

    var schema: String { #"CREATE TABLE x("key", "value", "stream" HIDDEN, "as_of" HIDDEN)"# }

    func bestIndex(_ info: inout sqlite3_index_info) -> Int32 {
        planScan(&info, context: context, descriptor: nil, functionArguments: [2: "s", 3: "a"])
    }

    func makeCursor() -> any VirtualCursor { StateCursor(context: context) }
}

final class StateCursor: VirtualCursor {
    let context: SQLContext
    private var rows: [(SQLValue, SQLValue)] = []
    private var position = 0
    private var arguments: [SQLValue] = [.null, .null]

    init(context: SQLContext) { self.context = context }

    func filter(plan: Int32, planText: String, arguments values: [OpaquePointer?]) throws {
        let parts = planText.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
        let codes = Array(parts.count > 1 ? parts[1] : "")
        var stream: String?, asOf: String?
        for (k, argument) in values.enumerated() where 2 * k < codes.count {
            let value = StreamCursor.value(argument)
            switch codes[2 * k] {
            case "s": stream = value.text
            case "a": asOf = value.text
            default: break
            }
        }
        guard let stream, let asOf else { throw SQLError.invalidArgument("state(stream, as_of) needs two non-NULL arguments") }
        arguments = [.text(stream), .text(asOf)]
        rows = try context.stateRows(of: stream, asOf: asOf)
        position = 0
    }

    func next() throws { position += 1 }
    var atEnd: Bool { position >= rows.count }
    var rowID: Int64 { Int64(position) }

    func column(_ index: Int32, into sqlContext: OpaquePointer?) throws {
        guard position < rows.count else { sqlite3_result_null(sqlContext); return }
        switch index {
        case 0: resultValue(sqlContext, rows[position].0)
        case 1: resultValue(sqlContext, rows[position].1)
        case 2, 3: resultValue(sqlContext, arguments[Int(index) - 2])
        default: sqlite3_result_null(sqlContext)
        }
    }
}

extension SQLContext {
    /// The entries of a state as of `asOf`, converted to SQL values.
    func stateRows(of stream: String, asOf: String) throws -> [(SQLValue, SQLValue)] {
        guard let state = try store.stateDescriptor(of: stream) else {
            _ = try store.info(of: stream)  // the store's error for an unknown stream
            throw SQLError.invalidArgument(
                "state(): stream \(stream) is not written by a stateful vertex (runningReduce, track, updateStateByKey)")
        }
        let info = try store.info(of: stream)
        let instant = try TimeForms.instant(asOf, length: info.descriptor.intervalLength,
                                            newestSealed: info.frontier.sealedThrough, stream: stream)
        guard let interval = info.descriptor.intervalLength.interval(containing: Timestamp(rawValue: instant)) else {
            throw SQLError.invalidArgument("state(): \(asOf) is before the Unix epoch")
        }
        guard let keyType = RecordTypeReader.keyTypes.first(where: { $0.recordTypeName == state.keyType }),
              let valueType = RecordTypeReader.valueTypes.first(where: { $0.recordTypeName == state.valueType }) else {
            throw SQLError.invalidArgument(
                "state(): the state of \(stream) maps \(state.keyType) to \(state.valueType), which SQL cannot read")
        }
        return try entries(keyType, valueType, stream: stream, interval: interval)
    }

    private func entries<K: SQLScalar & Hashable>(_ key: K.Type, _ value: any SQLScalar.Type, stream: String,
                                                  interval: Interval) throws -> [(SQLValue, SQLValue)] {
        try typedEntries(key, value, stream: stream, interval: interval)
    }

    private func typedEntries<K: SQLScalar & Hashable, V: SQLScalar>(_: K.Type, _: V.Type, stream: String,
                                                                interval: Interval) throws -> [(SQLValue, SQLValue)] {
        let result = try store.state(of: stream, asOf: interval, key: nil as K?, as: K.self, V.self)
        return result.entries.map { ($0.key.sqlValue, $0.value.sqlValue) }
    }
}
