//! What the consumer is doing, for `/readyz` (a text report) and `/metrics` (per-partition
//! gauges and counters): kept in one place so both always tell the same story.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use crate::metrics::{MessageLabels, Metrics, PartitionLabels};

/// One partition as last seen.
#[derive(Debug, Default, Clone)]
struct Partition {
    /// The stored resume point, once known.
    next_offset: Option<i64>,
    high_watermark: Option<i64>,
    /// Why the last fetch failed, while it keeps failing.
    error: Option<String>,
    /// Every message it had was stored, once since its last failed fetch or backlog.
    reached_end: bool,
    /// The offset at which the broker answers with no message although the partition's end
    /// lies beyond it, while it does.
    stalled: Option<i64>,
}

/// A partition this far behind (messages) reads a backlog, not a steady flow (which leaves a
/// caught-up consumer a fetch's worth behind at most): it is caught up again only once read to
/// its end. Below it a caught-up partition stays so, so that ended campaigns do not flap in and
/// out of final under a steady flow.
pub const BACKLOG: i64 = 10_000;

#[derive(Debug, Default)]
struct Inner {
    /// Why the consumer has no partitions yet (cannot reach the brokers, no such topic).
    error: Option<String>,
    partitions: BTreeMap<i32, Partition>,
}

pub struct Status {
    topic: String,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
}

impl Status {
    pub fn new(topic: String, metrics: Arc<Metrics>) -> Self {
        Self { topic, metrics, inner: Mutex::default() }
    }

    fn labels(&self, partition: i32) -> PartitionLabels {
        PartitionLabels { topic: self.topic.clone(), partition }
    }

    fn update<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The brokers or the topic cannot be had (before any partition is known).
    pub fn unavailable(&self, error: String) {
        self.update(|inner| inner.error = Some(error));
    }

    /// The topic's partitions are known; each starts at its stored resume point, if any.
    pub fn started(&self, partitions: &[i32], stored: &BTreeMap<i32, i64>) {
        self.update(|inner| {
            inner.error = None;
            for &p in partitions {
                inner.partitions.entry(p).or_default();
            }
        });
        for &p in partitions {
            // Every partition's series exist from the start, at 0: an alert on them sees 0, not
            // an absent series, until something happens.
            let labels = self.labels(p);
            let kafka = &self.metrics.kafka;
            kafka.errors.get_or_create(&labels).inc_by(0);
            kafka.stalled.get_or_create(&labels).set(0);
            if let Some(&offset) = stored.get(&p) {
                self.positioned(p, offset);
            }
        }
    }

    /// The partition reads from `offset` on (its earliest, when nothing was stored or the
    /// stored point is outside the log): caught up again only once read to its end from there.
    pub fn positioned(&self, partition: i32, offset: i64) {
        self.update(|inner| {
            let p = inner.partitions.entry(partition).or_default();
            p.next_offset = Some(offset);
            p.reached_end = false;
        });
        self.metrics.kafka.next_offset.get_or_create(&self.labels(partition)).set(offset);
    }

    /// A fetch succeeded and found the partition's end at `high_watermark`.
    pub fn fetched(&self, partition: i32, high_watermark: i64) {
        let lag = self.update(|inner| {
            let p = inner.partitions.entry(partition).or_default();
            p.high_watermark = Some(high_watermark);
            p.error = None;
            p.reached_end = lag(p) == 0 || (p.reached_end && lag(p) < BACKLOG);
            lag(p)
        });
        let labels = self.labels(partition);
        self.metrics.kafka.connected.get_or_create(&labels).set(1);
        self.metrics.kafka.lag.get_or_create(&labels).set(lag);
    }

    /// The broker keeps answering with no message at `offset`, below the partition's end.
    /// Whether this is news (the partition was not stalled there already).
    pub fn stalled(&self, partition: i32, offset: i64) -> bool {
        let news = self.update(|inner| {
            let p = inner.partitions.entry(partition).or_default();
            p.stalled.replace(offset) != Some(offset)
        });
        self.metrics.kafka.stalled.get_or_create(&self.labels(partition)).set(1);
        news
    }

    /// The partition's fetches yield messages again. Whether it had been stalled.
    pub fn flowing(&self, partition: i32) -> bool {
        let was = self.update(|inner| inner.partitions.entry(partition).or_default().stalled.take());
        self.metrics.kafka.stalled.get_or_create(&self.labels(partition)).set(0);
        was.is_some()
    }

