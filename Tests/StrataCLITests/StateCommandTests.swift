import Foundation
import StrataTestSupport
import Testing

// `strata state NAME --as-of T` on a store written by the seed programs of `strata-crash-child
// program` (tools/crash/ProgramMode.swift): `urlCounts` is a runningReduce output (String → Int64),
// `sessionUpdates` the updates of a `track` (UInt64 → Int64, timeout 3, `nil` on exit), snapshots
// every 4 intervals. References come from the streams themselves, through `strata cat`.

@Suite struct StateCommandTests {
    /// Runs the seed programs over intervals 0…11.
    static func makeStore() throws -> (TemporaryDirectory, String) {
        let directory = try TemporaryDirectory(prefix: "strata-cli-state")
        let path = directory.appending("store")
        try runSeedPrograms(store: path, intervals: 12)
        return (directory, path)
    }

    /// A runningReduce's state as of t is, per key, the last value it emitted at or before t.
    @Test func runningReduceStateIsTheLastEmittedValuePerKey() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        for t in [0, 3, 6, 11] {
            let cat = try strata(["cat", "urlCounts", "--from", "0", "--to", String(t), "--store", path])
            #expect(cat.status == 0)
            var expected: [String: Int] = [:]
            for line in cat.stdout.split(separator: "\n") {
                let object = try jsonObject(line)
                expected[try #require(object["key"] as? String)] = try #require(object["value"] as? Int)
            }
            let run = try strata(["state", "urlCounts", "--as-of", String(t), "--json", "--store", path])
            #expect(run.status == 0)
            #expect(run.stderr == "")
            var found: [String: Int] = [:]
            for line in run.stdout.split(separator: "\n") {
                let object = try jsonObject(line)
                #expect(object.keys.sorted() == ["key", "value"])
                found[try #require(object["key"] as? String)] = try #require(object["value"] as? Int)
            }
            #expect(found == expected, "as of \(t)")

            let (url, count) = try #require(expected.min { $0.key < $1.key })
            let one = try strata(["state", "urlCounts", "--as-of", String(t), "--key", url, "--store", path])
            #expect(one.status == 0)
            #expect(one.stdout == "KEY\(String(repeating: " ", count: max(url.count + 2, 3) - 1))VALUE\n"
                    + "\"\(url)\"  \(count)\n")
        }
        let absent = try strata(["state", "urlCounts", "--as-of", "5", "--key", "/no-such-url", "--json", "--store", path])
        #expect(absent.status == 0 && absent.stdout == "")
    }

    /// A track's state as of t has as many keys as `activeCount` counted at t, including removals
    /// by `nil` and timeouts that its updates never show.
    @Test func trackStateHasTheLiveKeysOfActiveCount() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        for t in [2, 7, 11] {
            let active = try strata(["cat", "activeSessions", "--interval", String(t), "--store", path])
            let live = try #require(Int(active.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            let run = try strata(["state", "sessionUpdates", "--as-of", String(t), "--json", "--store", path])
            #expect(run.status == 0)
            let lines = run.stdout.split(separator: "\n")
            #expect(lines.count == live, "as of \(t)")
            let first = try jsonObject(try #require(lines.first))
            let key = try #require(first["key"] as? Int)
            let one = try strata(["state", "sessionUpdates", "--as-of", String(t), "--key", String(key), "--json",
                                  "--store", path])
            #expect(one.stdout == String(lines[0]) + "\n")
        }
    }

    @Test func errorsExitNonZeroWithAMessage() throws {
        let (directory, path) = try Self.makeStore()
        defer { _ = directory }
        let stateless = try strata(["state", "wordCounts", "--as-of", "5", "--store", path])
        #expect(stateless.status == 1)
        #expect(stateless.stderr.hasPrefix("Error: stream wordCounts is not written by a stateful vertex"))
        #expect(stateless.stdout == "")

        let unknown = try strata(["state", "nope", "--as-of", "5", "--store", path])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("nope"))

        let future = try strata(["state", "urlCounts", "--as-of", "99", "--store", path])
        #expect(future.status == 1)
        #expect(future.stderr.contains("99") && !future.crashed)

        let badKey = try strata(["state", "sessionUpdates", "--as-of", "5", "--key", "abc", "--store", path])
        #expect(badKey.status == 64)
        #expect(!badKey.crashed)

        let missing = try strata(["state", "urlCounts", "--as-of", "5", "--store", directory.appending("none")])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: no store at \(directory.appending("none"))\n")
    }
}
