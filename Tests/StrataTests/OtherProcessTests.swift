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
            // seals within the deadline. Each round's last commit is the one a wake-up could miss
            // (a look between LMDB's meta page write and its publication in lock.mdb once slept
            // through it): several rounds, each waited for before the next begins.
            let subscription = stream.sealedIntervals(from: Interval(0), pollInterval: .seconds(3600))
            let rounds = 6, perRound = 2
            let progress = Mutex<[Interval]>([])
            let received = Task {
                for try await batch in subscription {
                    let count = progress.withLock { seen -> Int in
                        seen.append(batch.interval)
                        return seen.count
                    }
                    if count == rounds * perRound { break }
                }
            }
            for round in 1...rounds {
                // The child writes intervals 0..<N, from the interval after the sealed frontier.
                let child = try await ThreadRun {
                    try runChild(["--store", path, "--stream", "shared", "--durability", "none",
                                  "--intervals", String(round * perRound), "--records-per-interval", "50", "--partitions", "2"])
                }.value(within: .seconds(600))
                #expect(child?.status == 0, "the child failed: \(child?.stderr ?? "it did not end")")
                let delivered = try await eventually(within: .seconds(600)) {
                    progress.withLock { $0.count } == round * perRound
                }
                #expect(delivered, "round \(round): the subscription slept through the other process's seals")
                if !delivered { break }
            }
            received.cancel()
            #expect(progress.withLock { $0 } == (0..<UInt64(rounds * perRound)).map { Interval($0) })
        }
    }

    @Test func issue10_item10_nestedReadsWhileAnotherProcessGrowsTheMap() async throws {
        // A 4 MiB map in this process; the child maps 64 MiB and writes well past 4 MiB, so a read
        // transaction begun afterwards here finds the map grown (MDB_MAP_RESIZED).
        let options = StoreOptions(durability: .noSync, sizeLimit: 4 << 20)
        try await withStorePath(options: options) { path in
            let store = try Store(at: path, options: options)
            let stream = try store.stream("shared", of: ChildRecord.self, interval: .seconds(1), partitions: 2)
            do {
                // Released before the child writes: one writer per stream.
                let appender = try stream.explicitAppender()
                try appender.append(KeyValue(UInt64(1), Bytes([1])), interval: Interval(0))
                try await appender.seal(through: Interval(0))
            }
            let intervals = 6, perInterval = 10_000

            // On a thread of its own: the outer read's body blocks while the child runs.
            let nested = try await ThreadRun { () throws -> StreamFrontier? in
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
            }.value(within: .seconds(600))
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
        // Another process compacting `slow` holds LMDB's lock file for writing, which makes an
        // open wait in `mdb_env_open`; an open-file-description lock stands in for it (it
        // conflicts with this process's own locks). The stores made above close when their last
        // reference goes; should another thread still hold one for a moment (this test is not
        // about when a store closes), LMDB's shared lock is held until then, so the lock is taken
        // as soon as it is free rather than at once.
        let lockFile = slowPath + "/lock.mdb"
        let fd = open(lockFile, O_RDWR | O_CLOEXEC)
        try #require(fd >= 0)
        var lock = flock(l_type: Int16(F_WRLCK), l_whence: Int16(SEEK_SET), l_start: 0, l_len: 1, l_pid: 0)
        let locked = try await eventually(within: .seconds(600)) { fcntl(fd, 37 /* F_OFD_SETLK */, &lock) == 0 }
        if !locked { close(fd) }
        try #require(locked, "the lock file stayed locked: errno \(errno)")
        var released = false
        defer { if !released { close(fd) } }

        // Opens block their threads: each runs on a thread of its own, started at once (never
        // from the cooperative pool, which a loaded run can starve for minutes).
        let slow = ThreadRun { try LogStore.open(path: slowPath, options: .testing) }
        let again = ThreadRun { try LogStore.open(path: slowPath, options: .testing) }
        // Wait until an open is blocked on the lock (the kernel lists it as a waiter).
        var info = stat()
        try #require(stat(lockFile, &info) == 0)
        #expect(try await eventually(within: .seconds(600)) { Self.lockWaiters(inode: UInt64(info.st_ino)) > 0 })

        // Meanwhile another store opens, reads and writes.
        let other = try await ThreadRun { () throws -> Bool in
            let store = try LogStore.open(path: otherPath, options: .testing)
            return try store.descriptor(named: "s") != nil
        }.value(within: .seconds(600))
        #expect(other == true, "the open of another store waited for the slow one")

        close(fd)
        released = true
        let first = try await slow.value(within: .seconds(600))
        let second = try await again.value(within: .seconds(600))
        #expect(first != nil && first === second, "two opens of one directory gave two environments")
        #expect(try first?.descriptor(named: "s") != nil)
    }

    @Test func aStoreIsClosedOnceItsLastReferenceIsDropped() throws {
        // Another process (compaction, `strata drop`) may need the store as soon as this one lets
        // go: the committer releases its requests before acknowledging them, so the caller's
        // reference is the last one and dropping it closes LMDB (its shared lock is released).
        let directory = try TemporaryDirectory()
        for round in 0..<20 {
            let path = directory.appending("store-\(round)")
            do {
                let store = try LogStore.open(path: path, options: .testing)
                for name in ["a", "b", "c"] {
                    _ = try store.createOrOpenStream(LogStore.StreamSpec(name: name, recordType: "json",
                                                                         intervalLength: IntervalLength(rawValue: 1_000_000_000),
                                                                         partitions: 2))
                }
            }
            let fd = open(path + "/lock.mdb", O_RDWR | O_CLOEXEC)
            try #require(fd >= 0)
            defer { close(fd) }
            var lock = flock(l_type: Int16(F_WRLCK), l_whence: Int16(SEEK_SET), l_start: 0, l_len: 1, l_pid: 0)
            #expect(fcntl(fd, 37 /* F_OFD_SETLK */, &lock) == 0, "round \(round): the store was still open (errno \(errno))")
        }
    }

    @Test func aStoreIsClosedOnceItsAppendersAndLastReferenceAreDropped() throws {
        // An appender's compressor hands each batch to the committer on a thread of its own. It
        // must have let go of the store by the time the commit is acknowledged (a flush, or the
        // appender's deinit, which waits for what it handed over), or the store closes a moment
        // after the caller's last reference instead of with it.
        let directory = try TemporaryDirectory()
        for round in 0..<40 {
            let path = directory.appending("store-\(round)")
            do {
                let store = try Store(at: path, options: .testing)
                let stream = try store.stream("e", of: Int64.self, interval: .seconds(1), partitions: 2)
                let appender = try stream.explicitAppender()
                for n in Int64(0)..<64 { try appender.append(n, interval: Interval(0)) }
                if round.isMultiple(of: 2) { try appender.flush() }  // odd rounds: deinit hands over
            }
            let fd = open(path + "/lock.mdb", O_RDWR | O_CLOEXEC)
            try #require(fd >= 0)
            defer { close(fd) }
            var lock = flock(l_type: Int16(F_WRLCK), l_whence: Int16(SEEK_SET), l_start: 0, l_len: 1, l_pid: 0)
            #expect(fcntl(fd, 37 /* F_OFD_SETLK */, &lock) == 0, "round \(round): the store was still open (errno \(errno))")
        }
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

/// Blocking work on a thread of its own, started at once: never on (nor started from) the
/// cooperative pool, which a loaded test run can keep busy for minutes.
final class ThreadRun<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<Result<T, any Error>?, Never>?
    }
    private let state = Mutex(State())

    init(_ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            let result = Result { try body() }
            let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>?, Never>? in
                state.result = result
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: result)
        }
        thread.start()
    }

    /// The body's result, or `nil` when it has not returned within `deadline` (the thread is then
    /// left behind, so that a hang fails the test instead of hanging the suite). One waiter.
    func value(within deadline: Duration) async throws -> T? {
        let result: Result<T, any Error>? = await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { return continuation.resume(returning: ready) }
            DispatchQueue.global().asyncAfter(deadline: SealSignal.deadline(after: deadline)) { [self] in
                let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>?, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: nil)
            }
        }
        return try result?.get()
    }
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
