import Foundation
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// The `foreach` contract after a crash: the sink is called again only for the intervals whose
// progress was not committed — never for a committed one — and every interval reaches it.

@Suite struct ForeachRecoveryTests {
    @Test func aSinkIsCalledAgainOnlyForIntervalsNotCommitted() async throws {
        let directory = try TemporaryDirectory(prefix: "strata-foreach")
        let path = directory.appending("store"), calls = directory.appending("calls")
        try RestartFixture.fill(path, intervals: 0..<RestartFixture.intervals)
        // The first run dies (`_exit`) inside the sink, at interval 7.
        await #expect(processExitsWith: .exitCode(RestartFixture.killedExitCode)) { [path = path as String, calls = calls as String] in
            try ForeachFixture.makeProgram(at: path, calls: calls, dieAt: 7).runUntilCaughtUp()
        }
        let firstRun = try ForeachFixture.calls(calls)
        // Commits are pipelined behind the sink calls: any prefix, even none, may be committed.
        let committed = try Store.open(at: path).log.progress(named: "fe.v0")?.interval.rawValue
        #expect((committed ?? 0) < 7)
        #expect(firstRun.last == 7)

        // The second run calls the sink for exactly the intervals after the committed progress.
        try ForeachFixture.makeProgram(at: path, calls: calls, dieAt: nil).runUntilCaughtUp()
        let secondRun = Array(try ForeachFixture.calls(calls).dropFirst(firstRun.count))
        let withRecords = (0..<UInt64(RestartFixture.intervals)).filter {
            !RestartFixture.emptyIntervals.contains(Int($0))
        }
        #expect(secondRun == withRecords.filter { t in committed.map { t > $0 } ?? true })
        #expect(Set(firstRun + secondRun) == Set(withRecords))
    }
}

enum ForeachFixture {
    /// Program `fe`: a sink that appends each interval it is called with to the file `calls`, and
    /// `_exit`s inside the call for `dieAt`.
    static func makeProgram(at path: String, calls: String, dieAt: UInt64?) throws -> Program {
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: KeyValue<String, Int64>.self)
        return try Program(name: "fe", store: store) { p in
            p.read(events).foreach { interval, _ in
                let fd = open(calls, O_WRONLY | O_APPEND | O_CREAT, 0o644)
                let line = Array("\(interval.rawValue)\n".utf8)
                _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                if interval.rawValue == dieAt { _exit(RestartFixture.killedExitCode) }
            }
        }
    }

    /// The intervals the sink was called with, in call order.
    static func calls(_ file: String) throws -> [UInt64] {
        try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").compactMap { UInt64($0) }
    }
}
