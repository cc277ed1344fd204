import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// The read API over a stream sealed through the last interval index, `UInt64.max` (builds before
/// a0eef49 sealed a late side stream so): no interval follows it.
@Suite struct ReadAPILastIntervalIndexTests {
    /// The tail stepped from interval `UInt64.max` to interval 0, skipped to the first readable
    /// interval and sent the stream again; by default it started at interval 0 (the newest sealed
    /// interval's `next`) and sent the whole stream. It ends after the last index; by default it
    /// sends nothing.
    @Test func tailEndsAfterTheLastIntervalIndex() async throws {
        let server = try await ReceiverHarness.start()
        let store = server.store
        try await onOwnThread {
            let stream = try store.stream("last", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(UInt64.max - 1))
            try appender.seal(through: Interval(UInt64.max - 1))
            try appender.append(2, interval: Interval(UInt64.max))
            try appender.flush()
            try Self.sealThroughTheLastIndex(store, "last")
        }
        let tail = "http://127.0.0.1:\(server.port)/api/streams/last/tail"
        // Three intervals asked for, two exist: the response ends after the second.
        let lines = try await Curl.lines(tail + "?from=\(UInt64.max - 1)&intervals=3")
        #expect(lines.map { $0["record"] as? Int } == [1, 2])
        let text = String(decoding: try await Curl.run(["--fail-with-body", tail + "?from=\(UInt64.max - 1)&intervals=3"]),
                          as: UTF8.self)
        #expect(text.split(separator: "\n").map { $0.contains("\"interval\":\(UInt64.max - 1),") }
                == [true, false], "\(text)")
        // From the interval after the newest sealed one, the default: there is none.
        let none = try await Curl.lines(tail + "?intervals=1")
        #expect(none.isEmpty)
        try await server.stop()
    }

    /// `GET /api/streams/NAME/intervals` counted a range as `high − low + 1`: for a stream from
    /// interval 0 sealed through the last index that passed `UInt64.max` and the server trapped.
    /// Too many to list: a 400 naming the count.
    @Test func intervalsOfTheWholeIndexSpaceAreTooManyToList() async throws {
        let server = try await ReceiverHarness.start()
        let store = server.store
        try await onOwnThread {
            let stream = try store.stream("whole", of: Int64.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(1, interval: Interval(0))
            try appender.seal(through: Interval(UInt64.max - 1))
            try appender.append(2, interval: Interval(UInt64.max))
            try appender.flush()
            try Self.sealThroughTheLastIndex(store, "whole")
        }
        let url = "http://127.0.0.1:\(server.port)/api/streams/whole/intervals?from=0&to=\(UInt64.max)"
        let body = String(decoding: try await Curl.run([url]), as: UTF8.self)
        #expect(body.contains("the range holds 18446744073709551616 intervals; at most 20000"), "\(body)")
        #expect(try await Curl.status(url) == 400)
        // The last few still list, through the last index.
        let last = try await Curl.run(["--fail-with-body", "http://127.0.0.1:\(server.port)/api/streams/whole/intervals"])
        let object = try JSONSerialization.jsonObject(with: last) as? [String: Any]
        #expect((object?["intervals"] as? [Any])?.count == 120)
        try await server.stop()
    }

    /// Seals `name` through the last interval index by a batch straight to the log, as those
    /// builds wrote it: this build's appenders refuse it.
    private static func sealThroughTheLastIndex(_ store: Store, _ name: String) throws {
        let descriptor = try #require(try store.log.descriptor(named: name))
        var batch = AppendBatch()
        batch.seals = [(descriptor, Interval(UInt64.max))]
        try store.log.submit(batch, chain: nil).wait()
    }
}
