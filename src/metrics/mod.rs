//! Service metrics in the Prometheus (OpenMetrics) text format: HTTP requests, reads of the
//! standings engine's snapshots and the views it holds, open exports, backend queries, the
//! embedded store's writes, and the Kafka consumer's partitions. One registry per server, shared through `AppState`.
//! Observations take no lock: counters and [`Latency`] histograms are atomics, and request
//! metrics are resolved once per route template ([`RouteMetrics`]).

mod latency;
mod routes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use latency::Latency;
pub use routes::RouteMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: &'static str,
    /// `full` (a view's standings) or `changes` (an incremental refresh).
    pub kind: &'static str,
    /// `ok`, or the kind of failure.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RowsLabels {
    pub backend: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit`, `miss` (ran the query), `coalesced` (waited for another request's query),
    /// `stale` (served an older good result because the refresh failed).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    pub topic: String,
    pub partition: i32,
    /// `stored`, or `rejected` (not a valid event: skipped and kept in the Rejected table).
    pub outcome: &'static str,
}

/// The Kafka consumer, per partition of its topic.
#[derive(Default)]
pub struct KafkaMetrics {
    /// Messages consumed, counted once their transaction committed.
    pub messages: Family<MessageLabels, Counter>,
    /// The partition's high watermark minus its stored resume point.
    pub lag: Family<PartitionLabels, Gauge>,
    /// The stored resume point (the next offset to read).
    pub next_offset: Family<PartitionLabels, Gauge>,
    /// 1 while the partition's last fetch succeeded, 0 while the broker cannot be reached.
    pub connected: Family<PartitionLabels, Gauge>,
    /// Failed fetches (each followed by a backoff and a retry).
    pub errors: Family<PartitionLabels, Counter>,
    /// 1 while the broker answers the partition's fetches with no message below its end.
    pub stalled: Family<PartitionLabels, Gauge>,
}

impl KafkaMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register("kafka_messages", "Kafka messages consumed by outcome", self.messages.clone());
        registry.register("kafka_lag", "Kafka messages not yet stored, per partition", self.lag.clone());
        registry.register(
            "kafka_next_offset",
            "Stored Kafka resume offset, per partition",
            self.next_offset.clone(),
        );
        registry.register(
            "kafka_connected",
            "1 while the partition is being fetched",
            self.connected.clone(),
        );
        registry.register("kafka_fetch_errors", "Failed Kafka fetches, per partition", self.errors.clone());
        registry.register(
            "kafka_stalled",
            "1 while the broker returns no message below the partition's end",
            self.stalled.clone(),
        );
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RequestLabels, Latency>,
    /// Each route template's handles, made on its first request.
    routes: Mutex<HashMap<String, Arc<RouteMetrics>>>,
    pub in_flight: Gauge,
    /// The counters of `cache_lookups` by result, resolved once: a read counts without the
    /// family's lock and hash.
    cache_results: [(&'static str, Counter); 4],
    pub backend_queries: Family<BackendLabels, Counter>,
    pub backend_seconds: Family<BackendLabels, Latency>,
    /// Rows the backend answered, by kind of query.
    pub backend_rows: Family<RowsLabels, Counter>,
    /// Spins stored for campaigns whose standings were final: each made them be computed again.
    pub late_spins: Counter,
    /// Refreshes that asked the backend nothing: no spin it told of since could change the view.
    pub refreshes_untouched: Counter,
    /// Views held by the standings engine, and the bytes of their snapshots.
    pub views: Gauge,
    pub snapshot_bytes: Gauge,
    /// CSV exports being sent, and the bytes of the snapshots they hold alive (each export
    /// counting its own, even when the engine or another export holds the same).
    pub exports_open: Gauge,
    pub export_bytes: Gauge,
    /// Streams open (of `--max-streams`).
    pub streams_open: Gauge,
    /// Bytes of `POST /events` bodies held (of `--ingest-max-bytes`).
    pub ingest_bytes: Gauge,
    pub kafka: KafkaMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("leaderboard");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<RequestLabels, Latency>::default();
        let in_flight = Gauge::default();
        let cache = Family::<CacheLabels, Counter>::default();
        let backend_queries = Family::<BackendLabels, Counter>::default();
        let backend_seconds = Family::<BackendLabels, Latency>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", request_seconds.clone());
        registry.register("http_requests_in_flight", "HTTP requests being served", in_flight.clone());
        registry.register(
            "cache_lookups",
            "Snapshot reads by source (hit, miss, coalesced, stale)",
            cache.clone(),
        );
        registry.register(
            "backend_queries",
            "Backend queries by backend and outcome",
            backend_queries.clone(),
        );
        registry.register("backend_query_duration_seconds", "Backend query latency", backend_seconds.clone());
        let backend_rows = Family::<RowsLabels, Counter>::default();
        registry.register(
            "backend_rows",
            "Rows backend queries answered, by kind of query",
            backend_rows.clone(),
        );
        let late_spins = Counter::default();
        registry.register(
            "late_spins",
            "Spins stored for campaigns whose standings were final (each makes them be computed again)",
            late_spins.clone(),
        );
        let refreshes_untouched = Counter::default();
        registry.register(
            "refreshes_untouched",
            "Refreshes that asked the backend nothing: no spin it told of since could change the view",
            refreshes_untouched.clone(),
        );
        let (views, snapshot_bytes) = (Gauge::default(), Gauge::default());
        registry.register("views", "Views held by the standings engine", views.clone());
        registry.register("snapshot_bytes", "Bytes of the snapshots held", snapshot_bytes.clone());
        let (exports_open, export_bytes) = (Gauge::default(), Gauge::default());
        registry.register("exports_open", "CSV exports being sent", exports_open.clone());
        registry.register(
            "export_snapshot_bytes",
            "Bytes of the snapshots open CSV exports hold, each export counting its own",
            export_bytes.clone(),
        );
        let (streams_open, ingest_bytes) = (Gauge::default(), Gauge::default());
        registry.register("streams_open", "Server-sent event streams open", streams_open.clone());
        registry.register(
            "ingest_bytes",
            "Bytes of POST /events bodies held, as set aside when admitted",
            ingest_bytes.clone(),
        );
        let kafka = KafkaMetrics::default();
        kafka.register(&mut registry);
        let cache_results = ["hit", "miss", "coalesced", "stale"]
            .map(|result| (result, cache.get_or_create(&CacheLabels { result }).clone()));
        Self {
            registry,
            requests,
            request_seconds,
            routes: Mutex::default(),
            in_flight,
            cache_results,
            backend_queries,
            backend_seconds,
            backend_rows,
            late_spins,
            refreshes_untouched,
            views,
            snapshot_bytes,
            exports_open,
            export_bytes,
            streams_open,
            ingest_bytes,
            kafka,
        }
    }
}

impl Metrics {
    /// Adds the embedded store's writes: its commits, the batches they stored and its idle
    /// writer's releases of its page cache.
    pub fn register_store(&mut self, counters: &crate::store::WriteCounters) {
        let registry = &mut self.registry;
        registry.register(
            "store_commits",
            "Transactions of spins the embedded store committed",
            counters.commits.clone(),
        );
        registry.register(
            "store_batches",
            "Batches of spins the embedded store stored (several share a commit when they queue together)",
            counters.batches.clone(),
        );
        registry.register(
            "store_cache_releases",
            "Times the embedded store's writer, idle after writing, gave its page cache back to the system",
            counters.releases.clone(),
        );
    }

    pub fn cache(&self, result: &'static str) {
        let counted = self.cache_results.iter().find(|(known, _)| *known == result);
        counted.expect("every source of a read is listed in `cache_results`").1.inc();
    }

    /// One backend query of `kind`: how it ended, how long it took, and how many rows it
    /// answered (when it did).
    pub fn backend_query(&self, labels: BackendLabels, took: Duration, rows: Option<usize>) {
        self.backend_queries.get_or_create(&labels).inc();
        self.backend_seconds.get_or_create(&labels).observe(took);
        if let Some(rows) = rows {
            let rows_labels = RowsLabels { backend: labels.backend, kind: labels.kind };
            self.backend_rows.get_or_create(&rows_labels).inc_by(rows as u64);
        }
    }

    /// The request metrics of `route` (a route template, or the label of requests that matched
    /// none), to keep and record requests on.
    pub fn route(&self, route: &str) -> Arc<RouteMetrics> {
        let mut routes = self.routes.lock().expect("never poisoned: nothing panics while it is held");
        let made = || Arc::new(RouteMetrics::new(route, &self.requests, &self.request_seconds));
        routes.entry(route.to_owned()).or_insert_with(made).clone()
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// An amount counted in a gauge while it is held (an open export, a stream's slot, an ingest's
/// room), given back when dropped.
pub struct Held {
    gauge: Gauge,
    amount: i64,
}

impl Held {
    pub fn new(gauge: &Gauge, amount: i64) -> Self {
        gauge.inc_by(amount);
        Self { gauge: gauge.clone(), amount }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.dec_by(self.amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_are_counted_by_source_from_zero() {
        let metrics = Metrics::default();
        let count = |result: &str| {
            let line = format!("leaderboard_cache_lookups_total{{result=\"{result}\"}} ");
            let text = metrics.render();
            text.lines().find_map(|l| l.strip_prefix(line.as_str()).map(str::to_owned))
        };
        assert_eq!(count("stale").as_deref(), Some("0"), "every source is listed before its first read");
        metrics.cache("hit");
        metrics.cache("hit");
        metrics.cache("stale");
        assert_eq!(count("hit").as_deref(), Some("2"));
        assert_eq!(count("stale").as_deref(), Some("1"));
        assert_eq!(count("miss").as_deref(), Some("0"));
    }
}
