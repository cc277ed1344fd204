import ArgumentParser
import Glibc
import Strata

/// `strata-bench lz4`: the reference figure — the system `lz4` tool's block benchmark on the
/// same raw bytes the store compresses.
///
/// The bench may not link liblz4 (only StrataStorage imports CLZ4), so this dumps a stream's raw
/// payload (every record framed as a varint length + its encoding, in (interval, partition,
/// chunk) order: byte for byte the payloads the store compressed) and runs
/// `lz4 -<level> -b -B<block bytes>` on it, and on a JSON-lines file when given.
struct LZ4Reference: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lz4",
        abstract: "Dump a stream's raw framed records and benchmark them with the system lz4 tool.")

    @Option(help: "The store directory.")
    var store: String

    @Option(help: "Stream name.")
    var stream: String = "pageViews"

    @Flag(help: "Read the stream as JSON records (the default for a stream made by `strata ingest`).")
    var json = false

    @Option(help: "Where to write the raw framed records.")
    var dump: String = "/tmp/strata-bench-raw.bin"

    @Option(name: .customLong("json-lines"), help: "Also benchmark this JSON-lines file (e.g. the output of generate).")
    var jsonLines: String?

    @Option(name: .customLong("block-bytes"), help: "lz4 -B: block size; the store's blocks are 256 KiB of raw payload.")
    var blockBytes: Int = 256 << 10

    @Option(help: "lz4 compression level (the store uses LZ4_compress_default, i.e. level 1).")
    var level: Int = 1

    func run() throws {
        let strataStore = try Store.open(at: store, durability: .noSync)
        let info = try strataStore.info(of: stream)
        // A stream made by `strata ingest` holds JSON records, whether or not --json was given.
        let json = json || info.descriptor.recordType == JSONRecord.recordTypeName
        guard let first = info.frontier.firstReadable, let last = info.frontier.sealedThrough else {
            throw ValidationError("stream \(stream) has no readable sealed interval")
        }
        let stats = try strataStore.stats(of: stream).first

        // Dump the framed payload.
        let fd = open(dump, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SystemError(call: "open \(dump)", code: errno) }
        var out = [UInt8]()
        out.reserveCapacity(8 << 20)
        var record = BinaryWriter(capacity: 256)
        var count = 0
        var written = 0
        func frame(_ bytes: UnsafeRawBufferPointer) throws {
            var v = UInt64(bytes.count)
            while v >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
            out.append(contentsOf: bytes)
            count += 1
            if out.count >= 8 << 20 { try flush() }
        }
        func flush() throws {
            try out.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw SystemError(call: "write \(dump)", code: errno)
                    }
                    offset += n
                }
            }
            written += out.count
            out.removeAll(keepingCapacity: true)
        }
        if json {
            try strataStore.stream(named: stream, of: JSONRecord.self).forEach(in: first...last) { _, _, r in
                try r.bytes.withUnsafeBytes { try frame($0) }
            }
        } else {
            try strataStore.stream(named: stream, of: PageView.self).forEach(in: first...last) { _, _, view in
                record.removeAll()
                view.encode(to: &record)
                try record.bytes.withUnsafeBytes { try frame($0) }
            }
        }
        try flush()
        close(fd)
        print("dumped \(count) records, \(written) bytes of raw framed payload to \(dump)"
              + (stats.map { " (store stats: raw \($0.rawBytes) bytes, stored \($0.storedBytes), ratio \(fixed($0.compressionRatio))))" } ?? ""))
        if let stats, UInt64(written) != stats.rawBytes {
            print("warning: dumped bytes differ from the store's raw byte count")
        }

        if let jsonLines {
            let lines = try Self.countLines(jsonLines)
            try benchmark(file: jsonLines, workload: "lz4-json-lines", events: lines)
        }
        try benchmark(file: dump, workload: json ? "lz4-raw-json" : "lz4-raw-binary", events: count)
    }

    /// Runs `lz4 -b` on `file` and prints its figures as a RESULT line.
    private func benchmark(file: String, workload: String, events: Int) throws {
        let command = "lz4 -\(level) -b -B\(blockBytes) '\(file)' 2>&1"
        print("$ \(command)")
        guard let pipe = popen(command, "r") else { throw SystemError(call: "popen lz4", code: errno) }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 4096, pipe) }
            if n <= 0 { break }
            output += chunk[0..<n]
        }
        let status = pclose(pipe)
        // lz4 redraws its progress line with \r; the final figures are after the last one.
        let text = String(decoding: output, as: UTF8.self)
        let finalLine = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" })
            .last(where: { $0.contains("->") && $0.filter({ $0 == "," }).count >= 2 }).map(String.init) ?? ""
        guard status == 0, let figures = Self.parse(finalLine) else {
            throw ValidationError("lz4 failed (status \(status)): \(text.suffix(300))")
        }
        print(finalLine.trimmingSpaces)
        let seconds = Double(figures.input) / (figures.compressMBs * 1_000_000)  // lz4 -b reports MB = 10^6 B
        printResult(workload: workload, events: events, seconds: seconds, extra: [
            "bytes": String(figures.input),
            "bytes_per_event": fixed(Double(figures.input) / Double(max(events, 1)), 2),
            "lz4_bytes_per_event": fixed(Double(figures.output) / Double(max(events, 1)), 2),
            "ratio": fixed(Double(figures.input) / Double(figures.output), 3),
            "compress_mb_s": fixed(figures.compressMBs, 1),
            "decompress_mb_s": fixed(figures.decompressMBs, 1),
            "decompress_events_per_s": String(Int(Double(events) / (Double(figures.input) / (figures.decompressMBs * 1_000_000)))),
            "block_bytes": String(blockBytes),
        ])
    }

    /// `1#file : 123 -> 45 (2.733), 600.0 MB/s ,2500.0 MB/s`.
    static func parse(_ line: String) -> (input: Int, output: Int, compressMBs: Double, decompressMBs: Double)? {
        guard let colon = line.lastIndex(of: ":") else { return nil }
        let tokens = line[line.index(after: colon)...]
            .split(whereSeparator: { " ,()".contains($0) })
            .filter { $0 != "->" && $0 != "MB/s" }
        guard tokens.count >= 5, let input = Int(tokens[0]), let output = Int(tokens[1]),
              let c = Double(tokens[3]), let d = Double(tokens[4]) else { return nil }
        return (input, output, c, d)
    }

    static func countLines(_ path: String) throws -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SystemError(call: "open \(path)", code: errno) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var lines = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(call: "read \(path)", code: errno)
            }
            if n == 0 { break }
            for i in 0..<n where buffer[i] == 10 { lines += 1 }
        }
        return lines
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
