import Foundation
import Glibc
import Logging
import Strata
import StrataStorage
import Synchronization

/// Watches a directory for files of JSON lines and ingests each line into a stream exactly once,
/// across restarts and crashes.
///
/// Each commit makes the lines read since the previous one durable together with the position
/// reached in their file, in **one** transaction: the position (file name, byte offset just past
/// the last line ingested, line count) is a typed record of the side stream `NAME.pos`, committed
/// with the stream's JSON blocks and its dead letters (`StreamAppender.commit(together:)` over
/// appenders of both record types that hold their blocks until then). A process killed at any moment restarts from the last
/// committed position: a line is in the stream if and only if it is before that position.
///
/// ```swift
/// let source = try DirectorySource(store: store, configuration: DirectorySourceConfiguration(
///     directory: "/data/in", stream: "views"))
/// try await source.run()        // until shutdown() or cancellation
/// ```
///
/// Files are read in name order, each from its recorded position to the end of what is written;
/// a line counts once its newline is written (with `stopsWhenDrained`, a last line without one
/// counts too). Files are known by name: a renamed file is a new file; a file shorter than its
/// recorded position is skipped and counted in `metrics.filesShrunk`. Malformed lines go to
/// `NAME.dead` with their file, line number and offset. One directory feeds one stream.
///
/// The source reads and commits on a thread of its own (commits block). `DirectorySource` is
/// `Sendable`: `shutdown()`, `metrics` and `totals` may be called from any thread.
public final class DirectorySource: Sendable {
    private struct Control {
        var started = false
        var stopRequested = false
    }

    /// The store written to.
    public let store: Store
    /// What is watched and where it goes.
    public let configuration: DirectorySourceConfiguration
    /// The watched directory's absolute path, symbolic links resolved: the positions record it.
    public let directory: String
    private let onCommit: (@Sendable (SourceCommit) -> Void)?
    private let monitor: DirectoryChangeMonitor
    private let control = Mutex(Control())
    private let summary = Mutex(LineCounts())
    let counters = MetricsCounters()
    /// Where the source logs its commits (debug), shrunk files (warning) and failures.
    let logger: Logger

    /// The most rejections `totals` lists with reasons.
    static let rejectionsKept = 1000

