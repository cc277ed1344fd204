import ArgumentParser
import Glibc
import Strata
import StrataCluster
import StrataSQL

/// How `strata` ends when the store is damaged: a typed error and exit status 65, never a signal.
///
/// Checks at open and on every read turn most damage into a `StorageError` (mapped to 65 by
/// `dataErrorExitStatus`); liblmdb's own assertions exit 65 through `Store.exitOnStorageAssertion`.
/// What remains — liblmdb reading a page the file does not hold (SIGBUS) or a wild pointer
/// (SIGSEGV), or an `abort()` — is caught by a last-resort handler that writes a fixed message
/// with `write(2)` and calls `_exit(65)`: both async-signal-safe.
enum DamageExits {
    /// Exit status 65 (`EX_DATAERR`).
    static let dataErrorStatus: Int32 = 65

    /// Set by `STRATA_NO_SIGNAL_HANDLERS=1`: leave fatal signals alone (a child of `verify` or
    /// `salvage`, whose parent reports the signal itself, or a debugger session).
    static var signalHandlersDisabled: Bool {
        guard let value = getenv("STRATA_NO_SIGNAL_HANDLERS") else { return false }
        return String(cString: value) == "1"
    }

    /// Installs the LMDB assertion policy and the last-resort signal handlers.
    ///
    /// A child of `verify` or `salvage` (`STRATA_NO_SIGNAL_HANDLERS=1`) keeps LMDB's `abort()` after
    /// the assertion's message, so that its parent sees the signal and can tell it from a finding.
    static func install() {
        guard !signalHandlersDisabled else { return }
        Store.exitOnStorageAssertion(status: dataErrorStatus)
        // An alternate stack, so that the handler runs even when the fault is a stack overflow.
        let size = 64 << 10
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        stack.ss_size = size
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
        for signal in [SIGBUS, SIGSEGV, SIGABRT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler
            action.sa_flags = Int32(SA_ONSTACK) | Int32(bitPattern: UInt32(SA_RESETHAND))
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }

    /// Writes the fixed message for `signal` and exits 65; async-signal-safe only.
    private static let handler: @convention(c) (Int32) -> Void = { signal in
        let message: StaticString = switch signal {
        case SIGBUS:
            "Error: strata stopped on SIGBUS: a read fell outside the store's data file. The store is damaged (or its file was truncated while in use); 'strata verify' reports what, 'strata salvage' copies what still verifies.\n"
        case SIGSEGV:
            "Error: strata stopped on SIGSEGV: a read through a damaged page reference, most likely. The store is probably damaged; 'strata verify' reports what, 'strata salvage' copies what still verifies. If the store verifies clean, this is a bug in strata.\n"
        default:
            "Error: strata stopped on SIGABRT: a consistency check failed, most likely on damaged store data. 'strata verify' reports what is damaged. If the store verifies clean, this is a bug in strata.\n"
        }
        _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
        _exit(65)
    }

    /// The exit status for an error: 65 when it reports damaged or unreadable store data.
    static func dataErrorExitStatus(for error: any Error) -> Int32? {
        // Data read from a cluster that does not verify is corrupt data too.
        if let error = error as? ClusterError, case .corrupt = error { return dataErrorStatus }
        return storageError(in: error)?.isDataError == true ? dataErrorStatus : nil
    }

    /// The storage error an error reports, unwrapped from the layers that wrap it.
    static func storageError(in error: any Error) -> StorageError? {
        if let corruption = error as? Corruption { return .corrupt(StoreLocation(stream: "?"), corruption) }
        // Every layer's error offers the storage error under it (engine, time travel, ingest, SQL,
        // receiver, cluster): one place decides what a damaged store exits with.
        return StorageError.carried(by: error)
    }
}
