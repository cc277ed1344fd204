import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

/// Every error type offers the storage error under it as `storageError`, and
/// `StorageError.carried(by:)` finds it in any error: "store full" is handled once.
@Suite struct StorageErrorViewTests {
    @Test func aStorageErrorIsItsOwnViewAndOtherErrorsCarryNone() {
        let full = StorageError.storeFull(context: "commit")
        #expect(full.storageError == full)
        #expect(StorageError.carried(by: full) == full)
        #expect(StorageError.carried(by: RecordDecodingError.truncated(offset: 3)) == nil)
        #expect(StorageError.carried(by: TimeTravelError.invalidTime("x", reason: "no")) == nil)
    }

    @Test func aTimeTravelErrorCarriesTheStoresRefusal() throws {
        try withStore { store in
            let stream = try store.stream("s", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(0))
            try appender.seal(through: Interval(0))
            do throws(TimeTravelError) {
                _ = try stream.slice(from: Interval(0), through: Interval(5))
                Issue.record("a slice past the sealed frontier was accepted")
            } catch {
                guard case .notSealed(let location, let newest)? = StorageError.carried(by: error) else {
                    Issue.record("no storage error in \(error)")
                    return
                }
                #expect(location.stream == "s" && newest == Interval(0))
                #expect(error.storageError == StorageError.carried(by: error))
            }
        }
    }

    @Test func anEngineErrorCarriesItsVertexsStorageErrorAndAClosuresWrappedOne() {
        let damaged = StorageError.damaged(path: "/s", what: "a branch page")
        #expect(EngineError.storage(damaged, vertex: "v1", interval: Interval(4)).storageError == damaged)
        // A user closure that failed on a store read: the storage error two layers down.
        let closure = EngineError.closureFailed(underlying: TimeTravelError.storage(damaged), vertex: "v1",
                                                interval: Interval(4), partition: nil)
        #expect(closure.storageError == damaged)
        #expect(StorageError.carried(by: closure) == damaged)
        struct Mine: Error {}
        #expect(EngineError.closureFailed(underlying: Mine(), vertex: "v1", interval: Interval(4), partition: nil)
            .storageError == nil)
        #expect(EngineError.misuse("x").storageError == nil)
    }

    @Test func anIngestErrorCarriesTheStorageErrorItStoppedOn() {
        let full = StorageError.storeFull(context: "commit")
        #expect(IngestError.storage(full).storageError == full)
        #expect(StorageError.carried(by: IngestError.storage(full)) == full)
        #expect(IngestError.readFailed(errno: 5).storageError == nil)
        #expect(IngestError.inputMismatch(source: "a", reason: "b").storageError == nil)
    }
}
