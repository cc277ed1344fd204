import CoreMetrics

/// The storage layer's metrics, reported through swift-metrics to whatever backend the process
/// bootstrapped (`MetricsSystem.bootstrap`); with none they cost a call into a no-op handler.
///
/// Recorded once per commit (never per record). Names and types are listed in `docs/metrics.md`.
/// Created when a store opens, so a backend bootstrapped before that receives them.
package struct StorageMetrics: Sendable {
    /// `strata_storage_commits_total`: write transactions committed.
    let commits = Counter(label: "strata_storage_commits_total")
    /// `strata_storage_commit_failures_total`: write transactions that failed (every request in them failed).
    let failures = Counter(label: "strata_storage_commit_failures_total")
    /// `strata_storage_commit_duration_seconds`: from the first prepare to the commit's return
    /// (compression, puts, and the flush the durability setting asks for).
    let commitDuration = Timer(label: "strata_storage_commit_duration_seconds")
    /// `strata_storage_commit_requests`: requests sharing one transaction (group commit).
    let requestsPerCommit = Recorder(label: "strata_storage_commit_requests", aggregate: true)
    /// `strata_storage_bytes_written_total`: bytes of committed requests (blocks before compression).
    let bytesWritten = Counter(label: "strata_storage_bytes_written_total")
    /// `strata_storage_map_size_bytes`: the LMDB map size.
    let mapSize = Gauge(label: "strata_storage_map_size_bytes")
    /// `strata_storage_seals_total`: commits that sealed intervals of at least one stream.
    let seals = Counter(label: "strata_storage_seals_total")

    package init() {}
}
