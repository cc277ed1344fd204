import ArgumentParser
import Strata

/// `strata state NAME --as-of T [--key K] [--json]`: the state of a stateful vertex as of a past
/// interval, from its nearest snapshot plus the changes after it.
struct State: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the state of a stateful vertex as of a sealed, retained interval: whole, or one key.",
        discussion: """
            NAME is a stream written by a stateful vertex: the output of runningReduce, or the updates of \
            track / updateStateByKey, under its save(as:) name or its internal name (PROGRAM.vN.out). \
            The state is rebuilt from the vertex's newest snapshot at or before T plus the changes after it; \
            with --key only the key's partition is read. Entries print sorted by the key's encoded bytes, \
            as a KEY VALUE table (JSON text of each), or with --json one {"key":K,"value":V} per line. \
            A key without state prints no entry. Errors (exit 1): unknown store or stream, NAME not \
            written by a stateful vertex, T not sealed yet, before the stream began, or outside retention.
            """)

    @OptionGroup var options: StoreArguments

    @Argument(help: "The stateful output's stream name.", completion: .custom(completeStreamNames))
    var name: String

    @Option(name: .customLong("as-of"), parsing: .unconditional, help: ArgumentHelp(
        "The interval: an index, or a time it contains (21:00:05, -1m, end …; docs/cli.md, \"Times\").",
        valueName: "T"))
    var asOf: TimeArgument

    @OptionGroup var reading: TimeReadingOptions

    @Option(help: ArgumentHelp("Only this key (text for String keys, a decimal number for integer keys).",
                               valueName: "K"))
    var key: String?

    @Flag(help: #"Print one {"key":K,"value":V} per line."#)
    var json = false

    func validate() throws {
        try asOf.validate("--as-of")
    }

    func run() throws {
        let store = try options.openStoreForReading()
        guard let descriptor = try store.stateDescriptor(of: name) else {
            // The store's own error for an unknown stream, or "not stateful".
            _ = try store.info(of: name)
            throw NotStateful(stream: name)
        }
        guard let keyType = StateKeyTypes.type(named: descriptor.keyType),
              let valueType = PrintableRecordTypes.valueTypes.first(where: { $0.recordTypeName == descriptor.valueType })
        else {
            throw UnprintableState(stream: name, keyType: descriptor.keyType, valueType: descriptor.valueType)
        }
        try show(keyType, valueType, store)
    }

    private func show<Key: StateKey>(_ keyType: Key.Type, _ valueType: any JSONPrintable.Type, _ store: Store) throws {
        var parsed: Key?
        if let key {
            guard let value = Key(stateKey: key) else {
                throw CommandUsageError(State.self, "--key \(key) is not \(StreamDescriptor.readableTypeNameWithArticle(Key.recordTypeName)), the key type of \(name)'s state")
            }
            parsed = value
        }
        try show(keyType, valueType, parsed, store)
    }

    private func show<Key: StateKey, Value: JSONPrintable>(_: Key.Type, _: Value.Type, _ key: Key?, _ store: Store)
        throws
    {
        let interval = try reading.interval(asOf, in: try store.info(of: name))
        let result = try store.state(of: name, asOf: interval, key: key, as: Key.self, Value.self)
        var out = OutputBuffer()
        if json {
            for entry in result.entries {
                entry.appendJSON(to: &out.bytes)
                out.bytes.append(0x0A)
                try out.flushIfFull()
            }
        } else {
            var table = Table(header: ["KEY", "VALUE"])
            for entry in result.entries {
                var k: [UInt8] = [], v: [UInt8] = []
                entry.key.appendJSON(to: &k)
                entry.value.appendJSON(to: &v)
                table.append([String(decoding: k, as: UTF8.self), String(decoding: v, as: UTF8.self)])
            }
            out.append(table.text + "\n")
        }
        try out.flush()
    }
}

/// A key type `strata state --key` can parse.
protocol StateKey: JSONPrintable, Hashable {
    /// The key written on the command line, or `nil` when it is not one.
    init?(stateKey: String)
}

extension String: StateKey { init?(stateKey: String) { self = stateKey } }
extension Int: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension Int64: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension Int32: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension UInt: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension UInt64: StateKey { init?(stateKey: String) { self.init(stateKey) } }
extension UInt32: StateKey { init?(stateKey: String) { self.init(stateKey) } }

/// The key types `strata state` knows (`PrintableRecordTypes.keyTypes`).
enum StateKeyTypes {
    static let all: [any StateKey.Type] = [String.self, Int.self, Int64.self, Int32.self, UInt.self, UInt64.self,
                                           UInt32.self]

    /// The key type whose catalog name is `name`, if there is one.
    static func type(named name: String) -> (any StateKey.Type)? { all.first { $0.recordTypeName == name } }
}

/// The stream exists but no stateful vertex writes it.
struct NotStateful: Error, CustomStringConvertible {
    var stream: String
    var description: String {
        "stream \(stream) is not written by a stateful vertex (the output of runningReduce, or the updates of "
            + "track / updateStateByKey): it has no state to show"
    }
}

/// The state's key or value type is not one the CLI can print.
struct UnprintableState: Error, CustomStringConvertible {
    var stream: String
    var keyType: String
    var valueType: String
    var description: String {
        "the state of \(stream) maps \(keyType) to \(valueType), which strata state cannot print; "
            + "it prints \(PrintableRecordTypes.summary)"
    }
}
