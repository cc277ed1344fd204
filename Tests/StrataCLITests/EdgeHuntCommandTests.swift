import Foundation
import StrataTestSupport
import Testing

/// What the edge hunts found at the command line and left for later: each once a silent wrong
/// answer, a misleading message or an exit 0 for a mistake.
@Suite struct EdgeHuntCommandTests {
    /// An ingest whose records were all late once sealed one more, empty, interval of the stream
    /// (106 here): the on-time record for it that came next then counted as late.
    @Test func anIngestOfLateRecordsOnlySealsNoIntervalOfTheStream() throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let path = directory.appending("store")
        let first = try strata(["ingest", "v", "--store", path, "--time-field", "ts", "--time-unit", "s"],
                               stdin: "{\"ts\":100}\n{\"ts\":105}\n")
        #expect(first.status == 0, "\(first.stderr)")
        for round in 1...2 {
            let late = try strata(["ingest", "v", "--store", path], stdin: "{\"ts\":10\(round)}\n")
            #expect(late.status == 0, "\(late.stderr)")
            #expect(late.stderrLines.first == "ingested 1 lines into v: 1 accepted, 0 rejected, 1 late", "\(late.stderr)")
            #expect(late.stderrLines.dropFirst().first == "intervals none, sealed through 105", "\(late.stderr)")
        }
        // The late records are readable at once, in the late side stream.
        let lateRecords = try strata(["cat", "v.late", "--store", path])
        #expect(lateRecords.status == 0 && lateRecords.stdout == "{\"ts\":101}\n{\"ts\":102}\n",
                "\(lateRecords.stdout)\(lateRecords.stderr)")
        // Interval 106 is still open: a record for it is on time.
        let onTime = try strata(["ingest", "v", "--store", path], stdin: "{\"ts\":106}\n")
        #expect(onTime.stderrLines.first == "ingested 1 lines into v: 1 accepted, 0 rejected, 0 late", "\(onTime.stderr)")
        #expect(onTime.stderrLines.dropFirst().first == "intervals 106–106, sealed through 106", "\(onTime.stderr)")
        let cat = try strata(["cat", "v", "--store", path])
        #expect(cat.stdout == "{\"ts\":100}\n{\"ts\":105}\n{\"ts\":106}\n", "\(cat.stdout)\(cat.stderr)")
        let verify = try strata(["verify", "--store", path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}
