import Glibc

extension JSONLinesIngestor {
    /// Reads `fd` as text to its end or until `stop` returns true, ingesting every line as the
    /// JSON record `{"line":"TEXT"}` (`strata ingest --format lines`); calls `progress` about every
    /// 2^20 lines.
    ///
    /// A trailing carriage return is dropped; an empty line becomes `{"line":""}`; the text is
    /// escaped as a JSON string (control characters, `"` and `\`); other bytes are kept as they
    /// are. A line that is not UTF-8 is rejected, naming the offset of its first bad byte in the
    /// line (`byte 5 of the line: invalid UTF-8`, counted from 0). A line whose record would be
    /// longer than `maxLineBytes` is rejected naming its own length and that limit (`line of
    /// 3145728 bytes is too long: its record {"line":…} would exceed the limit of 1048576 bytes`);
    /// it is cut at the limit while it is read, so it is never held whole. `stop` is asked as in
    /// `ingest(fileDescriptor:stop:progress:)`; when it says so, the unfinished last line is left
    /// for the next run and `summary.interrupted` is set.
    ///
    /// ```swift
    /// let ingestor = try JSONLinesIngestor(stream: try store.jsonStream("log", interval: .seconds(1), partitions: 1))
    /// try ingestor.ingestTextLines(fileDescriptor: 0)
    /// let summary = try ingestor.finish()
    /// ```
    ///
    /// - Throws: `IngestError`, as `ingest(fileDescriptor:progress:)`.
    public func ingestTextLines(fileDescriptor fd: Int32, stop: () -> Bool = { false },
                                progress: (IngestSummary) -> Void = { _ in }) throws(IngestError) {
        let maxLineBytes = max(0, lineLimit)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var pending: [UInt8] = []  // the start of a line that continues in the next read
        var pendingBytes = 0  // the input bytes of that start (it is cut at maxLineBytes + 1)
        var record: [UInt8] = []
        var nextProgress = 1 << 20

        /// Ingests one line of `lineBytes` bytes (without its newline), `text` or (when it was cut
        /// while read) its start, standing for `inputBytes` bytes of the input.
        func ingest(_ text: UnsafeRawBufferPointer, lineBytes: Int, inputBytes: Int) throws(IngestError) {
            func tooLong() throws(IngestError) {
                try rejectLine("line of \(lineBytes) bytes is too long: its record {\"line\":…} would exceed the limit of "
                               + "\(maxLineBytes) bytes", lineBytes: lineBytes, inputBytes: inputBytes)
            }
            guard lineBytes <= maxLineBytes else { return try tooLong() }
            var text = text
            if text.last == 0x0D { text = UnsafeRawBufferPointer(rebasing: text.dropLast()) }
            if let offset = firstInvalidUTF8Offset(text) {
                return try rejectLine("byte \(offset) of the line: invalid UTF-8 (a line must be UTF-8 text)",
                                      lineBytes: lineBytes, inputBytes: inputBytes)
            }
            record.removeAll(keepingCapacity: true)
            record.append(contentsOf: #"{"line":"#.utf8)
            appendJSONStringLiteral(text, to: &record)
            record.append(0x7D)
            // Escapes make the record longer than the line.
            guard record.count <= maxLineBytes else { return try tooLong() }
            try Self.typed { try record.withUnsafeBytes { _ = try self.ingest(line: $0, inputBytes: inputBytes) } }
        }

        func keep(_ piece: UnsafeRawBufferPointer) {
            pendingBytes += piece.count
            let room = max(0, maxLineBytes + 1 - pending.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece.prefix(room)))
        }

        while true {
            guard !stop(), try waitForInput(fileDescriptor: fd, stop: stop) else {
                // Interrupted: the unfinished line is read again by the next run.
                markInterrupted()
                return
            }
            let n = buffer.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress, raw.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .readFailed(errno: errno)
            }
            if n == 0 { break }
            try Self.typed { try buffer.withUnsafeBytes { raw in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                var start = 0
                while start < n {
                    guard let end = chunk[start...].firstIndex(of: 0x0A) else {
                        keep(UnsafeRawBufferPointer(rebasing: chunk[start...]))
                        break
                    }
                    let line = UnsafeRawBufferPointer(rebasing: chunk[start..<end])
                    if pending.isEmpty {
                        try ingest(line, lineBytes: line.count, inputBytes: line.count + 1)
                    } else {
                        keep(line)
                        let bytes = pendingBytes
                        try pending.withUnsafeBytes { raw in try ingest(raw, lineBytes: bytes, inputBytes: bytes + 1) }
                        pending.removeAll(keepingCapacity: true)
                        pendingBytes = 0
                    }
                    start = end + 1
                }
            } }
            if summary.lines >= nextProgress {
                progress(summary)
                nextProgress = summary.lines + (1 << 20)
            }
        }
        if !pending.isEmpty {
            let bytes = pendingBytes
            try Self.typed { try pending.withUnsafeBytes { raw in try ingest(raw, lineBytes: bytes, inputBytes: bytes) } }
        }
    }
}

/// The offset of the first byte of `bytes` that does not belong to a well-formed UTF-8 sequence
/// (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF), or `nil`.
func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
    // Most lines are ASCII: find the first byte that is not before decoding anything.
    guard let firstNonASCII = bytes.firstIndex(where: { $0 >= 0x80 }) else { return nil }
    var iterator = UnsafeRawBufferPointer(rebasing: bytes[firstNonASCII...]).makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    var offset = firstNonASCII
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let scalar): offset += scalar.count
        case .emptyInput: return nil
        case .error: return offset
        }
    }
}
