//! The writer's memory between bursts of writes. A load fills the writer's 64 MiB page cache,
//! which SQLite keeps until its connection closes and glibc keeps even after SQLite frees it.
//! Once a period without commits follows some, the writer empties its cache (`PRAGMA
//! shrink_memory`) in its turn in the queue, and the freed heap goes back to the system
//! (`malloc_trim`): between bursts the process holds what its readers and views need, not what
//! the last load touched.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc::WeakSender;
use tokio::time::MissedTickBehavior;

use super::queue::Job;
use super::write::Writer;

/// A writer that committed nothing for this long, after committing, gives its cache back.
pub(super) const IDLE: Duration = Duration::from_secs(2);

/// Watches the writer's commits and queues a release once they stop for `IDLE`; ends with the
/// store (when no one else can send to its writer).
pub(super) fn spawn(jobs: WeakSender<Job>, commits: Counter, releases: Counter) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(IDLE);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut seen, mut dirty) = (commits.get(), false);
        loop {
            ticks.tick().await;
            let Some(jobs) = jobs.upgrade() else { return };
            let now = commits.get();
            if now != seen {
                (seen, dirty) = (now, true);
            } else if dirty {
                let releases = releases.clone();
                // A full queue is not idle: the next tick tries again.
                dirty = jobs.try_send(Job::Run(Box::new(move |writer| release(writer, &releases)))).is_err();
            }
        }
    });
}

fn release(writer: &mut Writer, releases: &Counter) {
    if let Err(e) = writer.empty_cache() {
        tracing::warn!(error = %e, "the store's writer could not empty its page cache");
        return;
    }
    trim_heap();
    releases.inc();
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
