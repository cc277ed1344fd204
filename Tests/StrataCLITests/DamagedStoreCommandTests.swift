import Foundation
import Strata
@testable import StrataStorage
import StrataTestSupport
import Testing

/// Issue 10: what every command does with a damaged, empty or read-only store, and `salvage`.
@Suite struct DamagedStoreCommandTests {
    static let readCommands: [[String]] = [
        ["streams"], ["describe", "views"], ["cat", "views", "--from", "100", "--to", "103"], ["stats"], ["verify"],
    ]

    /// Exit 65, one `Error:` line containing `text`, nothing on standard output, no crash.
    private func expectDataError(_ run: StrataRun, containing text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status == 65, "\(run.stderr)", sourceLocation: sourceLocation)
        #expect(run.stdout == "", sourceLocation: sourceLocation)
        #expect(run.stderrLines.count == 1, "\(run.stderr)", sourceLocation: sourceLocation)
        #expect(run.stderr.hasPrefix("Error: "), sourceLocation: sourceLocation)
        #expect(run.stderr.contains(text), "\(run.stderr)", sourceLocation: sourceLocation)
        #expect(!run.crashed, sourceLocation: sourceLocation)
    }

    @Test func aTruncatedDataFileIsDamageNotASignal() throws {
        let store = try FixtureStore()
        #expect(truncate(store.path + "/data.mdb", 8192) == 0)
        for command in Self.readCommands {
            expectDataError(try strata(command + ["--store", store.path]),
                            containing: "is damaged: data.mdb is 8192 bytes but its meta page")
        }
        // A writing command refuses it too, and leaves it as it was.
        let ingest = try strata(["ingest", "views", "--store", store.path, "--time-field", "ts", "--time-unit", "s",
                                 "--key-field", "user"], stdin: pageViews)
        #expect(ingest.status == 65)
        #expect(try FileManager.default.attributesOfItem(atPath: store.path + "/data.mdb")[.size] as? Int == 8192)
    }

    @Test func anEmptyDataFileIsNotAStoreAndStaysEmpty() throws {
        let store = try FixtureStore()
        #expect(truncate(store.path + "/data.mdb", 0) == 0)
        for command in Self.readCommands {
            expectDataError(try strata(command + ["--store", store.path]), containing: "data.mdb is empty (0 bytes)")
        }
        #expect(try FileManager.default.attributesOfItem(atPath: store.path + "/data.mdb")[.size] as? Int == 0)
    }

    @Test func aDamagedMetaTransactionIDIsNotAnOlderSnapshot() throws {
        let store = try FixtureStore()
        let file = URL(fileURLWithPath: store.path + "/data.mdb")
        var data = try Data(contentsOf: file)
        let pageSize = data.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 40, as: UInt32.self))) }
        // Meta page 0's transaction ID (page header 16 + 128), high byte: it would now look newest.
        data[16 + 128 + 6] ^= 0x01
        try data.write(to: file)
        expectDataError(try strata(["streams", "--store", store.path]), containing: "they should be consecutive")
        #expect(pageSize >= 512)
    }

    @Test func salvageOfAnIntactStoreLosesNothing() throws {
        let store = try FixtureStore()
        let into = store.directory.appending("salvaged")
        let run = try strata(["salvage", store.path, "--into", into])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "views: copied 3 intervals, 3 blocks, 4 records; nothing lost\n")
        let cat = ["cat", "views", "--from", "100", "--to", "103", "--store"]
        #expect(try strata(cat + [into]).stdout == (try strata(cat + [store.path])).stdout)
        #expect(try strata(["verify", "--store", into]).status == 0)
        // The destination must be new.
        #expect(try strata(["salvage", store.path, "--into", into]).status == 64)
    }

    @Test func salvageCopiesWhatVerifiesAndNamesWhatIsLost() throws {
        let marker = VerifyCommandTests.marker
        let input = "{\"ts\":100,\"id\":\"\(marker)\"}\n{\"ts\":101,\"ok\":true}\n"
        let ingested = try IngestedStore("s", lines: input,
                                         arguments: ["--time-field", "ts", "--time-unit", "s", "--partitions", "1"])
        let dir = ingested.directory, store = ingested.path
        let file = URL(fileURLWithPath: store + "/data.mdb")
        var data = try Data(contentsOf: file)
        var searchFrom = data.startIndex
        while let found = data.range(of: Data(marker.utf8), in: searchFrom..<data.endIndex) {
            data[found.lowerBound] ^= 0x01
            searchFrom = found.upperBound
        }
        try data.write(to: file)

        let into = dir.appending("salvaged")
        let run = try strata(["salvage", store, "--into", into])
        #expect(run.status == 65)
        #expect(run.stdout.hasPrefix("s: copied 2 intervals, 1 blocks, 1 records; lost 0 intervals, 1 blocks in 1 partitions, 1 records\n"),
                "\(run.stdout)")
        #expect(!run.crashed)
        #expect(try strata(["verify", "--store", into]).status == 0)
        #expect(try strata(["cat", "s", "--interval", "101", "--store", into]).stdout == "{\"ts\":101,\"ok\":true}\n")
        #expect(try strata(["cat", "s", "--interval", "100", "--store", into]).stdout == "")
    }

    /// Root ignores permission bits, so the store is read by another user (`setpriv`): it cannot
    /// create or write the lock file, and every read command still works, with a warning.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func aStoreWithoutWritePermissionCanBeRead() throws {
        let store = try FixtureStore()
        // Let the other user reach the store and the binary, but write nothing.
        makeReadOnlyForOthers(store)
        let binary = builtProductsDirectory() + "/strata"
        guard buildDirectoryClosedToOthers() == nil else { return }  // the build directory is not reachable by another user
        for command in Self.readCommands {
            let expected = try strata(command + ["--store", store.path])
            let run = try strata(["--reuid=65534", "--regid=65534", "--clear-groups", binary] + command + ["--store", store.path],
                                 executable: "/usr/bin/setpriv")
            #expect(run.status == 0, "\(command): \(run.stderr)")
            #expect(run.stdout == expected.stdout)
            #expect(run.stderr.contains("opened without LMDB's lock"))
        }
        let ingest = try strata(["--reuid=65534", "--regid=65534", "--clear-groups", binary, "ingest", "views", "--store",
                                 store.path, "--time-field", "ts", "--time-unit", "s", "--key-field", "user"],
                                stdin: pageViews, executable: "/usr/bin/setpriv")
        #expect(ingest.status != 0)
        #expect(!ingest.crashed)
    }
}

