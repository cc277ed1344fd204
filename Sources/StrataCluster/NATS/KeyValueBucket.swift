import CNATS
import Glibc
import Synchronization

/// The configuration of a JetStream key-value bucket.
///
/// `KeyValueConfiguration` is `Sendable`. The corresponding C type is `kvConfig`; storage is
/// always file storage.
public struct KeyValueConfiguration: Sendable, Equatable {
    /// The bucket's name (letters, digits, `-` and `_`).
    public var bucket: String
    /// A description.
    public var description: String?
    /// How many revisions of each key are kept (1…64).
    public var history: UInt8
    /// How long a value lives after its last write; `nil` for ever. At least 100 ms (the server's
    /// minimum). Leases use it: a key not renewed in time disappears.
    public var ttl: Duration?
    /// How many servers hold a copy.
    public var replicas: Int
    /// The largest value accepted, in bytes; `nil` for the server's maximum payload.
    public var maxValueSize: Int32?
    /// The bucket's size limit in bytes; `nil` for none.
    public var maxBytes: Int64?

    /// A configuration keeping one revision per key, for ever, on one server.
    public init(bucket: String, history: UInt8 = 1, ttl: Duration? = nil, replicas: Int = 1,
                description: String? = nil) {
        self.bucket = bucket
        self.history = history
        self.ttl = ttl
        self.replicas = replicas
        self.description = description
        maxValueSize = nil
        maxBytes = nil
    }
}

/// One revision of a key in a KV bucket.
///
/// `KeyValueEntry` is `Sendable`. The corresponding C type is `kvEntry`.
public struct KeyValueEntry: Sendable, Equatable {
    /// What the revision did.
    public enum Operation: Sendable, Equatable {
        /// The key was set to `value`.
        case put
        /// The key was deleted (a tombstone; `value` is empty).
        case delete
        /// The key and its history were purged.
        case purge
    }

    /// The bucket.
    public var bucket: String
    /// The key.
    public var key: String
    /// The value (empty for a delete or purge).
    public var value: [UInt8]
    /// The revision: the sequence of this write in the bucket's stream. Compare-and-set uses it.
    public var revision: UInt64
    /// When it was written, nanoseconds since 1970 (server clock; display only).
    public var created: Int64
    /// For a watcher: how many newer revisions of watched keys followed it when delivered.
    public var delta: UInt64
    /// Put, delete or purge.
    public var operation: Operation

    init(bucket: String, key: String, value: [UInt8], revision: UInt64, created: Int64, delta: UInt64,
         operation: Operation) {
        self.bucket = bucket
        self.key = key
        self.value = value
        self.revision = revision
        self.created = created
        self.delta = delta
        self.operation = operation
    }

    init(_ entry: OpaquePointer) {
        bucket = kvEntry_Bucket(entry).map { String(cString: $0) } ?? ""
        key = kvEntry_Key(entry).map { String(cString: $0) } ?? ""
        let length = Int(kvEntry_ValueLen(entry))
        if length > 0, let bytes = kvEntry_Value(entry) {
            value = [UInt8](UnsafeRawBufferPointer(start: bytes, count: length))
        } else {
            value = []
        }
        revision = kvEntry_Revision(entry)
        created = kvEntry_Created(entry)
        delta = kvEntry_Delta(entry)
        switch kvEntry_Operation(entry) {
        case kvOp_Delete: operation = .delete
        case kvOp_Purge: operation = .purge
        default: operation = .put
        }
    }
}

/// A JetStream key-value bucket: values with revisions, compare-and-set, TTL and watches.
///
/// `KeyValueBucket` is `Sendable` (the C client's `kvStore` is thread-safe). Calls block until the
/// server answers.
///
/// ```swift
/// let leases = try jetStream.createKeyValue(KeyValueConfiguration(bucket: "leases", ttl: .seconds(5), replicas: 3))
/// let revision = try leases.create("partition.3", Array("node-a".utf8))          // absent → mine
/// let renewed = try leases.update("partition.3", Array("node-a".utf8), expectedRevision: revision)
/// ```
public final class KeyValueBucket: Sendable {
    /// The bucket's name.
    public let name: String
    private let jetStream: JetStream
    // kvStore is thread-safe (nats.h); the pointer never changes.
    nonisolated(unsafe) private let handle: OpaquePointer

