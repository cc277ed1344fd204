import Foundation
import Synchronization
import Testing

@testable import Strata
@testable import StrataStorage
import StrataTestSupport

// Issue 10, items 8 and 10: a store shared with other processes. The other process is the real
// `strata-crash-child` writer (tools/crash/main.swift), which appends and seals intervals of a
// `KeyValue<UInt64, Bytes>` stream (1 s intervals) from the interval after the sealed frontier.

@Suite struct OtherProcessTests {
    typealias ChildRecord = KeyValue<UInt64, Bytes>

    @Test func issue10_item8_sealsOfAnotherProcessWakeASubscription() async throws {
        try await withStorePath { path in
            let store = try Store(at: path, options: .testing)
            let stream = try store.stream("shared", of: ChildRecord.self, interval: .seconds(1), partitions: 2)
            // An hour between polls: only a wake-up by the other process's commits can deliver its
            // seals within the deadline.
            let subscription = stream.sealedIntervals(from: Interval(0), pollInterval: .seconds(3600))
            let received = Task {
                var intervals: [Interval] = []
                for try await batch in subscription {
                    intervals.append(batch.interval)
                    if intervals.count == 3 { break }
                }
                return intervals
            }
            let child = try await onThread(within: .seconds(300)) {
                try runChild(["--store", path, "--stream", "shared", "--durability", "none",
                              "--intervals", "3", "--records-per-interval", "50", "--partitions", "2"])
            }
            #expect(child?.status == 0, "the child failed: \(child?.stderr ?? "it did not end")")
            let intervals = try await value(of: received, within: .seconds(60))
            #expect(intervals == [Interval(0), Interval(1), Interval(2)])
        }
    }

    @Test func issue10_item10_nestedReadsWhileAnotherProcessGrowsTheMap() async throws {
        // A 4 MiB map in this process; the child maps 64 MiB and writes well past 4 MiB, so a read
        // transaction begun afterwards here finds the map grown (MDB_MAP_RESIZED).
        let options = StoreOptions(durability: .noSync, sizeLimit: 4 << 20)
        try await withStorePath(options: options) { path in
            let store = try Store(at: path, options: options)
            let stream = try store.stream("shared", of: ChildRecord.self, interval: .seconds(1), partitions: 2)
            let appender = try stream.appender(timing: .explicit)
            try appender.append(KeyValue(UInt64(1), Bytes([1])), interval: Interval(0))
            try await appender.seal(through: Interval(0))
            let intervals = 6, perInterval = 10_000

            // On a thread of its own: the outer read's body blocks while the child runs.
            let nested = try await onThread(within: .seconds(300)) { () throws -> StreamFrontier? in
                var inner: StreamFrontier?
                try stream.forEach(in: Interval(0)...Interval(0)) { _, _, _ in
                    // Inside the outer read: another process grows the map, then a nested read.
                    let child = try runChild(["--store", path, "--stream", "shared", "--durability", "none",
                                              "--intervals", String(intervals + 1),
                                              "--records-per-interval", String(perInterval), "--partitions", "2"])
                    guard child.status == 0 else { throw ChildFailed(description: child.stderr) }
                    inner = try stream.frontier()
                }
                return inner
            }
            // The nested read shared the outer read's snapshot, taken before the child wrote.
            #expect(nested??.sealedThrough == Interval(0), "the nested read did not return (self-deadlock)")
            // A read afterwards adopts the grown map and sees everything the child sealed.
            #expect(try stream.frontier().sealedThrough == Interval(UInt64(intervals)))
            #expect(try stream.read(Interval(UInt64(intervals))).count == perInterval)
            // The map was grown by the child (so the nested read met MDB_MAP_RESIZED) and adopted here.
            #expect(store.log.environment.currentMapSize > 4 << 20)
            #expect(try store.verify().isClean)
        }
    }

