import Foundation
import StrataTestSupport
import Testing

@Suite struct InspectionCommandTests {
    @Test func streamsListsEveryStreamWithItsSettings() throws {
        let store = try FixtureStore()
        let run = try strata(["streams", "--store", store.path])
        #expect(run.status == 0)
        #expect(run.stdout == """
            NAME   TYPE  INTERVAL  PARTITIONS  SEALED THROUGH        FIRST READABLE        RETENTION
            views  json  1s        1           1970-01-01T00:01:43Z  1970-01-01T00:01:40Z  forever

            """)
        #expect(run.stderr == "")
        let all = try strata(["streams", "--all", "--store", store.path])
        #expect(all.stdout == """
            NAME        TYPE  INTERVAL  PARTITIONS  SEALED THROUGH        FIRST READABLE        RETENTION
            views       json  1s        1           1970-01-01T00:01:43Z  1970-01-01T00:01:40Z  forever
            views.late  json  1s        1           1970-01-01T00:01:43Z  -                     forever

            """)
        let local = try strata(["streams", "--local", "--store", store.path], environment: ["TZ": "Europe/Paris"])
        #expect(local.stdout.contains("1970-01-01T01:01:43+01:00  1970-01-01T01:01:40+01:00"))
    }

    @Test func streamsJSONIsOneObjectPerLineWithSortedKeys() throws {
        let store = try FixtureStore()
        let run = try strata(["streams", "--all", "--store", store.path, "--json"])
        #expect(run.status == 0)
        #expect(run.stdout == """
            {"firstReadable":100,"firstReadableTime":"1970-01-01T00:01:40Z","internal":false,"interval":"1s",\
            "intervalNanoseconds":1000000000,"name":"views","partitions":1,"retention":{"kind":"forever"},\
            "sealedThrough":103,"sealedThroughTime":"1970-01-01T00:01:43Z","type":"json"}
            {"firstReadable":null,"firstReadableTime":null,"internal":true,"interval":"1s",\
            "intervalNanoseconds":1000000000,"name":"views.late","partitions":1,"retention":{"kind":"forever"},\
            "sealedThrough":103,"sealedThroughTime":"1970-01-01T00:01:43Z","type":"json"}

            """)
    }

    @Test func describeShowsSettingsFrontierAndTotals() throws {
        let store = try FixtureStore()
        let run = try strata(["describe", "views", "--store", store.path])
        #expect(run.status == 0)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(13)) == [
            "stream          views",
            "id              1",
            "type            json",
            "interval        1s",
            "partitions      1",
            "retention       forever",
            "time            field ts (s)",
            "key             field user, placed by string key",
            "sealed through  103 (ends 1970-01-01T00:01:44Z)",
            "first interval  100 (starts 1970-01-01T00:01:40Z)",
            "first readable  100 (starts 1970-01-01T00:01:40Z)",
            "retained        100–103 (4 intervals)",
            "late records    0",
        ])
        #expect(lines.contains("intervals       4 (3 with records)"))
        #expect(lines.contains("records         4"))

        let json = try jsonObject(try strata(["describe", "views", "--store", store.path, "--json"]).stdout)
        #expect(json["timeField"] as? String == "ts")
        #expect(json["keyField"] as? String == "user")
        #expect(json["keyPlacement"] as? String == "string key")
        #expect(json["sealedThrough"] as? Int == 103)
        let stats = try #require(json["stats"] as? [String: Any])
        #expect(stats["records"] as? Int == 4)
    }

    @Test func statsShowsTotalsPerStreamAndTheStoreSize() throws {
        let store = try FixtureStore()
        let run = try strata(["stats", "--all", "--store", store.path])
        #expect(run.status == 0)
        let rows = run.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.count == 4)
        #expect(rows[0] == ["STREAM", "INTERVALS", "RECORDS", "RAW", "BYTES", "STORED", "BYTES", "RATIO", "LATE"])
        #expect(rows[1].prefix(3) == ["views", "4", "4"])
        #expect((Int(rows[1][3]) ?? 0) > 0 && (Int(rows[1][4]) ?? 0) > 0)
        #expect(rows[1].last == "0")
        #expect(rows[2].prefix(3) == ["views.late", "0", "0"])
        #expect(rows[3].first == "store:" && (Int(rows[3][1]) ?? 0) > 0)

        let json = try strata(["stats", "views", "--store", store.path, "--json"])
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let views = try jsonObject(lines[0])
        #expect(views["stream"] as? String == "views")
        #expect(views["intervals"] as? Int == 4)
        #expect(views["nonEmptyIntervals"] as? Int == 3)
        #expect(views["records"] as? Int == 4)
        #expect(views["lateRecords"] as? Int == 0)
        #expect((views["compressionRatio"] as? Double ?? 0) > 0)
        #expect((try jsonObject(lines[1])["storeUsedBytes"] as? Int ?? 0) > 0)
    }
}
