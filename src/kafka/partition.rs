//! One partition's reader: fetches from its resume point on, turns each message into a spin
//! or a reject (validated exactly as one item of `POST /events`), and hands the result, in
//! offset order, to the writer. A failing fetch is retried after a growing pause, forever:
//! the broker coming back is the normal way out.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::Client;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::record::RecordAndOffset;
use tokio::sync::mpsc;

use super::RETRY;
use super::status::Status;
use crate::backoff::{Attempts, Backoff};
use crate::events::{Spin, parse_event};
use crate::store::Rejected;

/// Empty answers below the partition's end in a row before it is reported as stalled.
const STALLED_AFTER: u32 = 3;
/// The pause before asking again after such an answer: about a fetch's wait, so that a
/// message arriving after a transaction's markers is read about as soon as any other.
const STUCK: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
/// Bytes asked for per fetch: tens of thousands of events, so the writer gets big batches.
const FETCH_BYTES: i32 = 8 << 20;
/// How long the broker may hold a fetch open waiting for new messages.
const FETCH_WAIT_MS: i32 = 500;
/// A fetch not answered within this is a failure: the client would otherwise go on
/// reconnecting inside the call, and the status would not show the broker gone for long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What one fetch yielded, in offset order.
pub struct Fetched {
    pub partition: i32,
    /// The offset after the last message of this fetch.
    pub next_offset: i64,
    pub spins: Vec<Spin>,
    pub rejected: Vec<Rejected>,
}

pub struct Reader {
    pub client: Arc<Client>,
    pub topic: String,
    pub partition: i32,
    /// The stored resume point, if any.
    pub stored: Option<i64>,
    pub status: Arc<Status>,
    pub out: mpsc::Sender<Fetched>,
}

impl Reader {
    /// Runs until the writer is gone (the server is stopping).
    pub async fn run(self) {
        let client = self.connect().await;
        let mut next = match self.stored {
            Some(offset) => offset,
            None => self.earliest(&client).await,
        };
        self.status.positioned(self.partition, next);
        let mut backoff = Attempts::new(RETRY);
        let mut stuck = Attempts::new(STUCK);
        loop {
            let fetch = client.fetch_records(next, 1..FETCH_BYTES, FETCH_WAIT_MS);
            let Ok(fetched) = tokio::time::timeout(FETCH_TIMEOUT, fetch).await else {
                self.failed(&mut backoff, format!("no answer from the broker within {FETCH_TIMEOUT:?}"))
                    .await;
                continue;
            };
            match fetched {
                Ok((_, high_watermark)) if next > high_watermark => {
                    // Past the partition's end: the topic was recreated, or its log cut back.
                    // Kafka answers OFFSET_OUT_OF_RANGE for it; some brokers (tansu) answer an
                    // empty fetch, which would wait there for good. Not a lag of 0 meanwhile.
                    backoff.reset();
                    next = self.reposition(&client, next).await;
                }
                Ok((records, high_watermark)) => {
                    backoff.reset();
                    self.status.fetched(self.partition, high_watermark);
                    tracing::debug!(
                        partition = self.partition,
                        next,
                        records = records.len(),
                        high_watermark,
                        "fetched"
                    );
                    if records.is_empty() && next < high_watermark {
                        self.nothing_below_end(&mut stuck, next, high_watermark).await;
                        continue;
                    }
                    if stuck.failures() > 0 {
                        stuck.reset();
                        if self.status.flowing(self.partition) {
                            tracing::info!(topic = %self.topic, partition = self.partition, offset = next, "Kafka partition flowing again");
                        }
                    }
                    let Some(fetched) = self.decode(records).await else { continue };
                    next = fetched.next_offset;
                    if self.out.send(fetched).await.is_err() {
                        return;
                    }
                }
                Err(ClientError::ServerError { protocol_error: ProtocolError::OffsetOutOfRange, .. }) => {
                    next = self.reposition(&client, next).await;
                }
                Err(e) => self.failed(&mut backoff, e.to_string()).await,
            }
        }
    }

    /// The partition's client, once the brokers name its leader.
    async fn connect(&self) -> PartitionClient {
        let mut backoff = Attempts::new(RETRY);
        loop {
            match self
                .client
                .partition_client(&*self.topic, self.partition, UnknownTopicHandling::Retry)
                .await
            {
                Ok(client) => return client,
                Err(e) => self.failed(&mut backoff, e.to_string()).await,
            }
        }
    }

