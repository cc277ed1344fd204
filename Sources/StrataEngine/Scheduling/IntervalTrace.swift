import Glibc
import StrataStorage

/// A hook that notes when each vertex reaches each step of an interval, for benchmarks that break
/// a live latency down along the critical path (`strata-bench latency --breakdown`).
///
/// The hook runs on the thread that reached the step (the vertex's stage thread, or the
/// committer's queue for `.committed`), so it must be quick and must not block: read a clock and
/// store the reading. It observes only; nothing the program computes or writes depends on it.
public struct IntervalTrace: Sendable {
    /// A step of one vertex's work on one interval, in the order they happen.
    public enum Step: Int, Sendable, CaseIterable {
        /// The vertex's pass found the interval ready (sealed in all its inputs).
        case found
        /// The vertex began to compute the interval (its partition tasks start next).
        case began
        /// Every partition task of the interval finished; its commit is submitted next.
        case processed
        /// The interval's commit (outputs, seals, progress) is committed and visible; downstream
        /// stages are woken just before this.
        case committed
    }

    /// One attempt of one partition task that ran to its end (or threw), as its thread saw it.
    public struct TaskRun: Sendable {
        /// The task's partition.
        public let partition: PartitionIndex
        /// Whether it was a speculative copy.
        public let speculative: Bool
        /// From when the task was queued to when a thread began it, ns (0 when it ran inside a
        /// parallel loop, which queues nothing of its own).
        public let queuedNanoseconds: UInt64
        /// From when its thread began it to its end, ns.
        public let wallNanoseconds: UInt64
        /// The CPU time its thread spent on it (`CLOCK_THREAD_CPUTIME_ID`), ns: below the wall
        /// time by what the thread waited (for a CPU, a page, a lock).
        public let cpuNanoseconds: UInt64
    }

    /// Called once per vertex, interval and step.
    public var record: @Sendable (_ vertex: String, _ interval: Interval, _ step: Step) -> Void

    /// Called at the end of every partition task attempt, on the task's thread (`nil`: tasks are
    /// not timed).
    public var task: (@Sendable (_ vertex: String, _ interval: Interval, _ run: TaskRun) -> Void)?

    /// A trace calling `record` for the steps and `task` (when given) for each task attempt.
    public init(record: @escaping @Sendable (_ vertex: String, _ interval: Interval, _ step: Step) -> Void,
                task: (@Sendable (_ vertex: String, _ interval: Interval, _ run: TaskRun) -> Void)? = nil) {
        self.record = record
        self.task = task
    }
}

/// The calling thread's CPU time, ns.
func threadCPUNanoseconds() -> UInt64 {
    var spec = timespec()
    guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec) == 0 else { return 0 }
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
