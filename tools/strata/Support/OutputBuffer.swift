import Glibc
import StrataStorage

/// Bytes bound for a file descriptor, written with `write(2)` in large pieces.
///
/// `cat` prints millions of records: one `print` per record would cost a lock and a small write
/// each. Records are appended here and written once a megabyte has gathered.
struct OutputBuffer {
    /// The bytes not written yet.
    var bytes: [UInt8]
    private let fd: Int32
    private let threshold: Int

    /// A buffer for standard output (fd 1), written whenever `threshold` bytes have gathered.
    init(fd: Int32 = 1, threshold: Int = 1 << 20) {
        self.fd = fd
        self.threshold = threshold
        bytes = []
        bytes.reserveCapacity(threshold + 64 << 10)
    }

    /// Appends UTF-8 text.
    mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Appends a decimal number.
    mutating func append(decimal value: UInt64) {
        appendDecimal(value, to: &bytes)
    }

    /// Writes the bytes once `threshold` have gathered.
    ///
    /// - Throws: `OutputError` when the write fails.
    @inline(__always)
    mutating func flushIfFull() throws(OutputError) {
        if bytes.count >= threshold { try flush() }
    }

    /// Writes every byte gathered so far.
    ///
    /// - Throws: `OutputError` when the write fails.
    mutating func flush() throws(OutputError) {
        var written = 0
        let count = bytes.count
        while written < count {
            let n = bytes.withUnsafeBytes { raw in
                // `raw` is not empty here (written < count), so its base address exists.
                retryingOnInterrupt { write(fd, raw.baseAddress.map { $0 + written }, count - written) }
            }
            if n < 0 { throw OutputError(errno: errno) }
            written += n
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

/// Writing to standard output failed.
struct OutputError: Error, CustomStringConvertible {
    /// The `errno` of the failed `write(2)`.
    var errno: Int32
    var description: String { "writing the output failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Appends the decimal digits of `value` without building a `String`.
@inline(__always)
func appendDecimal(_ value: UInt64, to bytes: inout [UInt8]) {
    if value < 10 {
        bytes.append(0x30 + UInt8(value))
        return
    }
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits plus slack, reversed
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { scratch in
        while rest > 0 {
            scratch[count] = 0x30 + UInt8(rest % 10)
            rest /= 10
            count += 1
        }
        for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(scratch[i]) }
    }
}

/// Appends the decimal digits of a signed `value`.
@inline(__always)
func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
    if value < 0 { bytes.append(0x2D) }
    appendDecimal(value.magnitude, to: &bytes)
}

/// Writes one line to standard error.
func printError(_ line: String) {
    writeError(line + "\n")
}

/// Writes text to standard error as it is.
func writeError(_ text: String) {
    var text = text
    text.withUTF8 { utf8 in
        var offset = 0
        while offset < utf8.count {
            let n = retryingOnInterrupt { write(2, utf8.baseAddress.map { $0 + offset }, utf8.count - offset) }
            if n <= 0 { return }
            offset += n
        }
    }
}

/// Whether standard error is a terminal (progress is shown only then, unless asked for).
var standardErrorIsTerminal: Bool { isatty(2) != 0 }
