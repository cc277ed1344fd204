import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

/// `GET /api/streams/NAME/tail` over a stream sealed through the last interval index, `UInt64.max`
/// (builds before a0eef49 sealed a late side stream so): no interval follows it.
@Suite struct TailLastIntervalIndexTests {
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
            // A batch straight to the log, as those builds wrote it: this build's appenders refuse it.
            let descriptor = try #require(try store.log.descriptor(named: "last"))
            var batch = AppendBatch()
            batch.seals = [(descriptor, Interval(UInt64.max))]
            try store.log.submit(batch, chain: nil).wait()
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
}
