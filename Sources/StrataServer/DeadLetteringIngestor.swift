import Strata

/// Ingests JSON lines into one stream through a `JSONLinesIngestor`, sending every rejected line
/// to the stream's dead-letter stream, and commits both together.
///
/// The receiver's stream workers and the directory source each own one. Not `Sendable`: it is
/// confined to the thread that owns it (a worker's queue, a source's thread), and its methods
/// block (appender back-pressure, commits).
final class DeadLetteringIngestor {
    /// The stream's settings.
    let descriptor: StreamDescriptor
    /// Validates lines and appends them.
    let ingestor: JSONLinesIngestor
    /// Appends dead letters.
    let deadLetters: DeadLetterWriter
    /// Whether the stream takes arrival time (no time field): its elapsed intervals are sealed
    /// by the clock, not by event time.
    let usesArrivalTime: Bool
    /// The source row each commit keeps the stream's round-robin rotation in, and the rotation
    /// continues from at open (`StreamAppender.receiverRotationRow` for the HTTP receiver); `nil`
    /// when the caller keeps it itself (the directory source, in `NAME.pos`).
    let rotationRow: String?
    private let clock = ArrivalClock.system

    /// Opens the ingest of `stream` and its dead-letter stream (created when absent).
    ///
    /// - Parameters:
    ///   - holdsCommitsUntilFlush: Whether nothing is committed before `commit(together:)`, so
    ///     that a commit is atomic with state committed alongside it.
    ///   - rotationRow: The source row that keeps the round-robin rotation with every commit.
    /// - Throws: `ReceiverError.storage` when the store fails (`StorageError.corrupt` naming the
    ///   stream and the row when the kept rotation does not verify).
    init(stream: StoredStream<JSONRecord>, store: Store, maxRecordBytes: Int, allowedLateness: Duration,
         holdsCommitsUntilFlush: Bool, rotationRow: String? = nil) throws(ReceiverError) {
        descriptor = stream.descriptor
        self.rotationRow = rotationRow
        var limits = StreamAppender.Limits()
        limits.holdsCommitsUntilFlush = holdsCommitsUntilFlush
        var options = JSONIngestOptions()
        options.allowedLateness = allowedLateness
        options.sealAtEnd = false
        options.maxLineBytes = maxRecordBytes
        options.maxRejectionsKept = 0
        options.appenderLimits = limits
        do {
            ingestor = try JSONLinesIngestor(stream: stream, options: options)
        } catch {
            throw .storage(error, context: "stream \(stream.name): open an appender")
        }
        if let rotationRow {
            do {
                try ingestor.appender.continueRotation(keptAs: rotationRow)
            } catch {
                throw .storage(error, context: "stream \(stream.name): continue the round-robin rotation")
            }
        }
        deadLetters = try DeadLetterWriter(of: stream.descriptor, in: store, limits: limits)
        usesArrivalTime = stream.descriptor.timeField == nil
    }

    /// Ingests one line (without its newline), counting it in `counts`.
    ///
    /// - Parameters:
    ///   - number: The line's 1-based number in its request body or file.
    ///   - offset: For a file, the byte offset of the line's start.
    ///   - listing: How many rejections `counts` lists with reasons.
    /// - Throws: `ReceiverError.storage` when the store fails; a malformed line is never an error.
    @inline(__always)
    func ingest(line: UnsafeRawBufferPointer, number: Int, offset: UInt64?, origin: String, request: UInt64?,
                into counts: inout LineCounts, listing: Int) throws(ReceiverError) {
        counts.lines += 1
        let rejection: IngestRejection?
        do {
            rejection = try ingestor.ingest(line: line)
        } catch {
            // Without failFast the only error is the store's.
            if case .storage(let storage) = error { throw .storage(storage, context: "stream \(descriptor.name): append") }
            throw .invalidArgument(error.description)
        }
        if let rejection {
            counts.rejected += 1
            if counts.rejections.count < listing {
                counts.rejections.append(LineRejection(line: number, reason: rejection.reason,
                                                       file: Self.file(of: origin, offset: offset)))
            }
            try deadLetters.write(reason: rejection.reason, origin: origin, lineNumber: number, offset: offset,
                                  request: request, line: line)
        } else if let interval = ingestor.lastAcceptedInterval {
            counts.accepted += 1
            counts.note(interval)
        } else if Self.isBlank(line) {
            counts.blank += 1
        } else {
            counts.accepted += 1
            counts.late += 1
        }
    }

