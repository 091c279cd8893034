//! The store's one writer: a thread of its own that owns the write connection and takes
//! whatever is queued (batches from POST /events, the Kafka consumer and the simulator) into
//! one transaction, so that concurrent writers share a commit and its fsync. Callers await
//! their acknowledgement; no thread of tokio's blocking pool ever waits for the writer. A group
//! whose transaction fails is stored batch by batch instead, so that a batch the store refuses
//! refuses only itself.

use std::panic::{AssertUnwindSafe, catch_unwind};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};

use super::arrivals::Arrivals;
use super::consumed::Consumed;
use super::idle;
use super::write::Writer;
use crate::backend::Arrived;
use crate::events::Spin;

/// Spins past which a group is stored without taking more: one transaction stays short
/// enough to keep boards moving, and large enough to amortise its fsync.
const GROUP_SPINS: usize = 50_000;

/// Jobs waiting for the writer, at most; a caller past it waits (asynchronously) for room.
pub(super) const QUEUE: usize = 1024;

pub(super) enum Job {
    Insert(Batch),
    /// Any other write (tracking scopes): alone, in its turn. It answers its caller itself.
    Run(Box<dyn FnOnce(&mut Writer) + Send>),
    /// No commit since the writer's count of commits was this (`idle`): it may give back its
    /// page cache.
    Idle(u64),
}

/// Spins to store all or nothing, with what a consumer read them from.
pub(super) struct Batch {
    pub spins: Vec<Spin>,
    pub consumed: Option<Consumed>,
    /// What the batch tells once stored (see `arrivals`), told by the writer itself so that a
    /// caller who went away cannot keep it untold.
    pub arrived: Option<Arrived>,
    pub done: oneshot::Sender<rusqlite::Result<()>>,
}

/// What the writer did, for `/metrics`: transactions of spins committed, the batches they
/// stored (more batches than commits: groups were shared), and the times it gave its page
/// cache back once idle (`idle`).
#[derive(Clone, Debug, Default)]
pub struct WriteCounters {
    pub commits: Counter,
    pub batches: Counter,
    pub releases: Counter,
}

/// Starts the writer thread; it ends once every sender of `jobs` is gone and the queue is done.
pub(super) fn spawn(
    writer: Writer,
    jobs: mpsc::Receiver<Job>,
    counters: WriteCounters,
    arrivals: std::sync::Arc<Arrivals>,
) -> std::io::Result<()> {
    let thread = std::thread::Builder::new().name("store-writer".into());
    thread.spawn(move || run(writer, jobs, &counters, &arrivals)).map(drop)
}

fn run(mut writer: Writer, mut jobs: mpsc::Receiver<Job>, counters: &WriteCounters, arrivals: &Arrivals) {
    let mut next = None;
    while let Some(job) = next.take().or_else(|| jobs.blocking_recv()) {
        let group = match job {
            Job::Run(write) => {
                guarded(|| write(&mut writer));
                continue;
            }
            Job::Idle(at) => {
                idle::release(&writer, at, counters);
                continue;
            }
            Job::Insert(first) => first,
        };
        let mut group = vec![group];
        let mut spins = group[0].spins.len();
        while spins < GROUP_SPINS {
            match jobs.try_recv() {
                Ok(Job::Insert(batch)) => {
                    spins += batch.spins.len();
                    group.push(batch);
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        guarded(|| store(&mut writer, group, counters, arrivals));
    }
}

/// Runs a job; a panic (a bug) fails that job alone (for a group of batches, every batch of the
/// group, unlike an error, after which each is tried alone): its transaction is rolled back as
/// it unwinds, its callers get an error as their acknowledgement is dropped, and the writer goes
/// on.
fn guarded(job: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        tracing::error!("the store's writer panicked; that write failed, the next ones go on");
    }
}

/// Stores `group` in one transaction or, when that fails, each batch in its own.
fn store(writer: &mut Writer, group: Vec<Batch>, counters: &WriteCounters, arrivals: &Arrivals) {
    let together = writer.insert(group.iter().map(|b| (b.spins.as_slice(), b.consumed.as_ref())));
    let results: Vec<_> = match together {
        Ok(()) => {
            counters.commits.inc();
            group.iter().map(|_| Ok(())).collect()
        }
        Err(e) if group.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::warn!(error = %e, batches = group.len(), "a group of batches was refused; storing each alone");
            let alone = |b: &Batch| writer.insert([(b.spins.as_slice(), b.consumed.as_ref())]);
            let results: Vec<_> = group.iter().map(alone).collect();
            counters.commits.inc_by(results.iter().filter(|r| r.is_ok()).count() as u64);
            results
        }
    };
    for (batch, result) in group.into_iter().zip(results) {
        if result.is_ok() {
            counters.batches.inc();
            arrivals.stored(batch.arrived);
        }
        // A caller that went away has nothing to hear: its batch is stored all the same.
        let _ = batch.done.send(result);
    }
}
