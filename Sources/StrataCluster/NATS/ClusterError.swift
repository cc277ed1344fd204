import CNATS
import StrataEngine
import StrataStorage

/// A status code of the NATS C client (`natsStatus`), with its name.
///
/// `NATSStatus` is `Sendable`. The corresponding C type is `natsStatus` (`nats/status.h`).
public struct NATSStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C value.
    public var rawValue: Int32
    /// Wraps a C value.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    init(_ status: natsStatus) { rawValue = Int32(bitPattern: status.rawValue) }

    /// `NATS_ERR`: a generic error, usually a JetStream API error (see the error code).
    public static let error = NATSStatus(NATS_ERR)
    /// `NATS_NOT_FOUND`: no such stream, message, key or bucket.
    public static let notFound = NATSStatus(NATS_NOT_FOUND)
    /// `NATS_TIMEOUT`: the operation or request timed out.
    public static let timeout = NATSStatus(NATS_TIMEOUT)
    /// `NATS_NO_SERVER`: no server of the list could be reached.
    public static let noServer = NATSStatus(NATS_NO_SERVER)
    /// `NATS_CONNECTION_AUTH_FAILED`: the server refused the credentials.
    public static let authenticationFailed = NATSStatus(NATS_CONNECTION_AUTH_FAILED)
    /// `NATS_NOT_PERMITTED`: the action is not permitted (authorization).
    public static let notPermitted = NATSStatus(NATS_NOT_PERMITTED)
    /// `NATS_CONNECTION_CLOSED`: the connection was closed.
    public static let connectionClosed = NATSStatus(NATS_CONNECTION_CLOSED)
    /// `NATS_NO_RESPONDERS`: nothing answered a request (JetStream not ready or not enabled).
    public static let noResponders = NATSStatus(NATS_NO_RESPONDERS)
    /// `NATS_MAX_PAYLOAD`: the message is larger than the server's maximum payload.
    public static let maxPayload = NATSStatus(NATS_MAX_PAYLOAD)
    /// `NATS_SSL_ERROR`: the TLS handshake or configuration failed.
    public static let sslError = NATSStatus(NATS_SSL_ERROR)

    /// The client library's name for the status (`natsStatus_GetText`).
    public var description: String {
        guard let text = natsStatus_GetText(natsStatus(rawValue: UInt32(bitPattern: rawValue))) else {
            return "status \(rawValue)"
        }
        return String(cString: text)
    }
}

/// Every error the cluster layer throws: what was being done, which NATS call failed, its status
/// and the server's or client's text.
///
/// `ClusterError` is `Sendable` and `Equatable`; match on its cases to tell a lost
/// compare-and-set or a stale publish (both expected in a cluster) from a real failure.
@frozen
public enum ClusterError: Error, Sendable, Equatable, CustomStringConvertible, StorageErrorCarrying {
    /// A NATS call failed. `call` is the C function, `jetStreamCode` the JetStream API error code
    /// (`jsErrCode`, 0 when none), `text` the library's last error text for this thread.
    case nats(call: String, status: NATSStatus, jetStreamCode: Int, text: String)
    /// The server refused the connection's credentials or the action (authentication or
    /// authorization violation).
    case notAuthorized(call: String, text: String)
    /// A compare-and-set on a KV key lost: the key is not at the revision the writer expected
    /// (`kvStore_Update`), or, for `expected == 0`, it already exists (`kvStore_Create`).
    case revisionMismatch(bucket: String, key: String, expected: UInt64, text: String)
    /// A publish with an expected last sequence for its subject was rejected: another writer
    /// published on that subject since (JetStream error 10071, "wrong last sequence").
    case wrongLastSequence(subject: String, expected: UInt64, text: String)
    /// A message is larger than the server accepts.
    case payloadTooLarge(subject: String, bytes: Int, maximum: Int)
    /// A value given to the layer is invalid (empty URL list, bad subject, name with a dot, …).
    case invalidArgument(String)
    /// A wait on the cluster did not end in time.
    case timedOut(String)
    /// Data read from the cluster is not what Strata wrote: a missing header, a bad block, a
    /// chunk out of order. `what` names the stream, subject and sequence.
    case corrupt(String)
    /// A replicated store operation failed for a reason that is neither a NATS call nor the local
    /// store's (a stream's shape differs between the store and the cluster, a stream is missing).
    case replication(String)
    /// The local store failed; `context` says what was being done (`local store: stream views`).
    case storage(StorageError, context: String)