    /// Prepares a source; nothing is read or created before `run()`.
    ///
    /// - Parameters:
    ///   - onCommit: Called on the source's thread after each commit, with the position reached
    ///     and what became of the lines since the previous commit.
    ///   - logger: Where the source logs (swift-log); by default nowhere.
    /// - Throws: `ReceiverError.invalidArgument` for a bad setting; `.system` when the directory
    ///   cannot be resolved or is not a directory.
    public init(store: Store, configuration: DirectorySourceConfiguration,
                onCommit: (@Sendable (SourceCommit) -> Void)? = nil,
                logger: Logger = Logger(label: "strata.source", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(ReceiverError)
    {
        self.logger = logger
        try configuration.validate()
        guard let resolved = realpath(configuration.directory, nil) else {
            throw .system(call: "realpath", errno: errno, path: configuration.directory)
        }
        directory = String(cString: resolved)
        free(resolved)
        var info = stat()
        guard stat(directory, &info) == 0 else { throw .system(call: "stat", errno: errno, path: directory) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .system(call: "opendir", errno: ENOTDIR, path: directory) }
        self.store = store
        self.configuration = configuration
        self.onCommit = onCommit
        monitor = try DirectoryChangeMonitor(directory: directory)
    }

    /// Reads the directory until `shutdown()` is called or the task is cancelled (or, with
    /// `stopsWhenDrained`, until everything in it is read), then commits what it read.
    ///
    /// - Throws: `ReceiverError`: `.sourceMismatch` when the stream's positions belong to another
    ///   directory, `.streamConflict` when the stream has other settings, `.storage`, `.system`;
    ///   `.notRunnable` when called twice.
    public func run() async throws {
        try claimTheRun()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [self] in
                    continuation.resume(with: Result { () throws(ReceiverError) in try readOnThisThread() })
                }
                thread.name = "strata.watch"
                thread.start()
            }
        } onCancel: {
            shutdown()
        }
    }

    /// `run()` on the calling thread, for a caller with a thread of its own: it blocks until
    /// `shutdown()` is called (or, with `stopsWhenDrained`, until everything is read), then
    /// commits what it read. Never call it on Swift's cooperative pool.
    ///
    /// - Throws: as `run()`.
    public func runOnThisThread() throws(ReceiverError) {
        try claimTheRun()
        try readOnThisThread()
    }

    /// Marks the source as run; a source runs once.
    private func claimTheRun() throws(ReceiverError) {
        let first = control.withLock { control -> Bool in
            defer { control.started = true }
            return !control.started
        }
        guard first else { throw ReceiverError.notRunnable("the directory source of \(directory) runs only once") }
    }

    private func readOnThisThread() throws(ReceiverError) {
        let run = try DirectoryIngest(source: self)
        try run.run()
    }

    /// Asks the source to stop: it commits what it has read and `run()` returns.
    public func shutdown() {
        control.withLock { $0.stopRequested = true }
        monitor.wake()
    }

    /// What the source has done since it started.
    public var metrics: ReceiverMetrics { counters.snapshot }

    /// What became of every line committed since the source started (rejections listed up to 1000).
    public var totals: LineCounts { summary.withLock { $0 } }

    /// The positions committed for `stream`'s directory source, in file name order; empty when
    /// none were committed.
    ///
    /// - Throws: `ReceiverError.corruptPositions` or `.storage`.
    /// Stores written before `NAME.pos` existed have them as JSON text in `NAME.src`: they are read
    /// from there until the source's first commit.
    public static func positions(of stream: String, in store: Store) throws(ReceiverError) -> [SourcePosition] {
        try SourcePositionsRecord.newest(of: stream, in: store)?.1.files ?? []
    }

    // MARK: For the source's thread

    var isStopRequested: Bool { control.withLock { $0.stopRequested } }

    func waitForChanges() { monitor.wait(timeout: configuration.rescanInterval) }

    func committed(_ commit: SourceCommit) {
        counters.commits.add(1, ordering: .relaxed)
        counters.count(commit.counts)
        logger.debug("committed", metadata: [
            "directory": "\(directory)", "file": "\(commit.position?.file ?? "-")",
            "offset": "\(commit.position?.offset ?? 0)", "accepted": "\(commit.counts.accepted)",
            "rejected": "\(commit.counts.rejected)"])
        summary.withLock { $0.add(commit.counts, keepingRejections: Self.rejectionsKept) }
        onCommit?(commit)
    }
}

/// What a directory source committed: reported after each commit.
///
/// `SourceCommit` is `Sendable`; it is a plain value.
public struct SourceCommit: Sendable, Equatable {
    /// The position reached in the file the commit ends in; `nil` for a commit of seals only.
    public var position: SourcePosition?
    /// That file's size when it was read.
    public var fileSize: UInt64?
    /// What became of the lines read since the previous commit.
    public var counts: LineCounts
}

/// The work of one run of a directory source, on its thread: list, read, ingest, commit.
///
/// Not `Sendable`: it lives on the source's thread.
final class DirectoryIngest {
    /// A line too long for the read buffer, being skipped to its newline.
    private struct LongLine {
        var head: [UInt8]
        var length: Int
    }

    private let source: DirectorySource
    private let configuration: DirectorySourceConfiguration
    private let ingest: DeadLetteringIngestor
    private let positionsAppender: ExplicitAppender<SourcePositionsRecord>
    /// An older store's JSON-text positions stream (`NAME.src`) the positions were read from: it
    /// is dropped once a commit to `NAME.pos` has made it redundant.
    private var legacyPositions: String?
    private var positions: [String: SourcePosition] = [:]  // lookup only; written in name order
    /// The interval of `NAME.pos` the next positions record goes to.
    private var sequence: UInt64
    private var counts = LineCounts()
    private var uncommitted = false
    private var buffer: [UInt8]
    private var shrunk: Set<String> = []  // lookup only
    /// When new lines were last read, and whether the idle seal ran since.
    private var lastRead = ContinuousClock.now
    private var idleSealed = false
    /// Rejections listed with reasons in each `SourceCommit`.
    static let rejectionsListed = 10

