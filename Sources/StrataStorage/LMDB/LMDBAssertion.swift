import CLMDB
import Glibc
import Synchronization

/// What happens when one of LMDB's internal assertions fails.
///
/// liblmdb checks its own page structure with assertions (`mdb.c`: `mdb_assert_fail`) and calls
/// `abort()` when one fails: on a damaged data file, for example `Assertion 'IS_LEAF(mp)' failed`.
/// There is no way to return an error from that point. Every environment gets a handler
/// (`mdb_env_set_assert`) that writes one line naming the store and the failed check to standard
/// error; a process may then choose to exit with a status of its own instead of aborting (the
/// `strata` command exits 65, "data error"). A library process keeps LMDB's `abort()` by default.
///
/// `LMDBAssertion` is a namespace; its setting is process-wide and safe to change from any thread.
package enum LMDBAssertion {
    /// 0: return to LMDB, which aborts; otherwise the status to `_exit` with.
    private static let exitStatus = Atomic<Int32>(0)

    /// Makes a failed LMDB assertion end the process with `_exit(status)` after its message,
    /// instead of `abort()`.
    package static func exitProcess(status: Int32) {
        exitStatus.store(status, ordering: .releasing)
    }

    /// Installs the handler on a new environment (`mdb_env_set_assert`).
    static func install(on env: OpaquePointer) {
        _ = mdb_env_set_assert(env, handler)
    }

    /// Runs on the failing thread inside liblmdb: only async-signal-safe calls, no allocation
    /// beyond a fixed stack buffer, since the process state is suspect.
    private static let handler: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { env, message in
        var path: UnsafePointer<CChar>?
        if let env { _ = mdb_env_get_path(env, &path) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
            var used = 0
            func append(_ text: UnsafePointer<CChar>?) {
                guard let text else { return }
                var i = 0
                while text[i] != 0 && used < buffer.count - 1 {
                    buffer[used] = UInt8(bitPattern: text[i])
                    used += 1
                    i += 1
                }
            }
            func append(_ text: StaticString) {
                var i = 0
                while i < text.utf8CodeUnitCount && used < buffer.count - 1 {
                    buffer[used] = text.utf8Start[i]
                    used += 1
                    i += 1
                }
            }
            append("Error: store ")
            if let path { append(path) } else { append("(unknown)") }
            append(" is damaged: LMDB's internal check failed: ")
            append(message)
            append("; run 'strata verify' and 'strata salvage'")
            buffer[used] = 10
            used += 1
            _ = write(2, buffer.baseAddress, used)
        }
        let status = exitStatus.load(ordering: .acquiring)
        if status != 0 { _exit(status) }
    }
}
