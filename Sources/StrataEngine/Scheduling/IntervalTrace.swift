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

    /// Called once per vertex, interval and step.
    public var record: @Sendable (_ vertex: String, _ interval: Interval, _ step: Step) -> Void

    /// A trace calling `record`.
    public init(record: @escaping @Sendable (_ vertex: String, _ interval: Interval, _ step: Step) -> Void) {
        self.record = record
    }
}
