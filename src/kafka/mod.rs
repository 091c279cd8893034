//! The Kafka consumer: the embedded store reads spin events from a topic (the generator's
//! JSON, one event per message). The client is rskafka (pure Rust, no consumer groups), so
//! the consumer reads every partition of the topic itself, each from the resume point stored
//! in SQLite with the spins it follows: that table, not the group, is the truth, which makes
//! delivery into the store exactly once across restarts and `kill -9`. The brokers being
//! gone never stops the server: readers retry with backoff while the boards are served.

mod options;
mod partition;
mod status;
mod writer;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rskafka::BackoffConfig;
use rskafka::client::{Client, ClientBuilder};
use tokio::sync::mpsc;

use crate::backoff::{Attempts, Backoff};
use crate::metrics::Metrics;
use crate::store::EmbeddedStore;
use options::Security;
use partition::Reader;
pub use status::Status;

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("--kafka-option: {0}")]
    Option(String),
    /// A flag's value that cannot work; the message names the flag.
    #[error("{0}")]
    Flag(String),
}

/// Where to consume from and how.
#[derive(Debug, Clone)]
pub struct Config {
    brokers: Vec<String>,
    topic: String,
    client_id: String,
    security: Security,
}

impl Config {
    /// The consumer's settings from its flags (`--kafka-brokers`, `--kafka-topic`, `--kafka-group`,
    /// `--kafka-option`), or `None` when no broker is given.
    pub fn new(
        brokers: &[String],
        topic: &str,
        group: &str,
        options: &[String],
    ) -> Result<Option<Self>, KafkaError> {
        let brokers: Vec<String> =
            brokers.iter().map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()).collect();
        if brokers.is_empty() {
            return Ok(None);
        }
        if let Some(bad) =
            brokers.iter().find(|b| b.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()))
        {
            return Err(KafkaError::Flag(format!("--kafka-brokers: `{bad}` is not HOST:PORT")));
        }
        if topic.is_empty() {
            return Err(KafkaError::Flag("--kafka-topic is empty".into()));
        }
        let security = Security::parse(options)?;
        Ok(Some(Self { brokers, topic: topic.to_owned(), client_id: group.to_owned(), security }))
    }
}

/// Retries after a failure: doubling from a fifth of a second up to ten seconds.
pub(crate) const RETRY: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

/// Messages fetched but not yet stored, per partition reader, at most: bounds memory while
/// the writer is busy, and holds the readers back while it cannot store.
const IN_FLIGHT_FETCHES: usize = 8;
/// How often the topic is looked at again for partitions added to it.
const REDISCOVER: Duration = Duration::from_secs(30);

/// Starts consuming in the background; the returned status tells how it goes.
pub fn spawn(config: Config, store: Arc<EmbeddedStore>, metrics: Arc<Metrics>) -> Arc<Status> {
    tracing::info!(brokers = ?config.brokers, topic = %config.topic, "consuming spins from Kafka");
    let status = Arc::new(Status::new(config.topic.clone(), metrics));
    store.attach(status.clone());
    tokio::spawn(supervise(config, store, status.clone()));
    status
}

/// Connects, finds the topic's partitions (again every so often, for added ones), and runs a
/// reader for each, all feeding the one writer.
async fn supervise(config: Config, store: Arc<EmbeddedStore>, status: Arc<Status>) {
    let (out, fetched) = mpsc::channel(IN_FLIGHT_FETCHES);
    tokio::spawn(writer::run(store.clone(), config.topic.clone(), fetched, status.clone()));
    let client = Arc::new(connect(&config, &status).await);
    let mut running = BTreeSet::new();
    let mut backoff = Attempts::new(RETRY);
    loop {
        let pause = match new_partitions(&client, &config.topic, &running).await {
            Ok(added) => {
                backoff.reset();
                if !added.is_empty() {
                    start_readers(&client, &config.topic, &added, &store, &status, &out).await;
                    running.extend(added);
                }
                REDISCOVER
            }
            Err(e) => {
                if running.is_empty() {
                    tracing::warn!(topic = %config.topic, error = %e, "Kafka topic unavailable");
                    status.unavailable(e);
                }
                backoff.failed()
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// A client, once a broker answers; until then the status says why not.
async fn connect(config: &Config, status: &Status) -> Client {
    let mut backoff = Attempts::new(RETRY);
    loop {
        let builder = ClientBuilder::new(config.brokers.clone())
            .client_id(config.client_id.as_str())
            .backoff_config(client_backoff());
        match config.security.apply(builder).build().await {
            Ok(client) => return client,
            Err(e) => {
                let pause = backoff.failed();
                tracing::warn!(error = %e, retry_in = ?pause, "cannot reach the Kafka brokers");
                status.unavailable(format!("cannot reach the brokers: {e}"));
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The client's own retries give up soon (its deadline counts only its pauses, and nests:
/// a fetch retries connects that retry themselves, so a second here is several seconds of
/// wall time), so that a broker gone shows in the status promptly; the readers then retry on
/// their own backoff, without end.
fn client_backoff() -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        base: 2.0,
        deadline: Some(Duration::from_secs(1)),
    }
}

/// The topic's partitions not in `running`.
async fn new_partitions(client: &Client, topic: &str, running: &BTreeSet<i32>) -> Result<Vec<i32>, String> {
    let topics = client.list_topics().await.map_err(|e| format!("cannot list topics: {e}"))?;
    let found = topics.into_iter().find(|t| t.name == topic).ok_or_else(|| format!("no topic `{topic}`"))?;
    Ok(found.partitions.into_iter().filter(|p| !running.contains(p)).collect())
}

async fn start_readers(
    client: &Arc<Client>,
    topic: &str,
    partitions: &[i32],
    store: &EmbeddedStore,
    status: &Arc<Status>,
    out: &mpsc::Sender<partition::Fetched>,
) {
    let mut attempts = Attempts::new(RETRY);
    let stored = loop {
        match store.positions(topic).await {
            Ok(stored) => break stored,
            Err(e) => {
                let pause = attempts.failed();
                if attempts.first() {
                    tracing::error!(error = %e, "cannot read the stored Kafka offsets; retrying");
                }
                tokio::time::sleep(pause).await;
            }
        }
    };
    status.started(partitions, &stored);
    tracing::info!(topic, ?partitions, ?stored, "reading Kafka partitions");
    for &partition in partitions {
        let reader = Reader {
            client: client.clone(),
            topic: topic.to_owned(),
            partition,
            stored: stored.get(&partition).copied(),
            status: status.clone(),
            out: out.clone(),
        };
        tokio::spawn(reader.run());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(brokers: &[&str], topic: &str, options: &[&str]) -> Result<Option<Config>, String> {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Config::new(&owned(brokers), topic, "leaderboard", &owned(options)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_consumer_is_off_without_brokers_and_checks_its_flags() {
        assert!(config(&[], "gameplay", &[]).unwrap().is_none());
        let on = config(&["a:9092", " b:9093"], "spins", &[]).unwrap().unwrap();
        assert_eq!(
            (on.brokers, on.topic, on.client_id),
            (vec!["a:9092".into(), "b:9093".into()], "spins".into(), "leaderboard".into())
        );
        assert_eq!(config(&["a"], "gameplay", &[]).unwrap_err(), "--kafka-brokers: `a` is not HOST:PORT");
        assert_eq!(config(&["a:1"], "", &[]).unwrap_err(), "--kafka-topic is empty");
        let option = config(&["a:1"], "gameplay", &["acks=all"]).unwrap_err();
        assert!(option.starts_with("--kafka-option: unknown setting `acks`"), "{option}");
    }
}
