import Foundation
import StrataTestSupport
import Testing

@testable import Strata

/// Incompressible bytes, the same for the same (interval, index) in every process.
private func payload(_ interval: UInt64, _ index: Int) -> Bytes {
    var state = interval &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index)
    var bytes = [UInt8](repeating: 0, count: 4096)
    for i in bytes.indices {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        bytes[i] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return Bytes(bytes)
}

/// A real full disk, from the kernel's point of view: in a child process, a file-size limit
/// (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored) makes LMDB's page writes fail with `EFBIG`, as
/// `ENOSPC` would on a full file system.
@Suite struct DiskFullTests {
    @Test func aFullDiskIsStoreFullAndLosesNothingCommitted() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("full.strata")
        await #expect(processExitsWith: .exitCode(0)) { [path = path as String] in
            signal(SIGXFSZ, SIG_IGN)
            var limit = rlimit(rlim_cur: 3 << 20, rlim_max: 3 << 20)
            guard setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0 else { exit(4) }
            let store = try Store(at: path, options: StoreOptions(durability: .fsyncEveryCommit))
            let stream = try store.stream("f", of: Bytes.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            var interval: UInt64 = 0
            do {
                while interval < 10_000 {
                    for index in 0..<20 { try appender.append(payload(interval, index), interval: Interval(interval)) }
                    try appender.seal(through: Interval(interval))
                    interval += 1
                }
                exit(2)  // the limit was never reached
            } catch let error as StorageError {
                guard case .storeFull = error else {
                    try? "\(error)".write(toFile: path + ".error", atomically: false, encoding: .utf8)
                    exit(3)
                }
                // Later calls keep reporting the failure instead of writing past it.
                do {
                    try appender.flush()
                    exit(5)
                } catch {}
                exit(0)
            }
        }
        if let childError = try? String(contentsOfFile: path + ".error", encoding: .utf8) { Issue.record("child: \(childError)") }
        // The store, reopened without the limit: every sealed interval intact, then writable again.
        let store = try Store.open(at: path)
        let stream = try store.stream(named: "f", of: Bytes.self)
        let sealed = try #require(try stream.newestSealedInterval())
        #expect(sealed.rawValue > 10)
        for interval in 0...sealed.rawValue {
            let records = try stream.read(Interval(interval)).records
            #expect(records == (0..<20).map { payload(interval, $0) })
        }
        #expect(try store.verify().isClean)
        let appender = try stream.explicitAppender()
        try appender.append(payload(0, 0), interval: sealed.next)
        try await appender.seal(through: sealed.next)
        #expect(try stream.read(sealed.next).count == 1)
    }
}
