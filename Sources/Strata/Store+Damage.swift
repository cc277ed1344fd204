import StrataStorage

/// What the structural walk of a store's LMDB file found (`Store.checkStructure()`).
public typealias StructureReport = StrataStorage.StructureReport
/// One problem the structural walk found.
public typealias StructureProblem = StrataStorage.StructureProblem

extension Store {
    /// Opens an existing store for reading only; never creates or writes anything.
    ///
    /// The store is opened with LMDB's `MDB_RDONLY`. When its lock file cannot be created or written
    /// (a read-only mount, no write permission), it is opened without the lock (`MDB_NOLOCK`,
    /// ``isLockless``): reads then have no protection from a process writing to the store at the
    /// same time. Every write through this store fails with `StorageError.misuse`.
    ///
    /// ```swift
    /// let store = try Store.openForReading(at: "/mnt/backup/pageviews.strata")
    /// for info in try store.streams() { print(info.descriptor.name) }
    /// ```
    ///
    /// - Throws: `.storeNotFound`; `.notAStore` or `.damaged` when the data file fails the checks
    ///   made at open (see `docs/durability.md`).
    public static func openForReading(at path: String) throws(StorageError) -> Store {
        try Store(at: path, options: StoreOptions(createIfMissing: false, readOnly: true))
    }

    /// Whether the store was opened read-only without LMDB's lock file (see ``openForReading(at:)``).
    public var isLockless: Bool { log.environment.lockless }

    /// Walks every LMDB database of the store with cursors: key order, entry counts against LMDB's
    /// records, every value read, every page accounted for (LMDB's audit).
    ///
    /// This checks LMDB's structure under the streams; ``verify(stream:progress:)`` checks the
    /// streams' blocks and rows. On a damaged file, liblmdb may fault (SIGBUS) or fail one of its
    /// assertions during the walk, ending the process: `strata verify` runs both in a child process.
    ///
    /// - Throws: a storage error that stops the walk before it began.
    public func checkStructure() throws(StorageError) -> StructureReport {
        try log.environment.walkStructure(expected: LogStore.databaseNames)
    }

    /// Makes a failed internal assertion of liblmdb (a damaged data file) end the process with
    /// `_exit(status)` after one line on standard error naming the store, instead of `abort()`.
    ///
    /// Process-wide. The `strata` command uses status 65. A library process that prefers a core
    /// dump keeps the default.
    public static func exitOnStorageAssertion(status: Int32) {
        LMDBAssertion.exitProcess(status: status)
    }
}
