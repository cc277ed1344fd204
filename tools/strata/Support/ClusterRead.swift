import Foundation
import Strata
import StrataCluster
import Synchronization

/// `strata --nats URL cat|slice …`: the commands read a store holding the streams restored from
/// the cluster: the `--store` directory when given (kept as a local copy, brought up to date), or
/// a temporary one removed when the command ends.
enum ClusterRead {
    /// A store holding `streams` as the cluster has them now.
    static func store(restoring streams: [String], options: StoreArguments, cluster: NATSArguments) throws -> Store {
        let clusterOptions = try cluster.clusterOptions()
        let path: String
        if options.store != nil || !(ProcessInfo.processInfo.environment["STRATA_STORE"] ?? "").isEmpty {
            path = options.path
        } else {
            var template = Array((NSTemporaryDirectory() + "strata-cluster-read-XXXXXX").utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
                throw ClusterError.replication("cannot create a temporary directory: \(String(cString: strerror(errno)))")
            }
            path = String(cString: made)
            temporaryStore.withLock { $0 = path }
            atexit { ClusterRead.removeTemporaryStore() }
        }
        let store = try StoreArguments.createOrOpenStore(at: path)
        let follower = try ClusterFollower(store: store, options: clusterOptions)
        for stream in streams { try follower.restore(stream: stream) }
        return store
    }

    private static let temporaryStore = Mutex<String?>(nil)

    private static func removeTemporaryStore() {
        if let path = temporaryStore.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}
