import Dispatch
import Glibc
import Synchronization

/// One store: an LMDB environment holding the catalog and the logs of every stream.
///
/// Databases (format version 1): `meta` (format version, next stream ID), `catalog` (stream name →
/// descriptor), `frontiers` (stream ID → frontier), `seals` (stream, interval → seal record),
/// `blocks` (stream, interval, partition, chunk → block). Byte layouts: `docs/format.md`.
///
/// `LogStore` is `Sendable`. Reads run on the caller's thread in short read transactions;
/// every write goes through the one `Committer`. A process opens each store once: `open` returns
/// the instance already open for the same directory.
package final class LogStore: Sendable {
    /// The on-disk format version this build reads and writes.
    package static let formatVersion: UInt32 = 1

    package let path: String
    package let options: StoreOptions
    package let environment: Environment
    package let committer: Committer
    let meta: Database
    let catalog: Database
    let frontiers: Database
    let seals: Database
    let blocks: Database
    let progressMarks: Database
    /// Vertex snapshots: (vertex, interval, partition) → snapshot block (`LogStore+Snapshots.swift`).
    let snapshots: Database
    /// Per-vertex counters and inputs: vertex name → stats row (`LogStore+Snapshots.swift`).
    let vertexStatsRows: Database
    /// Stateful outputs: stream name → state row (`LogStore+States.swift`).
    let stateRows: Database
    /// Bumped on every commit of this process that seals, and when another process writes the
    /// data file; subscriptions wait on it.
    package let sealSignal: SealSignal
    /// The committer's counts of the unsealed intervals' blocks, which seals sum (`SealTally`).
    let sealTally: SealTally

    /// A file's identity: device and inode.
    private struct FileID: Hashable {
        let device: UInt64
        let inode: UInt64

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }

        /// The identity of the file at `path`, or `nil` when there is none.
        static func of(_ path: String) -> FileID? {
            var info = stat()
            return stat(path, &info) == 0 ? FileID(info) : nil
        }
    }

    private final class WeakStore: Sendable {
        nonisolated(unsafe) weak var store: LogStore?
        /// The store's identity, to recognize its own slot without loading the weak reference
        /// (a strong reference released inside the lock could run another store's deinit there).
        let id: ObjectIdentifier
        init(_ store: LogStore) {
            self.store = store
            id = ObjectIdentifier(store)
        }
    }

    /// A directory whose store is being opened or closed by some thread; others wait for it.
    private final class BusySlot: Sendable {
        private let done = DispatchSemaphore(value: 0)
        /// Lets every waiter through.
        func finish() { done.signal() }
        /// Blocks until `finish()`, then lets the next waiter through.
        func wait() {
            done.wait()
            done.signal()
        }
    }

    private enum RegistrySlot {
        case open(WeakStore)
        case busy(BusySlot)
    }

    /// Open stores by directory identity: lmdb.h forbids opening one environment twice in a
    /// process. Opening and closing happen outside this lock (they do I/O, and an open may wait
    /// for another process's lock): the directory's slot is marked busy meanwhile, so that an
    /// open of the same directory waits for them, and opens of other directories do not.
    private static let registry = Mutex<[FileID: RegistrySlot]>([:])

    /// The directory's identity when opened.
    private let directoryID: FileID
    /// Whether `open` put this store in the registry; a store whose init failed never was.
    private let registered = Atomic<Bool>(false)
    /// The data file's identity when opened: a directory deleted and recreated may reuse the
    /// inode, but not with the same data file.
    private let dataFileID: FileID?

    /// Opens the store in directory `path`, creating it when `options.createIfMissing` allows.
    ///
    /// - Throws: `.storeNotFound` when there is no store and creation is off, `.notAStore` when the
    ///   directory holds something else or a newer format, `.misuse` when the store is already open
    ///   in this process with other options.
    package static func open(path: String, options: StoreOptions) throws(StorageError) -> LogStore {
        var info = stat()
        if stat(path, &info) != 0 {
            guard errno == ENOENT else { throw .system(call: "stat", errno: errno, path: path) }
            guard options.createIfMissing else { throw .storeNotFound(path: path) }
            if options.createsParentDirectories {
                try makeDirectories(path)
            } else {
                try makeStoreDirectory(path)
            }
            if stat(path, &info) != 0 { throw .system(call: "stat", errno: errno, path: path) }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .notAStore(path: path, reason: "not a directory") }
        if !options.createIfMissing, access(path + "/data.mdb", F_OK) != 0 { throw .storeNotFound(path: path) }
        let id = FileID(info)
        let (store, found) = try registeredStore(id: id, dataFile: path + "/data.mdb") { () throws(StorageError) in
            try LogStore(path: path, options: options, directoryID: id)
        }
        if found && (store.options.durability != options.durability || store.options.sizeLimit != options.sizeLimit
                     || (store.options.readOnly && !options.readOnly)) {
            throw .misuse("store \(path) is already open in this process with other options")
        }
        return store
    }

    /// The store open in this process for directory `id`, or a new one from `open`, which runs
    /// outside the registry's lock (it does LMDB I/O, and may wait for another process, such as
    /// one compacting the store) while the directory's slot is marked busy: concurrent opens of
    /// the same directory wait for it and then share its store; opens of other directories go on.
    ///
    /// - Returns: The store, and whether it was already open.
    private static func registeredStore(id: FileID, dataFile: String, open: () throws(StorageError) -> LogStore)
        throws(StorageError) -> (LogStore, found: Bool)
    {
        enum Step {
            case found(LogStore)
            case wait(BusySlot)
            case open(BusySlot)
        }
        while true {
            let dataFileID = FileID.of(dataFile)
            // Strong references taken inside the lock are always carried out of it: if one were
            // the last reference, the store's deinit (which takes the lock) would run inside it.
            var replaced: LogStore?
            let step = registry.withLock { registry -> Step in
                switch registry[id] {
                case .busy(let slot):
                    return .wait(slot)
                case .open(let entry):
                    if let existing = entry.store {
                        if existing.dataFileID == dataFileID { return .found(existing) }
                        // The directory was deleted and its inode reused: a different store.
                        replaced = existing
                    }
                case nil:
                    break
                }
                let slot = BusySlot()
                registry[id] = .busy(slot)
                return .open(slot)
            }
            _ = replaced
            switch step {
            case .found(let store):
                return (store, true)
            case .wait(let slot):
                slot.wait()
            case .open(let slot):
                defer { slot.finish() }
                let store: LogStore
                do {
                    store = try open()
                } catch {
                    registry.withLock { registry in
                        if case .busy(let current) = registry[id], current === slot { registry[id] = nil }
                    }
                    throw error
                }
                registry.withLock { registry in registry[id] = .open(WeakStore(store)) }
                store.registered.store(true, ordering: .releasing)
                return (store, false)
            }
        }
    }

    /// Creates `path` and any missing parent directories (`mkdir -p`).
    private static func makeDirectories(_ path: String) throws(StorageError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .system(call: "mkdir", errno: errno, path: prefix)
            }
            prefix += "/"
        }
    }

    /// Creates the directory `path` alone (`mkdir`): a missing parent is `.storeParentNotFound`.
    private static func makeStoreDirectory(_ path: String) throws(StorageError) {
        guard mkdir(path, 0o755) != 0 && errno != EEXIST else { return }
        let failure = errno
        guard failure == ENOENT else { throw .system(call: "mkdir", errno: failure, path: path) }
        var parent = path
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        if let slash = parent.lastIndex(of: "/") {
            parent = slash == parent.startIndex ? "/" : String(parent[..<slash])
        } else {
            parent = "."
        }
        throw .storeParentNotFound(path: path, parent: parent)
    }

    private init(path: String, options: StoreOptions, directoryID: FileID) throws(StorageError) {
        self.path = path
        self.options = options
        self.directoryID = directoryID
        sealSignal = SealSignal(watching: path)
        environment = try Environment(path: path, sizeLimit: options.sizeLimit, maxDatabases: 16,
                                      sync: options.durability == .noSync ? .none : .full,
                                      readOnly: options.readOnly, allowEmptyFile: options.createIfMissing)
        let dbs = try environment.openDatabases(Self.databaseNames)
        meta = dbs[0]
        catalog = dbs[1]
        frontiers = dbs[2]
        seals = dbs[3]
        blocks = dbs[4]
        progressMarks = dbs[5]
        snapshots = dbs[6]
        vertexStatsRows = dbs[7]
        stateRows = dbs[8]
        let tally = SealTally()
        sealTally = tally
        committer = Committer(environment: environment, durability: options.durability, tally: tally,
                              noticeFile: options.readOnly ? nil : path + "/" + CommitNotice.fileName)
        dataFileID = FileID.of(path + "/data.mdb")
        try checkFormat()
    }

    deinit {
        if options.durability == .noSync && !options.readOnly { try? environment.sync() }
        guard registered.load(ordering: .acquiring) else { return }
        let id = directoryID
        // Another store (of a recreated directory) may have taken the slot. While this one
        // closes, outside the lock, its slot is busy: a new open of the same directory waits, so
        // it never overlaps the close.
        let slot = BusySlot()
        let me = ObjectIdentifier(self)
        let ours = Self.registry.withLock { registry -> Bool in
            guard case .open(let entry) = registry[id], entry.id == me else { return false }
            registry[id] = .busy(slot)
            return true
        }
        environment.close()
        guard ours else { return }
        Self.registry.withLock { registry in
            if case .busy(let current) = registry[id], current === slot { registry[id] = nil }
        }
        slot.finish()
    }

    /// The named LMDB databases of format version 1, in the order `init` keeps them.
    package static let databaseNames = ["meta", "catalog", "frontiers", "seals", "blocks", "progress",
                                        "snapshots", "vertex-stats", "states"]

    private static let formatKey = Array("format".utf8)
    private static let nextStreamKey = Array("next-stream-id".utf8)

    /// Writes the format version into a new store, or checks it in an existing one.
    private func checkFormat() throws(StorageError) {
        let found: UInt32? = try wrap {
            try environment.read { txn in
                try Self.formatKey.withUnsafeBytes { key in
                    try txn.withValue(self.meta, key: key) { value -> UInt32? in
                        guard let value else { return nil }
                        guard value.count == 4 else { throw StorageError.notAStore(path: path, reason: "bad format record") }
                        return UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
                    }
                }
            }
        }
        if let found {
            guard found == Self.formatVersion else {
                throw .notAStore(path: path, reason: "format version \(found); this build reads version \(Self.formatVersion)")
            }
            return
        }
        if options.readOnly {
            throw .notAStore(path: path, reason: "it has no format record (a store whose creation never finished)")
        }
        let metaDatabase = self.meta
        try committer.write { txn in
            let version = Self.formatVersion.bigEndian
            try Self.formatKey.withUnsafeBytes { key in
                try withUnsafeBytes(of: version) { try txn.put(metaDatabase, key: key, value: $0) }
            }
        }
    }

    // MARK: Catalog

    /// The descriptor of stream `name`, or `nil` when there is none.
    ///
    /// - Throws: `.invalidStreamName` for an empty name.
    package func descriptor(named name: String) throws(StorageError) -> StreamDescriptor? {
        try wrap {
            try environment.read { txn in try descriptor(named: name, in: txn) }
        }
    }

    func descriptor(named name: String, in txn: borrowing Transaction) throws -> StreamDescriptor? {
        // LMDB refuses an empty key (MDB_BAD_VALSIZE); no stream has an empty name.
        guard !name.isEmpty else { throw StorageError.invalidStreamName(name) }
        var nameBytes = name
        return try nameBytes.withUTF8 { utf8 in
            let found = try txn.withValue(catalog, key: UnsafeRawBufferPointer(utf8)) { row -> StreamDescriptor? in
                guard let row else { return nil }
                do throws(Corruption) {
                    let descriptor = try StreamDescriptor(row: row)
                    // The row's checksum does not cover its key: a damaged key moves the row.
                    guard descriptor.name == name else { throw Corruption.badRow("catalog key (the row is stream \(descriptor.name))") }
                    return descriptor
                } catch {
                    throw StorageError.corrupt(StoreLocation(stream: name), error)
                }
            }
            if found == nil { try checkCatalogKeys(in: txn) }
            return found
        }
    }

    /// Checks that every catalog row is stored under its own name (a damaged key hides a stream).
    ///
    /// Run when a stream is not found: the catalog is small, and "unknown stream" must not be the
    /// answer for a stream whose key was damaged.
    func checkCatalogKeys(in txn: borrowing Transaction) throws {
        try txn.withCursor(catalog) { cursor in
            var entry = try cursor.first()
            var previous: [UInt8] = []
            while let (key, row) = entry {
                let keyName = String(decoding: key, as: UTF8.self)
                guard previous.isEmpty || previous.lexicographicallyPrecedes(key) else {
                    throw StorageError.corrupt(StoreLocation(stream: keyName), .badRow("catalog key order"))
                }
                previous = Array(key)
                do throws(Corruption) {
                    let descriptor = try StreamDescriptor(row: row)
                    guard descriptor.name.utf8.elementsEqual(key) else {
                        throw Corruption.badRow("catalog key (the row is stream \(descriptor.name))")
                    }
                } catch {
                    throw StorageError.corrupt(StoreLocation(stream: keyName), error)
                }
                entry = try cursor.next()
            }
        }
    }

    /// Every stream's descriptor, in name order.
    package func descriptors() throws(StorageError) -> [StreamDescriptor] {
        try wrap {
            try environment.read { txn in
                try txn.withCursor(catalog) { cursor in
                    var result: [StreamDescriptor] = []
                    var entry = try cursor.first()
                    var previous: [UInt8] = []
                    while let (key, row) = entry {
                        let keyName = String(decoding: key, as: UTF8.self)
                        // Strictly rising keys keep the walk finite on a damaged tree.
                        guard previous.isEmpty || previous.lexicographicallyPrecedes(key) else {
                            throw StorageError.corrupt(StoreLocation(stream: keyName), .badRow("catalog key order"))
                        }
                        previous = Array(key)
                        do throws(Corruption) {
                            let descriptor = try StreamDescriptor(row: row)
                            guard descriptor.name.utf8.elementsEqual(key) else {
                                throw Corruption.badRow("catalog key (the row is stream \(descriptor.name))")
                            }
                            result.append(descriptor)
                        } catch {
                            throw StorageError.corrupt(StoreLocation(stream: keyName), error)
                        }
                        entry = try cursor.next()
                    }
                    return result
                }
            }
        }
    }

    /// What a caller asks for when creating or opening a stream.
    package struct StreamSpec: Sendable {
        package var name: String
        package var recordType: String
        package var intervalLength: IntervalLength
        package var partitions: UInt32
        package var retention: Retention
        package var timeField: String?
        package var keyField: String?
        package var timeUnit: TimeUnit?
        /// With a key field: the placement a new stream gets (`nil`: `.stringKey`), and, when given,
        /// the placement an existing stream must have (a copy of a stream's blocks keeps its placement).
        package var keyPlacement: KeyPlacement?

        package init(name: String, recordType: String, intervalLength: IntervalLength, partitions: UInt32,
                     retention: Retention = .forever, timeField: String? = nil, keyField: String? = nil,
                     timeUnit: TimeUnit? = nil, keyPlacement: KeyPlacement? = nil) {
            self.name = name
            self.recordType = recordType
            self.intervalLength = intervalLength
            self.partitions = partitions
            self.retention = retention
            self.timeField = timeField
            self.keyField = keyField
            self.timeUnit = timeUnit
            self.keyPlacement = keyPlacement
        }
    }

    /// Creates the stream, or opens it when it exists with the same record type, interval length
    /// and partition count. Also creates its late side stream, `NAME.late`.
    ///
    /// - Throws: `.streamMismatch` naming the first setting that differs; `.invalidStreamName`.
    package func createOrOpenStream(_ spec: StreamSpec) throws(StorageError) -> StreamDescriptor {
        // Leave room for the late side stream's name, NAME.late, within the 200-byte limit.
        guard StreamDescriptor.isValidName(spec.name), spec.name.utf8.count <= 195, !spec.name.hasSuffix(".late") else {
            throw .invalidStreamName(spec.name)
        }
        guard spec.partitions >= 1, spec.partitions <= 4096 else {
            throw .misuse("stream \(spec.name): the partition count must be 1 to 4096, not \(spec.partitions)")
        }
        guard spec.intervalLength.rawValue >= 1_000_000 else {
            throw .misuse("stream \(spec.name): the interval length must be at least 1 ms")
        }
        if let existing = try descriptor(named: spec.name) { return try Self.match(existing, spec) }
        return try committer.write { [self] txn in
            if let existing = try descriptor(named: spec.name, in: txn) { return try Self.match(existing, spec) }
            let id = try allocateStreamID(txn)
            let lateID = try allocateStreamID(txn)
            let main = StreamDescriptor(id: id, name: spec.name, recordType: spec.recordType,
                                        intervalLength: spec.intervalLength, partitions: spec.partitions,
                                        retention: spec.retention, timeField: spec.timeField,
                                        keyField: spec.keyField, timeUnit: spec.timeUnit,
                                        keyPlacement: spec.keyPlacement)
            var late = main
            late.id = lateID
            late.name = main.lateStreamName
            late.lateRecordsOf = main.name
            for descriptor in [main, late] {
                try putDescriptor(descriptor, txn)
                try putFrontier(StreamFrontier(), of: descriptor.id, txn)
            }
            return main
        }
    }

    private static func match(_ existing: StreamDescriptor, _ spec: StreamSpec) throws(StorageError) -> StreamDescriptor {
        if existing.recordType != spec.recordType {
            throw .streamMismatch(stream: spec.name, reason: "it holds \(existing.recordType), not \(spec.recordType)")
        }
        if existing.intervalLength != spec.intervalLength {
            throw .streamMismatch(stream: spec.name, reason: "interval \(existing.intervalLength), not \(spec.intervalLength)")
        }
        if existing.partitions != spec.partitions {
            throw .streamMismatch(stream: spec.name, reason: "\(existing.partitions) partitions, not \(spec.partitions)")
        }
        if existing.timeField != spec.timeField || existing.keyField != spec.keyField || existing.timeUnit != spec.timeUnit {
            func fields(_ time: String?, _ unit: TimeUnit?, _ key: String?) -> String {
                let timing = time.map { "time field \($0) (\(unit?.rawValue ?? "ms"))" } ?? "arrival time"
                return timing + ", " + (key.map { "key field \($0)" } ?? "no key field")
            }
            throw .streamMismatch(stream: spec.name, reason: "\(fields(existing.timeField, existing.timeUnit, existing.keyField)), "
                                  + "not \(fields(spec.timeField, spec.timeUnit, spec.keyField))")
        }
        if spec.keyField != nil, let wanted = spec.keyPlacement, existing.keyPlacement != wanted {
            throw .streamMismatch(stream: spec.name, reason: "its key field places lines by \(existing.keyPlacement ?? .fieldBytes), "
                                  + "not by \(wanted)")
        }
        return existing
    }

    /// Changes a stream's retention; takes effect at its next seal.
    package func setRetention(_ retention: Retention, of name: String) throws(StorageError) -> StreamDescriptor {
        try committer.write { [self] txn in
            guard var descriptor = try descriptor(named: name, in: txn) else { throw StorageError.unknownStream(name) }
            descriptor.retention = retention
            try putDescriptor(descriptor, txn)
            return descriptor
        }
    }

    private func allocateStreamID(_ txn: borrowing Transaction) throws -> StreamID {
        try Self.nextStreamKey.withUnsafeBytes { key in
            let next = try txn.withValue(meta, key: key) { value -> UInt32 in
                guard let value else { return 1 }
                guard value.count == 4 else { throw StorageError.corrupt(StoreLocation(stream: "?"), .badRow("next stream ID")) }
                return UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
            }
            guard next < UInt32.max else { throw StorageError.misuse("no stream IDs left") }
            try withUnsafeBytes(of: (next + 1).bigEndian) { try txn.put(meta, key: key, value: $0) }
            return StreamID(rawValue: next)
        }
    }

    private func putDescriptor(_ descriptor: StreamDescriptor, _ txn: borrowing Transaction) throws {
        var name = descriptor.name
        let row = descriptor.encodedRow()
        try name.withUTF8 { key in
            try row.withUnsafeBytes { try txn.put(catalog, key: UnsafeRawBufferPointer(key), value: $0) }
        }
    }

    // MARK: Frontiers

    /// The frontier of a stream.
    package func frontier(of descriptor: StreamDescriptor) throws(StorageError) -> StreamFrontier {
        try wrap { try environment.read { txn in try frontier(of: descriptor, in: txn) } }
    }

    func frontier(of descriptor: StreamDescriptor, in txn: borrowing Transaction) throws -> StreamFrontier {
        try StreamKey(descriptor.id).withEncodedBytes { key in
            try txn.withValue(frontiers, key: key) { row -> StreamFrontier in
                // Every stream gets its frontier row in the transaction that creates it, and loses it
                // only when it is dropped: a reader holding the descriptor of a dropped stream
                // learns that it is gone, not that the store is damaged.
                guard let row else {
                    if try self.descriptor(named: descriptor.name, in: txn)?.id != descriptor.id {
                        throw StorageError.unknownStream(descriptor.name)
                    }
                    throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("frontier row (missing)"))
                }
                do throws(Corruption) {
                    return try StreamFrontier(row: row)
                } catch {
                    throw StorageError.corrupt(StoreLocation(stream: descriptor.name), error)
                }
            }
        }
    }

    func putFrontier(_ frontier: StreamFrontier, of id: StreamID, _ txn: borrowing Transaction) throws {
        let row = frontier.encodedRow()
        try StreamKey(id).withEncodedBytes { key in
            try row.withUnsafeBytes { try txn.put(frontiers, key: key, value: $0) }
        }
    }

    // MARK: Reading

    /// The seal record of an interval, `nil` when it is sealed and empty.
    ///
    /// - Throws: `.notSealed`, `.beforeStreamStart` or `.outsideRetention` when the interval is not
    ///   readable; `.corrupt` for a damaged row.
    func sealRecord(of descriptor: StreamDescriptor, interval: Interval, frontier: StreamFrontier,
                    in txn: borrowing Transaction) throws -> SealRecord? {
        let location = StoreLocation(stream: descriptor.name, interval: interval)
        guard let sealed = frontier.sealedThrough, interval <= sealed else {
            throw StorageError.notSealed(location, newestSealed: frontier.sealedThrough)
        }
        guard let first = frontier.firstInterval, interval >= first else {
            throw StorageError.beforeStreamStart(location, firstInterval: frontier.firstInterval)
        }
        guard interval >= frontier.retainedFrom else {
            throw StorageError.outsideRetention(location, retainedFrom: frontier.retainedFrom)
        }
        return try SealKey(stream: descriptor.id, interval: interval).withEncodedBytes { key in
            try txn.withValue(seals, key: key) { row -> SealRecord? in
                guard let row else {
                    // Sealed and empty, unless blocks say otherwise: a damaged seal key hides the row.
                    if let chunk = try firstBlock(of: descriptor, interval: interval, in: txn) {
                        throw StorageError.corrupt(location, .orphanBlock(chunk: chunk))
                    }
                    return nil
                }
                do throws(Corruption) {
                    return try SealRecord(row: row, partitions: descriptor.partitions)
                } catch {
                    throw StorageError.corrupt(location, error)
                }
            }
        }
    }

    /// Throws `.corrupt` when the entry after the cursor's does not sort after `key`.
    static func checkOrder(after key: UnsafeRawBufferPointer, _ cursor: inout Cursor, stream: String) throws {
        let ending = Array(key)
        guard let (next, _) = try cursor.next() else { return }
        guard ending.lexicographicallyPrecedes(next) else {
            throw StorageError.corrupt(StoreLocation(stream: stream), .badRow("key order"))
        }
    }

    /// The chunk index of the first block of `interval`, if the log holds any block of it.
    func firstBlock(of descriptor: StreamDescriptor, interval: Interval, in txn: borrowing Transaction) throws -> UInt32? {
        try txn.withCursor(blocks) { cursor in
            let start = BlockKey(stream: descriptor.id, interval: interval, partition: PartitionIndex(0),
                                 chunk: ChunkIndex(rawValue: 0))
            guard let (keyBytes, _) = try start.withEncodedBytes({ try cursor.seek(atLeast: $0) }) else { return nil }
            guard let key = BlockKey(decoding: keyBytes) else {
                throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: interval),
                                           .badRow("block key of \(keyBytes.count) bytes"))
            }
            guard key.stream == descriptor.id, key.interval == interval else { return nil }
            return key.chunk.rawValue
        }
    }

    /// Throws unless `interval` of the stream is readable: sealed, retained, not before the start,
    /// its seal row intact. Reads the frontier and the seal row only, never a block.
    ///
    /// - Throws: what `sealRecord` throws.
    package func checkReadable(_ descriptor: StreamDescriptor, interval: Interval) throws(StorageError) {
        try wrap {
            try environment.read { txn in
                let frontier = try frontier(of: descriptor, in: txn)
                _ = try sealRecord(of: descriptor, interval: interval, frontier: frontier, in: txn)
            }
        }
    }

    /// Calls `body` with every block of a sealed interval (or of one partition of it, or of the
    /// chunks of that partition in `chunks`), in (partition, chunk) order, inside one short read
    /// transaction.
    ///
    /// Block pointers are valid only inside `body`. Returns the interval's seal (nil when empty).
    ///
    /// - Throws: what `sealRecord` throws; `.corrupt(…, .missingBlock)` when a block the seal
    ///   lists is gone; `.partitionOutOfRange`; whatever `body` throws.
    @discardableResult
    package func withSealedBlocks(
        of descriptor: StreamDescriptor, interval: Interval, partition: PartitionIndex? = nil,
        chunks: Range<UInt32>? = nil,
        _ body: (PartitionIndex, ChunkIndex, UnsafeRawBufferPointer) throws -> Void
    ) throws -> SealRecord? {
        if let partition, partition.rawValue >= descriptor.partitions {
            throw StorageError.partitionOutOfRange(
                StoreLocation(stream: descriptor.name, interval: interval, partition: partition),
                partitions: descriptor.partitions)
        }
        return try environment.read { txn in
            let frontier = try frontier(of: descriptor, in: txn)
            guard let seal = try sealRecord(of: descriptor, interval: interval, frontier: frontier, in: txn) else {
                return nil
            }
            let partitions = partition.map { [$0] } ?? (0..<descriptor.partitions).map { PartitionIndex($0) }
            for p in partitions {
                let chunkCount = seal.chunks[Int(p.rawValue)]
                let first = min(chunks?.lowerBound ?? 0, chunkCount), end = min(chunks?.upperBound ?? chunkCount, chunkCount)
                for c in first..<end {
                    let key = BlockKey(stream: descriptor.id, interval: interval, partition: p, chunk: ChunkIndex(rawValue: c))
                    try key.withEncodedBytes { keyBytes in
                        try txn.withValue(blocks, key: keyBytes) { block in
                            guard let block else {
                                throw StorageError.corrupt(
                                    StoreLocation(stream: descriptor.name, interval: interval, partition: p),
                                    .missingBlock(chunk: c))
                            }
                            try body(p, key.chunk, block)
                            // Done with the block: its pages leave this process's resident set.
                            environment.releasePages(of: block)
                        }
                    }
                }
            }
            return seal
        }
    }

    /// The seal records of every sealed interval with records in `range`, in interval order.
    package func sealRecords(of descriptor: StreamDescriptor, in range: ClosedRange<Interval>) throws(StorageError)
        -> [(Interval, SealRecord)]
    {
        try wrap {
            try environment.read { txn in
                try txn.withCursor(seals) { cursor in
                    var result: [(Interval, SealRecord)] = []
                    var entry = try SealKey(stream: descriptor.id, interval: range.lowerBound).withEncodedBytes {
                        try cursor.seek(atLeast: $0)
                    }
                    var previous: Interval?
                    while let (keyBytes, row) = entry {
                        guard let key = SealKey(decoding: keyBytes) else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("seal key of \(keyBytes.count) bytes"))
                        }
                        guard key.stream == descriptor.id, key.interval <= range.upperBound else {
                            // The key that ends the walk must sort before its successor, or a damaged
                            // key would end it early and hide the rows after it.
                            try Self.checkOrder(after: keyBytes, &cursor, stream: descriptor.name)
                            break
                        }
                        // Strictly rising keys keep the walk finite on a damaged tree.
                        guard key.interval >= range.lowerBound, previous.map({ $0 < key.interval }) ?? true else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: key.interval),
                                                       .badRow("seal key order"))
                        }
                        previous = key.interval
                        do throws(Corruption) {
                            result.append((key.interval, try SealRecord(row: row, partitions: descriptor.partitions)))
                        } catch {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: key.interval), error)
                        }
                        entry = try cursor.next()
                    }
                    return result
                }
            }
        }
    }

    /// Size of the data file in use, from LMDB's page counts.
    package func usedBytes() -> Int {
        let usage = environment.usage()
        return usage.pageSize * usage.pagesUsed
    }

    /// Runs `body`, turning any error into a `StorageError`.
    func wrap<R>(_ body: () throws -> R) throws(StorageError) -> R {
        do {
            return try body()
        } catch {
            throw StorageError(wrapping: error)
        }
    }
}

