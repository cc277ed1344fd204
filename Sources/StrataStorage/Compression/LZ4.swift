import CLZ4

/// LZ4 block compression (liblz4's block API, not its frame format).
package enum LZ4 {
    /// The largest input LZ4 accepts (`LZ4_MAX_INPUT_SIZE`).
    package static let maxInputSize = 0x7E00_0000

    /// The worst-case compressed size of `count` bytes; the corresponding C call is `LZ4_compressBound`.
    package static func compressBound(_ count: Int) -> Int { Int(LZ4_compressBound(Int32(count))) }

    /// Compresses `source` into `destination`; returns the compressed length, or 0 when it does not fit.
    ///
    /// The corresponding C call is `LZ4_compress_default`.
    package static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int {
        guard source.count > 0, source.count <= maxInputSize,
              let src = source.baseAddress, let dst = destination.baseAddress else { return 0 }
        return Int(LZ4_compress_default(src.assumingMemoryBound(to: CChar.self),
                                        dst.assumingMemoryBound(to: CChar.self),
                                        Int32(source.count), Int32(clamping: destination.count)))
    }

    /// Decompresses `source` into `destination`, which must be exactly the original length.
    ///
    /// Returns `false` unless the output is exactly `destination.count` bytes. The corresponding C
    /// call is `LZ4_decompress_safe`, which is written for malicious input and never reads or
    /// writes out of bounds.
    package static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        if destination.count == 0 { return false }
        guard source.count > 0, source.count <= maxInputSize, destination.count <= maxInputSize,
              let src = source.baseAddress, let dst = destination.baseAddress else { return false }
        let n = LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self),
                                    dst.assumingMemoryBound(to: CChar.self),
                                    Int32(source.count), Int32(destination.count))
        return n == Int32(destination.count)
    }
}
