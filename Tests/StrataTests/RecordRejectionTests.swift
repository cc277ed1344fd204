import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// Issue 10, item 11: a record the reading type does not accept was reported as store corruption
// while `verify` found nothing.

/// A record type that writes a `String`'s layout with bytes `String` does not accept (invalid
/// UTF-8), under `String`'s catalog name: a reader of `String` finds intact bytes it rejects.
struct NotQuiteAString: RecordCodable {
    static var recordTypeName: String { String.recordTypeName }
    var bytes: [UInt8]
    func encode(to writer: inout BinaryWriter) { bytes.withUnsafeBytes { writer.write(lengthPrefixed: $0) } }
    init(bytes: [UInt8]) { self.bytes = bytes }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) { bytes = Array(try reader.readLengthPrefixed()) }
}

@Suite struct RecordRejectionTests {
    @Test func issue10_item11_aRecordTheTypeRejectsIsNotReportedAsCorruption() throws {
        try withStore { store in
            let writer = try store.stream("names", of: NotQuiteAString.self, interval: .seconds(1), partitions: 1)
            let appender = try writer.explicitAppender()
            for index in 0..<12 {
                try appender.append(NotQuiteAString(bytes: index == 11 ? [0x61, 0xff] : Array("n\(index)".utf8)),
                                    interval: Interval(5))
            }
            try appender.seal(through: Interval(5))
            let reader = try store.stream(named: "names", of: String.self)
            let expected = StorageError.recordRejected(StoreLocation(stream: "names", interval: Interval(5), partition: PartitionIndex(0)),
                                                       record: 11, recordType: String.recordTypeName,
                                                       .invalidUTF8(offset: 0))
            #expect(throws: expected) { try reader.read(Interval(5)) }
            #expect(throws: expected) { try reader.forEach(in: Interval(5)...Interval(5)) { _, _, _ in } }
            #expect(throws: expected) { try reader.forEachInterval(in: Interval(5)...Interval(5)) { _ in } }
            #expect(expected.description.contains("record 11 is intact but does not decode as Swift.String"))
            #expect(!expected.description.contains("corrupt"))
            // The store itself is sound.
            #expect(try store.verify().isClean)
        }
    }
}