extension LogStore {
    /// Calls `body` with each block of a stream from `fromInterval` on, in key order, inside one
    /// read transaction, until `body` returns false or the stream's blocks end.
    package func forEachBlock(of descriptor: StreamDescriptor, fromInterval: Interval,
                              _ body: (BlockKey, UnsafeRawBufferPointer) throws -> Bool) throws {
        try environment.read { txn in
            try txn.withCursor(blocks) { cursor in
                var entry = try BlockKey(stream: descriptor.id, interval: fromInterval, partition: PartitionIndex(0),
                                         chunk: ChunkIndex(rawValue: 0)).withEncodedBytes { try cursor.seek(atLeast: $0) }
                var previous: BlockKey?
                while let (keyBytes, value) = entry {
                    guard let key = BlockKey(decoding: keyBytes) else {
                        throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("block key of \(keyBytes.count) bytes"))
                    }
                    guard key.stream == descriptor.id else {
                        try Self.checkOrder(after: keyBytes, &cursor, stream: descriptor.name)
                        return
                    }
                    // Strictly rising keys keep the walk finite on a damaged tree.
                    guard key.interval >= fromInterval, previous.map({ $0.isBefore(key) }) ?? true else {
                        throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: key.interval,
                                                                 partition: key.partition), .badRow("block key order"))
                    }
                    previous = key
                    guard try body(key, value) else { return }
                    entry = try cursor.next()
                }
            }
        }
    }

    /// The first of chunks `0..<expected` of a partition that is not in the log, or `nil`.
    package func firstMissingChunk(of descriptor: StreamDescriptor, interval: Interval, partition: PartitionIndex,
                                   expected: UInt32) throws(StorageError) -> UInt32? {
        try wrap {
            try environment.read { txn in
                for c in 0..<expected {
                    let key = BlockKey(stream: descriptor.id, interval: interval, partition: partition, chunk: ChunkIndex(rawValue: c))
                    let present = try key.withEncodedBytes { k in try txn.withValue(blocks, key: k) { $0 != nil } }
                    if !present { return c }
                }
                return nil
            }
        }
    }
}

