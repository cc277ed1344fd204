import CoreMetrics
import Prometheus
import Synchronization

/// Exporting Strata's metrics (storage, engine, receiver: `docs/metrics.md`) in the Prometheus
/// format with swift-prometheus.
///
/// The library reports through swift-metrics to whatever backend the process bootstraps; a
/// program embedding Strata may bootstrap any backend instead. `strata serve` calls
/// `bootstrapPrometheus()` and passes the registry to `IngestReceiver`, which serves it at `/metrics`.
public enum StrataMetrics {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// A factory over `registry` with latency buckets suited to commits and intervals (100 µs to 10 s).
    public static func prometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        return factory
    }

    /// Bootstraps swift-metrics with a Prometheus factory, once per process, and returns its
    /// registry (the same one on later calls). Call before opening stores and starting programs:
    /// metrics made earlier stay with the backend of that moment.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        bootstrapped.withLock { registry in
            if let registry { return registry }
            let made = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(prometheusFactory(registry: made))
            registry = made
            return made
        }
    }
}
