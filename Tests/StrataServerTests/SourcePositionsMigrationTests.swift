import Foundation
import Strata
import StrataServer
import StrataTestSupport
import Testing

/// Directory-source positions: typed records in `NAME.pos`, committed with the JSON records in one
/// transaction across record types; stores written before keep their JSON-text `NAME.src` working.
@Suite struct SourcePositionsMigrationTests {
    /// Writes `files` as the directory source of earlier versions did: a JSON stream `NAME.src`
    /// (one partition, retention 1 interval) whose newest interval holds the positions as JSON
    /// text with sorted keys. This is the old write path, kept here as the fixture generator.
    static func writeLegacyPositions(stream: String, directory: String, files: [SourcePosition], interval: Interval,
                                     in store: Store) throws {
        struct Legacy: Encodable {
            var directory: String
            var files: [SourcePosition]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = try encoder.encode(Legacy(directory: directory, files: files))
        let legacy = try store.jsonStream(SideStreams.legacySourcePositions(of: stream), interval: .seconds(1),
                                          partitions: 1, retention: .intervals(1))
        let appender = try legacy.explicitAppender()
        try appender.append(JSONRecord(bytes: Array(text)), interval: interval)
        try appender.seal(through: interval)
    }

    /// Turns a store the current source wrote into one an earlier version wrote: the typed
    /// positions are dropped and the same positions written as JSON text.
    static func makeLegacy(_ fixture: SourceFixture, stream: String = "ev") throws {
        let files = try DirectorySource.positions(of: stream, in: fixture.store)
        let directory = try #require(realpath(fixture.inbox, nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        })
        try fixture.store.drop(SideStreams.sourcePositions(of: stream))
        try writeLegacyPositions(stream: stream, directory: directory, files: files, interval: Interval(4),
                                 in: fixture.store)
    }

    func streamNames(_ store: Store) throws -> Set<String> { Set(try store.streams().map(\.descriptor.name)) }

    @Test func positionsAreTypedRecordsCommittedWithTheJSONRecords() async throws {
        let fixture = try SourceFixture()
        try fixture.write("a.jsonl", numberedLines(250))
        try await fixture.drain()
        let names = try streamNames(fixture.store)
        #expect(names.contains("ev.pos") && !names.contains("ev.src"))
        let positions = try fixture.store.info(of: "ev.pos").descriptor
        #expect(positions.recordType == "strata.source-positions")
        #expect(positions.isInternal)
        #expect(try fixture.positions()["a.jsonl"]?.line == 250)
    }

    @Test func aStoreWithJSONTextPositionsResumesWhereItWasAndMovesThemToTypedRecords() async throws {
        let fixture = try SourceFixture()
        let first = numberedLines(200)
        try fixture.write("a.jsonl", first)
        try await fixture.drain()
        try Self.makeLegacy(fixture)
        #expect(try streamNames(fixture.store).isSuperset(of: ["ev.src"]))
        #expect(!(try streamNames(fixture.store)).contains("ev.pos"))
        // The old store's positions are read as they are.
        #expect(try fixture.positions()["a.jsonl"] == SourcePosition(file: "a.jsonl", offset: UInt64(first.utf8.count),
                                                                     line: 200))

        try fixture.append("a.jsonl", numberedLines(100, from: 200))
        let second = try await fixture.drain()
        #expect(second.accepted == 100)  // not 300: the JSON-text position was honoured
        let names = try streamNames(fixture.store)
        #expect(names.contains("ev.pos") && !names.contains("ev.src"))
        #expect(try fixture.positions()["a.jsonl"]?.line == 300)
        let records = try readSealed("ev", in: fixture.store)
        #expect(records.count == 300 && Set(records).count == 300)
        #expect(try await fixture.drain().lines == 0)
    }

    @Test func typedPositionsWinOverAJSONTextStreamLeftByAnInterruptedMove() async throws {
        let fixture = try SourceFixture()
        try fixture.write("a.jsonl", numberedLines(120))
        try await fixture.drain()
        // A kill between the first typed commit and the drop leaves an older position behind.
        let directory = try #require(realpath(fixture.inbox, nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        })
        try Self.writeLegacyPositions(stream: "ev", directory: directory,
                                      files: [SourcePosition(file: "a.jsonl", offset: 0, line: 0)],
                                      interval: Interval(0), in: fixture.store)
        #expect(try fixture.positions()["a.jsonl"]?.line == 120)
        #expect(try await fixture.drain().lines == 0)
        #expect(!(try streamNames(fixture.store)).contains("ev.src"))
        #expect(try readSealed("ev", in: fixture.store).count == 120)
    }

    @Test func aJSONTextPositionOfAnotherDirectoryIsRefusedByName() async throws {
        let fixture = try SourceFixture()
        try Self.writeLegacyPositions(stream: "ev", directory: "/elsewhere",
                                      files: [SourcePosition(file: "a.jsonl", offset: 10, line: 1)],
                                      interval: Interval(0), in: fixture.store)
        try fixture.write("a.jsonl", numberedLines(3))
        let source = try DirectorySource(store: fixture.store, configuration: fixture.configuration())
        await #expect {
            try await source.run()
        } throws: { error in
            guard case ReceiverError.sourceMismatch(let stream, let recorded, _) = error else { return false }
            return stream == "ev.src" && recorded == "/elsewhere"
        }
    }
}
