/// What a commit survives; see `docs/durability.md`.
public enum Durability: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Every commit is flushed to disk (data and meta pages) before it is acknowledged; concurrent
    /// commits are not merged. Survives process crashes and power loss.
    case fsyncEveryCommit = "fsync"
    /// Commits waiting at the same time are merged into one transaction and one flush, then
    /// acknowledged together. Survives process crashes and power loss. The default.
    case groupCommit = "group"
    /// Commits are written to the OS page cache and not flushed (`MDB_NOSYNC`). Survives a crash
    /// of the process (`kill -9`); a power loss or kernel crash may lose recent commits.
    case noSync = "none"

    public var description: String { rawValue }
}

/// How a store is opened.
///
/// `StoreOptions` is `Sendable`; it is a plain value.
public struct StoreOptions: Sendable, Equatable {
    /// What a commit survives.
    public var durability: Durability
    /// The largest the store's data file may grow, in bytes. The map grows on demand up to it.
    public var sizeLimit: Int
    /// Whether opening creates the store when the directory holds none.
    public var createIfMissing: Bool
    /// Whether the store is opened for reading only (LMDB's `MDB_RDONLY`): nothing is written, not
    /// even the lock file when it cannot be (a read-only mount, no write permission). In that case
    /// the store is opened without LMDB's lock (`MDB_NOLOCK`): a process writing to it at the same
    /// time could change pages this one is reading. Implies `createIfMissing == false`.
    public var readOnly: Bool
    /// Whether creating the store also creates its missing parent directories (`mkdir -p`). When
    /// false, a store whose parent directory does not exist is not created:
    /// `StorageError.storeParentNotFound` names the parent (the `strata` commands open this way).
    public var createsParentDirectories: Bool

    /// Default options: group commit, a 1 TiB size limit, create when missing (parents included),
    /// read-write.
    public init(durability: Durability = .groupCommit, sizeLimit: Int = 1 << 40, createIfMissing: Bool = true,
                readOnly: Bool = false, createsParentDirectories: Bool = true) {
        self.durability = durability
        self.sizeLimit = sizeLimit
        self.createIfMissing = createIfMissing && !readOnly
        self.readOnly = readOnly
        self.createsParentDirectories = createsParentDirectories
    }
}
