//! The writer's memory between bursts of writes. A load fills the writer's 64 MiB page cache,
//! which SQLite keeps until its connection closes and glibc keeps even after SQLite frees it.
//! Once a period without commits follows some, the writer empties its cache (`PRAGMA
//! shrink_memory`) in its turn in the queue, and the freed heap goes back to the system
//! (`malloc_trim`): between bursts the process holds what its readers and views need, not what
//! the last load touched. (SQLite as rusqlite builds it manages its memory: every connection of
//! the process draws its pages from one pool, so the writer's release empties the readers'
//! caches too. Each reader's cache is 8 MiB and refills from the OS's page cache.)

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc::WeakSender;
use tokio::time::MissedTickBehavior;

use super::queue::{Job, WriteCounters};
use super::write::Writer;

/// A writer that committed nothing for this long, after committing, gives its cache back.
pub(super) const IDLE: Duration = Duration::from_secs(2);

/// Taken to read by every release: a test that measures a writer's cache holds it to write, so
/// that no other store of the test process empties the pool meanwhile.
#[cfg(test)]
pub(super) static RELEASING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Watches the writer's commits: once a tick finds none since the last one, it queues
/// `Job::Idle` with the count it saw, once per count; the writer releases its cache if it
/// committed nothing more by its turn (a tick during a long transaction is no idleness: the
/// writer takes the job only after that commit). Ends with the store (when no one else can send
/// to its writer).
pub(super) fn spawn(jobs: WeakSender<Job>, commits: Counter) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(IDLE);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut seen, mut told) = (commits.get(), commits.get());
        loop {
            ticks.tick().await;
            let Some(jobs) = jobs.upgrade() else { return };
            let now = commits.get();
            if now != seen {
                seen = now;
            } else if now != told && jobs.try_send(Job::Idle(now)).is_ok() {
                // (A full queue is not idle: a later tick tells it.)
                told = now;
            }
        }
    });
}

/// The writer's answer to `Job::Idle(at)`: empties its cache unless it committed since.
pub(super) fn release(writer: &Writer, at: u64, counters: &WriteCounters) {
    if counters.commits.get() != at {
        return;
    }
    #[cfg(test)]
    let _measured = RELEASING.blocking_read(); // (the writer's own thread)
    if let Err(e) = writer.empty_cache() {
        tracing::warn!(error = %e, "the store's writer could not empty its page cache");
        return;
    }
    trim_heap();
    counters.releases.inc();
    tracing::debug!("the store's writer is idle: its page cache went back to the system");
}

/// Returns the heap's free pages to the system (glibc keeps them otherwise; other allocators
/// return them on their own).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
