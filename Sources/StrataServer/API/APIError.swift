import Hummingbird
import Strata

/// Why a read API request failed, with the status it answers.
struct APIError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status.
    var status: HTTPResponse.Status
    /// One line a person can act on.
    var message: String

    var description: String { message }

    /// 400: the request is wrong.
    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
    /// 404: what the request names does not exist (yet).
    static func notFound(_ message: String) -> APIError { APIError(status: .notFound, message: message) }

    init(status: HTTPResponse.Status, message: String) {
        self.status = status
        self.message = message
    }

    /// The answer for any error a store read throws.
    init(_ error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as TimeTravelError:
            if case .storage(let storage) = error { self.init(storage) } else { self.init(status: .badRequest, message: "\(error)") }
        case let error as StorageError:
            switch error {
            case .unknownStream(let name): self.init(status: .notFound, message: "unknown stream \(name)")
            case .notSealed, .outsideRetention, .beforeStreamStart: self.init(status: .notFound, message: "\(error)")
            case .partitionOutOfRange, .invalidStreamName, .streamMismatch: self.init(status: .badRequest, message: "\(error)")
            default: self.init(status: .internalServerError, message: "\(error)")
            }
        case let error as EngineError:
            switch error {
            case .storage(let storage, _, _): self.init(storage)
            case .noState: self.init(status: .notFound, message: "\(error)")
            default: self.init(status: .internalServerError, message: "\(error)")
            }
        default:
            self.init(status: .internalServerError, message: "\(error)")
        }
    }

    /// `{"error":"…"}` with the status.
    var response: Response { ReceiverResponder.error(status, message) }
}
