import Strata
import StrataServer
import StrataTestSupport
import Testing

@Suite struct ReceiverStorageErrorTests {
    /// A directory source whose stream another writer holds reports the store's refusal as
    /// `.storage`, and its `storageError` is that refusal.
    @Test func aReceiverErrorCarriesTheStoresRefusal() async throws {
        let fixture = try SourceFixture()
        try fixture.write("a.jsonl", numberedLines(3))
        try await fixture.drain()
        let writer = try fixture.store.stream(named: "ev", of: JSONRecord.self).arrivalAppender()
        let source = try DirectorySource(store: fixture.store, configuration: fixture.configuration())
        do {
            try await source.run()
            Issue.record("the source wrote a stream another writer holds")
        } catch let error as ReceiverError {
            guard case .streamBusy(let stream, _)? = error.storageError else {
                Issue.record("no storage error in \(error)")
                return
            }
            #expect(stream == "ev")
            #expect(StorageError.carried(by: error) == error.storageError)
        }
        withExtendedLifetime(writer) {}
        #expect(ReceiverError.invalidArgument("x").storageError == nil)
    }
}