extension LogStore {
    /// Every seal row of a stream in `range`, each decoded on its own: a damaged row is returned
    /// as its corruption instead of failing the whole listing (for `verify`).
    package func sealRows(of descriptor: StreamDescriptor, in range: ClosedRange<Interval>) throws(StorageError)
        -> [(Interval, Result<SealRecord, Corruption>)]
    {
        try wrap {
            try environment.read { txn in
                try txn.withCursor(seals) { cursor in
                    var result: [(Interval, Result<SealRecord, Corruption>)] = []
                    var entry = try SealKey(stream: descriptor.id, interval: range.lowerBound).withEncodedBytes {
                        try cursor.seek(atLeast: $0)
                    }
                    var previous: Interval?
                    while let (keyBytes, row) = entry {
                        guard let key = SealKey(decoding: keyBytes) else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name), .badRow("seal key of \(keyBytes.count) bytes"))
                        }
                        guard key.stream == descriptor.id, key.interval <= range.upperBound else {
                            // The key that ends the walk must sort before its successor, or a damaged
                            // key would end it early and hide the rows after it.
                            try Self.checkOrder(after: keyBytes, &cursor, stream: descriptor.name)
                            break
                        }
                        // Strictly rising keys keep the walk finite on a damaged tree.
                        guard key.interval >= range.lowerBound, previous.map({ $0 < key.interval }) ?? true else {
                            throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: key.interval),
                                                       .badRow("seal key order"))
                        }
                        previous = key.interval
                        do throws(Corruption) {
                            result.append((key.interval, .success(try SealRecord(row: row, partitions: descriptor.partitions))))
                        } catch {
                            result.append((key.interval, .failure(error)))
                        }
                        entry = try cursor.next()
                    }
                    return result
                }
            }
        }
    }
}

