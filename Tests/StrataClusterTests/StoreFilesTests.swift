import Foundation
import Strata
import StrataTestSupport
import Testing

@testable import StrataCluster

/// A task store set aside to install a checkpoint is removed whole, its writer locks' directory
/// included (before, `unlink` of `writers/` failed with EISDIR and the partition's task could not
/// start on a node taking back a partition it had run).
@Suite struct StoreFilesTests {
    @Test func aStoreWithItsWritersDirectoryIsRemovedWhole() throws {
        let directory = try TemporaryDirectory(prefix: "strata-store-files")
        let path = directory.appending("demo.p1.replaced")
        let store = try Store(at: path)
        let stream = try store.stream("v", of: Int64.self, interval: .seconds(1), partitions: 1)
        let appender = try stream.explicitAppender()
        try appender.append(1, interval: Interval(0))
        try appender.commit().wait()  // durable before its files go
        #expect(FileManager.default.fileExists(atPath: path + "/writers"), "the store has no writers directory to test with")
        try StoreFiles.remove(path)
        #expect(!FileManager.default.fileExists(atPath: path))
        try StoreFiles.remove(path)  // gone already: nothing to do
        _ = store
    }
}