    /// One line naming what failed and why.
    public var description: String {
        switch self {
        case let .nats(call, status, code, text):
            let codeText = code == 0 ? "" : ", JetStream error \(code)"
            return "\(call) failed: \(status) (\(status.rawValue)\(codeText))\(text.isEmpty ? "" : ": \(text)")"
        case let .notAuthorized(call, text):
            return "\(call) refused by the NATS server: not authorized\(text.isEmpty ? "" : " (\(text))")"
        case let .revisionMismatch(bucket, key, expected, text):
            return expected == 0
                ? "KV \(bucket)/\(key) already exists (create-if-absent lost)\(text.isEmpty ? "" : ": \(text)")"
                : "KV \(bucket)/\(key) is not at revision \(expected) (compare-and-set lost)\(text.isEmpty ? "" : ": \(text)")"
        case let .wrongLastSequence(subject, expected, text):
            return "publish on \(subject) rejected: its last sequence is not \(expected)\(text.isEmpty ? "" : " (\(text))")"
        case let .payloadTooLarge(subject, bytes, maximum):
            return "message on \(subject) has \(bytes) bytes, more than the server's maximum payload of \(maximum)"
        case let .invalidArgument(what): return "invalid argument: \(what)"
        case let .timedOut(what): return "timed out: \(what)"
        case let .corrupt(what): return "corrupt data in the cluster: \(what)"
        case let .replication(what): return what
        case let .storage(error, context): return "\(context): \(error)"
        }
    }

    /// The storage error of `.storage`; `nil` for NATS, JetStream and argument failures.
    public var storageError: StorageError? {
        if case .storage(let error, _) = self { return error }
        return nil
    }

    /// The error for a failure of the local store's exchange code: `.storage` for the store's
    /// own error, `.replication` for anything else.
    static func local(_ error: ClusterExchangeError, context: String) -> ClusterError {
        if case .storage(let storage, let stream) = error { return .storage(storage, context: "\(context): exchange \(stream)") }
        return .replication("\(context): \(error)")
    }

    /// Whether the error says the JetStream stream does not exist (JetStream error 10059,
    /// `JSStreamNotFoundErr`): deleted, or never created.
    public var isStreamNotFound: Bool {
        if case .nats(_, _, let code, _) = self { return code == Int(JSStreamNotFoundErr.rawValue) }
        return false
    }

    /// Whether the error says the server refused the credentials or the action.
    public var isAuthorizationFailure: Bool {
        if case .notAuthorized = self { return true }
        return false
    }

    /// The error for a failed NATS call, reading the calling thread's last error text.
    ///
    /// Must be called on the thread that made the call, right after it (the C client keeps the
    /// text in thread-local storage).
    static func make(_ call: String, _ status: natsStatus, _ code: jsErrCode = jsErrCode(rawValue: 0)) -> ClusterError {
        var last = NATS_OK
        var text = nats_GetLastError(&last).map { String(cString: $0) } ?? ""
        // The client prefixes its source location, "(conn.c:2088): ": not for people.
        if text.hasPrefix("("), let end = text.range(of: "): ") { text = String(text[end.upperBound...]) }
        if text == NATSStatus(status).description { text = "" }
        let wrapped = NATSStatus(status)
        let lowered = text.lowercased()
        if status == NATS_CONNECTION_AUTH_FAILED || status == NATS_NOT_PERMITTED
            || lowered.contains("authorization violation") || lowered.contains("permissions violation")
        {
            return .notAuthorized(call: call, text: text)
        }
        return .nats(call: call, status: wrapped, jetStreamCode: Int(code.rawValue), text: text)
    }
}

/// Converts a `natsStatus` into a thrown `ClusterError`.
@inline(__always)
func check(_ call: String, _ status: natsStatus, _ code: jsErrCode = jsErrCode(rawValue: 0)) throws(ClusterError) {
    if status != NATS_OK { throw ClusterError.make(call, status, code) }
}
