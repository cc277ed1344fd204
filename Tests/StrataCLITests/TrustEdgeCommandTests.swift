import Foundation
import Strata
import StrataTestSupport
import Testing

@testable import StrataCLI

// Issue 10, items 7 and 11, as the command line shows them.

@Suite struct TrustEdgeCommandTests {
    @Test(arguments: ["1e-300", "0.0009", "1000001", "1e308", "nan", "inf", "-1", "0"])
    func issue10_item7_speedsOutsideTheRangeAreUsageErrors(speed: String) throws {
        for arguments in [["tail", "v", "--store", "/s", "--pace", "--speed=" + speed],
                          ["replay", "v", "--store", "/s", "--from", "1", "--to", "2", "--into", "w", "--pace",
                           "--speed=" + speed]] {
            #expect {
                _ = try StrataCommand.parseAsRoot(arguments)
            } throws: { error in
                StrataCommand.exitCode(for: error) == .validationFailure
            }
        }
        // The built binary says so and exits 64: no trap.
        let run = try strata(["tail", "v", "--store", "/nonexistent", "--pace", "--speed=" + speed])
        #expect(run.status == 64 && !run.crashed, "\(run.stderr)")
        #expect(run.stderr.contains("--speed must be a number from 0.001 to 1000000"), "\(run.stderr)")
    }

    @Test func issue10_item7_theRangesEndsAreAccepted() throws {
        for speed in ["0.001", "1000000"] {
            _ = try StrataCommand.parseAsRoot(["tail", "v", "--store", "/s", "--pace", "--speed=" + speed])
            _ = try StrataCommand.parseAsRoot(["replay", "v", "--store", "/s", "--from", "1", "--to", "2", "--into", "w",
                                               "--pace", "--speed=" + speed])
        }
    }

    @Test func issue10_item11_aRecordTheTypeRejectsExitsOneNotAsCorruption() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-cli")
        let path = directory.appending("store")
        do {
            let store = try Store(at: path)
            let stream = try store.stream("names", of: NotQuiteAString.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(NotQuiteAString(bytes: Array("ok".utf8)), interval: Interval(7))
            try appender.append(NotQuiteAString(bytes: [0x6f, 0xc3]), interval: Interval(7))  // a cut-off é
            try await appender.seal(through: Interval(7))
        }
        let cat = try await strataOffThePool(["cat", "names", "--interval", "7", "--store", path])
        #expect(cat.status == 1 && !cat.crashed)
        #expect(cat.stderr.contains("stream names interval 7 partition 0: record 1 is intact but does not decode as Swift.String"),
                "\(cat.stderr)")
        #expect(!cat.stderr.contains("corrupt"), "\(cat.stderr)")
        let verify = try await strataOffThePool(["verify", "--store", path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}

/// Writes `String`'s layout with bytes `String` does not accept, under `String`'s catalog name.
struct NotQuiteAString: RecordCodable {
    static var recordTypeName: String { String.recordTypeName }
    var bytes: [UInt8]
    func encode(to writer: inout BinaryWriter) { bytes.withUnsafeBytes { writer.write(lengthPrefixed: $0) } }
    init(bytes: [UInt8]) { self.bytes = bytes }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) { bytes = Array(try reader.readLengthPrefixed()) }
}