    init(creating configuration: KeyValueConfiguration, in jetStream: JetStream) throws(ClusterError) {
        if let ttl = configuration.ttl, ttl < .milliseconds(100) {
            throw .invalidArgument("KV bucket \(configuration.bucket): TTL \(ttl) is under the server's minimum of 100 ms")
        }
        var config = kvConfig()
        kvConfig_Init(&config)
        let bucket = strdup(configuration.bucket)
        let description = configuration.description.map { strdup($0) }
        defer {
            free(bucket)
            if let description { free(description) }
        }
        config.Bucket = UnsafePointer(bucket)
        config.Description = description.map { UnsafePointer($0) } ?? nil
        config.History = configuration.history
        // nats.h's kvConfig.TTL is in nanoseconds in this client (LIMITS.md).
        config.TTL = configuration.ttl?.wholeNanoseconds ?? 0
        config.Replicas = Int32(configuration.replicas)
        config.StorageType = js_FileStorage
        config.MaxValueSize = configuration.maxValueSize ?? -1
        config.MaxBytes = configuration.maxBytes ?? -1
        var created: OpaquePointer?
        try check("js_CreateKeyValue(\(configuration.bucket))", js_CreateKeyValue(&created, jetStream.handle, &config))
        guard let created else { throw .invalidArgument("js_CreateKeyValue gave no bucket for \(configuration.bucket)") }
        // The client creates buckets with direct get, which any replica answers, possibly before it
        // has applied the latest write (a create-if-absent right after a delete was refused so in
        // tests). Reads from the leader only: turn direct get off, then bind again.
        kvStore_Destroy(created)
        // Another node creating the bucket at the same time may turn direct get on again: bind only
        // once it is off before and after the binding (a handle bound while it is on keeps using it).
        var bound: OpaquePointer?
        for _ in 0..<10 {
            try Self.disableDirectGet(stream: "KV_" + configuration.bucket, jetStream)
            var kv: OpaquePointer?
            try check("js_KeyValue(\(configuration.bucket))", js_KeyValue(&kv, jetStream.handle, configuration.bucket))
            guard let kv else { throw .invalidArgument("js_KeyValue gave no bucket for \(configuration.bucket)") }
            if try !Self.allowsDirectGet(stream: "KV_" + configuration.bucket, jetStream) {
                bound = kv
                break
            }
            kvStore_Destroy(kv)
        }
        guard let kv = bound else {
            throw .replication("KV bucket \(configuration.bucket): direct get kept being turned on by another client")
        }
        name = configuration.bucket
        self.jetStream = jetStream
        handle = kv
    }

    init?(binding bucket: String, in jetStream: JetStream) throws(ClusterError) {
        var kv: OpaquePointer?
        let status = js_KeyValue(&kv, jetStream.handle, bucket)
        if status == NATS_NOT_FOUND { return nil }
        try check("js_KeyValue(\(bucket))", status)
        guard let kv else { return nil }
        name = bucket
        self.jetStream = jetStream
        handle = kv
    }

    deinit { kvStore_Destroy(handle) }

    /// Whether a bucket's stream allows direct get now.
    private static func allowsDirectGet(stream: String, _ jetStream: JetStream) throws(ClusterError) -> Bool {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        try check("js_GetStreamInfo(\(stream))", js_GetStreamInfo(&info, jetStream.handle, stream, nil, &code), code)
        defer { jsStreamInfo_Destroy(info) }
        guard let config = info?.pointee.Config else { return false }
        return config.pointee.AllowDirect || config.pointee.MirrorDirect
    }

    /// Turns `AllowDirect` off on a bucket's stream, keeping the rest of its configuration.
    private static func disableDirectGet(stream: String, _ jetStream: JetStream) throws(ClusterError) {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        try check("js_GetStreamInfo(\(stream))", js_GetStreamInfo(&info, jetStream.handle, stream, nil, &code), code)
        defer { jsStreamInfo_Destroy(info) }
        guard let config = info?.pointee.Config, config.pointee.AllowDirect || config.pointee.MirrorDirect else { return }
        config.pointee.AllowDirect = false
        config.pointee.MirrorDirect = false
        var updated: UnsafeMutablePointer<jsStreamInfo>?
        try check("js_UpdateStream(\(stream))", js_UpdateStream(&updated, jetStream.handle, config, nil, &code), code)
        jsStreamInfo_Destroy(updated)
    }

    /// The current value of a key, or `nil` when it is absent, deleted or expired.
    ///
    /// Read from the bucket stream's leader (the key's last message), whatever the handle was bound
    /// with: nodes creating one bucket together each turn direct get off after the client's create
    /// turned it on, and a handle bound in between sent its gets to the direct-get subject, which
    /// nothing answered once direct get was off again (every get timed out, for good).
    ///
    /// The corresponding C call is `js_GetLastMsg` on `KV_<bucket>` for `$KV.<bucket>.<key>`
    /// (what `kvStore_Get` does without direct get).
    public func get(_ key: String) throws(ClusterError) -> KeyValueEntry? {
        guard let message = try jetStream.lastMessage(stream: "KV_" + name, subject: "$KV.\(name).\(key)") else { return nil }
        switch message.header("KV-Operation") {
        case "DEL", "PURGE": return nil
        default:
            return KeyValueEntry(bucket: name, key: key, value: message.payload, revision: message.sequence,
                                 created: message.timestamp, delta: 0, operation: .put)
        }
    }

