import CoreMetrics
import Synchronization

/// The engine's metrics, per vertex, reported through swift-metrics to whatever backend the
/// process bootstrapped; with none they cost a call into a no-op handler.
///
/// Recorded once per processed interval (never per record), with the dimension `vertex`
/// (`PROGRAM.vN`). Names and types are listed in `docs/metrics.md`.
final class EngineMetrics: Sendable {
    /// One vertex's metrics.
    struct Vertex: Sendable {
        /// `strata_engine_intervals_processed_total`: intervals the vertex processed and committed.
        let intervals: Counter
        /// `strata_engine_processing_duration_seconds`: computing one interval (all partitions).
        let processing: Timer
        /// `strata_engine_scheduling_delay_seconds`: from the moment the vertex found an interval
        /// ready (its pass began) to the start of its processing.
        let schedulingDelay: Timer
        /// `strata_engine_lag_intervals`: sealed input intervals not yet processed, after each commit.
        let lag: Gauge
        /// `strata_engine_progress_interval`: the last interval processed.
        let progress: Gauge
        /// `strata_engine_snapshots_total`: snapshots of the vertex's state written.
        let snapshots: Counter
        /// `strata_engine_recoveries_total`: restarts that restored the vertex's state.
        let recoveries: Counter
        /// `strata_engine_task_retries_total`: task attempts retried after a failure.
        let retries: Counter
        /// `strata_engine_speculative_tasks_total`: speculative copies launched for stragglers.
        let speculative: Counter
        /// `strata_engine_speculative_wins_total`: speculative copies that finished first (their
        /// output was committed).
        let speculativeWins: Counter

        init(_ name: String, factory: any MetricsFactory) {
            let dimensions = [("vertex", name)]
            intervals = Counter(label: "strata_engine_intervals_processed_total", dimensions: dimensions, factory: factory)
            processing = Timer(label: "strata_engine_processing_duration_seconds", dimensions: dimensions, factory: factory)
            schedulingDelay = Timer(label: "strata_engine_scheduling_delay_seconds", dimensions: dimensions, factory: factory)
            lag = Gauge(label: "strata_engine_lag_intervals", dimensions: dimensions, factory: factory)
            progress = Gauge(label: "strata_engine_progress_interval", dimensions: dimensions, factory: factory)
            snapshots = Counter(label: "strata_engine_snapshots_total", dimensions: dimensions, factory: factory)
            recoveries = Counter(label: "strata_engine_recoveries_total", dimensions: dimensions, factory: factory)
            retries = Counter(label: "strata_engine_task_retries_total", dimensions: dimensions, factory: factory)
            speculative = Counter(label: "strata_engine_speculative_tasks_total", dimensions: dimensions, factory: factory)
            speculativeWins = Counter(label: "strata_engine_speculative_wins_total", dimensions: dimensions, factory: factory)
        }
    }

    /// Made on first use; looked up by name only (never iterated).
    private let vertices = Mutex<[String: Vertex]>([:])

    /// Where the metrics go.
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) { self.factory = factory }

    /// The metrics of vertex `name`.
    func vertex(_ name: String) -> Vertex {
        vertices.withLock { table in
            if let found = table[name] { return found }
            let made = Vertex(name, factory: factory)
            table[name] = made
            return made
        }
    }
}
