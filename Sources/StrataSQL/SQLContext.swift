import Strata
import StrataStorage

/// Where a connection's virtual-table callbacks leave the error they threw, rethrown typed once
/// SQLite returns.
///
/// Not `Sendable`: it belongs to its connection's thread.
class SQLCallbackState {
    /// The error a virtual table callback threw during the current statement.
    var pendingError: SQLError?
}

/// What the virtual tables of one connection share: the store, the record-type readers, the
/// statistics, and the error a callback threw (rethrown typed once SQLite returns).
///
/// Not `Sendable`: it belongs to its connection's thread.
final class SQLContext: SQLCallbackState {
    let store: Store
    var log: LogStore { store.logStore }
    /// Readers of registered record types, by catalog name (looked up, never iterated).
    var registered: [String: RecordTypeReader] = [:]
    /// Blocks read since the connection opened.
    var blocksRead = 0
    /// Called as scans move from interval to interval.
    var progress: ((SQLScanProgress) -> Void)?
    /// The connection's interruption, checked by scans that run long inside one SQLite callback.
    var interruption: SQLInterrupt?
    var interruptRequested: Bool { interruption?.requested ?? false }
    /// Stream layouts by stream name (inferred once per connection).
    private var layouts: [String: StreamLayout] = [:]

    init(store: Store) { self.store = store }

    func reader(for recordType: String) -> RecordTypeReader? {
        registered[recordType] ?? RecordTypeReader.standard[recordType]
    }

    func layout(of descriptor: StreamDescriptor, declared: [String]) throws -> StreamLayout {
        if declared.isEmpty, let layout = layouts[descriptor.name] { return layout }
        let layout = try StreamLayout.of(descriptor, declared: declared, context: self)
        if declared.isEmpty { layouts[descriptor.name] = layout }
        return layout
    }

    /// The names of user streams, in name order (internal streams left out).
    func userStreamNames() throws -> [String] {
        try log.descriptors().filter { !SQLConnection.isInternal($0) }.map(\.name)
    }

    func reportProgress(stream: String, intervalsRead: Int, intervals: Int) {
        progress?(SQLScanProgress(stream: stream, intervalsRead: intervalsRead, intervals: intervals, blocksRead: blocksRead))
    }
}

/// Where a scan stands, for progress on long queries.
///
/// `SQLScanProgress` is `Sendable`; it is a plain value.
public struct SQLScanProgress: Sendable, Equatable {
    /// The stream being read.
    public var stream: String
    /// Intervals with records read so far in this scan.
    public var intervalsRead: Int
    /// Intervals with records the scan reads.
    public var intervals: Int
    /// Blocks the connection has read so far.
    public var blocksRead: Int
}
