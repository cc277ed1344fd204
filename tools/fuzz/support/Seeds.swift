// Shared by the fuzz targets built against StrataStorage: writing a target's seed corpus.
//
// `tools/fuzz.sh seeds TARGET` runs the target with STRATA_FUZZ_WRITE_SEEDS=DIR; libFuzzer calls
// `LLVMFuzzerInitialize` first, which then writes the target's seeds (made with the library's
// own encoders, so they follow the format of this build) into DIR and exits.
import Glibc

/// The seeds of the target this file is built into, by file name (`seeds()` is in each target).
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
    guard let directory = getenv("STRATA_FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) else { return 0 }
    for (name, bytes) in seeds() {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            perror(path)
            exit(1)
        }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else {
            perror(path)
            exit(1)
        }
    }
    exit(0)
}
