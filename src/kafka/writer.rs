//! The one writer: gathers what the partitions fetched into large batches (whatever has
//! arrived while the previous batch was being stored, up to a bound) and stores each with the
//! partitions' resume points and rejects in one transaction. A batch that cannot be stored is
//! retried until it is, holding the readers back: nothing is skipped, nothing stored twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::RETRY;
use super::partition::Fetched;
use super::status::Status;
use crate::backoff::Attempts;
use crate::events::Spin;
use crate::store::{Consumed, EmbeddedStore, Position};

/// Events past which a batch is stored without waiting for more: large enough to amortise
/// the transaction and its fsync, small enough to keep boards moving under a backlog.
const BATCH_EVENTS: usize = 50_000;

/// One partition's share of a batch.
#[derive(Default)]
struct Share {
    next_offset: i64,
    stored: u64,
    rejected: u64,
}

#[derive(Default)]
struct Batch {
    spins: Vec<Spin>,
    consumed: Consumed,
    shares: BTreeMap<i32, Share>,
}

impl Batch {
    fn add(&mut self, fetched: Fetched) {
        let share = self.shares.entry(fetched.partition).or_default();
        share.next_offset = fetched.next_offset;
        share.stored += fetched.spins.len() as u64;
        share.rejected += fetched.rejected.len() as u64;
        self.spins.extend(fetched.spins);
        self.consumed.rejected.extend(fetched.rejected);
    }

    fn messages(&self) -> usize {
        self.spins.len() + self.consumed.rejected.len()
    }
}

/// Stores what `fetched` brings until every reader is gone.
pub async fn run(
    store: Arc<EmbeddedStore>,
    topic: String,
    mut fetched: mpsc::Receiver<Fetched>,
    status: Arc<Status>,
) {
    while let Some(first) = fetched.recv().await {
        let mut batch = Batch::default();
        batch.add(first);
        while batch.messages() < BATCH_EVENTS {
            match fetched.try_recv() {
                Ok(more) => batch.add(more),
                Err(_) => break,
            }
        }
        store_batch(&store, &topic, batch, &status).await;
    }
}

async fn store_batch(store: &EmbeddedStore, topic: &str, mut batch: Batch, status: &Status) {
    batch.consumed.positions = batch
        .shares
        .iter()
        .map(|(&partition, share)| Position {
            topic: topic.to_owned(),
            partition,
            next_offset: share.next_offset,
        })
        .collect();
    let mut backoff = Attempts::new(RETRY);
    let started = std::time::Instant::now();
    while let Err(e) = store.insert_consumed(batch.spins.clone(), batch.consumed.clone()).await {
        let pause = backoff.failed();
        tracing::error!(error = %e, retry_in = ?pause, "consumed events not stored; retrying the same batch");
        tokio::time::sleep(pause).await;
    }
    let (events, rejected) = (batch.spins.len(), batch.consumed.rejected.len());
    tracing::debug!(events, rejected, took = ?started.elapsed(), "consumed batch stored");
    for (partition, share) in batch.shares {
        status.committed(partition, share.next_offset, share.stored, share.rejected);
    }
}