    async fn earliest(&self, client: &PartitionClient) -> i64 {
        let mut backoff = Attempts::new(RETRY);
        loop {
            match client.get_offset(OffsetAt::Earliest).await {
                Ok(offset) => return offset,
                Err(e) => self.failed(&mut backoff, e.to_string()).await,
            }
        }
    }

    /// The resume point is outside the log: its messages were deleted by retention (they
    /// are lost to every consumer), or the topic was recreated. Either way the oldest
    /// message still there is the first one not yet read.
    async fn reposition(&self, client: &PartitionClient, wanted: i64) -> i64 {
        let earliest = self.earliest(client).await;
        tracing::warn!(
            topic = %self.topic, partition = self.partition, wanted, earliest,
            "the resume offset is outside the partition's log; reading from its earliest message"
        );
        self.status.positioned(self.partition, earliest);
        earliest
    }

    async fn failed(&self, backoff: &mut Attempts, error: String) {
        let pause = backoff.failed();
        tracing::warn!(topic = %self.topic, partition = self.partition, error, retry_in = ?pause, "Kafka fetch failed");
        self.status.failed(self.partition, error);
        tokio::time::sleep(pause).await;
    }

    /// The broker answered below the partition's end with no message: what lies at `next` is
    /// something it does not hand over (a transaction's commit or abort markers, which the
    /// client skips, or a message it will not serve). Asked again after a growing pause, not at
    /// once (the answer is immediate, so that would be a busy loop against the broker), and
    /// reported as stalled once it repeats: the partition is not caught up meanwhile, so ended
    /// campaigns are not final.
    async fn nothing_below_end(&self, stuck: &mut Attempts, next: i64, high_watermark: i64) {
        let pause = stuck.failed();
        if stuck.failures() >= STALLED_AFTER && self.status.stalled(self.partition, next) {
            tracing::warn!(
                topic = %self.topic, partition = self.partition, offset = next, high_watermark,
                "Kafka partition stalled: the broker returns no message at this offset, below the partition's end"
            );
        }
        tokio::time::sleep(pause).await;
    }

    /// Validates the messages off the async runtime (a fetch holds tens of thousands).
    /// `None` when the fetch held no message.
    async fn decode(&self, records: Vec<RecordAndOffset>) -> Option<Fetched> {
        let last = records.last()?.offset;
        let (topic, partition) = (self.topic.clone(), self.partition);
        let decode = move || {
            let mut fetched = Fetched {
                partition,
                next_offset: last + 1,
                spins: Vec::with_capacity(records.len()),
                rejected: Vec::new(),
            };
            for record in records {
                match message(record.record.value.as_deref()) {
                    Ok(spin) => fetched.spins.push(spin),
                    Err(reason) => fetched.rejected.push(reject(&topic, partition, record, reason)),
                }
            }
            fetched
        };
        tokio::task::spawn_blocking(decode).await.ok()
    }
}

fn message(value: Option<&[u8]>) -> Result<Spin, String> {
    parse_event(value.ok_or("the message has no value")?)
}

fn reject(topic: &str, partition: i32, record: RecordAndOffset, reason: String) -> Rejected {
    let offset = record.offset;
    tracing::warn!(topic, partition, offset, reason, "Kafka message rejected: not a valid event");
    let head = record.record.value.map(|mut v| {
        v.truncate(Rejected::HEAD);
        v
    });
    Rejected { topic: topic.to_owned(), partition, offset, reason, head }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_one_event_in_either_time_format() {
        let generator =
            br#"{"playerId":7,"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-24 10:15:30.123456"}"#;
        let rfc3339 =
            br#"{"playerId":7,"gameId":2,"win":100,"stake":10,"eventTime":"2026-11-24T10:15:30.123456Z"}"#;
        assert_eq!(message(Some(generator)).unwrap(), message(Some(rfc3339)).unwrap());
        assert_eq!(message(None).unwrap_err(), "the message has no value");
        assert!(message(Some(b"[]")).unwrap_err().contains("object"));
        assert!(message(Some(b"\xff")).unwrap_err().starts_with("not JSON"));
        let big_stake =
            br#"{"playerId":7,"gameId":2,"win":1,"stake":3000000000,"eventTime":"2026-11-24T10:15:30Z"}"#;
        assert!(message(Some(big_stake)).unwrap_err().contains("Int32"));
    }
}