    /// Opens the stream (created when absent), its dead-letter and positions streams, and loads
    /// the positions committed by earlier runs.
    init(source: DirectorySource) throws(ReceiverError) {
        self.source = source
        configuration = source.configuration
        let store = source.store
        let data = try configuration.settings.openStream(configuration.stream, in: store)
        ingest = try DeadLetteringIngestor(stream: data, store: store, maxRecordBytes: configuration.maxRecordBytes,
                                           allowedLateness: configuration.allowedLateness, holdsCommitsUntilFlush: true)
        var limits = StreamAppender.Limits()
        limits.holdsCommitsUntilFlush = true
        let name = SideStreams.sourcePositions(of: configuration.stream)
        do {
            let stream = try store.stream(name, of: SourcePositionsRecord.self, interval: .seconds(1), partitions: 1,
                                          retention: .intervals(1))
            positionsAppender = try stream.explicitAppender(limits: limits)
        } catch {
            throw .storage(error, context: "stream \(name): open the source positions")
        }
        sequence = (positionsAppender.newestSealedInterval?.rawValue).map { $0 + 1 } ?? 0
        let legacyName = SideStreams.legacySourcePositions(of: configuration.stream)
        var resumed: (record: SourcePositionsRecord, recordedIn: String)?
        if let (origin, record) = try SourcePositionsRecord.newest(of: configuration.stream, in: store) {
            let recordedIn: String
            switch origin {
            case .typed(let interval):
                recordedIn = name
                sequence = interval.rawValue + 1
            case .legacy:
                recordedIn = legacyName
            }
            guard record.directory == source.directory else {
                throw .sourceMismatch(stream: recordedIn, recordedDirectory: record.directory,
                                      configuredDirectory: source.directory)
            }
            for position in record.files { positions[position.file] = position }
            resumed = (record, recordedIn)
        }
        do {
            if try store.existingStream(named: legacyName, of: JSONRecord.self) != nil { legacyPositions = legacyName }
        } catch {
            throw .storage(error, context: "stream \(legacyName): look for the positions of an older store")
        }
        buffer = [UInt8](repeating: 0, count: max(1 << 20, configuration.maxRecordBytes + 2))
        if let resumed { try continueRotations(from: resumed.record, recordedIn: resumed.recordedIn) }
    }

    /// Continues the round-robin rotations of the stream and its dead letters where the committed
    /// records left them, so a resumed directory is partitioned exactly as an uninterrupted one.
    private func continueRotations(from record: SourcePositionsRecord, recordedIn name: String) throws(ReceiverError) {
        let rotations: [(UInt32, StreamAppender)] = [
            (record.nextRoundRobinPartition, ingest.ingestor.appender),
            (record.nextDeadLetterPartition, ingest.deadLetters.appender),
        ]
        for (next, appender) in rotations {
            guard next < appender.descriptor.partitions else {
                throw .corruptPositions(stream: name, reason: "the next round-robin partition of "
                    + "\(appender.descriptor.name) is \(next), not one of its \(appender.descriptor.partitions) partitions")
            }
            do {
                try appender.continueRoundRobin(at: next)
            } catch {
                throw .storage(error, context: "stream \(appender.descriptor.name): continue the round-robin rotation")
            }
        }
    }

    /// Reads until stopped (or drained), then commits what was read.
    func run() throws(ReceiverError) {
        while !source.isStopRequested {
            let names = try listFiles()
            let listed = Set(names)
            for name in positions.keys where !listed.contains(name) {
                positions[name] = nil  // gone from the directory: forget it
                uncommitted = true
            }
            for name in names where !source.isStopRequested { try read(name) }
            if source.isStopRequested { break }
            if configuration.stopsWhenDrained {
                try ingest.sealAll()
                try commit(nil, fileSize: nil)
                return
            }
            if let idle = configuration.idleSeal, !idleSealed, ContinuousClock.now - lastRead >= idle,
               ingest.hasUnsealedRecords {
                // Quiet for long enough: what is open becomes readable (as Flink's idleness).
                try ingest.sealAll()
                try commit(nil, fileSize: nil)
                idleSealed = true
            }
            if try ingest.sealElapsed() || uncommitted { try commit(nil, fileSize: nil) }
            source.waitForChanges()
        }
        try ingest.sealElapsed()
        try commit(nil, fileSize: nil)
    }

