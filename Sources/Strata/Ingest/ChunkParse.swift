import Dispatch
import Glibc
import Synchronization

/// The parse of one read chunk's complete lines, cut into pieces at newlines and shared between
/// the ingesting thread and helper jobs on Dispatch's global queue (never Swift's cooperative
/// pool, see `ParseHelpers`): each piece is parsed by whoever claims it first, and the ingesting
/// thread applies the pieces in input order, parsing a piece itself when no helper has claimed it
/// yet. The result is the same whichever thread parses what: a line's verdict depends on its
/// bytes only.
///
/// `@unchecked Sendable`: the chunk's bytes are read-only while the parse runs (the ingesting
/// thread waits in `finish()` until no helper is inside a piece before it reuses them), and piece
/// `i`'s result slot is written only by the one thread that claimed piece `i` (under `state`)
/// before it marks the piece done (under `state`), and read by the ingesting thread only after it
/// saw it done (under `state`): the mutex orders every write before the read.
final class ChunkParse: @unchecked Sendable {
    private enum PieceState: UInt8 { case unclaimed, parsing, done, cancelled }

    private let base: UnsafeRawPointer
    private let parser: JSONLineParser
    /// Piece `i` is the lines in `bounds[i]..<bounds[i + 1]` of the chunk (each ends with a newline).
    private let bounds: [Int]
    private let state: Mutex<(pieces: [PieceState], next: Int)>
    /// One result array per piece.
    private let results: UnsafeMutablePointer<[ParsedLineSpan]>
    /// Signalled once per piece a helper finishes.
    private let pieceDone = DispatchSemaphore(value: 0)

    /// Prepares the parse of `count` bytes at `base`, which hold complete lines, each with its newline.
    ///
    /// - Parameters:
    ///   - pieceBytes: About how many bytes a piece holds (cut at the next newline).
    ///   - spare: Result arrays of an earlier chunk, reused for their capacity.
    init(base: UnsafeRawPointer, count: Int, parser: JSONLineParser, pieceBytes: Int, spare: inout [[ParsedLineSpan]]) {
        self.base = base
        self.parser = parser
        var bounds = [0]
        var cut = 0
        while cut < count {
            var end = min(count, cut + pieceBytes)
            if end < count {
                // Extend to the end of the line holding byte `end - 1` (lines end with newlines).
                if let newline = memchr(base + end - 1, 0x0a, count - end + 1) {
                    end = base.distance(to: UnsafeRawPointer(newline)) + 1
                } else {
                    end = count
                }
            }
            bounds.append(end)
            cut = end
        }
        self.bounds = bounds
        let pieces = bounds.count - 1
        state = Mutex((pieces: [PieceState](repeating: .unclaimed, count: pieces), next: 0))
        results = .allocate(capacity: max(pieces, 1))
        for i in 0..<pieces {
            var slot = spare.popLast() ?? []
            slot.removeAll(keepingCapacity: true)
            (results + i).initialize(to: slot)
        }
    }

    deinit {
        results.deinitialize(count: pieceCount)
        results.deallocate()
    }

    /// The number of pieces.
    var pieceCount: Int { bounds.count - 1 }

    /// Parses piece `i`, which this helper claimed (`claimNext()`), and wakes the ingesting
    /// thread if it waits for it.
    func parseClaimed(_ i: Int, scratch: inout JSONLineParser.Scratch) {
        parse(i, scratch: &scratch)
        pieceDone.signal()
    }

    /// Piece `i`'s lines, parsed: by this thread when no helper claimed it, else once the helper
    /// is done. Call for `i` = 0, 1, … in order, from the ingesting thread only.
    func lines(ofPiece i: Int, scratch: inout JSONLineParser.Scratch) -> UnsafeMutablePointer<[ParsedLineSpan]> {
        let claimed = state.withLock { state -> Bool in
            guard state.pieces[i] == .unclaimed else { return false }
            state.pieces[i] = .parsing
            return true
        }
        if claimed {
            parse(i, scratch: &scratch)
        } else {
            while state.withLock({ $0.pieces[i] }) != .done { pieceDone.wait() }
        }
        return results + i
    }