    /// The file name of a line that came from a watched file (it has an offset; its origin is
    /// `file DIR/NAME`), as the directory source's progress names it; else `nil`.
    static func file(of origin: String, offset: UInt64?) -> String? {
        guard offset != nil else { return nil }
        let path = origin.hasPrefix("file ") ? origin.dropFirst(5) : Substring(origin)
        return path.split(separator: "/").last.map(String.init) ?? String(path)
    }

    /// Dead-letters a line too long to hold whole, given its start.
    func rejectLongLine(start: UnsafeRawBufferPointer, length: Int, limit: Int, number: Int, offset: UInt64?,
                        origin: String, into counts: inout LineCounts, listing: Int) throws(ReceiverError) {
        let reason = "line of \(length) bytes exceeds the limit of \(limit)"
        counts.lines += 1
        counts.rejected += 1
        if counts.rejections.count < listing {
            counts.rejections.append(LineRejection(line: number, reason: reason, file: Self.file(of: origin, offset: offset)))
        }
        try deadLetters.write(reason: reason, origin: origin, lineNumber: number, offset: offset, request: nil,
                              line: start, length: length)
    }

    /// Whether a line is blank as the ingestor sees it: spaces and tabs, then an optional `\r`.
    @inline(__always)
    static func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        var body = line
        if body.last == 0x0D { body = UnsafeRawBufferPointer(rebasing: body.dropLast()) }
        return body.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    /// Seals, without waiting, the intervals the clock has left behind: of the stream when it
    /// takes arrival time, and of the dead-letter stream. Sealed intervals become readable at
    /// the next commit.
    ///
    /// - Returns: Whether anything was sealed (a commit is then due).
    @discardableResult
    func sealElapsed() throws(ReceiverError) -> Bool {
        let now = clock.now()
        guard let current = descriptor.intervalLength.interval(containing: now), current.rawValue > 0 else { return false }
        let previous = Interval(current.rawValue - 1)
        var sealed = false
        do {
            if usesArrivalTime, let first = ingestor.appender.openIntervals.first, first < current {
                try ingestor.appender.sealWithoutWaiting(through: previous)
                sealed = true
            }
            if let first = deadLetters.appender.openIntervals.first, first < current {
                try deadLetters.appender.sealWithoutWaiting(through: previous)
                sealed = true
            }
        } catch {
            throw .storage(error, context: "stream \(descriptor.name): seal elapsed intervals")
        }
        return sealed
    }

    /// Seals every interval holding records, of the stream and its dead letters, without
    /// waiting: at the end of a finite input, so that all of it becomes readable.
    func sealAll() throws(ReceiverError) {
        do {
            // Intervals an earlier writer committed records to and left open are sealed too.
            try ingestor.appender.sealAllWithoutWaiting()
            try deadLetters.appender.sealAllWithoutWaiting()
        } catch {
            throw .storage(error, context: "stream \(descriptor.name): seal")
        }
    }

    /// Whether the stream or its dead letters hold records of intervals that are not sealed.
    var hasUnsealedRecords: Bool {
        ingestor.appender.holdsUnsealedRecords || deadLetters.appender.holdsUnsealedRecords
    }

    /// Hands everything appended, dead letters included, to the committer as one transaction and
    /// returns without waiting for it to be durable (after the previous such commit is done).
    ///
    /// May block the calling thread.
    func startCommit() throws(ReceiverError) -> CommitAcknowledgement {
        do {
            return try ingestor.appender.commit(together: [deadLetters.appender], keepingRotationAs: rotationRow)
        } catch {
            throw .storage(error, context: "stream \(descriptor.name): commit")
        }
    }

    /// Commits everything appended, dead letters and `others` included, in one transaction, and
    /// returns once it is durable under the store's durability setting.
    ///
    /// Blocks the calling thread.
    func commit(together others: [StreamAppender] = []) throws(ReceiverError) {
        do {
            try ingestor.appender.flush(together: [deadLetters.appender] + others, keepingRotationAs: rotationRow)
        } catch {
            throw .storage(error, context: "stream \(descriptor.name): commit")
        }
    }
}