    /// A key at one revision, or `nil` when that revision is not a write of that key (or no longer kept).
    ///
    /// The corresponding C call is `kvStore_GetRevision`.
    public func get(_ key: String, revision: UInt64) throws(ClusterError) -> KeyValueEntry? {
        var entry: OpaquePointer?
        let status = kvStore_GetRevision(&entry, handle, key, revision)
        if status == NATS_NOT_FOUND { return nil }
        try check("kvStore_GetRevision(\(name)/\(key), \(revision))", status)
        guard let entry else { return nil }
        defer { kvEntry_Destroy(entry) }
        return KeyValueEntry(entry)
    }

    /// Sets a key whatever its revision.
    ///
    /// - Returns: the new revision.
    ///
    /// The corresponding C call is `kvStore_Put`.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8]) throws(ClusterError) -> UInt64 {
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes { kvStore_Put(&revision, handle, key, $0.baseAddress, Int32($0.count)) }
        try check("kvStore_Put(\(name)/\(key))", status)
        return revision
    }

    /// Sets a key only if it is absent (never written, deleted or expired).
    ///
    /// - Returns: the new revision.
    /// - Throws: `ClusterError.revisionMismatch` with `expected == 0` when the key exists.
    ///
    /// The corresponding C call is `kvStore_Create`.
    @discardableResult
    public func create(_ key: String, _ value: [UInt8]) throws(ClusterError) -> UInt64 {
        // LIMITS.md: a failed create may overwrite the revision output; use it only on success.
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes { kvStore_Create(&revision, handle, key, $0.baseAddress, Int32($0.count)) }
        if status != NATS_OK {
            throw Self.casError(ClusterError.make("kvStore_Create(\(name)/\(key))", status), bucket: name, key: key,
                                expected: 0)
        }
        return revision
    }

    /// Sets a key only if its latest revision is `expectedRevision` (compare-and-set).
    ///
    /// - Returns: the new revision.
    /// - Throws: `ClusterError.revisionMismatch` when another write came in between (or the key
    ///   expired).
    ///
    /// The corresponding C call is `kvStore_Update`.
    @discardableResult
    public func update(_ key: String, _ value: [UInt8], expectedRevision: UInt64) throws(ClusterError) -> UInt64 {
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes {
            kvStore_Update(&revision, handle, key, $0.baseAddress, Int32($0.count), expectedRevision)
        }
        if status != NATS_OK {
            throw Self.casError(ClusterError.make("kvStore_Update(\(name)/\(key))", status), bucket: name, key: key,
                                expected: expectedRevision)
        }
        return revision
    }

    /// Deletes a key (writes a tombstone; history is kept).
    ///
    /// The corresponding C call is `kvStore_Delete`.
    public func delete(_ key: String) throws(ClusterError) {
        try check("kvStore_Delete(\(name)/\(key))", kvStore_Delete(handle, key))
    }

    /// Removes a key and all its history.
    ///
    /// The corresponding C call is `kvStore_Purge`.
    public func purge(_ key: String) throws(ClusterError) {
        try check("kvStore_Purge(\(name)/\(key))", kvStore_Purge(handle, key, nil))
    }

    /// Every key that currently has a value, sorted.
    ///
    /// The corresponding C call is `kvStore_Keys`.
    public func keys() throws(ClusterError) -> [String] {
        var list = kvKeysList()
        let status = kvStore_Keys(&list, handle, nil)
        if status == NATS_NOT_FOUND { return [] }
        try check("kvStore_Keys(\(name))", status)
        defer { kvKeysList_Destroy(&list) }
        guard let keys = list.Keys else { return [] }
        return (0..<Int(list.Count)).compactMap { keys[$0].map { String(cString: $0) } }.sorted()
    }

    /// The keys starting with `prefix` that hold a value (not deleted, purged or expired), sorted —
    /// read without a consumer: the subjects of the bucket's stream under the prefix (one stream
    /// info request, answered by the stream's leader), then each key's current value.
    ///
    /// `keys()` lists through an ordered consumer, whose creation, with one server of three down,
    /// timed out for tens of seconds here (NATS 2.9); this needs none, so it goes on as soon as the
    /// bucket has a leader. Costs one request per key found: for small key sets (members).
    ///
    /// The corresponding C calls are `js_GetStreamInfo` with a subjects filter and `kvStore_Get`.
    public func keys(prefix: String) throws(ClusterError) -> [String] {
        let subjectPrefix = "$KV.\(name)."
        var found: [String] = []
        for (subject, _) in try jetStream.subjectCounts(stream: "KV_" + name, filter: subjectPrefix + ">") {
            guard subject.hasPrefix(subjectPrefix + prefix) else { continue }
            let key = String(subject.dropFirst(subjectPrefix.count))
            if let entry = try get(key), entry.operation == .put { found.append(key) }
        }
        return found.sorted()
    }

    /// The bucket's state: how many values it holds, its history depth, TTL and replicas.
    ///
    /// The corresponding C call is `kvStore_Status`.
    public func status() throws(ClusterError) -> (values: UInt64, history: Int64, ttl: Duration?, replicas: Int64) {
        var status: OpaquePointer?
        try check("kvStore_Status(\(name))", kvStore_Status(&status, handle))
        guard let status else { throw .corrupt("kvStore_Status(\(name)) returned nothing") }
        defer { kvStatus_Destroy(status) }
        let ttl = kvStatus_TTL(status)
        return (kvStatus_Values(status), kvStatus_History(status), ttl > 0 ? .nanoseconds(ttl) : nil,
                kvStatus_Replicas(status))
    }

    /// Watches the keys matching `keys` (`>` for all, `*` and `>` as in subjects).
    ///
    /// The watcher first delivers the current value of each matching key (or every kept revision
    /// with `includeHistory`), then `.caughtUp`, then every new write as it happens.
    ///
    /// The corresponding C call is `kvStore_Watch`.
    public func watch(_ keys: String = ">", includeHistory: Bool = false, ignoreDeletes: Bool = false)
        throws(ClusterError) -> KeyValueWatcher
    {
        var options = kvWatchOptions()
        kvWatchOptions_Init(&options)
        options.IncludeHistory = includeHistory
        options.IgnoreDeletes = ignoreDeletes
        var watcher: OpaquePointer?
        try check("kvStore_Watch(\(name)/\(keys))", kvStore_Watch(&watcher, handle, keys, &options))
        guard let watcher else { throw .invalidArgument("kvStore_Watch gave no watcher for \(name)/\(keys)") }
        return KeyValueWatcher(watcher, bucket: self)
    }

    static func casError(_ error: ClusterError, bucket: String, key: String, expected: UInt64) -> ClusterError {
        if case let .nats(_, _, code, text) = error,
           code == 10071 || text.contains("wrong last sequence") || text.contains("key exists")
        {
            return .revisionMismatch(bucket: bucket, key: key, expected: expected, text: text)
        }
        return error
    }
}

