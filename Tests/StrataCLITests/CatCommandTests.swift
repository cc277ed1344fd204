import Foundation
import Strata
import StrataTestSupport
import Testing

@Suite struct CatCommandTests {
    @Test func printsOneIntervalsRecordsAsStored() throws {
        let store = try FixtureStore()
        let run = try strata(["cat", "views", "--store", store.path, "--interval", "100"])
        #expect(run.status == 0)
        #expect(run.stdout == """
            {"ts":100,"user":"alice","page":"/a"}
            {"ts":100,"user":"bob","page":"/b"}

            """)
        #expect(run.stderr == "")
    }

    @Test func printsARangeInIntervalOrderIncludingEmptyIntervals() throws {
        let store = try FixtureStore()
        let run = try strata(["cat", "views", "--store", store.path, "--from", "100", "--to", "103"])
        #expect(run.status == 0)
        #expect(run.stdout == pageViews)
    }

    @Test func jsonWrapsEachRecordWithItsIntervalAndPartition() throws {
        let store = try FixtureStore()
        let run = try strata(["cat", "views", "--store", store.path, "--from", "101", "--to", "103", "--json"])
        #expect(run.status == 0)
        #expect(run.stdout == """
            {"interval":101,"partition":0,"record":{"ts":101,"user":"alice","page":"/c"},"time":"1970-01-01T00:01:41Z"}
            {"interval":103,"partition":0,"record":{"ts":103,"user":"carol","page":"/d"},"time":"1970-01-01T00:01:43Z"}

            """)
    }

    @Test func partitionSelectsOnePartitionsRecords() throws {
        let store = try FixtureStore(partitions: 4)
        let all = try strata(["cat", "views", "--store", store.path, "--from", "100", "--to", "103", "--json"])
        #expect(all.status == 0)
        let lines = all.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        // Every partition's records, concatenated in partition order, give the whole output.
        var concatenated: [String] = []
        for interval in 100...103 {
            for p in 0..<4 {
                let one = try strata(["cat", "views", "--store", store.path, "--interval", String(interval),
                                      "--partition", String(p), "--json"])
                #expect(one.status == 0)
                let mine = one.stdout.split(separator: "\n").map(String.init)
                #expect(mine.allSatisfy { $0.contains(#""partition":\#(p),"#) })
                concatenated += mine
            }
        }
        #expect(concatenated == lines)
        // alice's two views share a partition: the key field chooses it.
        let alice = lines.filter { $0.contains("alice") }.map { $0.split(separator: ",")[1] }
        #expect(alice.count == 2 && alice[0] == alice[1])
    }

    @Test func keyValueRecordsPrintAsKeyAndValue() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let path = dir.appending("store")
        do {
            let store = try Store(at: path)
            let counts = try store.stream("counts", of: KeyValue<String, Int>.self, interval: .seconds(1), partitions: 1)
            let appender = try counts.explicitAppender()
            try appender.append(KeyValue("a\"b", 3), interval: Interval(7))
            try appender.append(KeyValue("c", -1), interval: Interval(7))
            try appender.seal(through: Interval(7))
        }
        let plain = try strata(["cat", "counts", "--store", path, "--interval", "7"])
        #expect(plain.status == 0)
        #expect(plain.stdout == """
            {"key":"a\\"b","value":3}
            {"key":"c","value":-1}

            """)
        let json = try strata(["cat", "counts", "--store", path, "--interval", "7", "--json"])
        #expect(json.stdout.hasPrefix(#"{"interval":7,"partition":0,"record":{"key":"a\"b","value":3},"time":"1970-01-01T00:00:07Z"}"#))

        let streams = try strata(["streams", "--store", path, "--json"])
        #expect(streams.stdout.contains(#""type":"KeyValue<String, Int>""#))
    }

    @Test func unknownRecordTypeIsAClearError() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let path = dir.appending("store")
        do {
            let store = try Store(at: path)
            let stream = try store.stream("opaque", of: Opaque.self, interval: .seconds(1), partitions: 1)
            let appender = try stream.explicitAppender()
            try appender.append(Opaque(value: 1), interval: Interval(0))
            try appender.seal(through: Interval(0))
        }
        let run = try strata(["cat", "opaque", "--store", path, "--interval", "0"])
        #expect(run.status == 1)
        #expect(run.stdout == "")
        #expect(run.stderrLines.count == 1)
        #expect(run.stderr.contains("holds records of type \(Opaque.recordTypeName), which strata cat cannot print"))
        #expect(!run.crashed)
    }

    @Test func manyRecordsComeOutWhole() throws {
        let dir = try TemporaryDirectory(prefix: "strata-cli")
        let path = dir.appending("store")
        let count = 50_000
        var input = ""
        for i in 0..<count { input += #"{"ts":\#(1_000 + i / 10_000),"n":\#(i)}"# + "\n" }
        let ingest = try strata(["ingest", "many", "--store", path, "--time-field", "ts", "--time-unit", "s",
                                 "--partitions", "1"], stdin: input)
        #expect(ingest.status == 0)
        let run = try strata(["cat", "many", "--store", path, "--from", "1000", "--to", "1004"])
        #expect(run.status == 0)
        #expect(run.stdout == input)
    }
}

/// A record type the CLI cannot know.
struct Opaque: RecordCodable {
    var value: UInt8
    init(value: UInt8) { self.value = value }
    func encode(to writer: inout BinaryWriter) { writer.write(byte: value) }
    init(from reader: inout BinaryReader) throws(RecordDecodingError) { value = try reader.readByte() }
}
