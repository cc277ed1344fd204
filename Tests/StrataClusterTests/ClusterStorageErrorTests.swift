import StrataEngine
import StrataStorage
import Testing

@testable import StrataCluster

@Suite struct ClusterStorageErrorTests {
    @Test func aClusterErrorCarriesTheLocalStoresError() {
        let full = StorageError.storeFull(context: "commit")
        #expect(ClusterError.storage(full, context: "local store").storageError == full)
        #expect(StorageError.carried(by: ClusterError.storage(full, context: "local store")) == full)
        // The exchange's wrapping of a local store error becomes `.storage`, anything else stays replication.
        let local = ClusterError.local(.storage(full, stream: "views"), context: "local store")
        #expect(local.storageError == full)
        #expect(local.description == "local store: exchange views: store full: commit; nothing committed was lost")
        #expect(ClusterError.local(.unexpected(stream: "v", source: 0, target: 9, reason: "r"), context: "x")
            .storageError == nil)
        #expect(ClusterError.timedOut("a lease").storageError == nil)
    }
}
