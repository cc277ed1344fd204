import ArgumentParser
import Strata

/// A record type whose records `--key K` selects on `cat`, `slice` and `tail`: `KeyValue` pairs
/// whose key the command line can parse (text for `String` keys, a decimal for integer keys).
/// JSON streams select by their key field instead (`JSONKeyFilter`).
protocol KeySelectable: JSONPrintable {
    /// Prints the records of `range` whose key is `text` (`StoredStream.forEach(in:key:_:)`).
    ///
    /// - Throws: a usage error when `text` is not a key of this type; the errors of reading.
    static func printRecords(of stream: String, in store: Store, range: ClosedRange<Interval>, key text: String,
                             command: any ParsableCommand.Type, printer: inout RecordLinePrinter) throws

    /// A test for records whose key is `text` (for `tail`, which filters intervals as they come).
    ///
    /// - Throws: a usage error when `text` is not a key of this type.
    static func keyTest(_ text: String, command: any ParsableCommand.Type) throws -> @Sendable (Any) -> Bool
}

extension KeyValue: KeySelectable where Key: StateKey & Sendable, Value: JSONPrintable {
    static func printRecords(of stream: String, in store: Store, range: ClosedRange<Interval>, key text: String,
                             command: any ParsableCommand.Type, printer: inout RecordLinePrinter) throws {
        let key = try parsedKey(text, command: command)
        try store.stream(named: stream, of: Self.self).forEach(in: range, key: key) { try printer.print($0, $1, $2) }
    }

    static func keyTest(_ text: String, command: any ParsableCommand.Type) throws -> @Sendable (Any) -> Bool {
        let key = try parsedKey(text, command: command)
        return { ($0 as? Self)?.key == key }
    }

    private static func parsedKey(_ text: String, command: any ParsableCommand.Type) throws -> Key {
        guard let key = Key(stateKey: text) else {
            throw CommandUsageError(command, "--key \(text) is not \(StreamDescriptor.readableTypeNameWithArticle(Key.recordTypeName)), the key type of the stream")
        }
        return key
    }
}