    /// The names of the files to read, in byte order.
    private func listFiles() throws(ReceiverError) -> [String] {
        let path = source.directory
        guard let handle = opendir(path) else { throw .system(call: "opendir", errno: errno, path: path) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw -> String? in
                String(validating: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            // Names that are not UTF-8 cannot be recorded as JSON text; they are not read.
            guard let name, !name.hasPrefix(".") else { continue }
            if let suffix = configuration.fileSuffix, !name.hasSuffix(suffix) { continue }
            let type = entry.pointee.d_type
            if type != UInt8(DT_REG) {
                guard type == UInt8(DT_UNKNOWN) || type == UInt8(DT_LNK) else { continue }
                var info = stat()
                guard stat(path + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            }
            names.append(name)
        }
        names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return names
    }

    /// Ingests what file `name` holds past its position, committing every `commitBytes`.
    private func read(_ name: String) throws(ReceiverError) {
        let path = source.directory + "/" + name
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return }  // removed since it was listed
            throw .system(call: "open", errno: errno, path: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(call: "fstat", errno: errno, path: path) }
        let size = UInt64(clamping: info.st_size)
        var position = positions[name] ?? SourcePosition(file: name, offset: 0, line: 0)
        if size < position.offset {
            if shrunk.insert(name).inserted {
                source.counters.filesShrunk.add(1, ordering: .relaxed)
                source.logger.warning("a file is shorter than its recorded position; skipped", metadata: [
                    "file": "\(path)", "size": "\(size)", "position": "\(position.offset)"])
            }
            return
        }
        guard size > position.offset else { return }
        shrunk.remove(name)
        lastRead = ContinuousClock.now
        idleSealed = false
        source.counters.filesRead.add(1, ordering: .relaxed)
        let origin = "file " + path
        let limit = configuration.maxRecordBytes
        let listing = Self.rejectionsListed
        var readAt = position.offset  // the next byte to read
        var carried = 0  // bytes at the buffer's start: the beginning of the line at `position.offset`
        var longLine: LongLine?
        var sinceCommit = 0
        while !source.isStopRequested {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(fd, base + carried, raw.count - carried, off_t(clamping: readAt))
            }
            if n < 0 {
                // Not retryingOnInterrupt: the loop's condition checks for a stop request first.
                if errno == EINTR { continue }
                throw .system(call: "pread", errno: errno, path: path)
            }
            if n == 0 {
                // The end of what is written. A drained source takes a last line without a newline.
                if configuration.stopsWhenDrained {
                    if let long = longLine {
                        try withBytes(of: long.head) { (head) throws(ReceiverError) in
                            try ingest.rejectLongLine(start: head, length: long.length, limit: limit,
                                                      number: Int(position.line + 1), offset: position.offset,
                                                      origin: origin, into: &counts, listing: listing)
                        }
                        position.offset += UInt64(long.length)
                        position.line += 1
                    } else if carried > 0 {
                        try withBytes(of: buffer) { (raw) throws(ReceiverError) in
                            try ingest.ingest(line: UnsafeRawBufferPointer(rebasing: raw[0..<carried]),
                                              number: Int(position.line + 1), offset: position.offset, origin: origin,
                                              request: nil, into: &counts, listing: listing)
                        }
                        position.offset += UInt64(carried)
                        position.line += 1
                    }
                }
                break
            }
            readAt += UInt64(n)
            source.counters.fileBytes.add(n, ordering: .relaxed)
            let filled = carried + n
            var start = 0
            try withBytes(of: buffer) { (raw) throws(ReceiverError) in
                guard let base = raw.baseAddress else { return }
                var from = carried  // the carried bytes hold no newline
                while from < filled, let newline = memchr(base + from, 0x0A, filled - from) {
                    let end = base.distance(to: UnsafeRawPointer(newline))
                    if let long = longLine {
                        let length = long.length + end
                        try withBytes(of: long.head) { (head) throws(ReceiverError) in
                            try ingest.rejectLongLine(start: head, length: length, limit: limit,
                                                      number: Int(position.line + 1), offset: position.offset,
                                                      origin: origin, into: &counts, listing: listing)
                        }
                        position.offset += UInt64(length + 1)
                        longLine = nil
                    } else {
                        try ingest.ingest(line: UnsafeRawBufferPointer(rebasing: raw[start..<end]),
                                          number: Int(position.line + 1), offset: position.offset, origin: origin,
                                          request: nil, into: &counts, listing: listing)
                        position.offset += UInt64(end - start + 1)
                    }
                    position.line += 1
                    sinceCommit += end + 1 - start
                    start = end + 1
                    from = start
                    if sinceCommit >= configuration.commitBytes {
                        try commit(position, fileSize: size)
                        sinceCommit = 0
                    }
                }
            }
            let rest = filled - start
            if longLine != nil {
                longLine?.length += rest
                carried = 0
            } else if rest == buffer.count {
                // A full buffer and no newline: the line is longer than any record may be.
                longLine = LongLine(head: Array(buffer.prefix(DeadLetterWriter.maxRawBytes)), length: rest)
                carried = 0
            } else {
                if rest > 0 && start > 0 {
                    buffer.withUnsafeMutableBytes { raw in
                        guard let base = raw.baseAddress else { return }
                        base.copyMemory(from: base + start, byteCount: rest)
                    }
                }
                carried = rest
            }
        }
        if position != positions[name] {
            uncommitted = true
            try commit(position, fileSize: size)
        }
    }