/// A store row of a version this build does not read — written by a newer build — is named with
/// its version and the versions this build reads, not only called malformed.
@Suite struct FutureRowVersionCommandTests {
    @Test func aCatalogRowOfAFutureVersionIsNamedWithItsVersion() throws {
        let fixture = try FixtureStore()
        do {
            let store = try Store.open(at: fixture.path)
            let log = store.logStore
            let descriptor = try #require(try log.descriptor(named: "views"))
            var body = Array(descriptor.encodedRow().dropLast(8))
            body[0] = 9
            let row = RowChecksum.seal(body)
            let catalog = log.catalog
            try log.committer.write { txn in
                try Array("views".utf8).withUnsafeBytes { key in
                    try row.withUnsafeBytes { try txn.put(catalog, key: key, value: $0) }
                }
            }
        }
        for command in [["describe", "views"], ["cat", "views", "--from", "100", "--to", "103"], ["verify"]] {
            let run = try strata(command + ["--store", fixture.path])
            #expect(run.status == 65, "\(command): \(run.stderr)")
            #expect(!run.crashed)
            // `verify` lists what it found on standard output; the others say it on standard error.
            let said = command == ["verify"] ? run.stdout : run.stderr
            #expect(said.contains("views"), "\(command): \(said)")
            #expect(said.contains("catalog row version 9; this build reads versions 1–2"), "\(command): \(said)")
        }
    }
}