/// A vertex's progress: the last interval whose outputs (and state) are committed.
///
/// Kept in the `progress` database under the vertex's name, written in the same transaction as
/// the outputs it covers. `ProgressMark` is `Sendable`; it is a plain value.
package struct ProgressMark: Sendable, Equatable {
    /// The last interval fully processed.
    public var interval: Interval
    /// A digest of the vertex's definition, to notice a changed program.
    public var fingerprint: UInt64

    /// Creates a progress mark.
    public init(interval: Interval, fingerprint: UInt64) {
        self.interval = interval
        self.fingerprint = fingerprint
    }
}

extension ProgressMark: RowCodec {
    package static let rowName = "progress row"
    package static let rowVersion: UInt8 = 1
    package var rowCapacity: Int { 24 }

    /// The progress row's fields: interval, fingerprint.
    package func writeRowFields(to w: inout BinaryWriter) {
        w.write(interval.rawValue)
        w.write(fingerprint)
    }

    /// Decodes a progress row, verifying its checksum.
    package init(row: UnsafeRawBufferPointer) throws(Corruption) {
        self = try Self.decodeRow(row) { _, r in
            ProgressMark(interval: Interval(try r.read()), fingerprint: try r.read())
        }
    }
}

extension LogStore {
    /// The progress mark stored under `name`, or `nil` when the vertex has committed nothing.
    package func progress(named name: String) throws(StorageError) -> ProgressMark? {
        try wrap { try environment.read { txn in try progress(named: name, in: txn) } }
    }

