import Foundation
import Strata
import StrataServer
import StrataTestSupport
import Testing

/// A directory source's fixture: a store and a watched directory in one temporary directory.
struct SourceFixture {
    let directory: TemporaryDirectory
    let store: Store
    var inbox: String { directory.appending("in") }

    init() throws {
        directory = try TemporaryDirectory(prefix: "strata-watch")
        store = try Store(at: directory.appending("store"))
        try FileManager.default.createDirectory(atPath: directory.appending("in"), withIntermediateDirectories: false)
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: inbox + "/" + name))
    }

    func append(_ name: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: inbox + "/" + name))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    func configuration(stream: String = "ev", once: Bool = true) -> DirectorySourceConfiguration {
        var configuration = DirectorySourceConfiguration(directory: inbox, stream: stream)
        configuration.settings = JSONStreamSettings(partitions: 2, timeField: "ts", timeUnit: .seconds)
        configuration.stopsWhenDrained = once
        configuration.rescanInterval = .milliseconds(50)
        return configuration
    }

    /// Runs a source that stops when it has read everything; returns its totals.
    @discardableResult
    func drain(_ configuration: DirectorySourceConfiguration? = nil) async throws -> LineCounts {
        let source = try DirectorySource(store: store, configuration: configuration ?? self.configuration())
        try await source.run()
        return source.totals
    }

    func positions(_ stream: String = "ev") throws -> [String: SourcePosition] {
        var result: [String: SourcePosition] = [:]
        for position in try DirectorySource.positions(of: stream, in: store) { result[position.file] = position }
        return result
    }
}

@Suite struct DirectorySourceTests {
    @Test func everyFileIsIngestedOnceAndARestartReadsOnlyWhatIsNew() async throws {
        let fixture = try SourceFixture()
        let a = numberedLines(300), b = numberedLines(200, from: 300)
        try fixture.write("a.jsonl", a)
        try fixture.write("b.jsonl", b)
        let first = try await fixture.drain()
        #expect(first.accepted == 500 && first.rejected == 0)
        var positions = try fixture.positions()
        #expect(positions["a.jsonl"] == SourcePosition(file: "a.jsonl", offset: UInt64(a.utf8.count), line: 300))
        #expect(positions["b.jsonl"] == SourcePosition(file: "b.jsonl", offset: UInt64(b.utf8.count), line: 200))

        // Nothing new: nothing read.
        #expect(try await fixture.drain().lines == 0)

        // More lines in a, a new file c.
        try fixture.append("a.jsonl", numberedLines(100, from: 500))
        try fixture.write("c.jsonl", numberedLines(100, from: 600))
        let third = try await fixture.drain()
        #expect(third.accepted == 200)
        positions = try fixture.positions()
        #expect(positions["a.jsonl"]?.line == 400)
        #expect(positions["c.jsonl"]?.line == 100)

        let records = try readSealed("ev", in: fixture.store)
        #expect(records.count == 700)
        #expect(Set(records).count == 700)
    }

    @Test func aLineIsReadOnceItsNewlineIsWritten() throws {
        // The source and the waits run on threads of their own: in a full run, other tests may
        // hold Swift's cooperative pool for minutes, which must not decide what this test sees.
        let fixture = try SourceFixture()
        try fixture.write("a.jsonl", "{\"ts\":1000,\"n\":1}\n{\"ts\":1000,\"n\":")
        let source = try DirectorySource(store: fixture.store, configuration: fixture.configuration(once: false))
        let running = SourceThread(source)
        let firstLine = UInt64("{\"ts\":1000,\"n\":1}\n".utf8.count)
        #expect(try pollOffPool { try fixture.positions()["a.jsonl"]?.offset == firstLine })

        try fixture.append("a.jsonl", "2}\n")
        #expect(try pollOffPool { try fixture.positions()["a.jsonl"]?.line == 2 })
        // A file created while watching is picked up too.
        try fixture.write("b.jsonl", "{\"ts\":1000,\"n\":3}\n")
        #expect(try pollOffPool { try fixture.positions()["b.jsonl"]?.line == 1 })
        source.shutdown()
        try running.join()
        #expect(source.totals.accepted == 3)
        let records = try sealAndRead("ev", in: fixture.store, through: Interval(1000))
        #expect(Set(records) == ["{\"ts\":1000,\"n\":1}", "{\"ts\":1000,\"n\":2}", "{\"ts\":1000,\"n\":3}"])
    }

