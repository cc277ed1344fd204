import ArgumentParser
import Foundation
import Strata

/// The arguments every command shares: which store to use (`--store`, `STRATA_STORE`).
///
/// Named apart from the library's `StoreOptions` (durability, map size, …), which commands also use.
///
/// Shared through `@OptionGroup`, as swift-argument-parser's `Math` example shares its `Options`.
struct StoreArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The store's directory (default: $STRATA_STORE).", valueName: "path"))
    var store: String?

    /// The store's directory: `--store`, else `STRATA_STORE`.
    var path: String {
        if let store { return store }
        return ProcessInfo.processInfo.environment["STRATA_STORE"] ?? ""
    }

    mutating func validate() throws {
        if let store, store.isEmpty { throw ValidationError("--store needs a non-empty path") }
        // With --nats, cat and slice read the cluster into a temporary store when none is given.
        if store == nil && (ProcessInfo.processInfo.environment["STRATA_STORE"] ?? "").isEmpty && !NATSArguments.requested {
            throw ValidationError("no store given: pass --store PATH or set STRATA_STORE")
        }
    }

    /// Opens the existing store; never creates one.
    ///
    /// - Throws: `StorageError.storeNotFound` when there is no store at the path.
    func openStore() throws -> Store {
        try Store.open(at: path)
    }

    /// Opens the store, creating it when missing, but never its parent directories: a mistyped
    /// path is refused (`StorageError.storeParentNotFound`, exit 73) rather than made. Every command
    /// that creates a store (`ingest`, `serve`, `salvage --into`, `cluster restore`/`follow`) opens
    /// this way.
    func createOrOpenStore(durability: Durability = .groupCommit) throws -> Store {
        try Self.createOrOpenStore(at: path, durability: durability)
    }

    /// Opens the store at `path` as `createOrOpenStore(durability:)` does.
    static func createOrOpenStore(at path: String, durability: Durability = .groupCommit) throws -> Store {
        try Store(at: path, options: StoreOptions(durability: durability, createsParentDirectories: false))
    }

    /// Opens the existing store for reading only (LMDB's `MDB_RDONLY`); never creates or writes.
    ///
    /// A store whose lock file cannot be written (a read-only mount, no write permission) is opened
    /// without it, and a warning on standard error says that a concurrent writer is not excluded.
    ///
    /// - Throws: `StorageError.storeNotFound` when there is no store at the path.
    func openStoreForReading() throws -> Store {
        let store = try Store.openForReading(at: path)
        if store.isLockless {
            printError("warning: store \(path) is not writable (read-only file system or permissions): opened "
                       + "without LMDB's lock; a process writing to it at the same time could change what is read")
        }
        return store
    }
}