    /// The progress mark stored under `name` as `txn` sees it, or `nil` when there is none.
    ///
    /// - Throws: `StorageError.corrupt` naming the progress row when it does not verify.
    func progress(named name: String, in txn: borrowing Transaction) throws -> ProgressMark? {
        var key = name
        return try key.withUTF8 { utf8 in
            try txn.withValue(progressMarks, key: UnsafeRawBufferPointer(utf8)) { row -> ProgressMark? in
                guard let row else { return nil }
                do throws(Corruption) {
                    return try ProgressMark(row: row)
                } catch {
                    throw StorageError.corrupt(StoreLocation(stream: "progress of \(name)"), error)
                }
            }
        }
    }

    /// Every progress mark whose name starts with `prefix`, in name order.
    package func progressMarks(prefix: String) throws(StorageError) -> [(String, ProgressMark)] {
        try wrap {
            try environment.read { txn in
                try txn.withCursor(progressMarks) { cursor in
                    var result: [(String, ProgressMark)] = []
                    var start = prefix
                    // lmdb.h: an empty key is MDB_BAD_VALSIZE; every name sorts at or after "".
                    var entry = prefix.isEmpty ? try cursor.first()
                        : try start.withUTF8 { try cursor.seek(atLeast: UnsafeRawBufferPointer($0)) }
                    while let (keyBytes, row) = entry {
                        let name = String(decoding: keyBytes, as: UTF8.self)
                        guard name.hasPrefix(prefix) else { break }
                        do throws(Corruption) {
                            result.append((name, try ProgressMark(row: row)))
                        } catch {
                            throw StorageError.corrupt(StoreLocation(stream: "progress of \(name)"), error)
                        }
                        entry = try cursor.next()
                    }
                    return result
                }
            }
        }
    }

    func putProgress(_ mark: ProgressMark, named name: String, _ txn: borrowing Transaction) throws {
        var key = name
        let row = mark.encodedRow()
        try key.withUTF8 { utf8 in
            try row.withUnsafeBytes { try txn.put(progressMarks, key: UnsafeRawBufferPointer(utf8), value: $0) }
        }
    }
}
