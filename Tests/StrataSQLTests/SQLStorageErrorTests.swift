import Strata
import StrataSQL
import Testing

@Suite struct SQLStorageErrorTests {
    @Test func anSQLErrorCarriesTheStorageErrorItWrapsDirectlyOrThroughTimeTravel() {
        let full = StorageError.storeFull(context: "commit")
        #expect(SQLError.storage(full).storageError == full)
        #expect(SQLError.timeTravel(.storage(full)).storageError == full)
        #expect(StorageError.carried(by: SQLError.timeTravel(.storage(full))) == full)
        #expect(SQLError.timeTravel(.unknownTimeZone("Mars/Base")).storageError == nil)
        #expect(SQLError.interrupted.storageError == nil)
    }
}
