import Foundation
import StrataTestSupport
import Testing

@testable import StrataStorage

/// The data file's map in this process: located (so values read are bounds-checked against the
/// pages in use), followed when the map grows, and kept mostly unmapped while blocks are read.
@Suite struct MappedFileTests {
    private static func environment(_ directory: TemporaryDirectory) throws -> (Environment, Database) {
        let environment = try Environment(path: directory.path, sizeLimit: 1 << 34, maxDatabases: 4, sync: .none)
        let database = try environment.openDatabases(["values"])[0]
        return (environment, database)
    }

    private static func put(_ environment: Environment, _ database: Database, count: Int, size: Int, from first: Int = 0) throws {
        let value = [UInt8](repeating: 0x5a, count: size)
        try environment.write { txn in
            for index in first..<first + count {
                var key = UInt64(index).bigEndian
                try withUnsafeBytes(of: &key) { key in
                    try value.withUnsafeBytes { try txn.put(database, key: key, value: $0) }
                }
            }
        }
    }

    /// Where the value read under `index` lies, as an address.
    private static func address(_ environment: Environment, _ database: Database, _ index: Int) throws -> UInt {
        try environment.read { txn in
            var key = UInt64(index).bigEndian
            return try withUnsafeBytes(of: &key) { key in
                try txn.withValue(database, key: key) { value in UInt(bitPattern: value?.baseAddress) }
            }
        }
    }

    @Test func valuesReadLieInTheLocatedMapAlsoAfterItGrows() throws {
        let directory = try TemporaryDirectory()
        let (environment, database) = try Self.environment(directory)
        try Self.put(environment, database, count: 16, size: 64 << 10)
        let before = environment.mappedRange
        #expect(!before.isEmpty, "the map of data.mdb was not found in /proc/self/maps")
        #expect(before.contains(try Self.address(environment, database, 3)))
        // Past the initial 64 MiB map: it is resized (and mapped again, elsewhere or not).
        for batch in 0..<10 { try Self.put(environment, database, count: 16, size: 1 << 20, from: 100 + batch * 16) }
        let after = environment.mappedRange
        #expect(after.count > before.count)
        #expect(after.contains(try Self.address(environment, database, 3)))
        #expect(after.contains(try Self.address(environment, database, 100 + 9 * 16 + 15)))
    }

    @Test func readingManySmallValuesKeepsTheDataFileMostlyUnmapped() throws {
        let directory = try TemporaryDirectory()
        let (environment, database) = try Self.environment(directory)
        // 48 MiB of 2 KiB values: each read faults in its page and up to 15 neighbours.
        let count = 24 * 1024
        for batch in 0..<8 { try Self.put(environment, database, count: count / 8, size: 2048, from: batch * count / 8) }
        for index in 0..<count {
            try environment.read { txn in
                var key = UInt64(index).bigEndian
                try withUnsafeBytes(of: &key) { key in
                    try txn.withValue(database, key: key) { value in
                        guard let value else { Issue.record("value \(index) missing"); return }
                        #expect(value.load(fromByteOffset: 1000, as: UInt8.self) == 0x5a)
                        environment.releasePages(of: value)
                    }
                }
            }
        }
        // The pages of the 48 MiB file this process maps stay within the sweep distance.
        let resident = try withExtendedLifetime(environment) { try Self.residentKiB(of: directory.path + "/data.mdb") }
        #expect(resident <= (Environment.sweepBytes >> 10) + 8 * 1024, "\(resident) KiB of data.mdb resident")
    }

    /// The resident KiB of this process's mappings of `file` (/proc/self/smaps, read line by line:
    /// Foundation reads only its first page).
    private static func residentKiB(of file: String) throws -> Int {
        guard let smaps = fopen("/proc/self/smaps", "r") else { throw CocoaError(.fileReadUnknown) }
        defer { fclose(smaps) }
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        var inFile = false
        var total = 0
        while getline(&buffer, &capacity, smaps) > 0, let buffer {
            let line = String(cString: buffer).trimmingCharacters(in: .newlines)
            if let first = line.first, first.isHexDigit, line.split(separator: " ").first?.contains("-") == true {
                inFile = line.hasSuffix(file)
            } else if inFile, line.hasPrefix("Rss:") {
                total += Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
            }
        }
        return total
    }
}