    /// Cancels the pieces nobody claimed and waits until no helper is parsing: afterwards the
    /// chunk's bytes may change. Returns the result arrays for reuse.
    func finish() -> [[ParsedLineSpan]] {
        state.withLock { state in
            for i in state.pieces.indices where state.pieces[i] == .unclaimed { state.pieces[i] = .cancelled }
        }
        while state.withLock({ $0.pieces.contains(.parsing) }) { pieceDone.wait() }
        // Move the arrays out, so that a helper job that still holds this object (it has just
        // parsed a piece and not yet dropped it) does not keep a second reference to them:
        // appending to a reused array would then copy it.
        var arrays: [[ParsedLineSpan]] = []
        for i in 0..<pieceCount {
            var taken: [ParsedLineSpan] = []
            swap(&taken, &results[i])
            arrays.append(taken)
        }
        return arrays
    }

    /// Claims the first piece nobody claimed yet, for a helper; `nil` when none is left.
    func claimNext() -> Int? {
        state.withLock { state -> Int? in
            while state.next < state.pieces.count {
                let i = state.next
                state.next += 1
                if state.pieces[i] == .unclaimed {
                    state.pieces[i] = .parsing
                    return i
                }
            }
            return nil
        }
    }

    /// Parses piece `i` into its result slot and marks it done; only by the thread that claimed it.
    private func parse(_ i: Int, scratch: inout JSONLineParser.Scratch) {
        let slot = results + i
        var lineStart = bounds[i]
        let end = bounds[i + 1]
        while lineStart < end {
            guard let newline = memchr(base + lineStart, 0x0a, end - lineStart) else { break }
            let lineEnd = base.distance(to: UnsafeRawPointer(newline))
            let line = UnsafeRawBufferPointer(start: base + lineStart, count: lineEnd - lineStart)
            slot.pointee.append(ParsedLineSpan(start: lineStart, end: lineEnd,
                                               parsed: parser.parse(line, scratch: &scratch)))
            lineStart = lineEnd + 1
        }
        state.withLock { $0.pieces[i] = .done }
    }
}

/// The parse helper jobs of one ingest and the chunk parses they serve, oldest first: at most
/// `limit` jobs queued or running on Dispatch's global queue (never Swift's cooperative pool). A job
/// claims the first unclaimed piece of the oldest parse that has one, so that while the ingesting
/// thread appends one chunk's lines a helper goes on into the next chunk read ahead
/// (`JSONLinesIngestor.ingest(fileDescriptor:stop:progress:)`), and ends when no parse has a piece
/// left. A job decides to end, and the ingesting thread publishes a parse, under the same lock, so
/// a published parse never waits for a job that is about to end. When the global queue is busy (a
/// program's tasks), a job may start only after its chunks are done; it then finds nothing to claim
/// and ends. Bounding the jobs keeps them from piling up behind other work meanwhile.
final class ParseHelpers: Sendable {
    /// The parses that may have unclaimed pieces, oldest first, and the jobs queued or running.
    private let state = Mutex<(parses: [ChunkParse], jobs: Int)>(([], 0))
    /// The most helper jobs at a time.
    let limit: Int

    /// Helpers for an ingest that parses on `limit` threads besides its own.
    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Makes `parse`'s pieces claimable by helpers and starts jobs up to the limit (at most one
    /// fewer than its pieces: the ingesting thread parses too).
    func publish(_ parse: ChunkParse) {
        let start = state.withLock { state -> Int in
            state.parses.append(parse)
            let wanted = min(limit, parse.pieceCount - 1)
            let more = max(0, wanted - state.jobs)
            state.jobs += more
            return more
        }
        for _ in 0..<start {
            DispatchQueue.global().async { [self] in runJob() }
        }
    }

    /// Withdraws `parse` (no helper claims a piece of it afterwards), cancels its unclaimed
    /// pieces and waits until no helper parses one: afterwards its bytes may change. Returns its
    /// result arrays for reuse.
    func finish(_ parse: ChunkParse) -> [[ParsedLineSpan]] {
        state.withLock { state in state.parses.removeAll { $0 === parse } }
        return parse.finish()
    }

    private func runJob() {
        var scratch = JSONLineParser.Scratch()
        while true {
            let claim = state.withLock { state -> (ChunkParse, Int)? in
                for parse in state.parses {
                    if let piece = parse.claimNext() { return (parse, piece) }
                }
                state.jobs -= 1
                return nil
            }
            guard let (parse, piece) = claim else { return }
            parse.parseClaimed(piece, scratch: &scratch)
        }
    }
}
