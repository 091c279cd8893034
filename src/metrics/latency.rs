//! A latency histogram whose observations take no lock: an atomic counter a bucket and the sum
//! in nanoseconds, so that timing a request costs two atomic adds. It is encoded as
//! prometheus-client encodes its own (locked) `Histogram`, with the same buckets: 50 µs to
//! about 26 s, doubling, then `+Inf`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Finite buckets; one more counts what lies past the last.
const BUCKETS: usize = 20;
/// The first bucket's upper bound; each next one doubles it.
const FIRST_NANOS: u64 = 50_000;

#[derive(Clone, Debug, Default)]
pub struct Latency(Arc<Buckets>);

#[derive(Debug, Default)]
struct Buckets {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: [AtomicU64; BUCKETS + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    pub fn observe(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.0.counts[bucket(nanos)].fetch_add(1, Ordering::Relaxed);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The first bucket whose upper bound (`FIRST_NANOS << i`) is at least `nanos`.
fn bucket(nanos: u64) -> usize {
    let doublings = nanos.saturating_sub(1) / FIRST_NANOS;
    ((u64::BITS - doublings.leading_zeros()) as usize).min(BUCKETS)
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let bounds =
            exponential_buckets(FIRST_NANOS as f64 / 1e9, 2.0, BUCKETS as u16).chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> =
            bounds.zip(&self.0.counts).map(|(bound, count)| (bound, count.load(Ordering::Relaxed))).collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(50_000), 0, "upper bounds are inclusive");
        assert_eq!(bucket(50_001), 1);
        assert_eq!(bucket(100_000), 1);
        assert_eq!(bucket(200_000), 2);
        assert_eq!(bucket(200_001), 3);
        assert_eq!(bucket(FIRST_NANOS << 19), 19);
        assert_eq!(bucket((FIRST_NANOS << 19) + 1), BUCKETS, "past the last bound: +Inf");
        assert_eq!(bucket(u64::MAX), BUCKETS);
    }

    #[test]
    fn encoded_as_prometheus_client_encodes_its_own_histogram() {
        use prometheus_client::metrics::histogram::Histogram;
        use prometheus_client::registry::Registry;
        let render = |register: &dyn Fn(&mut Registry)| {
            let mut registry = Registry::default();
            register(&mut registry);
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
            text
        };
        let ours = Latency::default();
        let theirs = Histogram::new(exponential_buckets(0.000_05, 2.0, 20));
        // Durations exact both in nanoseconds and in binary fractions of a second.
        for millis in [0, 250, 500, 2_000, 40_000] {
            ours.observe(Duration::from_millis(millis));
            theirs.observe(millis as f64 / 1000.0);
        }
        let ours = render(&|r| r.register("latency", "help", ours.clone()));
        let theirs = render(&|r| r.register("latency", "help", theirs.clone()));
        assert_eq!(ours, theirs);
    }
}
