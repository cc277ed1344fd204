import Glibc
import Synchronization

/// How far one attempt of a partition task has got: the records it has read from its input
/// blocks so far. `PartitionReader` adds each block's records as it decodes them (once per block,
/// never per record), through the task-local `current` the attempt runs under.
///
/// `TaskProgress` is `Sendable`: the task adds, the coordinator of the interval's tasks reads.
final class TaskProgress: Sendable {
    private let records = Atomic<Int>(0)

    init() {}

    /// Records read so far.
    var count: Int { records.load(ordering: .relaxed) }

    /// Adds `n` records read.
    func add(_ n: Int) { records.wrappingAdd(n, ordering: .relaxed) }

    /// The progress of the task attempt running on this thread, if it is one the scheduler watches.
    @TaskLocal static var current: TaskProgress?
}

/// The kernel scheduler's account of one thread, from Linux's `/proc/PID/task/TID/schedstat`:
/// nanoseconds on a CPU and nanoseconds runnable but waiting for one. What is left of a stretch
/// of wall-clock time is the time the thread was blocked (sleeping, in I/O, on a lock).
///
/// Speculation uses it to tell a task that is stalled (blocked: a copy on another thread can
/// overtake it) from one that is starved (runnable, waiting for a core that other work holds: a
/// copy would only compete for the same cores) or busy (on a CPU: a copy repeats the same work).
struct ThreadSchedule: Sendable, Equatable {
    /// Nanoseconds the thread ran on a CPU.
    var onCPU: UInt64
    /// Nanoseconds the thread was runnable but waited on a run queue.
    var waiting: UInt64

    /// The calling thread's kernel id and its account now; `nil` where procfs gives none.
    static func current() -> (thread: Int32, schedule: ThreadSchedule)? {
        // `/proc/thread-self` links to `PID/task/TID` of the calling thread.
        var link = (0..<64).map { _ in CChar(0) }
        let length = readlink("/proc/thread-self", &link, link.count - 1)
        guard length > 0 else { return nil }
        // The thread id: the digits after the last "/".
        var thread: Int32 = 0
        for byte in link[0..<length] {
            if byte == CChar(UInt8(ascii: "/")) {
                thread = 0
            } else if byte >= CChar(UInt8(ascii: "0")), byte <= CChar(UInt8(ascii: "9")) {
                let (shifted, overflow) = thread.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                thread = shifted &+ Int32(byte - CChar(UInt8(ascii: "0")))
            } else {
                thread = 0  // "task": not the id
            }
        }
        guard thread > 0, let schedule = of(thread: thread) else { return nil }
        return (thread, schedule)
    }

    /// The account of thread `thread` of this process now; `nil` where procfs gives none (or the
    /// thread is gone).
    static func of(thread: Int32) -> ThreadSchedule? {
        let fd = open("/proc/self/task/\(thread)/schedstat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 96)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return parse(bytes[0..<count])
    }

    /// Whether thread `thread` of this process is running or runnable now (state `R` in
    /// `/proc/self/task/TID/stat`); `nil` where procfs does not say.
    ///
    /// The account in `schedstat` adds a wait for a CPU only when the wait ends, so a thread
    /// starved right now shows neither CPU nor waiting time for it: its state tells.
    static func isRunnable(thread: Int32) -> Bool? {
        let fd = open("/proc/self/task/\(thread)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 512)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return parseState(bytes[0..<count]).map { $0 == UInt8(ascii: "R") }
    }

    /// The state letter of a `stat` line: `PID (COMM) STATE …`, after the last `)` (COMM may hold
    /// spaces and parentheses).
    static func parseState(_ text: ArraySlice<UInt8>) -> UInt8? {
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let state = close + 2
        guard state < text.endIndex, text[close + 1] == UInt8(ascii: " ") else { return nil }
        return text[state]
    }

    /// Parses `schedstat`'s text: `ON_CPU_NS WAITING_NS TIMESLICES\n`.
    static func parse(_ text: ArraySlice<UInt8>) -> ThreadSchedule? {
        var fields: [UInt64] = []
        var value: UInt64?
        for byte in text {
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                let (shifted, overflow) = (value ?? 0).multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                value = shifted &+ UInt64(byte - UInt8(ascii: "0"))
            } else if let done = value {
                fields.append(done)
                value = nil
                if fields.count == 2 { break }
            }
        }
        if let value, fields.count < 2 { fields.append(value) }
        guard fields.count == 2 else { return nil }
        return ThreadSchedule(onCPU: fields[0], waiting: fields[1])
    }
}