    @Test func issue10_item10_opensOfOtherStoresDoNotWaitForASlowOpen() async throws {
        let directory = try TemporaryDirectory()
        let slowPath = directory.appending("slow"), otherPath = directory.appending("other")
        for path in [slowPath, otherPath] {
            let made = try LogStore.open(path: path, options: .testing)
            _ = try made.createOrOpenStream(LogStore.StreamSpec(name: "s", recordType: "json",
                                                                 intervalLength: IntervalLength(rawValue: 1_000_000_000),
                                                                 partitions: 1))
        }
        // Both closed now (the last references are gone). Another process compacting `slow`
        // holds LMDB's lock file for writing, which makes an open wait in `mdb_env_open`; an
        // open-file-description lock stands in for it (it conflicts with this process's own locks).
        let lockFile = slowPath + "/lock.mdb"
        let fd = open(lockFile, O_RDWR | O_CLOEXEC)
        try #require(fd >= 0)
        var lock = flock(l_type: Int16(F_WRLCK), l_whence: Int16(SEEK_SET), l_start: 0, l_len: 1, l_pid: 0)
        try #require(fcntl(fd, 37 /* F_OFD_SETLK */, &lock) == 0)
        var released = false
        defer { if !released { close(fd) } }

        // Opens block their threads: each runs on a thread of its own, never on the cooperative pool.
        let slow = Task { try await onThread(within: .seconds(300)) { try LogStore.open(path: slowPath, options: .testing) } }
        let again = Task { try await onThread(within: .seconds(300)) { try LogStore.open(path: slowPath, options: .testing) } }
        // Wait until an open is blocked on the lock (the kernel lists it as a waiter).
        var info = stat()
        try #require(stat(lockFile, &info) == 0)
        #expect(try await eventually(within: .seconds(60)) { Self.lockWaiters(inode: UInt64(info.st_ino)) > 0 })

        // Meanwhile another store opens, reads and writes.
        let other = try await onThread(within: .seconds(60)) { () throws -> Bool in
            let store = try LogStore.open(path: otherPath, options: .testing)
            return try store.descriptor(named: "s") != nil
        }
        #expect(other == true, "the open of another store waited for the slow one")

        close(fd)
        released = true
        let first = try await value(of: slow, within: .seconds(60)) ?? nil
        let second = try await value(of: again, within: .seconds(60)) ?? nil
        #expect(first != nil && first === second, "two opens of one directory gave two environments")
        #expect(try first?.descriptor(named: "s") != nil)
    }

    /// How many lock requests are blocked on the file with inode `inode` (`/proc/locks` marks
    /// them `->`).
    static func lockWaiters(inode: UInt64) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").filter { line in
            line.contains("->") && line.split(separator: " ").contains { $0.hasSuffix(":\(inode)") }
        }.count
    }
}

// MARK: Helpers

struct ChildFailed: Error, CustomStringConvertible { var description: String }

/// What a finished child printed and how it ended.
struct ChildOutcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `strata-crash-child` with `arguments` to completion (at most 5 minutes; then it is killed).
func runChild(_ arguments: [String]) throws -> ChildOutcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtProductsDirectory() + "/strata-crash-child")
    process.arguments = arguments
    let directory = try TemporaryDirectory(prefix: "strata-child")
    let out = directory.appending("stdout"), err = directory.appending("stderr")
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    try process.run()
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(300), execute: watchdog)
    process.waitUntilExit()
    watchdog.cancel()
    return ChildOutcome(status: process.terminationStatus,
                        stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                        stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
}

/// The value of `task`, or `nil` when it has not finished within `deadline` (it is then cancelled
/// and left behind, so that a hang fails the test instead of hanging the suite).
func value<T: Sendable>(of task: Task<T, any Error>, within deadline: Duration) async throws -> T? {
    let result: Result<T, any Error>? = await withCheckedContinuation { continuation in
        let once = Once()
        Task {
            let result = await task.result
            if once.claim() { continuation.resume(returning: result) }
        }
        DispatchQueue.global().asyncAfter(deadline: SealSignal.deadline(after: deadline)) {
            task.cancel()
            if once.claim() { continuation.resume(returning: nil) }
        }
    }
    return try result?.get()
}

/// A flag that only the first caller of `claim()` gets.
final class Once: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
}

/// Runs blocking `body` on a thread of its own (never on the cooperative pool); `nil` when it has
/// not returned within `deadline` (the thread is then left behind).
func onThread<T: Sendable>(within deadline: Duration, _ body: @escaping @Sendable () throws -> T) async throws -> T? {
    let task = Task<T, any Error> {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.start()
        }
    }
    return try await value(of: task, within: deadline)
}

/// Whether `condition` holds within `deadline`, checked every 10 ms.
func eventually(within deadline: Duration, _ condition: () throws -> Bool) async throws -> Bool {
    let end = ContinuousClock.now + deadline
    while ContinuousClock.now < end {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}