    /// A fetch failed; the partition retries after a backoff.
    pub fn failed(&self, partition: i32, error: String) {
        self.update(|inner| {
            let p = inner.partitions.entry(partition).or_default();
            p.error = Some(error);
            // What the brokers hold meanwhile is unknown: caught up again only once read to its end.
            p.reached_end = false;
        });
        let labels = self.labels(partition);
        self.metrics.kafka.connected.get_or_create(&labels).set(0);
        self.metrics.kafka.errors.get_or_create(&labels).inc();
    }

    /// A batch committed: the partition resumes at `next_offset`, having stored `stored`
    /// events and rejected `rejected` messages in it.
    pub fn committed(&self, partition: i32, next_offset: i64, stored: u64, rejected: u64) {
        let lag = self.update(|inner| {
            let p = inner.partitions.entry(partition).or_default();
            p.next_offset = Some(next_offset);
            p.reached_end |= lag(p) == 0;
            lag(p)
        });
        let labels = self.labels(partition);
        let kafka = &self.metrics.kafka;
        kafka.next_offset.get_or_create(&labels).set(next_offset);
        kafka.lag.get_or_create(&labels).set(lag);
        for (outcome, n) in [("stored", stored), ("rejected", rejected)] {
            let labels = MessageLabels { topic: self.topic.clone(), partition, outcome };
            kafka.messages.get_or_create(&labels).inc_by(n);
        }
    }

    /// The report `/readyz` shows: one line for the consumer, one per partition.
    pub fn report(&self) -> String {
        self.update(|inner| {
            let failing = inner.partitions.values().filter(|p| p.error.is_some()).count();
            let state = match (&inner.error, inner.partitions.is_empty(), failing) {
                (Some(e), _, _) => format!("unavailable: {e}"),
                (None, true, _) => "connecting".to_owned(),
                (None, false, 0) => "consuming".to_owned(),
                (None, false, n) => {
                    format!("disconnected ({n} of {} partitions failing)", inner.partitions.len())
                }
            };
            // Unknown until every partition's end was fetched once (not 0 before that), and
            // while the brokers cannot be reached.
            let known = inner.error.is_none() && !inner.partitions.is_empty();
            let total_lag: Option<i64> =
                inner.partitions.values().map(reported_lag).sum::<Option<i64>>().filter(|_| known);
            let mut text = format!("kafka topic {}: {state}, lag {}\n", self.topic, shown(total_lag));
            if !caught_up(inner) {
                text.push_str(
                    "  catching up: ended campaigns are not final until every partition is read to its end\n",
                );
            }
            for (n, p) in &inner.partitions {
                let offset = p.next_offset.map_or("earliest".to_owned(), |o| o.to_string());
                let _ = write!(text, "  partition {n}: next offset {offset}, lag {}", shown(reported_lag(p)));
                if let Some(e) = &p.error {
                    let _ = write!(text, ", fetch failing: {e}");
                }
                if let Some(offset) = p.stalled {
                    let _ = write!(text, ", stalled: the broker returns no message at offset {offset}");
                }
                text.push('\n');
            }
            text
        })
    }
}

impl crate::store::Feed for Status {
    /// Every partition was read to its end since its last failed fetch, and the topic is known.
    fn caught_up(&self) -> bool {
        self.update(|inner| caught_up(inner))
    }
}

/// A stalled partition is not caught up, however near its end: what it cannot read may be spins.
fn caught_up(inner: &Inner) -> bool {
    inner.error.is_none()
        && !inner.partitions.is_empty()
        && inner.partitions.values().all(|p| p.reached_end && p.stalled.is_none())
}

/// How many messages of a partition are not stored yet, as far as the last fetch showed.
fn lag(p: &Partition) -> i64 {
    known_lag(p).unwrap_or(0)
}

/// The lag, once a fetch found the partition's end.
fn known_lag(p: &Partition) -> Option<i64> {
    p.high_watermark.map(|hw| (hw - p.next_offset.unwrap_or(0)).max(0))
}

/// The lag `/readyz` shows: unknown while the partition's fetches fail (what the brokers hold
/// meanwhile is not known), not the last one seen.
fn reported_lag(p: &Partition) -> Option<i64> {
    known_lag(p).filter(|_| p.error.is_none())
}

