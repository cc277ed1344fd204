import StrataStorage

/// The acknowledgement of a commit handed to the store's committer (`StreamAppender.commit(together:)`):
/// wait on it, blocking or suspending, until the commit is durable under the store's durability
/// setting.
///
/// ```swift
/// let acknowledgement = try appender.commit(together: [deadLetters])
/// try await acknowledgement.value()
/// ```
///
/// `CommitAcknowledgement` is `Sendable`: any number of threads and tasks may wait on it, any
/// number of times; each sees the same outcome.
public struct CommitAcknowledgement: Sendable {
    let ticket: CommitTicket

    init(ticket: CommitTicket) { self.ticket = ticket }

    /// Blocks the calling thread until the commit is durable. Never call it on the cooperative pool.
    ///
    /// - Throws: the commit's error, or the error of an earlier commit of the same appender.
    public func wait() throws(StorageError) { try ticket.wait() }

    /// Suspends until the commit is durable.
    ///
    /// - Throws: the commit's `StorageError`, or that of an earlier commit of the same appender.
    public func value() async throws { try await ticket.value() }

    /// Whether the commit is over: durable, or failed.
    public var isDone: Bool { ticket.result != nil }
}
