import Foundation
import StrataTestSupport
import Testing

@Suite struct VerifyCommandTests {
    /// Text that appears in a block's payload as it is: LZ4 keeps a first occurrence as literals.
    static let marker = "QZXJ-VKWP-BYFM-GHTL-7301-marker"

    @Test func cleanStoreExitsZero() throws {
        let store = try FixtureStore()
        let run = try strata(["verify", "--store", store.path])
        #expect(run.status == 0)
        #expect(run.stdout == "verified 2 streams: 3 sealed intervals, 3 blocks, 4 records; no problems\n")
        let json = try jsonObject(try strata(["verify", "views", "--store", store.path, "--json"]).stdout)
        #expect(json["clean"] as? Bool == true)
        #expect(json["streams"] as? Int == 1)
        #expect((json["problems"] as? [Any])?.isEmpty == true)
    }

    @Test func corruptedBlockIsReportedWithExitSixtyFive() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let store = dir.appending("store")
        let input = "{\"ts\":100,\"id\":\"\(Self.marker)\"}\n{\"ts\":101,\"ok\":true}\n"
        let ingest = try strata(["ingest", "s", "--store", store, "--time-field", "ts", "--time-unit", "s",
                                 "--partitions", "1"], stdin: input)
        #expect(ingest.status == 0)
        #expect(try strata(["verify", "--store", store]).status == 0)

        // Change one byte of every copy of the marker in the data file (old page copies included).
        let file = URL(fileURLWithPath: store + "/data.mdb")
        var data = try Data(contentsOf: file)
        let needle = Data(Self.marker.utf8)
        var copies = 0
        var searchFrom = data.startIndex
        while let found = data.range(of: needle, in: searchFrom..<data.endIndex) {
            data[found.lowerBound] ^= 0x01
            copies += 1
            searchFrom = found.upperBound
        }
        try #require(copies > 0)
        try data.write(to: file)

        let run = try strata(["verify", "--store", store])
        #expect(run.status == 65)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("stream s interval 100 partition 0: corrupt: ") == true)
        #expect(lines.last?.hasSuffix("; 1 problem") == true)
        #expect(!run.crashed)

        let json = try strata(["verify", "s", "--store", store, "--json"])
        #expect(json.status == 65)
        let object = try jsonObject(json.stdout)
        #expect(object["clean"] as? Bool == false)
        let problems = try #require(object["problems"] as? [[String: Any]])
        #expect(problems.count == 1)
        #expect(problems.first?["interval"] as? Int == 100)
        #expect(problems.first?["partition"] as? Int == 0)

        // Reading the damaged interval is an error naming it (exit 65); the intact one still reads.
        let cat = try strata(["cat", "s", "--store", store, "--interval", "100"])
        #expect(cat.status == 65)
        #expect(cat.stderrLines == [cat.stderrLines.first ?? ""])
        #expect(cat.stderr.hasPrefix("Error: stream s interval 100 partition 0: corrupt: "))
        #expect(!cat.crashed)
        let intact = try strata(["cat", "s", "--store", store, "--interval", "101"])
        #expect(intact.stdout == "{\"ts\":101,\"ok\":true}\n")
    }
}
