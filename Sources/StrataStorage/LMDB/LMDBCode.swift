import CLMDB
import Glibc

/// Names for LMDB's return codes; the one place C codes become `StorageError`s.
package enum LMDBCode {
    /// `MDB_KEYEXIST`.
    package static let keyExists = MDB_KEYEXIST
    /// `MDB_NOTFOUND`.
    package static let notFound = MDB_NOTFOUND
    /// `MDB_MAP_FULL`.
    package static let mapFull = MDB_MAP_FULL
    /// `MDB_MAP_RESIZED`.
    package static let mapResized = MDB_MAP_RESIZED

    /// The C name of an LMDB return code that means damage, else the number.
    package static func name(of code: Int32) -> String {
        switch code {
        case MDB_CORRUPTED: "MDB_CORRUPTED"
        case MDB_PAGE_NOTFOUND: "MDB_PAGE_NOTFOUND"
        case MDB_PANIC: "MDB_PANIC"
        case MDB_INVALID: "MDB_INVALID"
        case MDB_VERSION_MISMATCH: "MDB_VERSION_MISMATCH"
        case MDB_BAD_TXN: "MDB_BAD_TXN"
        default: "error \(code)"
        }
    }

    /// LMDB's text for a return code (`mdb_strerror`).
    package static func message(for code: Int32) -> String {
        guard let text = mdb_strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

/// The text of an errno value (`strerror`).
func systemMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// Turns an LMDB return code into a thrown error; `MDB_MAP_FULL` and `ENOSPC` become `.storeFull`.
@inline(__always)
package func check(_ rc: Int32, _ call: StaticString, _ context: @autoclosure () -> String = "") throws(StorageError) {
    if rc == 0 { return }
    switch rc {
    case ENOSPC, EDQUOT, EFBIG:
        // A failed page write aborts the transaction; the last committed meta page is untouched.
        throw .storeFull(context: "\(context().isEmpty ? "" : context() + ": ")\(systemMessage(rc))")
    case MDB_MAP_FULL:
        throw .storeFull(context: "\(context().isEmpty ? "" : context() + ": ")the store reached its size limit (MDB_MAP_FULL)")
    case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_PANIC, MDB_INVALID, MDB_VERSION_MISMATCH, MDB_BAD_TXN:
        // LMDB found its own pages inconsistent (MDB_BAD_TXN: a read failed that way earlier in the
        // transaction). The data file is damaged: a data error, not an operational failure.
        throw .damaged(path: context(), what: "LMDB's \(call) reports \(LMDBCode.name(of: rc)): \(LMDBCode.message(for: rc))")
    default: throw .lmdb(code: rc, call: "\(call)", context: context())
    }
}