    /// Drops an older store's JSON-text positions stream once `NAME.pos` holds a committed record:
    /// from then on the positions are read from `NAME.pos` only. A process killed before the drop
    /// leaves both; the next run reads `NAME.pos` and drops the old stream again.
    private func dropLegacyPositions(_ name: String) throws(ReceiverError) {
        do {
            try source.store.drop(name)
        } catch .unknownStream(_) {
            // Dropped already (by another run, or by hand).
        } catch {
            throw .storage(error, context: "stream \(name): drop the positions of an older store, now in "
                           + positionsAppender.descriptor.name)
        }
        legacyPositions = nil
        source.logger.info("moved the source positions to a typed stream", metadata: [
            "from": "\(name)", "to": "\(positionsAppender.descriptor.name)"])
    }

    /// Commits the records, dead letters and seals appended since the previous commit together
    /// with every file's position, in one transaction, and reports it.
    private func commit(_ position: SourcePosition?, fileSize: UInt64?) throws(ReceiverError) {
        if let position { positions[position.file] = position }
        let record = SourcePositionsRecord(
            directory: source.directory,
            files: positions.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.compactMap { positions[$0] },
            nextRoundRobinPartition: ingest.ingestor.appender.nextRoundRobinPartition,
            nextDeadLetterPartition: ingest.deadLetters.appender.nextRoundRobinPartition)
        do {
            try positionsAppender.append(record, interval: Interval(sequence))
            try positionsAppender.sealWithoutWaiting(through: Interval(sequence))
        } catch {
            throw .storage(error, context: "stream \(positionsAppender.descriptor.name): append the source positions")
        }
        try ingest.sealElapsed()
        try ingest.commit(together: [positionsAppender])
        sequence += 1
        uncommitted = false
        if let legacy = legacyPositions { try dropLegacyPositions(legacy) }
        source.committed(SourceCommit(position: position, fileSize: fileSize, counts: counts))
        counts = LineCounts()
    }
}

/// Runs `body` with the bytes of `array`, keeping its typed error (`withUnsafeBytes` rethrows `any Error`).
@inline(__always)
func withBytes<R>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ReceiverError) -> R) throws(ReceiverError) -> R {
    let result = array.withUnsafeBytes { raw in Result { () throws(ReceiverError) in try body(raw) } }
    return try result.get()
}
