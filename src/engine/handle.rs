//! A view as its readers see it: what it answers now (published by its owner, read without
//! locks), and the few signals readers and streams exchange with the owner (a read, a wish for a
//! refresh, the end of each refresh, a change of answer, the view's end).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::snapshot::Snapshot;
use super::{Error, ViewKey};
use crate::campaigns::Campaign;

/// How finely a view's last read is kept, in nanoseconds (idleness and eviction are told in
/// seconds).
const READ_GRAIN: u64 = 10_000_000;

/// What a view answers, as its owner last published it.
#[derive(Clone)]
pub struct Published {
    /// The campaign the snapshot was computed for.
    pub campaign: Arc<Campaign>,
    pub snapshot: Arc<Snapshot>,
    /// When the backend last confirmed these standings, as headers say it: RFC 3339 text
    /// (milliseconds, `Z`) for every reader of this snapshot.
    pub checked_text: Bytes,
    /// The same moment on the clock that tells the standings' age.
    pub confirmed: Instant,
    /// Fresh until then; `None` for final standings, which are never due.
    pub due: Option<Instant>,
    /// A refresh ahead of the readers runs: the snapshot is served meanwhile.
    pub refreshing: bool,
    /// The last refresh failed with this: the snapshot is stale.
    pub failing: Option<Error>,
}

/// The end of a refresh, numbered, and its failure if it failed.
#[derive(Clone, Debug, Default)]
pub struct Settled {
    pub seq: u64,
    pub error: Option<Error>,
}

/// What streams follow: a new number at every change of what the view answers, `ended` once
/// the view is gone (evicted, idle, or its campaign removed).
#[derive(Clone, Copy, Debug, Default)]
pub struct Signal {
    pub seq: u64,
    pub ended: bool,
}

/// What the engine tells an owner.
#[derive(Debug)]
pub enum Command {
    /// The campaign changed: refresh for this one.
    Campaign(Arc<Campaign>),
    /// Spins arrived for the final standings: compute them again.
    Recheck,
    /// Spins were stored that the view may rank: refresh soon, if it is read.
    Touched,
    /// The view is dropped: end.
    End,
}

pub struct Handle {
    pub key: ViewKey,
    /// The campaign the view is refreshed for (its owner swaps it on a reload).
    pub campaign: ArcSwap<Campaign>,
    published: ArcSwapOption<Published>,
    /// Read since the owner last looked.
    read: AtomicBool,
    /// When the view was last read, in nanoseconds from the engine's epoch (least recently read
    /// views are dropped first).
    last_read: AtomicU64,
    /// The number of the last batch told of that may change the view.
    touched: AtomicU64,
    /// Bytes held: the snapshot's and what incremental refreshes remember.
    bytes: AtomicUsize,
    /// A reader needs a refresh now (and `wake` tells the owner so).
    wanted: AtomicBool,
    /// The owner is computing a refresh a reader asked for (readers who ask meanwhile share it).
    computing: AtomicBool,
    wake: Notify,
    pub settled: watch::Sender<Settled>,
    pub signal: watch::Sender<Signal>,
    pub commands: mpsc::UnboundedSender<Command>,
}

impl Handle {
    /// A view made at `now` (nanoseconds from the engine's epoch), as if read then.
    pub fn new(
        key: ViewKey,
        campaign: Arc<Campaign>,
        commands: mpsc::UnboundedSender<Command>,
        now: u64,
    ) -> Self {
        Self {
            key,
            campaign: ArcSwap::new(campaign),
            published: ArcSwapOption::empty(),
            read: AtomicBool::new(false),
            last_read: AtomicU64::new(now),
            touched: AtomicU64::new(0),
            bytes: AtomicUsize::new(0),
            wanted: AtomicBool::new(false),
            computing: AtomicBool::new(false),
            wake: Notify::new(),
            settled: watch::Sender::new(Settled::default()),
            signal: watch::Sender::new(Signal::default()),
            commands,
        }
    }

    /// What the view answers now.
    pub fn published(&self) -> Option<Arc<Published>> {
        self.published.load_full()
    }

    pub fn publish(&self, published: Published) {
        self.published.store(Some(Arc::new(published)));
    }

    /// Marks the view read at `at`; says whether it had been read since the owner last looked.
    /// The time is kept to [`READ_GRAIN`]: readers of a hot view do not each write the line
    /// they all share.
    pub fn mark_read(&self, at: u64) -> bool {
        if at >= self.last_read.load(Ordering::Relaxed).saturating_add(READ_GRAIN) {
            self.last_read.fetch_max(at, Ordering::Relaxed);
        }
        // A load first: the hot path does not write a line every reader shares once it is set.
        self.read.load(Ordering::Relaxed) || self.read.swap(true, Ordering::Relaxed)
    }

    /// Whether the view was read since the last call, which clears it.
    pub fn take_read(&self) -> bool {
        self.read.swap(false, Ordering::Relaxed)
    }

    pub fn last_read(&self) -> u64 {
        self.last_read.load(Ordering::Relaxed)
    }

    /// Marks the view as touched by batch `seq`.
    pub fn touch(&self, seq: u64) {
        self.touched.fetch_max(seq, Ordering::Relaxed);
    }

    /// The number of the last batch told of that may have changed the view.
    pub fn touched(&self) -> u64 {
        self.touched.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn set_bytes(&self, bytes: usize) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// A reader asks for a refresh (the one running, if any, will do).
    /// Whether this wish is the one the owner will take: none was pending, and no refresh
    /// another reader asked for is being computed.
    pub fn want_refresh(&self) -> bool {
        let computing = self.computing.load(Ordering::Acquire);
        let pending = self.wanted.swap(true, Ordering::AcqRel);
        self.wake.notify_one();
        !computing && !pending
    }

    /// The owner starts computing a refresh a reader asked for, or ends a refresh.
    pub fn set_computing(&self, computing: bool) {
        self.computing.store(computing, Ordering::Release);
    }

    /// Waits until a reader wants a refresh, and takes the wish.
    pub async fn wanted(&self) {
        loop {
            self.wake.notified().await;
            if self.wanted.swap(false, Ordering::AcqRel) {
                return;
            }
        }
    }

    /// Drops the wishes made while a refresh ran: its end answers them. Called before that end
    /// is told, so a wish made after it is kept.
    pub fn forget_wishes(&self) {
        self.wanted.store(false, Ordering::Release);
    }

    /// Open streams of this view.
    pub fn streams(&self) -> usize {
        self.signal.receiver_count()
    }

    /// Tells the view's streams that what it answers changed.
    pub fn changed(&self) {
        self.signal.send_modify(|s| s.seq += 1);
    }

    /// Tells the view's streams that it is gone.
    pub fn end(&self) {
        self.signal.send_modify(|s| s.ended = true);
    }
}
