import Foundation
import Synchronization
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

// Helpers shared by the Store, appender, read, retention, verify and concurrency tests.

extension StoreOptions {
    /// Options for most tests: commits are not flushed (they survive a process crash, all a
    /// test needs); durability modes are tested on their own.
    static var testing: StoreOptions { StoreOptions(durability: .noSync) }
}

/// Directories whose store was still open elsewhere when the test ended. They are kept, not
/// removed: a removed directory's inode may be reused by the next test's directory, and the
/// process-wide store registry is keyed by inode.
private let directoriesStillInUse = Mutex<[TemporaryDirectory]>([])

/// Runs `body` with the path of a store directory that does not exist yet, inside a fresh
/// temporary directory; afterwards waits for the store's pending commits and closes it before
/// the directory is removed.
func withStorePath<R>(options: StoreOptions = .testing, _ body: (String) throws -> R) throws -> R {
    let directory = try TemporaryDirectory()
    let path = directory.appending("store")
    defer {
        if closeStore(at: path, options: options).isOpen { directoriesStillInUse.withLock { $0.append(directory) } }
    }
    return try body(path)
}

/// `withStorePath` for `async` bodies.
func withStorePath<R>(options: StoreOptions = .testing, _ body: (String) async throws -> R) async throws -> R {
    let directory = try TemporaryDirectory()
    let path = directory.appending("store")
    let result: Result<R, any Error>
    do { result = .success(try await body(path)) } catch { result = .failure(error) }
    let open = closeStore(at: path, options: options)
    // A task of the test (a subscription being cancelled) may still hold it for a moment.
    for _ in 0..<10_000 where open.isOpen { await Task.yield() }
    if open.isOpen { directoriesStillInUse.withLock { $0.append(directory) } }
    return try result.get()
}

/// Runs `body` with a new store in a fresh temporary directory.
func withStore<R>(options: StoreOptions = .testing, _ body: (Store) throws -> R) throws -> R {
    try withStorePath(options: options) { path in try body(try Store(at: path, options: options)) }
}

/// `withStore` for `async` bodies.
func withStore<R>(options: StoreOptions = .testing, _ body: (Store) async throws -> R) async throws -> R {
    try await withStorePath(options: options) { path in try await body(try Store(at: path, options: options)) }
}

/// Whether a store may still be open in this process.
final class OpenStoreCheck: @unchecked Sendable {
    weak var store: LogStore?
    /// Set when the store could not be looked at (open with other options).
    let unknown: Bool
    init(_ store: LogStore?, unknown: Bool = false) {
        self.store = store
        self.unknown = unknown
    }
    var isOpen: Bool { unknown || store != nil }
}

/// Waits until every commit submitted to the store at `path` is done and drops this reference:
/// unless something else still holds the store, it is closed when this returns.
@discardableResult
func closeStore(at path: String, options: StoreOptions) -> OpenStoreCheck {
    do {
        let store = try Store(at: path, options: StoreOptions(durability: options.durability, sizeLimit: options.sizeLimit,
                                                              createIfMissing: false))
        let check = OpenStoreCheck(store.log)
        drainCommits(store)
        return check
    } catch .storeNotFound {
        return OpenStoreCheck(nil)
    } catch .notAStore {
        return OpenStoreCheck(nil)
    } catch {
        return OpenStoreCheck(nil, unknown: true)
    }
}

/// Returns once every commit submitted so far has finished and its request was released.
func drainCommits(_ store: Store) {
    // The committer releases a batch before it takes the next one: after a second write
    // completes, the batch of the first (and of everything before it) is gone.
    _ = try? store.log.committer.write { _ in true }
    _ = try? store.log.committer.write { _ in true }
}

/// Reopens the store at `path` after closing every instance: `body` gets a fresh `Store`.
///
/// - Precondition: the caller holds no `Store`, stream or appender of this path.
func reopen<R>(_ path: String, options: StoreOptions = .testing, _ body: (Store) throws -> R) throws -> R {
    let check = closeStore(at: path, options: options)
    #expect(!check.isOpen, "the store at \(path) is still open")
    return try body(try Store(at: path, options: options))
}


/// An arrival clock the test moves by hand.
final class ManualClock: Sendable {
    private let nanoseconds: Mutex<Int64>
    init(_ start: Timestamp = Timestamp(nanoseconds: 0)) { nanoseconds = Mutex(start.rawValue) }
    /// The current time.
    var now: Timestamp { Timestamp(nanoseconds: nanoseconds.withLock { $0 }) }
    /// Moves the clock to `time`.
    func set(_ time: Timestamp) { nanoseconds.withLock { $0 = time.rawValue } }
    /// The clock as an `ArrivalClock`.
    var arrivalClock: ArrivalClock { ArrivalClock { [self] in self.now } }
}

/// A test record: where it was appended and a payload.
struct Event: RecordCodable, Hashable, CustomStringConvertible {
    var interval: UInt64
    var sequence: UInt32
    var user: String
    var payload: Bytes?

    init(interval: UInt64, sequence: UInt32, user: String = "", payload: Bytes? = nil) {
        self.interval = interval
        self.sequence = sequence
        self.user = user
        self.payload = payload
    }

    func encode(to writer: inout BinaryWriter) {
        writer.write(interval)
        writer.write(sequence)
        writer.write(user)
        writer.write(payload)
    }

    init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        interval = try reader.read()
        sequence = try reader.read()
        user = try reader.read()
        payload = try reader.read()
    }

    var description: String { "\(interval)#\(sequence)" }
}


/// The storage error `body` throws, or `nil` (recording an issue for any other error).
func storageError<R>(_ body: () throws -> R) -> StorageError? {
    do {
        _ = try body()
        return nil
    } catch let error as StorageError {
        return error
    } catch {
        Issue.record("expected a StorageError, got \(error)")
        return nil
    }
}

/// The partition a keyed appender chooses for a key: XXH64 of the key's encoding, modulo the count.
func expectedPartition<K: RecordCodable>(of key: K, partitions: Int) -> Int {
    var writer = BinaryWriter()
    key.encode(to: &writer)
    return Int(XXH64.hash(writer.bytes) % UInt64(partitions))
}