    @Test func malformedAndOverlongLinesBecomeDeadLettersWithFileLineAndOffset() async throws {
        let fixture = try SourceFixture()
        let long = "{\"ts\":1000,\"pad\":\"" + String(repeating: "L", count: 3 << 20) + "\"}"
        let lines = ["{\"ts\":1000,\"n\":1}", "oops", "{\"ts\":1000,\"n\":2}", long, "{\"n\":3}", "{\"ts\":1000,\"n\":4}"]
        try fixture.write("mixed.jsonl", lines.joined(separator: "\n") + "\n")
        var configuration = fixture.configuration()
        configuration.maxRecordBytes = 1024
        let totals = try await fixture.drain(configuration)
        #expect(totals.accepted == 3 && totals.rejected == 3 && totals.lines == 6)
        #expect(totals.rejections.map(\.line) == [2, 4, 5])

        let dead = try deadLetters(of: "ev", in: fixture.store)
        #expect(dead.count == 3)
        let path = try DirectorySource(store: fixture.store, configuration: configuration).directory + "/mixed.jsonl"
        var offset = 0
        for (index, line) in lines.enumerated() {
            defer { offset += line.utf8.count + 1 }
            guard let letter = dead.first(where: { $0["line"] as? Int == index + 1 }) else { continue }
            #expect(letter["origin"] as? String == "file " + path)
            #expect(letter["offset"] as? Int == offset)
            if line == long {
                #expect(letter["reason"] as? String == "line of \(long.utf8.count) bytes exceeds the limit of 1024")
                #expect(letter["rawBytes"] as? Int == long.utf8.count)
                #expect((letter["raw"] as? String)?.utf8.count == 64 << 10)
            } else {
                #expect(letter["raw"] as? String == line)
            }
        }
        #expect(dead.map { $0["line"] as? Int } == [2, 4, 5])
    }

    @Test func hiddenFilesOtherSuffixesAndDirectoriesAreNotRead() async throws {
        let fixture = try SourceFixture()
        try fixture.write("a.jsonl", "{\"ts\":1000}\n")
        try fixture.write(".a.jsonl.tmp", "{\"ts\":1000}\n")
        try fixture.write("notes.txt", "not json\n")
        try FileManager.default.createDirectory(atPath: fixture.inbox + "/sub.jsonl", withIntermediateDirectories: false)
        var configuration = fixture.configuration()
        configuration.fileSuffix = ".jsonl"
        let totals = try await fixture.drain(configuration)
        #expect(totals.lines == 1 && totals.accepted == 1)
        #expect(try fixture.positions().keys.sorted() == ["a.jsonl"])
    }

    @Test func aFileShorterThanItsPositionIsSkippedAndCounted() async throws {
        let fixture = try SourceFixture()
        try fixture.write("a.jsonl", numberedLines(10))
        try await fixture.drain()
        try fixture.write("a.jsonl", numberedLines(2))
        let source = try DirectorySource(store: fixture.store, configuration: fixture.configuration())
        try await source.run()
        #expect(source.totals.lines == 0)
        #expect(source.metrics.filesShrunk == 1)
        #expect(try fixture.positions()["a.jsonl"]?.line == 10)
    }

    @Test func positionsBelongToOneDirectory() async throws {
        let fixture = try SourceFixture()
        try fixture.write("a.jsonl", numberedLines(3))
        try await fixture.drain()
        let other = fixture.directory.appending("other")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false)
        var configuration = fixture.configuration()
        configuration.directory = other
        let source = try DirectorySource(store: fixture.store, configuration: configuration)
        do {
            try await source.run()
            Issue.record("a second directory was accepted for the stream")
        } catch let error as ReceiverError {
            guard case .sourceMismatch = error else { throw error }
            #expect(error.description.contains("one directory feeds one stream"))
        }
    }

    @Test func aMissingDirectoryIsAClearError() throws {
        let fixture = try SourceFixture()
        var configuration = fixture.configuration()
        configuration.directory = fixture.directory.appending("absent")
        #expect(throws: ReceiverError.self) { _ = try DirectorySource(store: fixture.store, configuration: configuration) }
        do {
            _ = try DirectorySource(store: fixture.store, configuration: configuration)
        } catch {
            #expect(error.description == "\(configuration.directory): realpath failed: No such file or directory (errno 2)")
        }
    }

    @Test func theReceiverRunsASourceAndRefusesItsStreamOverHTTP() async throws {
        let server = try await ReceiverHarness.start(sources: { store, directory in
            let inbox = directory.appending("in")
            try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: false)
            try Data(numberedLines(5).utf8).write(to: URL(fileURLWithPath: inbox + "/a.jsonl"))
            var configuration = DirectorySourceConfiguration(directory: inbox, stream: "watched")
            configuration.rescanInterval = .milliseconds(50)
            return [try DirectorySource(store: store, configuration: configuration)]
        })
        let refused = try await server.post("watched", "{\"a\":1}\n")
        #expect(refused.status == 409)
        #expect((try refused.json()["error"] as? String)?.contains("is written by the directory source of") == true)
        #expect(try await eventually { server.receiver.metrics.recordsAccepted == 5 })
        try await server.stop()
        #expect(try DirectorySource.positions(of: "watched", in: server.store).first?.line == 5)
    }
}

/// A directory source running on a thread of its own.
private final class SourceThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<Void, ReceiverError> = .success(())  // written before `done` is signalled

    init(_ source: DirectorySource) {
        let thread = Thread { [self] in
            outcome = Result { () throws(ReceiverError) in try source.runOnThisThread() }
            done.signal()
        }
        thread.start()
    }

    /// Waits for the run to end and returns its outcome.
    func join() throws(ReceiverError) {
        done.wait()
        try outcome.get()
    }
}

/// Polls `condition` on the calling thread (never the cooperative pool) until it holds or 120 s pass.
private func pollOffPool(_ condition: () throws -> Bool) throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(120)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
