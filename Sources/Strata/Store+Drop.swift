import StrataStorage

/// What ``Store/drop(_:force:)`` removed.
///
/// `DropReport` is `Sendable`; it is a plain value.
public struct DropReport: Sendable, Equatable {
    /// The stream dropped (its late side stream went with it).
    public var stream: String
    /// Blocks deleted, both streams together.
    public var blocks: Int
    /// Programs that read or wrote the stream, dropped anyway with `force`.
    public var programs: [String]
}

extension Store {
    /// The version of this library and of the `strata` tool built with it.
    public static let libraryVersion = "0.1.0"

    /// The on-disk format version this build reads and writes (`docs/format.md`).
    public static var formatVersion: UInt32 { LogStore.formatVersion }

    /// Deletes a stream, its late side stream and every interval they hold, in one commit.
    ///
    /// Refuses a stream that a program reads (an input of one of its vertices) or writes (a
    /// vertex's internal stream `PROGRAM.vN…`, or the state of a stateful vertex) unless `force`:
    /// the program would fail, or recompute from nothing, at its next run. A program's named output
    /// of a stateless vertex that no vertex reads is not recorded as the program's, so it is not
    /// refused. Late side streams (`S.late`) go with their stream and are not dropped alone.
    ///
    /// Refuses while a writer holds the stream's writer lock (`STORE/writers/stream-ID.lock`: an
    /// appender, `strata ingest`, `strata serve` ingesting into it, in this process or another),
    /// and holds that lock itself for the moment of the drop, so no writer can start in between.
    /// Readers are not refused: a read already in progress finishes on the version of the store
    /// it began with (an LMDB read transaction), and the next read of the dropped stream throws
    /// `.unknownStream` (a `tail -f` following it ends with that error).
    ///
    /// The space is reused by the store; `Store.compact(at:)` returns it to the file system.
    ///
    /// ```swift
    /// try store.drop("views.replayed")
    /// ```
    ///
    /// - Throws: `.unknownStream`; `.misuse` for a late side stream or a stream a program uses
    ///   (naming the programs) without `force`; `.streamBusy` naming the process that writes the
    ///   stream; `.lmdb`/`.storeFull` when the commit fails.
    @discardableResult
    public func drop(_ name: String, force: Bool = false) throws(StorageError) -> DropReport {
        guard let descriptor = try log.descriptor(named: name) else { throw .unknownStream(name) }
        if let main = descriptor.lateRecordsOf {
            throw .misuse("stream \(name) holds the late records of \(main) and goes with it: drop \(main)")
        }
        let programs = try programs(using: name)
        if !programs.isEmpty && !force {
            throw .misuse("stream \(name) is used by program \(programs.joined(separator: ", ")); "
                          + "dropping it breaks the program's next run (give --force / force: true to drop it anyway)")
        }
        let lock = try log.writerLock(of: descriptor)
        let blocks = try withExtendedLifetime(lock) { () throws(StorageError) -> Int in
            // Dropped or renamed by another process before the lock was ours: report it by name.
            guard try log.descriptor(named: name)?.id == descriptor.id else { throw .unknownStream(name) }
            return try log.dropStream(named: name)
        }
        return DropReport(stream: name, blocks: blocks, programs: programs)
    }

    /// Opens the store at `path` and deletes a stream like ``drop(_:force:)``: refused while a
    /// writer in any process holds the stream's writer lock; other processes may have the store
    /// open and read it.
    ///
    /// - Throws: the errors of ``Store/open(at:durability:)`` and ``drop(_:force:)``.
    @discardableResult
    public static func drop(_ name: String, inStoreAt path: String, force: Bool = false) throws(StorageError)
        -> DropReport
    {
        try Store.open(at: path).drop(name, force: force)
    }

    /// Renames a stream and its late side stream (`S.late` → `NEW.late`), in one commit; no data moves.
    ///
    /// Refuses a stream a program reads or writes (see ``drop(_:force:)``): the program keeps
    /// its streams by name. Refuses while a writer holds the stream's writer lock, and holds it
    /// for the moment of the rename. Readers that hold the stream (a `StoredStream`, a `tail -f`)
    /// keep reading it: blocks are keyed by the stream's ID, which does not change.
    ///
    /// ```swift
    /// try store.rename("views.v2", to: "views.replayed")
    /// ```
    ///
    /// - Throws: `.unknownStream`, `.invalidStreamName`, `.streamExists`, `.misuse` for a late
    ///   side stream or a stream a program uses; `.streamBusy` naming the process that writes the
    ///   stream; `.lmdb`/`.storeFull` when the commit fails.
    public func rename(_ name: String, to newName: String) throws(StorageError) {
        guard let descriptor = try log.descriptor(named: name) else { throw .unknownStream(name) }
        if let main = descriptor.lateRecordsOf {
            throw .misuse("stream \(name) holds the late records of \(main) and is renamed with it: rename \(main)")
        }
        let programs = try programs(using: name)
        if !programs.isEmpty {
            throw .misuse("stream \(name) is used by program \(programs.joined(separator: ", ")), which finds it by name: "
                          + "it cannot be renamed")
        }
        let lock = try log.writerLock(of: descriptor)
        try withExtendedLifetime(lock) { () throws(StorageError) in
            guard try log.descriptor(named: name)?.id == descriptor.id else { throw .unknownStream(name) }
            try log.renameStream(name, to: newName)
        }
    }

    /// Opens the store at `path` and renames a stream like ``rename(_:to:)``.
    ///
    /// - Throws: the errors of ``Store/open(at:durability:)`` and ``rename(_:to:)``.
    public static func rename(_ name: String, to newName: String, inStoreAt path: String) throws(StorageError) {
        try Store.open(at: path).rename(name, to: newName)
    }

    /// The programs whose vertices read `stream` or write it, by name order.
    func programs(using stream: String) throws(StorageError) -> [String] {
        var names: Set<String> = []
        for (vertex, _) in try log.progressMarks(prefix: "") {
            guard let (program, _) = Self.splitVertexName(vertex) else { continue }
            if stream.hasPrefix(vertex + ".") || stream == vertex { names.insert(program) }
            if let inputs = try log.vertexStats(named: vertex)?.inputs, inputs.contains(stream) { names.insert(program) }
        }
        if let state = try log.stateDescriptor(of: stream), let (program, _) = Self.splitVertexName(state.vertex) {
            names.insert(program)
        }
        return names.sorted()
    }
}