/// What a KV watcher delivers.
public enum KeyValueWatchEvent: Sendable, Equatable {
    /// A revision of a watched key.
    case entry(KeyValueEntry)
    /// Every value present when the watch began has been delivered.
    case caughtUp
}

/// A live watch on keys of a KV bucket.
///
/// `KeyValueWatcher` is `Sendable`; `next(timeout:)` is called from one thread at a time, `stop()`
/// from any.
public final class KeyValueWatcher: Sendable {
    nonisolated(unsafe) private let handle: OpaquePointer
    private let bucket: KeyValueBucket
    private let stopped = Atomic<Bool>(false)

    init(_ handle: OpaquePointer, bucket: KeyValueBucket) {
        self.handle = handle
        self.bucket = bucket
    }

    deinit {
        if !stopped.load(ordering: .acquiring) { kvWatcher_Stop(handle) }
        kvWatcher_Destroy(handle)
    }

    /// The next event, or `nil` when none came within `timeout`.
    ///
    /// The corresponding C call is `kvWatcher_Next`.
    public func next(timeout: Duration) throws(ClusterError) -> KeyValueWatchEvent? {
        var entry: OpaquePointer?
        let status = kvWatcher_Next(&entry, handle, timeout.wholeMilliseconds)
        if status == NATS_TIMEOUT { return nil }
        try check("kvWatcher_Next(\(bucket.name))", status)
        guard let entry else { return .caughtUp }
        defer { kvEntry_Destroy(entry) }
        return .entry(KeyValueEntry(entry))
    }

    /// Stops the watch; a waiting `next` returns with an error.
    ///
    /// The corresponding C call is `kvWatcher_Stop`.
    public func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        kvWatcher_Stop(handle)
    }
}