fn shown(lag: Option<i64>) -> String {
    lag.map_or_else(|| "unknown".to_owned(), |lag| lag.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_caught_up_at_its_end_and_again_only_there_after_a_backlog() {
        let status = Status::new("gameplay".into(), Arc::default());
        assert!(!status.update(|inner| caught_up(inner)), "no partition known yet");
        assert!(status.report().contains("connecting, lag unknown"), "{}", status.report());
        status.unavailable("cannot reach the brokers".into());
        assert!(status.report().contains("cannot reach the brokers, lag unknown"), "{}", status.report());
        status.started(&[0], &BTreeMap::new());
        assert!(status.report().contains("lag unknown"), "no fetch yet: {}", status.report());
        status.fetched(0, 500);
        assert!(status.report().contains("consuming, lag 500"), "{}", status.report());
        assert!(!status.update(|inner| caught_up(inner)), "500 behind at start-up");
        status.committed(0, 500, 500, 0);
        assert!(status.update(|inner| caught_up(inner)), "read to its end");
        // A steady flow keeps it a fetch behind: still caught up.
        status.fetched(0, 800);
        assert!(status.update(|inner| caught_up(inner)), "300 behind in a steady flow");
        status.committed(0, 800, 300, 0);
        // A backlog: not caught up until read to its end again, even once it is nearly so.
        status.fetched(0, 800 + BACKLOG);
        assert!(!status.update(|inner| caught_up(inner)), "a backlog");
        status.committed(0, 800 + BACKLOG - 5, BACKLOG as u64 - 5, 0);
        status.fetched(0, 800 + BACKLOG);
        assert!(!status.update(|inner| caught_up(inner)), "5 behind, after a backlog");
        status.committed(0, 800 + BACKLOG, 5, 0);
        assert!(status.update(|inner| caught_up(inner)), "read to its end again");
        status.failed(0, "reset".into());
        assert!(!status.update(|inner| caught_up(inner)), "a failed fetch");
        let report = status.report();
        assert!(report.contains("disconnected (1 of 1 partitions failing), lag unknown"), "{report}");
        assert!(report.contains("lag unknown, fetch failing: reset"), "{report}");
        // Read to its end, then moved elsewhere (its resume point was outside the log).
        status.fetched(0, 800 + BACKLOG);
        assert!(status.update(|inner| caught_up(inner)), "at its end again");
        status.positioned(0, 0);
        status.fetched(0, 5);
        assert!(!status.update(|inner| caught_up(inner)), "repositioned 5 behind: read to its end first");
    }

    #[test]
    fn a_stall_is_news_once_shown_while_it_lasts_and_cleared_by_messages() {
        let metrics = Arc::new(Metrics::default());
        let status = Status::new("gameplay".into(), metrics.clone());
        status.started(&[0, 1], &BTreeMap::new());
        let exported = metrics.render();
        for series in [
            "leaderboard_kafka_stalled{topic=\"gameplay\",partition=\"1\"} 0",
            "leaderboard_kafka_fetch_errors_total{topic=\"gameplay\",partition=\"1\"} 0",
        ] {
            assert!(
                exported.contains(series),
                "a partition's series exist before anything happens: {exported}"
            );
        }
        // Caught up, then stalled a message before the end: not caught up while it lasts.
        status.fetched(0, 6);
        status.committed(0, 6, 6, 0);
        status.fetched(1, 0);
        assert!(status.update(|inner| caught_up(inner)), "both read to their ends");
        status.fetched(0, 10);
        assert!(status.update(|inner| caught_up(inner)), "4 behind in a steady flow");
        assert!(status.stalled(0, 7), "the first report is news");
        assert!(!status.update(|inner| caught_up(inner)), "a stalled partition is not caught up");
        assert!(!status.stalled(0, 7), "the same stall again is not");
        let report = status.report();
        assert!(
            report.contains(
                "partition 0: next offset 6, lag 4, stalled: the broker returns no message at offset 7"
            ),
            "{report}"
        );
        assert!(!report.contains("partition 1: next offset earliest, lag 0, stalled"), "{report}");
        let gauge = |p| metrics.kafka.stalled.get_or_create(&status.labels(p)).get();
        assert_eq!((gauge(0), gauge(1)), (1, 0));
        assert!(status.flowing(0), "it was stalled");
        assert!(!status.report().contains("stalled"), "{}", status.report());
        assert_eq!(gauge(0), 0);
        assert!(!status.flowing(0), "and is no longer");
        assert!(status.stalled(0, 7), "a new stall is news again");
    }
}
